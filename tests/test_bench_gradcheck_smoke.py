"""``benchmarks/bench_gradcheck.py --quick`` runs, prints its table, and kobai's checker gets
every quick case right: correct ones pass (the ReLU at exact zeros as KINK), planted bugs fail
with the hint that names them. No timings are asserted."""

import json
import subprocess
import sys
from pathlib import Path

from conftest import require

SCRIPT = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_gradcheck.py"


def test_bench_gradcheck_quick_names_columns_and_kobai_gets_every_case_right(tmp_path):
    require("torch")
    out_json = tmp_path / "gradcheck.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
    out = proc.stdout
    for column in ("torch full", "torch fast", "kobai f64", "kobai f32", "verdict", "hint",
                   "bugs caught", "false failures", "time / torch full"):
        assert column in out, f"{column!r} missing from:\n{out}"
    assert "kobai fast, planted bug" in out and "NumPy" in out

    results = json.loads(out_json.read_text())
    suite = {row["case"]: row for row in results["suite"]}
    assert set(suite) == {"affine", "relu, exact zeros", "cross-entropy, no 1/N",
                          "affine, dW transposed"}
    expected = {"affine": "pass", "relu, exact zeros": "KINK", "cross-entropy, no 1/N": "FAIL",
                "affine, dW transposed": "FAIL"}
    for name, row in suite.items():
        for checker in ("kobai f64", "kobai f32"):
            run = row["runs"][checker]
            assert run["status"] == expected[name], f"{checker} on {name}:\n{run['text']}"
            if row["kind"] == "bug":
                assert run["hint"] is True, f"{checker} on {name}, no hint {row['expect']}:\n" \
                                            f"{run['text']}"
    # the central difference at an exact zero averages the slopes: gradcheck fails there
    assert suite["relu, exact zeros"]["runs"]["torch full"]["status"] == "FAIL"
    big = results["big_mlp"]
    assert big["kobai fast, correct"]["status"] == "pass"
    assert big["kobai fast, planted bug"]["status"] == "FAIL"
    assert [r["run"]["right"] for r in results["numpy"]] == [True] * len(results["numpy"])
