"""Issue "train on real MNIST": the accuracies `kobai train` reaches on the bundled sample.

Runs the commands docs/performance.md records, each in a temporary folder, and prints their final
test accuracy next to the target. Not a test: a result to reproduce.

    python benchmarks/bench_accuracy.py            # all four runs (about five minutes)
    python benchmarks/bench_accuracy.py --quick    # two epochs each (smoke mode)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
import time
from pathlib import Path

from kobai.cli import main as kobai

RUNS = [
    ("kobai train", [], 0.88),
    ("kobai train --net mlp --hidden 100 100 --optimizer adam --lr 0.001 --epochs 30",
     ["--net", "mlp", "--hidden", "100", "100", "--optimizer", "adam", "--lr", "0.001",
      "--epochs", "30"], 0.93),
    ("kobai train --net cnn", ["--net", "cnn"], 0.97),
    ("kobai train --net deepcnn", ["--net", "deepcnn"], 0.98),
]


def run(argv: list[str], quick: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as out:
        if quick:
            argv = [*argv, "--epochs", "2"]
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            status = kobai(["train", *argv, "--no-progress", "--out", out])
        seconds = time.perf_counter() - t0
        if status != 0:
            sys.exit(f"kobai train {' '.join(argv)} failed with status {status}")
        history = json.loads((Path(out) / "history.json").read_text())
        return history["epochs"][-1]["test_acc"], seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two epochs per run")
    args = parser.parse_args()
    print(f"{'command':<82} {'test acc':>8} {'target':>7} {'seconds':>8}")
    for command, argv, target in RUNS:
        acc, seconds = run(argv, args.quick)
        verdict = "" if args.quick else ("  met" if acc >= target else "  NOT MET")
        print(f"{command:<82} {acc:8.4f} {target:7.2f} {seconds:8.1f}{verdict}")


if __name__ == "__main__":
    main()
