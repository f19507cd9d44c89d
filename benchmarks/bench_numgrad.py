"""Time the full numerical gradient of kobai nets: the fast path against the book's loop.

Networks (float64, a batch of 100): ``TwoLayerNet(784, 50, 10)``;
``MultiLayerNet(784, [100, 100], 10)`` with relu, sigmoid, tanh, and with batch norm;
``MultiLayerNet(784, [100, 100, 100], 10)`` with sigmoid; ``MultiLayerNet(196, [50, 50], 10)``
with sigmoid (kobai 11's target: ≥ 50× the loop); and a network with a user-written layer
(the generic path). For each:

- **fast**: ``net.numerical_gradient(x, t)`` (``method="fast"``), every element, timed whole;
- **loop**: the book's algorithm (§4.4.2), perturbing one element at a time and re-running the
  whole network twice. It would take minutes, so by default it is *extrapolated*: the loop is
  timed over a subset of elements spread over all parameter arrays (each element costs the same
  two loss evaluations) and scaled to the total number of elements. ``--full-loop`` times
  ``net.numerical_gradient(x, t, method="loop")`` for real instead;
- **check**: ``kobai.gradcheck.check_gradients(net, x, t, mode="fast")``.

The subset's loop values are also compared with the fast path's at the same elements.
Parts of kobai that do not exist yet are reported as "not available yet".

Run (from the repository root)::

    python benchmarks/bench_numgrad.py                 # one BLAS thread
    python benchmarks/bench_numgrad.py --json numgrad.json
    python benchmarks/bench_numgrad.py --quick         # smoke mode, a few seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

H = 1e-4  # the book's step, kobai's default


def make_nets(quick: bool) -> list[tuple[str, Callable[[], object]]]:
    """``(name, constructor)`` of the benchmarked networks (float64, seeded)."""
    from kobai.nets import MultiLayerNet, TwoLayerNet

    nets = [("TwoLayerNet(784, 50, 10)",
             lambda: TwoLayerNet(784, 50, 10, rng=0, dtype=np.float64))]
    if quick:
        return nets

    def mlp(hidden: list[int], activation: str = "relu", inputs: int = 784, **kwargs: object
            ) -> Callable[[], object]:
        return lambda: MultiLayerNet(inputs, hidden, 10, activation=activation,
                                     weight_init_std=activation, rng=0, **kwargs)

    nets += [
        ("MultiLayerNet(784, [100, 100], 10)", mlp([100, 100])),
        ("  sigmoid", mlp([100, 100], "sigmoid")),
        ("  tanh", mlp([100, 100], "tanh")),
        ("  relu, batch norm", mlp([100, 100], use_batchnorm=True)),
        ("  sigmoid, batch norm", mlp([100, 100], "sigmoid", use_batchnorm=True)),
        ("MultiLayerNet(784, [100, 100, 100], 10) sigmoid", mlp([100, 100, 100], "sigmoid")),
        ("MultiLayerNet(196, [50, 50], 10) sigmoid", mlp([50, 50], "sigmoid", inputs=196)),
        ("Affine(784, 50) > Square (user layer) > Affine(50, 10)", user_layer_net),
    ]
    return nets


def user_layer_net() -> object:
    """A network with a user-written layer without the structured-gradient hooks: the
    generic path, where the fast numerical gradient is the element loop."""
    from kobai.layers import Affine, Layer
    from kobai.nets import Network

    class Square(Layer):
        def forward(self, x, *, train=True):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    rng = np.random.default_rng(0)
    return Network([Affine(0.05 * rng.standard_normal((784, 50)), np.zeros(50)), Square(),
                    Affine(0.2 * rng.standard_normal((50, 10)), np.zeros(10))])


user_layer_net.generic = True  # type: ignore[attr-defined]


def spread_elements(params: dict[str, np.ndarray], count: int) -> list[tuple[str, int]]:
    """``count`` (key, flat index) pairs evenly spaced over all parameters, in params order."""
    sizes = [(key, arr.size) for key, arr in params.items()]
    total = sum(size for _, size in sizes)
    picks = np.unique(np.linspace(0, total - 1, min(count, total)).astype(np.int64))
    out, start = [], 0
    for key, size in sizes:
        inside = picks[(picks >= start) & (picks < start + size)]
        out.extend((key, int(i - start)) for i in inside)
        start += size
    return out


def loop_subset(net, x: np.ndarray, t: np.ndarray,
                elements: list[tuple[str, int]]) -> tuple[float, dict]:
    """The book's element loop over ``elements`` only: seconds taken and the values found.

    The same central difference as ``kobai.gradient.numerical_gradient``:
    ``(L(θ + h·e_i) - L(θ - h·e_i)) / 2h``, restoring each element afterwards.
    """
    frozen = getattr(net, "frozen", None)
    values = {}
    start = time.perf_counter()
    with frozen() if frozen is not None else _nothing():
        for key, i in elements:
            flat = net.params[key].reshape(-1)  # a view: the net reads these very arrays
            saved = flat[i]
            flat[i] = saved + H
            fxh1 = net.loss(x, t)
            flat[i] = saved - H
            fxh2 = net.loss(x, t)
            flat[i] = saved
            values[(key, i)] = (fxh1 - fxh2) / (2 * H)
    return time.perf_counter() - start, values


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def time_call(fn: Callable[[], object], repeats: int) -> tuple[float, object]:
    """Best-of-``repeats`` seconds of ``fn()`` and its last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_net(name: str, build: Callable[[], object], args) -> dict:
    rng = np.random.default_rng(0)
    net = build()
    n_in = net.params["W1"].shape[0]
    n_out = list(net.params.values())[-1].shape[0]  # the last bias: one entry per class
    x = rng.random((args.batch, n_in))
    t = rng.integers(0, n_out, args.batch)
    n_elements = sum(arr.size for arr in net.params.values())
    row: dict = {"net": name, "batch": args.batch, "elements": n_elements, "h": H}

    # loop: measured subset, extrapolated (or the real thing with --full-loop)
    elements = spread_elements(net.params, args.subset)
    net.loss(x, t)  # warm-up
    subset_seconds, subset_values = loop_subset(net, x, t, elements)
    row["loop_subset_elements"] = len(elements)
    row["loop_subset_seconds"] = subset_seconds
    row["loop_seconds"] = subset_seconds / len(elements) * n_elements
    row["loop_extrapolated"] = True
    if args.full_loop:
        try:
            seconds, _ = time_call(lambda: net.numerical_gradient(x, t, method="loop"), 1)
            row["loop_seconds"], row["loop_extrapolated"] = seconds, False
        except TypeError as exc:
            row["loop_note"] = f"method='loop' not available yet ({exc})"

    # fast path
    if getattr(build, "generic", False):  # the element loop itself: the loop column
        row["fast_seconds"] = None
        row["fast_note"] = ("is the element loop (a layer without the structured-gradient "
                            "hooks), so it costs what the loop column says")
    else:
        _time_fast(net, x, t, args, row, subset_values)
    _time_check(net, x, t, args, row)
    return row


