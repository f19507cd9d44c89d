"""Gradient checkers side by side on one suite: ``torch.autograd.gradcheck`` against kobai's
``check_torch``, on correct functions (several at a kink) and planted bugs.

The suite is ``benchmarks/gradcheck_suite.py`` (sizes and cases described there). For each
case, in one run:

- **torch full**: ``torch.autograd.gradcheck(fn, inputs, raise_exception=False)`` in float64,
  the whole Jacobian (one backward pass per output element);
- **torch fast**: the same with ``fast_mode=True`` (``v·J·u`` for one fixed pair ``u, v``);
- **kobai f64**, **kobai f32**: ``check_torch(fn, *args, rng=0)`` (full mode: every element)
  on the float64 and the float32 version of the case (float32 code is checked against a
  float64 shadow where it runs in float64).

Each cell shows the verdict (``pass``, ``FAIL``; kobai's ``KINK``: passed, with elements at a
kink where backprop lay between the one-sided differences), a ``!`` where it is wrong (a false
failure of a correct case, a missed bug), and the seconds taken. For kobai, ``hint`` says
whether one of the report's hints names the planted bug. At an exact kink the central
difference averages the two slopes, so gradcheck is expected to fail there although backprop
is right: those count as its false failures.

gradcheck gets a module as a function of its input and parameters (``functional_call``), and
the ``nn.Dropout`` case with the RNG state reset before each call (one mask at every call, what
``check_torch`` does itself). When its ``v·J·u`` disagrees, gradcheck's fast mode recomputes
the whole Jacobian in slow mode to word its message (even with ``raise_exception=False``), so
on a bug it costs what the full mode costs.

Then a 784-1024-256-10 float32 tanh MLP (1,068,810 parameters, batch 32) in kobai's fast mode,
correct and with its middle Linear doubling its weight's gradient, and gradcheck's fast mode on
the float64 copy (on the bug only if the slow-mode Jacobian it would compute, estimated from
one forward pass, fits in ``--limit`` seconds); and NumPy versions of a few cases through
``kobai.gradcheck.check_function``.

Run (from the repository root)::

    python benchmarks/bench_gradcheck.py               # one thread, a few minutes
    python benchmarks/bench_gradcheck.py --quick       # smoke mode, a few seconds
    python benchmarks/bench_gradcheck.py --json gradcheck.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

CHECKERS = ["torch full", "torch fast", "kobai f64", "kobai f32"]


@dataclass
class Run:
    """One checker on one case."""

    passed: bool | None  # None: it raised
    seconds: float
    right: bool  # the verdict the case calls for
    status: str = ""  # "pass", "FAIL", "KINK", "error"
    hint: bool | None = None  # kobai on a bug: a hint names it
    text: str = ""  # kobai's report where the outcome or the hint is wrong; the error


def _verdict(passed: bool | None, kinks: int = 0) -> str:
    if passed is None:
        return "error"
    return ("KINK" if kinks else "pass") if passed else "FAIL"


def run_gradcheck(problem: Any, kind: str, fast: bool) -> Run:
    import torch

    start = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            passed: bool | None = bool(torch.autograd.gradcheck(
                problem.gradcheck_fn, problem.gradcheck_args, raise_exception=False,
                fast_mode=fast))
        text = ""
    except Exception as exc:  # gradcheck raises some errors even with raise_exception=False
        passed, text = None, f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - start
    return Run(passed, seconds, right=passed is (kind == "correct"), status=_verdict(passed),
               text=text)


def run_kobai(check: Callable[[], Any], kind: str, expect: tuple[str, ...]) -> Run:
    start = time.perf_counter()
    try:
        report = check()
    except Exception as exc:
        return Run(None, time.perf_counter() - start, right=False, status="error",
                   text=f"{type(exc).__name__}: {exc}")
    seconds = time.perf_counter() - start
    passed = bool(report.passed)
    hints = [r.hint for r in report.results.values() if r.hint]
    hint = any(e in h for e in expect for h in hints) if kind == "bug" else None
    right = passed is (kind == "correct")
    return Run(passed, seconds, right, _verdict(passed, report.n_kinks), hint,
               "" if right and hint is not False else str(report))


def bench_suite(quick: bool) -> list[dict]:
    import torch
    from gradcheck_suite import CASES

    from kobai.gradcheck.torch_check import check_torch

    warm = CASES[0].build(torch.float64, True)  # first calls load code: not timed
    run_gradcheck(warm, "correct", fast=False)
    run_kobai(lambda: check_torch(warm.fn, *warm.args, rng=0), "correct", ())
    rows = []
    for case in CASES:
        if quick and not case.quick:
            continue
        p64, p32 = case.build(torch.float64, quick), case.build(torch.float32, quick)
        runs = {
            "torch full": run_gradcheck(p64, case.kind, fast=False),
            "torch fast": run_gradcheck(p64, case.kind, fast=True),
            "kobai f64": run_kobai(lambda p=p64: check_torch(p.fn, *p.args, rng=0),
                                   case.kind, case.expect),
            "kobai f32": run_kobai(lambda p=p32: check_torch(p.fn, *p.args, rng=0),
                                   case.kind, case.expect),
        }
        rows.append({"case": case.name, "kind": case.kind, "kink": case.kink,
                     "expect": list(case.expect), "elements": p64.elements,
                     "runs": {k: asdict(v) for k, v in runs.items()}})
        print(f"  {case.name}: " + ", ".join(f"{k} {v.status} {v.seconds:.2f} s"
                                             for k, v in runs.items()), flush=True)
    return rows


def _cell(run: dict, kind: str) -> str:
    mark = "" if run["right"] else "!"
    hint = "" if run["hint"] is None else (" yes" if run["hint"] else " NO")
    return f"{run['status'] + mark:<6}{hint:>4} {run['seconds']:7.2f}"


def totals(rows: list[dict]) -> dict[str, dict]:
    out = {}
    for name in CHECKERS:
        runs = [(r["kind"], r["runs"][name]) for r in rows]
        bugs = [run for kind, run in runs if kind == "bug"]
        correct = [run for kind, run in runs if kind == "correct"]
        out[name] = {"caught": sum(run["passed"] is False for run in bugs), "bugs": len(bugs),
                     "false_failures": sum(run["passed"] is not True for run in correct),
                     "correct": len(correct),
                     "hints": sum(bool(run["hint"]) for run in bugs),
                     "seconds": sum(run["seconds"] for _, run in runs)}
    return out


def print_suite(rows: list[dict]) -> None:
    width = max(len(r["case"]) for r in rows) + 2
    print()
    print(f"{'case':<{width}}{'kind':<9}{'elements':>8}   " + "   ".join(
        f"{name:<19}" for name in CHECKERS))
    print(f"{'':<{width}}{'':<9}{'':>8}   " + "   ".join(
        f"{'verdict hint      s':<19}" for _ in CHECKERS))
    rule = "-" * (width + 17 + 22 * len(CHECKERS))
    print(rule)
    for r in rows:
        print(f"{r['case']:<{width}}{r['kind']:<9}{r['elements']:>8,}   " + "   ".join(
            f"{_cell(r['runs'][name], r['kind']):<19}" for name in CHECKERS))
    print(rule)
    tot = totals(rows)
    for label, key in (("bugs caught", "caught"), ("false failures", "false_failures"),
                       ("hint names the bug", "hints")):
        if key == "hints":
            cells = [f"{tot[n]['hints']}/{tot[n]['bugs']}" if n.startswith("kobai") else "-"
                     for n in CHECKERS]
        else:
            of = "bugs" if key == "caught" else "correct"
            cells = [f"{tot[n][key]}/{tot[n][of]}" for n in CHECKERS]
        print(f"{label:<{width + 17}}   " + "   ".join(f"{c:<19}" for c in cells))
    print(f"{'total seconds':<{width + 17}}   " + "   ".join(
        f"{tot[n]['seconds']:<19.2f}" for n in CHECKERS))
    base = tot["torch full"]["seconds"]
    print(f"{'time / torch full':<{width + 17}}   " + "   ".join(
        f"{tot[n]['seconds'] / base:<19.2f}" for n in CHECKERS))
    for name in ("kobai f64", "kobai f32"):
        ratios = sorted((r["runs"][name]["seconds"] / r["runs"]["torch full"]["seconds"],
                         r["case"]) for r in rows)
        print(f"{name} / torch full per case: {ratios[0][0]:.2f} ({ratios[0][1]}) to "
              f"{ratios[-1][0]:.2f} ({ratios[-1][1]})")
    print("\n! = wrong verdict (a correct case failed, or a bug passed); KINK = passed, with "
          "elements at a kink\n(backprop between the one-sided differences); hint: one of "
          "kobai's hints names the planted bug.")
    for r in rows:
        for name in CHECKERS:
            run = r["runs"][name]
            if run["text"] and name.startswith("kobai"):
                what = "wrong verdict" if not run["right"] else "hint missing"
                print(f"\n{name} on {r['case']} ({what}):\n{run['text']}")
            elif run["status"] == "error":
                print(f"\n{name} on {r['case']} raised: {run['text'][:300]}")


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError after ``seconds`` (SIGALRM; the main thread on Unix)."""
    def alarm(signum: int, frame: Any) -> None:
        raise TimeoutError(f"did not finish in {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def bench_big_mlp(quick: bool, limit: float) -> dict:
    import torch
    from gradcheck_suite import big_mlp

    from kobai.gradcheck.torch_check import check_torch

    out: dict = {}
    for bug in (False, True):
        label = "planted bug" if bug else "correct"
        p = big_mlp(torch.float32, quick, bug)
        run = run_kobai(lambda p=p: check_torch(p.fn, *p.args, mode="fast", rng=0),
                        "bug" if bug else "correct", ("a factor 2",))
        out[f"kobai fast, {label}"] = {**asdict(run), "elements": p.elements}
        print(f"  big MLP, kobai fast, {label}: {run.status} {run.seconds:.2f} s", flush=True)
    p64 = big_mlp(torch.float64, quick, False)
    start = time.perf_counter()
    with torch.no_grad():
        p64.gradcheck_fn(*p64.gradcheck_args)
    forward = time.perf_counter() - start
    out["float64 forward seconds"] = forward
    try:
        with time_limit(limit):
            run = run_gradcheck(p64, "correct", fast=True)
        out["torch fast, correct"] = asdict(run)
    except TimeoutError as exc:
        out["torch fast, correct"] = {"skipped": str(exc)}
    # When its v·J·u disagrees, gradcheck's fast mode recomputes the whole numerical
    # Jacobian in slow mode to word its error message, even with raise_exception=False.
    estimate = 2 * p64.elements * forward
    bad64 = big_mlp(torch.float64, quick, True)
    if estimate < limit:
        out["torch fast, planted bug"] = asdict(run_gradcheck(bad64, "bug", fast=True))
    else:
        out["torch fast, planted bug"] = {"skipped": (
            "not run: on a failure gradcheck's fast mode recomputes the whole numerical "
            "Jacobian in slow mode to word its message, even with raise_exception=False: 2 "
            f"forward passes per element of every input, 2 x {p64.elements:,} x "
            f"{forward * 1e3:.1f} ms = about {_duration(estimate)} (over --limit "
            f"{limit:.0f} s)")}
    return out


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def print_big_mlp(big: dict, quick: bool) -> None:
    net = "20-16-8-4 (quick)" if quick else "784-1024-256-10"
    elements = big["kobai fast, correct"]["elements"]
    print(f"\n{net} tanh MLP, {elements:,} elements (x and the parameters), batch "
          f"{4 if quick else 32}: fast mode")
    for key in ("kobai fast, correct", "kobai fast, planted bug", "torch fast, correct",
                "torch fast, planted bug"):
        run = big[key]
        if "skipped" in run:
            print(f"  {key + ':':<26} skipped ({run['skipped']})")
            continue
        mark = "" if run["right"] else "!"
        hint = "" if run["hint"] is None else f", hint {'yes' if run['hint'] else 'NO'}"
        print(f"  {key + ':':<26} {run['status'] + mark}{hint}, {run['seconds']:.2f} s")
    print(f"  (float32 module, kobai's float64 shadow; torch on the float64 copy, one float64 "
          f"forward {big['float64 forward seconds'] * 1e3:.1f} ms)")
    for key in ("kobai fast, correct", "kobai fast, planted bug"):
        if big[key]["text"]:
            print(f"\n{key}:\n{big[key]['text']}")


def bench_numpy(quick: bool) -> list[dict]:
    from gradcheck_suite import NUMPY_CASES

    from kobai.gradcheck import check_function

    rows = []
    for case in NUMPY_CASES:
        inputs = case.inputs(quick)
        run = run_kobai(lambda c=case, i=inputs: check_function(c.f, i, c.vjp, rng=0),
                        case.kind, case.expect)
        rows.append({"case": case.name, "kind": case.kind, "run": asdict(run)})
    return rows


def print_numpy(rows: list[dict]) -> None:
    print("\nNumPy: kobai.gradcheck.check_function, float64, full mode")
    width = max(len(r["case"]) for r in rows) + 2
    for r in rows:
        print(f"  {r['case']:<{width}}{r['kind']:<9}{_cell(r['run'], r['kind'])}")
    for r in rows:
        if r["run"]["text"]:
            print(f"\n{r['case']}:\n{r['run']['text']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: four cases at a batch of 4, a small MLP")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch and BLAS threads (default 1)")
    parser.add_argument("--limit", type=float, default=300,
                        help="seconds allowed to gradcheck's fast mode on the big MLP")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    try:
        import torch
    except ImportError as exc:
        print(f"PyTorch is not installed ({exc}): nothing to compare")
        return 1
    torch.set_num_threads(args.threads)
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(args.threads)
    except ImportError:
        limits = None
        print("note: threadpoolctl is not installed; BLAS threads left as they are")
    print(f"torch {torch.__version__}, numpy {np.__version__}, {args.threads} thread(s)"
          + (", quick" if args.quick else ""))
    try:
        rows = bench_suite(args.quick)
        big = bench_big_mlp(args.quick, args.limit)
        numpy_rows = bench_numpy(args.quick)
    finally:
        if limits is not None:
            limits.restore_original_limits()
    print_suite(rows)
    print_big_mlp(big, args.quick)
    print_numpy(numpy_rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"threads": args.threads, "quick": args.quick,
                                         "suite": rows, "totals": totals(rows),
                                         "big_mlp": big, "numpy": numpy_rows}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
