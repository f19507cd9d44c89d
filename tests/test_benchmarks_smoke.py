"""The benchmark scripts run in their smoke mode (``--quick``), so they cannot rot.

No timings are asserted: only that each script exits cleanly and prints its table.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def run_quick(script: str, *extra: str, timeout: float = 60) -> str:
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), "--quick", *extra],
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{script} --quick exited {proc.returncode}:\n{proc.stderr}"
    return proc.stdout


def test_bench_train_quick_prints_table_and_ratios(tmp_path):
    out = run_quick("bench_train.py", "--json", str(tmp_path / "train.json"))
    assert "kobai/torch" in out and "kobai/ref" in out
    assert "ratios are samples/s ratios" in out
    assert "GEMM rate" in out
    results = json.loads((tmp_path / "train.json").read_text())["results"]
    assert [r["config"] for r in results] == ["784-50-10 sigmoid B=100"]
    assert results[0]["reference"]["us_per_step"] > 0


def test_bench_numgrad_quick_prints_table(tmp_path):
    out = run_quick("bench_numgrad.py", "--json", str(tmp_path / "numgrad.json"))
    assert "loop s" in out and "fast s" in out and "check(fast) ms" in out
    assert "extrapolated from" in out
    rows = json.loads((tmp_path / "numgrad.json").read_text())["rows"]
    assert rows[0]["elements"] == 784 * 50 + 50 + 50 * 10 + 10


@pytest.mark.slow  # 16 s of Ray; the default run stays under 5 minutes on 2 cores
def test_bench_tune_quick_prints_throughput_and_ray_costs(tmp_path):
    # two Ray instances start and stop (a few seconds each on a busy 2-core machine)
    out = run_quick("bench_tune.py", "--json", str(tmp_path / "tune.json"), timeout=180)
    assert "trials/min" in out and "overhead ms/trial" in out
    assert "ray.init (local)" in out
    results = json.loads((tmp_path / "tune.json").read_text())
    throughput = results["throughput"]
    assert throughput["ray"]["final_val_acc"] == throughput["loop"]["final_val_acc"]
    assert throughput["pool"]["final_val_acc"] == throughput["loop"]["final_val_acc"]
    assert throughput["ray"]["statuses"] == ["completed"]
    assert [s["reuse_actors"] for s in results["fixed_costs"]["searches"]] == [True]
