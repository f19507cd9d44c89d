"""Time one float32 training step of kobai, PyTorch and the book-style reference, side by side.

A step is forward, backward and an SGD update (lr 0.1) on one fixed mini-batch with integer
labels. The three implementations run in one process, round-robin (the order rotates every
repeat), after warm-up, with the same initial weights, batch, dtype and thread count: BLAS
threads set with ``threadpoolctl`` for NumPy, ``torch.set_num_threads`` for PyTorch. Each timed
block runs a few steps back to back; the blocks are split into rounds and the reported time is
the smallest per-round median ("min of medians": a round disturbed by other work on the machine
does not count; the plain median is in the JSON too). With more than one thread, each block is
preceded by a 0.15 s pause: OpenBLAS and OpenMP worker threads spin for about 0.1 s after
their last job, and on a two-core machine that spinning made the *next* library's block up to
3x slower in one process (and in separate processes alike).

Ratios compare samples per second: ``kobai/torch = 1.5`` means kobai trains 1.5× as many
samples per second as PyTorch. The GEMM column is the step's matrix-product FLOPs (forward
``2·B·Σ in·out``, backward twice that minus the first layer's input gradient) divided by the
step time, as a fraction of the machine's float32 GEMM rate measured here (1000³ ``sgemm``).

Run (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train.py
    python benchmarks/bench_train.py --threads 1 --json bench_train.json
    python benchmarks/bench_train.py --quick          # smoke mode, a few seconds

``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE`` pin OpenBLAS to an older kernel and slow a current
NumPy; unset them for the benchmark command only (the script prints which kernel runs).
The machine should be otherwise idle: the script reports how much CPU other processes used
while it ran, and two-thread numbers mean little on a two-core machine that is also busy.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_book  # noqa: E402  (a sibling file, not an installed module)

LR = 0.1
IMPLS = ("kobai", "torch", "reference")
#: the clocks a block can be timed with (``--clock``)
CLOCKS = {"wall": time.perf_counter, "thread": time.thread_time}


@dataclass(frozen=True)
class Config:
    """One benchmarked network: layer widths, hidden activation, batch size, initial scale."""

    sizes: tuple[int, ...]
    activation: str
    batch: int
    weight_init_std: float | None = None  # None: He (relu) / Xavier (sigmoid)
    user_layer: bool = False  # kobai: the activation as a user-written layer (generic path)

    @property
    def name(self) -> str:
        user = " (user layer)" if self.user_layer else ""
        return f"{'-'.join(map(str, self.sizes))} {self.activation}{user} B={self.batch}"

    @property
    def flops(self) -> float:
        """Matrix-product FLOPs of one step: forward F, backward 2F minus layer 1's dx."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        forward = 2.0 * self.batch * sum(i * o for i, o in pairs)
        first_dx = 2.0 * self.batch * pairs[0][0] * pairs[0][1]
        return 3.0 * forward - first_dx


CONFIGS = (
    Config((784, 50, 10), "sigmoid", 100, 0.01),  # the book's TwoLayerNet (§4.5, §5.7)
    Config((784, 100, 100, 10), "relu", 100),
    Config((784, 1000, 10), "relu", 100),
    Config((784, 1000, 1000, 10), "relu", 1000),
    # the cost of the generic path: the book's network with its sigmoid written by a user
    Config((784, 50, 10), "sigmoid", 100, 0.01, user_layer=True),
)


def user_sigmoid_class() -> type:
    """A sigmoid layer as a user would write it from the book (§5.5.2), on kobai's protocol
    but without its buffers or in-place work."""
    from kobai.layers import Layer

    class UserSigmoid(Layer):
        def forward(self, x, *, train=True):
            self.out = 1.0 / (1.0 + np.exp(-x))
            return self.out

        def backward(self, dout):
            return dout * (1.0 - self.out) * self.out

    return UserSigmoid