def _time_fast(net, x, t, args, row: dict, subset_values: dict) -> None:
    try:
        seconds, grads = time_call(lambda: net.numerical_gradient(x, t, method="fast"),
                                   args.repeats)
        row["fast_seconds"] = seconds
        row["fast_vs_loop_max_abs_diff"] = max(
            abs(float(grads[key].reshape(-1)[i]) - v) for (key, i), v in subset_values.items())
        # the loop's own resolution: one rounding step of the loss, divided by 2h
        row["loop_resolution"] = float(np.spacing(net.loss(x, t))) / (2 * H)
    except (TypeError, NotImplementedError, ImportError) as exc:
        row["fast_seconds"] = None
        row["fast_note"] = f"not available yet ({type(exc).__name__}: {exc})"


def _time_check(net, x, t, args, row: dict) -> None:
    """check_gradients in fast mode (one random direction per array)."""
    try:
        from kobai.gradcheck import check_gradients
        seconds, report = time_call(lambda: check_gradients(net, x, t, mode="fast", rng=0),
                                    args.repeats)
        row["check_fast_seconds"] = seconds
        row["check_fast_passed"] = bool(getattr(report, "passed", False))
    except (TypeError, NotImplementedError, ImportError, ValueError) as exc:
        row["check_fast_seconds"] = None
        row["check_note"] = f"not available yet ({type(exc).__name__}: {exc})"


