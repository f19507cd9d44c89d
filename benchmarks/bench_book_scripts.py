"""Time the book's own scripts on kobai.book against the book's own ``common``, side by side.

Each chosen script of ``kobai book list`` runs as ``python -m kobai.book run --seed 0 SCRIPT``
(kobai.book) and as ``... run --seed 0 --book-common SCRIPT`` (the book's ``common/`` on the
same data: kobai's ``dataset`` serves the bundled sample, or ``--dataset mnist``), from its
chapter folder in a writable copy of the book's repository, on **one BLAS thread**
(``OPENBLAS_NUM_THREADS``, ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` set to 1 in the child's
environment). The runs are interleaved: each round runs every script once on each side, the
side that goes first alternating from round to round, so a noisy neighbour on a shared machine
slows both alike. The reported time of a side is its best (smallest) wall time over the rounds,
Python's start included; the CPU time (user + system, of the runner and the script's process)
of that same run is shown beside it.

The ratio is ``book-common s / kobai s``: above 1 means kobai.book is faster. The targets of
issue 18 are printed as the last column (every script that runs under a minute at least as fast
as ``--book-common`` within 5%, i.e. ratio >= 0.95; ``ch04/train_neuralnet.py`` >= 1.5); nothing
is asserted. The printouts are not checked here (``tests/test_book_run.py`` does that): the
table only notes whether both sides printed the same text, and each side's rows say whether
it printed the same in every round.

``--only kobai`` times kobai.book alone: the wall times of ``kobai book list``'s time column
(``kobai.book.scripts.SCRIPTS``) are measured this way, best of 3.

Run (from the repository root)::

    python benchmarks/bench_book_scripts.py                       # the scripts under a minute
    python benchmarks/bench_book_scripts.py --scripts ch04/train_neuralnet.py --rounds 2
    python benchmarks/bench_book_scripts.py --all --only kobai    # the list's time column
    python benchmarks/bench_book_scripts.py --quick               # smoke mode, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: ``../shared/dlfs`` beside the repository, as the tests find the book's repository
DEFAULT_DLFS = ROOT.parent / "shared" / "dlfs"
SIDES = ("kobai", "book")
#: a script "runs under a minute" (issue 18's set) when kobai book list's time says so
MINUTE = 60.0
#: the scripts the book's own code would take far too long for (minutes to an hour)
TOO_SLOW_FOR_THE_BOOK = ("ch08/train_deepnet.py",)
TARGETS = {"ch04/train_neuralnet.py": 1.5}
WITHIN = 0.95  # "no slower, within 5%"
QUICK_SCRIPT = "ch04/gradient_simplenet.py"
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def listed_scripts(everything: bool) -> list[str]:
    """The scripts of ``kobai book list`` (those under a minute unless ``everything``)."""
    from kobai.book.scripts import SCRIPTS

    return [s.path for s in SCRIPTS if everything or s.seconds < MINUTE]


def copy_book(dlfs: Path, scripts: list[str], into: Path) -> Path:
    """A writable copy of the chapters of ``scripts`` and ``common``, ``dataset`` and
    ``weights-2016`` (what exists) of the book's repository ``dlfs``; its root."""
    root = into / "dlfs"
    names = sorted({Path(s).parts[0] for s in scripts} | {"common", "dataset", "weights-2016"})
    for name in names:
        if (dlfs / name).is_dir():
            shutil.copytree(dlfs / name, root / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
    for path in [root, *root.rglob("*")]:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return root


def child_env() -> dict[str, str]:
    """This process's environment with one BLAS thread, the kobai this process imports first
    on the path, and no display (figures drawn with Agg and dropped, as on a headless
    machine)."""
    import kobai

    env = dict(os.environ)
    for name in THREAD_VARIABLES:
        env[name] = "1"
    here = str(Path(kobai.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here, *filter(None, [env.get("PYTHONPATH")])])
    env["MPLBACKEND"] = "Agg"
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def run_once(root: Path, script: str, side: str, dataset: str, env: dict[str, str]
             ) -> dict:
    """One run of ``script`` on ``side``: wall and CPU seconds, status and printout."""
    command = [sys.executable, "-m", "kobai.book", "run", "--seed", "0", "--dataset", dataset]
    if side == "book":
        command.append("--book-common")
    command.append(Path(script).name)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=root / Path(script).parent, env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        raise SystemExit(f"{script} ({side}) exited {done.returncode}:\n{done.stderr}")
    return {"wall": wall, "cpu": cpu, "stdout": done.stdout}


def measure(root: Path, scripts: list[str], sides: tuple[str, ...], rounds: int,
            dataset: str) -> list[dict]:
    """Every script on every side, ``rounds`` times, interleaved; one row per script."""
    env = child_env()
    runs: dict[tuple[str, str], list[dict]] = {(s, side): [] for s in scripts for side in sides}
    for r in range(rounds):
        for script in scripts:
            order = sides if r % 2 == 0 else sides[::-1]
            for side in order:
                if side == "book" and script in TOO_SLOW_FOR_THE_BOOK:
                    continue
                run = run_once(root, script, side, dataset, env)
                runs[script, side].append(run)
                print(f"  round {r + 1}/{rounds}  {script:<36} {side:<5} {run['wall']:7.2f} s "
                      f"(cpu {run['cpu']:.2f} s)",
                      file=sys.stderr, flush=True)
    rows = []
    for script in scripts:
        row: dict = {"script": script}
        for side in sides:
            done = runs[script, side]
            if not done:
                continue
            best = min(done, key=lambda run: run["wall"])
            row[side] = {"wall": best["wall"], "cpu": best["cpu"],
                         "walls": [run["wall"] for run in done],
                         "repeatable": len({run["stdout"] for run in done}) == 1}
            row[f"{side}_stdout"] = best["stdout"]
        if "kobai" in row and "book" in row:
            row["ratio"] = row["book"]["wall"] / row["kobai"]["wall"]
            row["same_output"] = row.pop("kobai_stdout") == row.pop("book_stdout")
        row.pop("kobai_stdout", None)
        row.pop("book_stdout", None)
        rows.append(row)
    return rows


def target(script: str) -> float:
    return TARGETS.get(script, WITHIN)


def print_table(rows: list[dict], rounds: int) -> None:
    width = max(len("script"), *(len(r["script"]) for r in rows))
    print(f"{'script':<{width}}  {'kobai s':>8}  {'(cpu)':>7}  {'book s':>8}  {'(cpu)':>7}  "
          f"{'book/kobai':>10}  {'target':>7}  same text")
    for row in rows:
        cells = []
        for side in SIDES:
            if side in row:
                cells += [f"{row[side]['wall']:8.2f}", f"{row[side]['cpu']:7.2f}"]
            else:
                cells += [f"{'-':>8}", f"{'-':>7}"]
        if "ratio" in row:
            met = "met" if row["ratio"] >= target(row["script"]) else "NOT met"
            tail = (f"{row['ratio']:10.2f}  {'>= ' + format(target(row['script']), 'g'):>7}  "
                    f"{'yes' if row['same_output'] else 'no'}  ({met})")
        else:
            tail = f"{'-':>10}  {'':>7}"
        print(f"{row['script']:<{width}}  {cells[0]}  {cells[1]}  {cells[2]}  {cells[3]}  {tail}")
    print()
    print(f"best wall time of {rounds} interleaved run(s) per side, one BLAS thread, Python's "
          "start included; (cpu): user + system seconds of that run")
    print("book/kobai: the book's common's time over kobai.book's, > 1 means kobai.book is "
          "faster; same text: both printed the same (losses may differ by the book's 1e-7)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dlfs", type=Path, default=DEFAULT_DLFS,
                        help="the book's repository (default: ../shared/dlfs beside this one)")
    parser.add_argument("--scripts", nargs="+", metavar="PATH",
                        help="scripts relative to the book's repository, e.g. "
                             "ch05/gradient_check.py (default: those of kobai book list "
                             "that run under a minute)")
    parser.add_argument("--all", action="store_true", help="every script of kobai book list")
    parser.add_argument("--only", choices=SIDES, help="time one side only")
    parser.add_argument("--rounds", type=int, default=3, help="runs per script and side "
                                                               "(default 3; the best counts)")
    parser.add_argument("--dataset", choices=("sample", "mnist"), default="sample")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--quick", action="store_true",
                        help=f"smoke mode: {QUICK_SCRIPT} (unless --scripts), one round")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if not args.dlfs.is_dir():
        parser.error(f"no book repository at {args.dlfs}; give its clone with --dlfs")
    if args.quick:
        args.rounds = 1
    scripts = args.scripts or ([QUICK_SCRIPT] if args.quick else listed_scripts(args.all))
    for script in scripts:
        if not (args.dlfs / script).is_file():
            parser.error(f"{args.dlfs / script}: no such script")
    sides = SIDES if args.only is None else (args.only,)

    with tempfile.TemporaryDirectory(prefix="bench-book-") as tmp:
        root = copy_book(args.dlfs, scripts, Path(tmp))
        rows = measure(root, scripts, sides, args.rounds, args.dataset)
    print_table(rows, args.rounds)
    if args.json is not None:
        args.json.write_text(json.dumps({
            "machine": {"cpu": platform.processor() or platform.machine(),
                        "cores": os.cpu_count(), "python": platform.python_version()},
            "rounds": args.rounds, "dataset": args.dataset, "blas_threads": 1,
            "rows": rows}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
