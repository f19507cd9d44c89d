"""Run a benchmark and record what it printed in ``docs/performance.md``, dated, with the machine.

Each benchmark under ``benchmarks/`` prints its own tables and ratios, measured side by side in
one run. This tool runs one of them and writes its output into the block of
``docs/performance.md`` reserved for that command (created at the end of the file the first
time), headed by the date, the machine (CPU model, cores, load average at the start, NumPy and
its BLAS, PyTorch when installed) and the command line, so every figure there says where and
when it was measured. The prose around the blocks (what the numbers mean, the profiles behind
them) is written by hand. The file is replaced atomically; a benchmark that fails leaves it as
it was.

Usage::

    python tools/performance.py benchmarks/bench_train.py --quick
    python tools/performance.py --doc OTHER.md benchmarks/bench_conv.py --threads 1
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "performance.md"


def machine() -> str:
    """One line: CPU model and cores, load average, Python, NumPy and BLAS, PyTorch."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{cpu}, {os.cpu_count()} cores"]
    if hasattr(os, "getloadavg"):
        parts.append(f"load average {os.getloadavg()[0]:.1f} at the start")
    parts.append(f"Python {platform.python_version()}")
    import numpy as np

    blas = ""
    try:
        import threadpoolctl

        info = [i for i in threadpoolctl.threadpool_info() if i.get("user_api") == "blas"]
        if info:
            blas = f" with {info[0]['internal_api']} {info[0].get('version') or ''}".rstrip()
    except ImportError:
        pass
    parts.append(f"NumPy {np.__version__}{blas}")
    try:
        import torch

        parts.append(f"PyTorch {torch.__version__}")
    except ImportError:
        pass
    return "; ".join(parts)


def block(command: list[str], output: str, when: datetime.date, where: str) -> str:
    """The block of ``docs/performance.md`` for ``command``: its markers, the heading line
    and the output in a code fence."""
    key = " ".join(command)
    return (f"<!-- measured: {key} -->\n"
            f"Measured {when.isoformat()} on {where}: `python {key}`\n\n"
            f"```text\n{output.rstrip()}\n```\n"
            f"<!-- end: {key} -->\n")


def record(doc: str, command: list[str], output: str, when: datetime.date, where: str) -> str:
    """``doc`` with the block of ``command`` replaced (or appended when it has none)."""
    key = re.escape(" ".join(command))
    new = block(command, output, when, where)
    pattern = re.compile(rf"<!-- measured: {key} -->\n.*?<!-- end: {key} -->\n", re.S)
    if pattern.search(doc):
        return pattern.sub(lambda _: new, doc, count=1)
    return doc.rstrip("\n") + "\n\n" + new


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--doc", type=Path, default=DOC, help=f"default: {DOC}")
    parser.add_argument("benchmark", help="the script, e.g. benchmarks/bench_train.py")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    args = parser.parse_args(argv)
    if not args.doc.is_file():
        print(f"performance: {args.doc} does not exist", file=sys.stderr)
        return 2
    where = machine()
    done = subprocess.run([sys.executable, args.benchmark, *args.args], cwd=ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        print(done.stdout + done.stderr, file=sys.stderr)
        print(f"performance: {args.benchmark} failed (exit {done.returncode}); "
              f"{args.doc} is unchanged", file=sys.stderr)
        return 1
    sys.path.insert(0, str(ROOT / "src"))
    from kobai._files import atomic_write

    text = record(args.doc.read_text(encoding="utf-8"), [args.benchmark, *args.args],
                  done.stdout, datetime.date.today(), where)
    with atomic_write(args.doc) as fh:
        fh.write(text.encode("utf-8"))
    print(f"recorded {args.benchmark} in {args.doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