def print_table(rows: list[dict]) -> None:
    print()
    header = (f"{'network (float64, batch 100)':<56} {'elements':>9} {'loop s':>9} "
              f"{'fast s':>9} {'speed-up':>9} {'check(fast) ms':>15}")
    print(header)
    print("-" * len(header))
    for r in rows:
        loop = f"{r['loop_seconds']:.2f}" + ("*" if r["loop_extrapolated"] else "")
        fast = "n/a" if r["fast_seconds"] is None else f"{r['fast_seconds']:.3f}"
        speed = ("n/a" if r["fast_seconds"] is None
                 else f"{r['loop_seconds'] / r['fast_seconds']:.0f}x")
        check = ("n/a" if r["check_fast_seconds"] is None
                 else f"{1e3 * r['check_fast_seconds']:.1f}")
        print(f"{r['net']:<56} {r['elements']:>9,} {loop:>9} {fast:>9} {speed:>9} {check:>15}")
    for r in rows:
        if r["loop_extrapolated"]:
            print(f"* {r['net']}: loop time extrapolated from {r['loop_subset_elements']} "
                  f"elements timed ({r['loop_subset_seconds']:.3f} s) × "
                  f"{r['elements']:,} / {r['loop_subset_elements']}")
        for key in ("loop_note", "fast_note", "check_note"):
            if key in r:
                print(f"{r['net']}: {key.split('_')[0]} path {r[key]}")
        if "fast_vs_loop_max_abs_diff" in r:
            print(f"{r['net']}: fast path vs loop at the timed elements: max |difference| "
                  f"{r['fast_vs_loop_max_abs_diff']:.1e} (the loop resolves ulp(loss)/2h = "
                  f"{r['loop_resolution']:.1e})")
        if r.get("check_fast_passed") is False:
            print(f"{r['net']}: check_gradients(mode='fast') did not pass")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: TwoLayerNet only, a small loop subset, one repeat")
    parser.add_argument("--subset", type=int, default=None,
                        help="elements the loop is timed over (default 200; --quick: 20)")
    parser.add_argument("--full-loop", action="store_true",
                        help="time the whole loop instead of extrapolating (minutes)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="best of this many runs of the fast path (default 3; --quick: 1)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args(argv)
    args.subset = args.subset or (20 if args.quick else 200)
    args.repeats = args.repeats or (1 if args.quick else 3)

    try:
        nets = make_nets(args.quick)
    except ImportError as exc:
        print(f"kobai nets not available yet ({exc}); nothing to time")
        print_table([])
        return 0
    try:
        from threadpoolctl import threadpool_limits
        limits = threadpool_limits(args.threads, user_api="blas")
    except ImportError:
        limits = None
        print("note: threadpoolctl is not installed; BLAS threads left as they are")
    try:
        rows = [bench_net(name, build, args) for name, build in nets]
    finally:
        if limits is not None:
            limits.restore_original_limits()
    print(f"numpy {np.__version__}, {args.threads} BLAS thread(s), h = {H}")
    print_table(rows)
    if args.json is not None:
        args.json.write_text(json.dumps({"threads": args.threads, "rows": rows}, indent=1))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