# -- the three steps --------------------------------------------------------------------------
def make_kobai_step(cfg: Config, params: dict, x: np.ndarray, t: np.ndarray,
                    kind: str = "train_step") -> tuple[Callable[[], None], dict]:
    """kobai's training step; the one place to change when kobai's fast path changes.

    ``kind="train_step"`` (default): ``net.train_step(x, t, optimizer, check_inputs=False)``,
    the step :class:`kobai.trainer.Trainer` runs (it validates the data once, not per step);
    ``kind="checked"``: ``net.train_step(x, t, optimizer)``, validating every batch;
    ``kind="gradient"``: ``grads = net.gradient(x, t)`` then ``SGD.update`` (the book's loop).
    """
    from kobai.nets import MultiLayerNet
    from kobai.optimizers import SGD

    net = MultiLayerNet(cfg.sizes[0], list(cfg.sizes[1:-1]), cfg.sizes[-1],
                        activation=cfg.activation,
                        weight_init_std=cfg.weight_init_std or cfg.activation,
                        dtype=np.float32, rng=0)
    if cfg.user_layer:
        from kobai.nets import Network

        user = user_sigmoid_class()
        net = Network([user() if name.startswith("Sigmoid") else layer
                       for name, layer in net.layers.items()])
    for key, value in params.items():
        net.params[key][...] = value
    opt = SGD(lr=LR)

    if kind == "train_step":
        t = np.ascontiguousarray(t, dtype=np.int64)

        def step() -> None:
            net.train_step(x, t, opt, check_inputs=False)
    elif kind == "checked":
        def step() -> None:
            net.train_step(x, t, opt)
    else:
        def step() -> None:
            grads = net.gradient(x, t)
            opt.update(net.params, grads)
    return step, net.params


def make_torch_step(cfg: Config, params: dict, x: np.ndarray,
                    t: np.ndarray) -> tuple[Callable[[], None], Callable[[], dict]]:
    """PyTorch: ``nn.Sequential`` of ``Linear`` + activation, ``F.cross_entropy``, ``optim.SGD``."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    modules: list = []
    n = len(cfg.sizes) - 1
    for i in range(1, n + 1):
        linear = nn.Linear(cfg.sizes[i - 1], cfg.sizes[i])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(params[f"W{i}"].T)))
            linear.bias.copy_(torch.from_numpy(params[f"b{i}"]))
        modules.append(linear)
        if i < n:
            modules.append(nn.ReLU() if cfg.activation == "relu" else nn.Sigmoid())
    model = nn.Sequential(*modules)
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(xt), tt)
        loss.backward()
        opt.step()

    def current() -> dict:
        out = {}
        for i, linear in enumerate(m for m in model if isinstance(m, nn.Linear)):
            out[f"W{i + 1}"] = linear.weight.detach().numpy().T
            out[f"b{i + 1}"] = linear.bias.detach().numpy()
        return out

    return step, current


def make_reference_step(cfg: Config, params: dict, x: np.ndarray,
                        t: np.ndarray) -> tuple[Callable[[], None], dict]:
    """The book-style reference (``reference_book.py``)."""
    net = reference_book.BookMultiLayerNet(cfg.sizes, cfg.activation, params)
    opt = reference_book.SGD(lr=LR)

    def step() -> None:
        reference_book.train_step(net, opt, x, t)
    return step, net.params


# -- environment --------------------------------------------------------------------------
def torch_module():
    """``torch`` if importable, else None."""
    try:
        import torch
    except ImportError:
        return None
    return torch


def kobai_available() -> str | None:
    """None if kobai's nets and SGD import, else the reason they do not."""
    try:
        from kobai.nets import MultiLayerNet  # noqa: F401
        from kobai.optimizers import SGD  # noqa: F401
    except ImportError as exc:
        return str(exc)
    return None


class Threads:
    """Set the BLAS thread count of NumPy (threadpoolctl) and PyTorch's intra-op threads."""

    def __init__(self, torch) -> None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            print("note: threadpoolctl is not installed (pip install threadpoolctl); NumPy's "
                  "BLAS threads are left as they are")
            self.controller = None
        else:
            self.controller = ThreadpoolController()
        self.torch = torch
        self._limit = None

    def set(self, n: int) -> None:
        self.release()
        if self.controller is not None:
            self._limit = self.controller.limit(limits=n, user_api="blas")
        if self.torch is not None:
            self.torch.set_num_threads(n)

    def release(self) -> None:
        if self._limit is not None:
            self._limit.restore_original_limits()
            self._limit = None

    def blas_info(self) -> list[dict]:
        if self.controller is None:
            return []
        keys = ("internal_api", "version", "architecture", "num_threads", "prefix")
        return [{k: lib.info()[k] for k in keys if k in lib.info()}
                for lib in self.controller.lib_controllers if lib.user_api == "blas"]


