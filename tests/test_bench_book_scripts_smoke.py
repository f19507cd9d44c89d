"""``benchmarks/bench_book_scripts.py`` in smoke mode (``--quick``: one round), so it cannot rot.

No timings are asserted: only that it runs both sides, prints its table and writes its JSON.
"""

import json
import subprocess
import sys
from pathlib import Path

from conftest import DLFS, needs_shared

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_book_scripts.py"

TINY = """\
import os, sys
sys.path.append(os.pardir)
import numpy as np
from common.functions import softmax
print(softmax(np.array([1.0, 2.0])).round(6).tolist())
"""
BOOK_FUNCTIONS = """\
import numpy as np


def softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)
"""


def run_bench(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, str(BENCH), "--quick", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done


def test_bench_book_scripts_times_both_sides_of_a_script(tmp_path):
    book = tmp_path / "book"
    (book / "ch04").mkdir(parents=True)
    (book / "common").mkdir()
    (book / "ch04" / "tiny.py").write_text(TINY)
    (book / "common" / "__init__.py").write_text("")
    (book / "common" / "functions.py").write_text(BOOK_FUNCTIONS)
    done = run_bench("--dlfs", str(book), "--scripts", "ch04/tiny.py", "--json",
                     str(tmp_path / "bench.json"))
    assert "book/kobai" in done.stdout and "one BLAS thread" in done.stdout
    row = next(line for line in done.stdout.splitlines() if line.startswith("ch04/tiny.py"))
    assert "yes" in row  # both sides printed [0.268941, 0.731059]
    results = json.loads((tmp_path / "bench.json").read_text())
    assert results["rounds"] == 1 and results["blas_threads"] == 1
    (entry,) = results["rows"]
    assert entry["script"] == "ch04/tiny.py" and entry["same_output"]
    assert entry["kobai"]["wall"] > 0 and entry["book"]["wall"] > 0
    assert entry["ratio"] == entry["book"]["wall"] / entry["kobai"]["wall"]
    assert not (book / "ch04" / "__pycache__").exists()  # it ran on a copy


def test_bench_book_scripts_refuses_a_missing_script(tmp_path):
    done = subprocess.run([sys.executable, str(BENCH), "--dlfs", str(tmp_path), "--scripts",
                           "ch04/none.py"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "ch04/none.py: no such script" in done.stderr


@needs_shared(DLFS)
def test_bench_book_scripts_quick_runs_on_the_books_repository():
    done = run_bench("--dlfs", str(DLFS), "--only", "kobai")
    assert "ch04/gradient_simplenet.py" in done.stdout
