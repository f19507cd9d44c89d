"""``benchmarks/bench_conv.py`` runs in its smoke mode (``--quick``), so it cannot rot.

No timings are asserted: only that the script exits cleanly, prints its tables with the
targets, and that the three implementations compute the same networks.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_conv.py"


@pytest.mark.slow  # 8 s; the default run stays under 5 minutes on 2 cores
def test_bench_conv_quick_prints_tables_targets_and_memory(tmp_path):
    pytest.importorskip("torch")
    out_json = tmp_path / "conv.json"
    proc = subprocess.run([sys.executable, str(BENCH), "--quick", "--json", str(out_json)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"bench_conv.py --quick exited {proc.returncode}:\n{proc.stderr}"
    out = proc.stdout
    assert "kobai/torch" in out and "kobai/book" in out and "GEMM rate" in out
    assert "[1.3]" in out and "[0.8]" in out and "[5]" in out  # the targets, printed
    assert "same pred." in out and "peak memory, kobai DeepConvNet" in out
    results = json.loads(out_json.read_text())
    simple, deep = results["steps"]
    assert (simple["net"], deep["net"]) == ("SimpleConvNet", "DeepConvNet")
    assert simple["book"]["ms_per_step"] > 0 and simple["kobai_over_book"] > 0
    for row in results["steps"]:
        assert row["kobai"]["ms_per_step"] > 0 and row["kobai_over_torch"] > 0
        # the same network in all three: gradients agree to float32 rounding
        assert max(row["max_rel_grad_diff_vs_book"].values()) < 1e-4
    for row in results["eval"]:
        assert row["same_predictions"] > 0.99
    memory = results["memory"][0]
    assert memory["impl"] == "kobai" and memory["peak_rss_mb"] >= memory["rss_before_mb"] > 0