def cpu_seconds() -> tuple[float, float] | None:
    """``(busy, steal)`` CPU seconds of the whole machine since boot (Linux), None elsewhere.

    busy: used by all processes (everything but idle, iowait and steal); steal: taken by the
    hypervisor for other virtual machines.
    """
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return None
    ticks = [int(v) for v in fields[:8]]
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(ticks[:7]) - ticks[3] - ticks[4]) / hz, ticks[7] / hz


def gemm_rate(n: int, repeats: int, clock: str = "wall") -> float:
    """Best float32 ``n×n @ n×n`` rate of NumPy's BLAS at the current thread count, GFLOP/s."""
    now = CLOCKS[clock]
    rng = np.random.default_rng(0)
    a = rng.random((n, n), dtype=np.float32)
    b = rng.random((n, n), dtype=np.float32)
    out = np.empty((n, n), dtype=np.float32)
    np.matmul(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = now()
        np.matmul(a, b, out=out)
        best = min(best, now() - start)
    return 2.0 * n**3 / best / 1e9


# -- timing -------------------------------------------------------------------------------
def time_round_robin(steps: dict[str, Callable[[], None]], repeats: int, block_seconds: float,
                     warmup: int, gap: float = 0.0, rounds: int = 3,
                     clock: str = "wall") -> dict[str, dict]:
    """Seconds per step of each callable, timed in rotating round-robin blocks.

    The ``repeats`` blocks per callable are split into ``rounds``; the result ``seconds`` is
    the smallest of the per-round medians (a round during which other work ran on the machine
    does not count), ``median_seconds`` the median over all blocks. ``gap`` seconds of sleep
    before each block let the worker threads of the previous block's library stop spinning.
    ``clock="thread"`` times the blocks by the CPU time of the calling thread: at one thread
    (where NumPy's BLAS and PyTorch compute in the caller) it leaves out the time the process
    waited for a core, so a busy machine inflates it far less than the wall clock.
    """
    now = CLOCKS[clock]
    inner = {}
    for name, step in steps.items():
        for _ in range(warmup):
            step()
        start = time.perf_counter()
        step()
        once = time.perf_counter() - start
        inner[name] = max(1, round(block_seconds / max(once, 1e-9)))
    per_step: dict[str, list[float]] = {name: [] for name in steps}
    cpu = dict.fromkeys(steps, 0.0)
    wall = dict.fromkeys(steps, 0.0)
    names = list(steps)
    gc.collect()
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            step, m = steps[name], inner[name]
            if gap:
                time.sleep(gap)
                step()  # untimed: re-warm caches after the pause
            c0, w0, t0 = time.process_time(), time.perf_counter(), now()
            for _ in range(m):
                step()
            dt = now() - t0
            cpu[name] += time.process_time() - c0
            wall[name] += time.perf_counter() - w0
            per_step[name].append(dt / m)
    out = {}
    for name, v in per_step.items():
        chunks = np.array_split(np.asarray(v), max(1, min(rounds, len(v))))
        out[name] = {"seconds": float(min(np.median(c) for c in chunks)),
                     "median_seconds": float(np.median(v)), "min_seconds": float(np.min(v)),
                     "steps_per_block": inner[name], "blocks": len(v),
                     "cpu_per_wall": cpu[name] / wall[name]}
    return out


def max_relative_difference(a: dict, b: dict) -> float:
    """Largest ``|a - b| / max|b|`` over the arrays of two parameter dicts."""
    return max(float(np.max(np.abs(np.asarray(a[k]) - b[k])) / max(np.max(np.abs(b[k])), 1e-30))
               for k in b)


def data(cfg: Config, seed: int = 0) -> tuple[np.ndarray, np.ndarray, dict]:
    """A fixed batch (uniform pixels in [0, 1), random labels) and the initial weights."""
    rng = np.random.default_rng(seed)
    x = rng.random((cfg.batch, cfg.sizes[0]), dtype=np.float32)
    t = rng.integers(0, cfg.sizes[-1], cfg.batch)
    params = reference_book.init_params(cfg.sizes, cfg.activation, rng,
                                        weight_init_std=cfg.weight_init_std)
    return x, t, params


def bench_config(cfg: Config, impls: dict[str, Callable], args, threads: int) -> dict:
    """Check that the implementations agree after 2 steps, then time them."""
    x, t, params = data(cfg)
    reference_after = None
    agreement = {}
    steps = {}
    for name, factory in impls.items():
        step, current = factory(cfg, params, x, t)
        step()
        step()
        got = current() if callable(current) else current
        if name == "reference":
            reference_after = got
        agreement[name] = got
        steps[name], _ = factory(cfg, params, x, t)  # fresh copy for timing
    diffs = {name: max_relative_difference(got, reference_after)
             for name, got in agreement.items() if name != "reference"}
    gap = args.gap if args.gap is not None else (0.15 if threads > 1 else 0.0)
    timing = time_round_robin(steps, args.repeats, args.block, args.warmup, gap, args.rounds,
                              args.clock)
    return {"timing": timing, "max_rel_diff_vs_reference_after_2_steps": diffs}


def fmt_rate(samples_per_s: float | None) -> str:
    return "n/a" if samples_per_s is None else f"{samples_per_s:,.0f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=None,
                        help="thread counts to run (default: 1 2; --quick: 1)")
    parser.add_argument("--configs", type=int, nargs="+", default=None,
                        help=f"indices into {[c.name for c in CONFIGS]} (default all; "
                             "--quick: 0)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="round-robin repeats per configuration (default 21; --quick: 3)")
    parser.add_argument("--block", type=float, default=None,
                        help="seconds per timed block (default 0.03; --quick: 0.005)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 5)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the reported time is the smallest of the per-round medians")
    parser.add_argument("--gap", type=float, default=None,
                        help="seconds of sleep before each timed block (default 0 at one "
                             "thread, 0.15 at more: idle BLAS/OpenMP workers spin ~0.1 s after "
                             "their last job and would slow the next library's block)")
    parser.add_argument("--kobai-step", choices=("train_step", "checked", "gradient"),
                        default="train_step",
                        help="kobai step: net.train_step on validated data, as the Trainer "
                             "runs it (default); 'checked': validating every batch; "
                             "'gradient': net.gradient() + SGD.update, the book's loop")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="time blocks by the wall clock (default) or by the calling "
                             "thread's CPU time ('thread': one thread only; robust on a busy "
                             "machine)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: one configuration, one thread, a few repeats")
    args = parser.parse_args(argv)
    if args.clock == "thread" and args.threads not in (None, [1]):
        parser.error("--clock thread times the calling thread only: use it with --threads 1")
    quick = args.quick
    args.threads = args.threads or ([1] if quick or args.clock == "thread" else [1, 2])
    args.configs = args.configs if args.configs is not None else ([0] if quick else
                                                                  range(len(CONFIGS)))
    args.repeats = args.repeats or (3 if quick else 21)
    args.block = args.block or (0.005 if quick else 0.03)
    args.warmup = args.warmup if args.warmup is not None else (2 if quick else 5)
    configs = [CONFIGS[i] for i in args.configs]

    torch = None if args.no_torch else torch_module()
    kobai_missing = kobai_available()
    impls: dict[str, Callable] = {}
    if kobai_missing is None:
        impls["kobai"] = lambda c, p, x, t: make_kobai_step(c, p, x, t, args.kobai_step)
    else:
        print(f"note: kobai is not available yet ({kobai_missing}); timing the others only")
    if torch is not None:
        impls["torch"] = make_torch_step
    else:
        print("note: PyTorch is not importable (pip install torch==2.13.0); skipping it")
    impls["reference"] = make_reference_step

    threads = Threads(torch)
    env = {k: os.environ[k] for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                                      "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS") if k in os.environ}
    machine = {
        "cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
        "numpy": np.__version__, "torch": None if torch is None else torch.__version__,
        "blas": threads.blas_info(), "env": env, "kobai_step": args.kobai_step, "clock": args.clock,
    }
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
          f"numpy {machine['numpy']}, torch {machine['torch'] or 'not installed'}")
    for lib in machine["blas"]:
        print(f"numpy BLAS: {lib.get('internal_api')} {lib.get('version')}, "
              f"kernel {lib.get('architecture')}")
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in env:
            print(f"warning: {key}={env[key]} is set; it slows a current numpy "
                  f"(run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")

    cpu0, wall0, self0 = cpu_seconds(), time.perf_counter(), _self_cpu()
    results, gemm = [], {}
    try:
        for n in args.threads:
            threads.set(n)
            gemm[n] = gemm_rate(256 if quick else 1000, 3 if quick else 10, args.clock)
            for cfg in configs:
                out = bench_config(cfg, impls, args, n)
                results.append(_summarise(cfg, n, out, gemm[n]))
    finally:
        threads.release()
    other = steal = None
    if cpu0 is not None:
        wall = time.perf_counter() - wall0
        busy, stolen = (b - a for a, b in zip(cpu0, cpu_seconds(), strict=True))
        other = max(0.0, busy - (_self_cpu() - self0)) / wall
        steal = stolen / wall
    machine["gemm_gflops"] = {str(n): g for n, g in gemm.items()}
    machine["other_processes_cpu_cores"] = other
    machine["hypervisor_steal_cpu_cores"] = steal

    print_table(results, gemm, quick, args.clock)
    if other is not None:
        print(f"other processes used {other:.2f} cores and the hypervisor stole {steal:.2f} on "
              f"average while this ran"
              + (" — the machine was busy; rerun when idle" if other + steal > 0.1 else ""))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, "results": results}, indent=1))
        print(f"wrote {args.json}")
    return 0


def _summarise(cfg: Config, threads: int, out: dict, gemm: float) -> dict:
    row = {"config": cfg.name, "sizes": list(cfg.sizes), "activation": cfg.activation,
           "batch": cfg.batch, "threads": threads, "flops_per_step": cfg.flops,
           "max_rel_diff_vs_reference_after_2_steps":
               out["max_rel_diff_vs_reference_after_2_steps"]}
    for name in IMPLS:
        tm = out["timing"].get(name)
        if tm is not None:
            tm = dict(tm, us_per_step=tm["seconds"] * 1e6,
                      samples_per_s=cfg.batch / tm["seconds"],
                      gemm_fraction=cfg.flops / tm["seconds"] / 1e9 / gemm)
        row[name] = tm
    k = row["kobai"]
    row["kobai_over_torch"] = (k["samples_per_s"] / row["torch"]["samples_per_s"]
                               if k and row["torch"] else None)
    row["kobai_over_reference"] = (k["samples_per_s"] / row["reference"]["samples_per_s"]
                                   if k else None)
    return row


def print_table(results: list[dict], gemm: dict[int, float], quick: bool,
                clock: str = "wall") -> None:
    print()
    for n, g in gemm.items():
        size = 256 if quick else 1000
        print(f"float32 GEMM rate ({size}³ sgemm, numpy BLAS), {n} thread(s): {g:.1f} GFLOP/s")
    print("ratios are samples/s ratios: > 1 means kobai is faster"
          + ("; times are the calling thread's CPU time (--clock thread)"
             if clock == "thread" else ""))
    header = (f"{'thr':>3}  {'network':<40} {'kobai µs':>10} {'torch µs':>10} {'ref µs':>10} "
              f"{'kobai /s':>10} {'torch /s':>10} {'ref /s':>10} {'kobai/torch':>11} "
              f"{'kobai/ref':>9} {'kobai GEMM%':>11}")
    print(header)
    print("-" * len(header))

    def us(tm):
        return "n/a" if tm is None else f"{tm['us_per_step']:.1f}"

    def rate(tm):
        return fmt_rate(None if tm is None else tm["samples_per_s"])

    def ratio(r):
        return "n/a" if r is None else f"{r:.2f}x"

    for row in results:
        k = row["kobai"]
        frac = "n/a" if k is None else f"{100 * k['gemm_fraction']:.0f}%"
        print(f"{row['threads']:>3}  {row['config']:<40} {us(k):>10} {us(row['torch']):>10} "
              f"{us(row['reference']):>10} {rate(k):>10} {rate(row['torch']):>10} "
              f"{rate(row['reference']):>10} {ratio(row['kobai_over_torch']):>11} "
              f"{ratio(row['kobai_over_reference']):>9} {frac:>11}")
    diffs = [(row["config"], name, d) for row in results
             for name, d in row["max_rel_diff_vs_reference_after_2_steps"].items()]
    worst = max(diffs, key=lambda item: item[2], default=None)
    if worst is not None:
        print(f"same network check: after 2 steps the weights differ from the reference by at "
              f"most {worst[2]:.1e} (relative, {worst[1]} at {worst[0]})")
        if worst[2] > 1e-4:
            print("warning: that is more than float32 rounding; the implementations do not "
                  "train the same network")


def _self_cpu() -> float:
    return time.process_time()


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
