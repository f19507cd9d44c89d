"""Time the book's convolutional networks in kobai, PyTorch and the book's own code, side by side.

Three measurements, float32, one thread by default (``--threads``):

* **A training step** (forward, backward, Adam update with lr 0.001) of ``SimpleConvNet``
  (§7.5) and ``DeepConvNet`` (§8.1) on one mini-batch of 100 images of the bundled MNIST
  sample (``kobai.datasets.load_mnist()``), for kobai (``net.train_step``, the step the
  Trainer runs), PyTorch (the same layers: ``Conv2d``/``ReLU``/``MaxPool2d``/``Linear``, and for
  DeepConvNet the book's ``Dropout(0.5)`` after the two affine layers; ``CrossEntropyLoss``,
  ``torch.optim.Adam(lr=0.001)``) and the book's code as shipped (``reference_book_conv.py``:
  ``im2col`` builds float64 columns, so it computes in float64 from the first layer on). All
  three start from kobai's initial weights. The implementations run in one process,
  round-robin, after warm-up; the reported time is the smallest per-round median, as in
  ``bench_train.py`` (whose timing code, thread control and honesty notes this reuses).
* **Evaluation** (forward only: ``net.accuracy`` in kobai, ``model.eval()`` under
  ``torch.no_grad()`` in PyTorch) over the 10,000 bundled test images in batches of 1,000.
* **Peak memory** of kobai's DeepConvNet training at batch 100, in a subprocess that imports
  NumPy and kobai only: the RSS high-water mark (``VmHWM``, i.e. ``ru_maxrss`` without what
  Linux carries over from the parent), the same before the network was built, and the peak of
  NumPy's allocations during training (``tracemalloc``); the book's code is measured the same
  way for comparison.

Ratios compare samples per second: ``kobai/torch = 1.5`` means kobai trains 1.5× as many
samples per second as PyTorch. The GEMM column is the step's matrix-product FLOPs (convolutions
and affine layers; backward twice the forward, minus the first layer's input gradient) divided
by the step time, as a fraction of the machine's float32 GEMM rate (1000³ ``sgemm``). The
targets are printed next to the measurements; nothing is asserted.

The two optimizers differ only in where ``eps`` enters: kobai's and the book's Adam divide by
``sqrt(v) + 1e-7`` with the bias correction folded into the learning rate, PyTorch's by
``sqrt(v̂) + 1e-8``. Before timing, the script checks that the three compute the same network:
the gradients at the initial weights (dropout ratio 0, so no random masks) must agree to
float32 rounding.

``--accuracy`` adds the slow part (minutes): ``kobai train``'s run of each network (bundled
data: 5,000 training / 10,000 test images; Adam lr 0.001, batch 100, 20 epochs, seed 0) through
:class:`kobai.trainer.Trainer`, and the same in PyTorch with the same initial weights and the
same batch order (the Trainer's epoch ``e`` visits ``permutation`` of a generator seeded with
``SeedSequence(seed, spawn_key=(e, 0))``); the dropout masks necessarily differ.

Run (from the repository root)::

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_conv.py
    python benchmarks/bench_conv.py --threads 1 2 --json bench_conv.json
    python benchmarks/bench_conv.py --accuracy        # plus the 20-epoch runs (minutes)
    python benchmarks/bench_conv.py --quick           # smoke mode, a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_book_conv as book  # noqa: E402  (sibling files, not installed modules)
from bench_train import (  # noqa: E402
    CLOCKS,
    Threads,
    _cpu_name,
    cpu_seconds,
    gemm_rate,
    time_round_robin,
    torch_module,
)

LR = 0.001
BATCH = 100
EVAL_BATCH = 1000
NETS = ("SimpleConvNet", "DeepConvNet")
IMPLS = ("kobai", "torch", "book")
# samples/s ratios kobai/torch and kobai/book to reach, and the memory bound
TARGETS = {("SimpleConvNet", "torch"): 1.3, ("DeepConvNet", "torch"): 0.8,
           ("SimpleConvNet", "book"): 5.0, ("DeepConvNet", "book"): 5.0}
MEMORY_TARGET_MB = 1024


# -- the networks -------------------------------------------------------------------------------
def kobai_net(name: str, dropout_ratio: float = 0.5):
    """kobai's network with its default initial weights (rng 0), float32."""
    from kobai.nets import DeepConvNet, SimpleConvNet

    if name == "SimpleConvNet":
        return SimpleConvNet(rng=0, dtype=np.float32)
    return DeepConvNet(rng=0, dtype=np.float32, dropout_ratio=dropout_ratio)


def torch_model(net):
    """The same architecture in PyTorch, read off kobai's layers, with their weights copied."""
    import torch
    from torch import nn

    from kobai.layers import Affine, Convolution, Dropout, Pooling, Relu

    modules: list = []
    with torch.no_grad():
        for layer in net.layers.values():
            if isinstance(layer, Convolution):
                fn, c, fh, fw = layer.W.shape
                conv = nn.Conv2d(c, fn, (fh, fw), stride=layer.stride, padding=layer.pad)
                conv.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W)))
                conv.bias.copy_(torch.from_numpy(layer.b))
                modules.append(conv)
            elif isinstance(layer, Relu):
                modules.append(nn.ReLU())
            elif isinstance(layer, Pooling):
                modules.append(nn.MaxPool2d((layer.pool_h, layer.pool_w), stride=layer.stride,
                                            padding=layer.pad))
            elif isinstance(layer, Affine):
                if not any(isinstance(m, nn.Flatten) for m in modules):
                    modules.append(nn.Flatten())  # (N, C, H, W) -> (N, C·H·W), as Affine's
                n_in, n_out = layer.W.shape
                linear = nn.Linear(n_in, n_out)
                linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.W.T)))
                linear.bias.copy_(torch.from_numpy(layer.b))
                modules.append(linear)
            elif isinstance(layer, Dropout):
                modules.append(nn.Dropout(layer.ratio))
            else:
                raise TypeError(f"no PyTorch counterpart for {type(layer).__name__}")
    return nn.Sequential(*modules)


def torch_grads(model) -> dict[str, np.ndarray]:
    """The gradients of a :func:`torch_model` under kobai's names and layouts."""
    from torch import nn

    out: dict[str, np.ndarray] = {}
    layers = [m for m in model if isinstance(m, (nn.Conv2d, nn.Linear))]
    for i, m in enumerate(layers, start=1):
        g = m.weight.grad.numpy()
        out[f"W{i}"] = g.T if isinstance(m, nn.Linear) else g
        out[f"b{i}"] = m.bias.grad.numpy()
    return out


def book_net(name: str, params: dict[str, np.ndarray], dropout_ratio: float = 0.5):
    """The book's network (``reference_book_conv.py``) from the given initial weights."""
    if name == "SimpleConvNet":
        return book.BookSimpleConvNet(params)
    return book.BookDeepConvNet(params, dropout_ratio, rng=0)


def step_flops(net, batch: int) -> float:
    """Matrix-product FLOPs of one training step of ``net`` at ``batch``: forward F, backward
    2F minus the first layer's input gradient."""
    from kobai.layers import Affine, Convolution, Pooling
    from kobai.util import conv_output_size

    c, h, w = net.input_shape
    forward, first = 0.0, None
    for layer in net.layers.values():
        flops = 0.0
        if isinstance(layer, Convolution):
            fn, _, fh, fw = layer.W.shape
            h = conv_output_size(h, fh, layer.stride, layer.pad)
            w = conv_output_size(w, fw, layer.stride, layer.pad)
            flops, c = 2.0 * batch * h * w * fn * c * fh * fw, fn
        elif isinstance(layer, Pooling):
            h = conv_output_size(h, layer.pool_h, layer.stride, layer.pad)
            w = conv_output_size(w, layer.pool_w, layer.stride, layer.pad)
        elif isinstance(layer, Affine):
            flops = 2.0 * batch * layer.W.size
        forward += flops
        if first is None and flops:
            first = flops
    return 3.0 * forward - (first or 0.0)


# -- the steps ----------------------------------------------------------------------------------
def make_kobai_step(name: str, x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    """kobai: ``net.train_step`` on validated data, as :class:`kobai.trainer.Trainer` runs it."""
    from kobai.optimizers import Adam

    net, opt = kobai_net(name), Adam(lr=LR)
    return lambda: net.train_step(x, t, opt, check_inputs=False)


def make_torch_step(name: str, x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    """PyTorch: ``zero_grad``, ``CrossEntropyLoss``, ``backward``, ``Adam.step``."""
    import torch

    model = torch_model(kobai_net(name))
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xt), tt).backward()
        opt.step()
    return step


def make_book_step(name: str, x: np.ndarray, t: np.ndarray) -> Callable[[], None]:
    """The book: ``grads = net.gradient(x, t); optimizer.update(net.params, grads)``."""
    net, opt = book_net(name, kobai_net(name).params), book.Adam(lr=LR)
    return lambda: book.train_step(net, opt, x, t)


STEPS = {"kobai": make_kobai_step, "torch": make_torch_step, "book": make_book_step}


def gradient_agreement(name: str, x: np.ndarray, t: np.ndarray,
                       impls: list[str]) -> dict[str, float]:
    """Largest ``|g - g_book| / max|g_book|`` over the parameters, at the initial weights with
    dropout ratio 0 (no random masks), for each implementation other than the book's."""
    kobai = kobai_net(name, dropout_ratio=0.0)
    reference = book_net(name, kobai.params, dropout_ratio=0.0).gradient(x, t)
    got = {"kobai": kobai.gradient(x, t)}
    if "torch" in impls:
        import torch

        model = torch_model(kobai)
        torch.nn.CrossEntropyLoss()(model(torch.from_numpy(x)), torch.from_numpy(t)).backward()
        got["torch"] = torch_grads(model)
    return {impl: max(float(np.max(np.abs(g[k] - reference[k])) /
                            max(float(np.max(np.abs(reference[k]))), 1e-30)) for k in reference)
            for impl, g in got.items()}


# -- evaluation ---------------------------------------------------------------------------------
def make_kobai_eval(name: str, x: np.ndarray, t: np.ndarray) -> tuple[Callable, Callable]:
    net = kobai_net(name)
    return (lambda: net.accuracy(x, t, batch_size=EVAL_BATCH),
            lambda: np.concatenate([net.predict(x[i:i + EVAL_BATCH]).argmax(axis=1)
                                    for i in range(0, len(x), EVAL_BATCH)]))


def make_torch_eval(name: str, x: np.ndarray, t: np.ndarray) -> tuple[Callable, Callable]:
    import torch

    model = torch_model(kobai_net(name))
    model.eval()
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)

    def predictions() -> np.ndarray:
        with torch.no_grad():
            return torch.cat([model(xt[i:i + EVAL_BATCH]).argmax(dim=1)
                              for i in range(0, len(x), EVAL_BATCH)]).numpy()

    def accuracy() -> float:
        with torch.no_grad():
            correct = sum(int((model(xt[i:i + EVAL_BATCH]).argmax(dim=1)
                               == tt[i:i + EVAL_BATCH]).sum())
                          for i in range(0, len(x), EVAL_BATCH))
        return correct / len(x)
    return accuracy, predictions


# -- memory ---------------------------------------------------------------------------------------
def memory_child(impl: str, steps: int) -> dict:
    """Run in a subprocess: RSS and NumPy peaks of ``steps`` DeepConvNet training steps at
    batch 100 (random images of MNIST's shape), importing NumPy and kobai only."""
    from kobai.optimizers import Adam

    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    t = rng.integers(0, 10, BATCH)
    before_kb = _maxrss_kb()
    tracemalloc.start()
    net = kobai_net("DeepConvNet")
    if impl == "kobai":
        opt = Adam(lr=LR)
        for _ in range(steps):
            net.train_step(x, t, opt)
    else:
        ref, ref_opt = book_net("DeepConvNet", net.params), book.Adam(lr=LR)
        del net
        for _ in range(steps):
            book.train_step(ref, ref_opt, x, t)
    numpy_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"impl": impl, "peak_rss_mb": _maxrss_kb() / 1024, "rss_before_mb": before_kb / 1024,
            "numpy_peak_mb": numpy_peak / 2**20, "steps": steps}


def _maxrss_kb() -> float:
    """This process's RSS high-water mark in KiB.

    On Linux ``VmHWM`` of ``/proc/self/status``: ``ru_maxrss`` would do, but Linux carries it
    over from the parent through fork and exec, so a subprocess of a process holding 1 GB
    reports at least 1 GB (measured here: 1037 MB before importing anything).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform == "darwin" else rss  # bytes on macOS, KiB elsewhere


def measure_memory(impl: str, steps: int) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--memory-child", impl,
                           "--memory-steps", str(steps)],
                          capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"the memory subprocess for {impl} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# -- accuracy runs --------------------------------------------------------------------------------
def accuracy_runs(name: str, epochs: int, threads: int, use_torch: bool,
                  limit: int | None = None) -> dict:
    """``kobai train``'s run of ``name`` and the same run in PyTorch; test accuracies
    (``limit``: on the first that many training and test images only)."""
    from kobai.datasets import load_mnist
    from kobai.trainer import Trainer

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, dtype=np.float32)
    x_train, t_train, x_test, t_test = (a[:limit] for a in (x_train, t_train, x_test, t_test))
    seed = 0
    out: dict = {"net": name, "epochs": epochs, "n_train": len(x_train), "n_test": len(x_test)}
    net = kobai_net(name)
    model = torch_model(net) if use_torch else None  # the same initial weights
    t0 = time.perf_counter()
    trainer = Trainer(net, x_train, t_train, x_test, t_test, epochs=epochs,
                      mini_batch_size=BATCH, optimizer="Adam", optimizer_param={"lr": LR},
                      rng=seed, verbose=False, progress=False, blas_threads=threads)
    history = trainer.train()
    out["kobai"] = {"test_acc": history.epochs[-1].test_acc,
                    "train_acc": history.epochs[-1].train_acc,
                    "seconds": time.perf_counter() - t0}
    if model is None:
        return out
    import torch

    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt, tt = torch.from_numpy(x_train), torch.from_numpy(t_train)
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        # the Trainer's batch order of this epoch (kobai.trainer: spawn_key=(epoch, 0))
        order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(epoch, 0))
                                      ).permutation(len(x_train))
        for begin in range(0, len(order), BATCH):
            idx = torch.from_numpy(order[begin:begin + BATCH])
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[idx]), tt[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        def acc(x: np.ndarray, t: np.ndarray) -> float:
            xs, ts = torch.from_numpy(x), torch.from_numpy(t)
            return sum(int((model(xs[i:i + EVAL_BATCH]).argmax(dim=1) == ts[i:i + EVAL_BATCH])
                           .sum()) for i in range(0, len(x), EVAL_BATCH)) / len(x)
        out["torch"] = {"test_acc": acc(x_test, t_test), "train_acc": acc(x_train, t_train),
                        "seconds": time.perf_counter() - t0}
    return out


# -- main -----------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1],
                        help="thread counts to run (default 1)")
    parser.add_argument("--nets", nargs="+", choices=NETS, default=list(NETS))
    parser.add_argument("--repeats", type=int, default=None,
                        help="round-robin repeats of the training steps (default 15; --quick 1)")
    parser.add_argument("--eval-repeats", type=int, default=None,
                        help="round-robin repeats of the evaluation (default 5; --quick 1)")
    parser.add_argument("--block", type=float, default=None,
                        help="seconds per timed block (default 0.2; --quick 0.01)")
    parser.add_argument("--warmup", type=int, default=None, help="warm-up steps (default 3)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="the reported time is the smallest of the per-round medians")
    parser.add_argument("--gap", type=float, default=None,
                        help="seconds of sleep before each timed block (default 0 at one "
                             "thread, 0.15 at more; see bench_train.py)")
    parser.add_argument("--no-torch", action="store_true", help="skip PyTorch")
    parser.add_argument("--no-book", action="store_true", help="skip the book's code")
    parser.add_argument("--no-memory", action="store_true", help="skip the memory subprocesses")
    parser.add_argument("--accuracy", action="store_true",
                        help="also train both networks for --epochs on the bundled data in "
                             "kobai and PyTorch and report test accuracies (minutes)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of --accuracy")
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="time blocks by the wall clock (default) or by the calling "
                             "thread's CPU time ('thread': one thread only; robust on a busy "
                             "machine)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode, a few seconds: one repeat, 200 test images, the "
                             "book's DeepConvNet checked but not timed, kobai's memory only; "
                             "--accuracy: 2 epochs on 500 images")
    parser.add_argument("--memory-child", choices=("kobai", "book"), help=argparse.SUPPRESS)
    parser.add_argument("--memory-steps", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.clock == "thread" and args.threads != [1]:
        parser.error("--clock thread times the calling thread only: use it with --threads 1")
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.memory_steps)))
        return 0
    quick = args.quick
    args.repeats = args.repeats or (1 if quick else 15)
    args.eval_repeats = args.eval_repeats or (1 if quick else 5)
    args.block = args.block or (0.01 if quick else 0.2)
    args.warmup = args.warmup if args.warmup is not None else (0 if quick else 3)

    torch = None if args.no_torch else torch_module()
    if torch is None and not args.no_torch:
        print("note: PyTorch is not importable (pip install torch==2.13.0); skipping it")
    impls = [i for i in IMPLS if not (i == "torch" and torch is None)
             and not (i == "book" and args.no_book)]
    threads = Threads(torch)
    machine = {"cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
               "numpy": np.__version__, "torch": None if torch is None else torch.__version__,
               "blas": threads.blas_info(), "clock": args.clock}
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
          f"numpy {machine['numpy']}, torch {machine['torch'] or 'not installed'}")
    for lib in machine["blas"]:
        print(f"numpy BLAS: {lib.get('internal_api')} {lib.get('version')}, "
              f"kernel {lib.get('architecture')}")
    for key in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        if key in os.environ:
            print(f"warning: {key}={os.environ[key]} is set; it slows a current numpy "
                  f"(run with `env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE`)")

    from kobai.datasets import load_mnist

    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=False, dtype=np.float32)
    x, t = np.ascontiguousarray(x_train[:BATCH]), np.ascontiguousarray(t_train[:BATCH])
    n_eval = 200 if quick else len(x_test)
    xe, te = x_test[:n_eval], t_test[:n_eval]
    print(f"data: the bundled MNIST sample; training steps on its first {BATCH} training "
          f"images, evaluation on {n_eval} test images in batches of {EVAL_BATCH}")

    cpu0, wall0, self0 = cpu_seconds(), time.perf_counter(), time.process_time()
    steps, evals, gemm = [], [], {}
    try:
        for n in args.threads:
            threads.set(n)
            gemm[n] = gemm_rate(256 if quick else 1000, 3 if quick else 10, args.clock)
            gap = args.gap if args.gap is not None else (0.15 if n > 1 else 0.0)
            for name in args.nets:
                agree = gradient_agreement(name, x, t, impls) if "book" in impls else {}
                # --quick: the book's DeepConvNet (0.7 s a step) is checked, not timed
                timed = [i for i in impls if not (quick and i == "book" and name == "DeepConvNet")]
                timing = time_round_robin({i: STEPS[i](name, x, t) for i in timed},
                                          args.repeats, args.block, args.warmup, gap,
                                          args.rounds, args.clock)
                steps.append(_step_row(name, n, timing, agree, gemm[n]))
                evals.append(_eval_row(name, n, xe, te, impls, args, gap))
    finally:
        threads.release()
    memory = [] if args.no_memory else [measure_memory(i, 1 if quick else 3)
                                        for i in ("kobai", "book") if i in impls
                                        and not (quick and i == "book")]
    accuracy = []
    if args.accuracy:
        threads.set(args.threads[0])
        try:
            for name in args.nets:
                accuracy.append(accuracy_runs(name, 2 if quick else args.epochs,
                                              args.threads[0], torch is not None,
                                              500 if quick else None))
        finally:
            threads.release()
    other = steal = None
    if cpu0 is not None:
        wall = time.perf_counter() - wall0
        busy, stolen = (b - a for a, b in zip(cpu0, cpu_seconds(), strict=True))
        other = max(0.0, busy - (time.process_time() - self0)) / wall
        steal = stolen / wall
    machine.update(gemm_gflops={str(n): g for n, g in gemm.items()},
                   other_processes_cpu_cores=other, hypervisor_steal_cpu_cores=steal)

    print_results(steps, evals, memory, accuracy, gemm, quick)
    if other is not None:
        print(f"other processes used {other:.2f} cores and the hypervisor stole {steal:.2f} on "
              f"average while this ran"
              + (" — the machine was busy; rerun when idle" if other + steal > 0.1 else ""))
    if args.json is not None:
        args.json.write_text(json.dumps({"machine": machine, "steps": steps, "eval": evals,
                                         "memory": memory, "accuracy": accuracy}, indent=1))
        print(f"wrote {args.json}")
    return 0


def _step_row(name: str, threads: int, timing: dict, agree: dict, gemm: float) -> dict:
    flops = step_flops(kobai_net(name), BATCH)
    row: dict = {"net": name, "batch": BATCH, "threads": threads, "flops_per_step": flops,
                 "max_rel_grad_diff_vs_book": agree}
    for impl in IMPLS:
        tm = timing.get(impl)
        if tm is not None:
            tm = dict(tm, ms_per_step=tm["seconds"] * 1e3, samples_per_s=BATCH / tm["seconds"],
                      gemm_fraction=flops / tm["seconds"] / 1e9 / gemm)
        row[impl] = tm
    for other in ("torch", "book"):
        row[f"kobai_over_{other}"] = (row["kobai"]["samples_per_s"] / row[other]["samples_per_s"]
                                      if row[other] else None)
        row[f"target_kobai_over_{other}"] = TARGETS[name, other]
    return row


def _eval_row(name: str, threads: int, x: np.ndarray, t: np.ndarray, impls: list[str], args,
              gap: float) -> dict:
    makers = {"kobai": make_kobai_eval, "torch": make_torch_eval}
    made = {i: makers[i](name, x, t) for i in impls if i in makers}
    timing = time_round_robin({i: m[0] for i, m in made.items()}, args.eval_repeats, 0.0, 1,
                              gap, min(args.rounds, args.eval_repeats))
    row: dict = {"net": name, "threads": threads, "images": len(x), "batch": EVAL_BATCH}
    for impl in ("kobai", "torch"):
        tm = timing.get(impl)
        row[impl] = None if tm is None else dict(tm, images_per_s=len(x) / tm["seconds"])
    if row["torch"]:
        row["kobai_over_torch"] = row["kobai"]["images_per_s"] / row["torch"]["images_per_s"]
        row["same_predictions"] = float(np.mean(made["kobai"][1]() == made["torch"][1]()))
    return row


def print_results(steps: list[dict], evals: list[dict], memory: list[dict],
                  accuracy: list[dict], gemm: dict[int, float], quick: bool) -> None:
    print()
    for n, g in gemm.items():
        print(f"float32 GEMM rate ({256 if quick else 1000}³ sgemm, numpy BLAS), {n} "
              f"thread(s): {g:.1f} GFLOP/s")
    print("ratios are samples/s ratios: > 1 means kobai is faster; [target] after each")
    print("Adam lr 0.001 in all three (see the module docstring for the eps difference)")

    def ms(tm: dict | None, key: str = "ms_per_step") -> str:
        return "n/a" if tm is None else f"{tm[key]:.1f}"

    def ratio(r: float | None, target: float | None = None) -> str:
        if r is None:
            return "n/a"
        return f"{r:.2f}x" + ("" if target is None else f" [{target:g}]")

    header = (f"{'thr':>3}  {'training step, B=100':<20} {'kobai ms':>9} {'torch ms':>9} "
              f"{'book ms':>9} {'kobai/torch':>14} {'kobai/book':>13} {'kobai GEMM%':>11}")
    print()
    print(header)
    print("-" * len(header))
    for r in steps:
        print(f"{r['threads']:>3}  {r['net']:<20} {ms(r['kobai']):>9} {ms(r['torch']):>9} "
              f"{ms(r['book']):>9} "
              f"{ratio(r['kobai_over_torch'], r['target_kobai_over_torch']):>14} "
              f"{ratio(r['kobai_over_book'], r['target_kobai_over_book']):>13} "
              f"{100 * r['kobai']['gemm_fraction']:>10.0f}%")
    for r in steps:
        for impl, d in r["max_rel_grad_diff_vs_book"].items():
            print(f"same network check ({r['net']}): {impl}'s gradients at the initial weights "
                  f"differ from the book's by at most {d:.1e} (relative)"
                  + ("  WARNING: more than float32 rounding" if d > 1e-3 else ""))
    if evals:
        header = (f"{'thr':>3}  {'evaluation':<20} {'images':>7} {'kobai s':>8} {'torch s':>8} "
                  f"{'kobai img/s':>11} {'torch img/s':>11} {'kobai/torch':>11} "
                  f"{'same pred.':>10}")
        print()
        print(header)
        print("-" * len(header))
        for r in evals:
            k, tt = r["kobai"], r["torch"]
            same = r.get("same_predictions")
            t_s = "n/a" if tt is None else f"{tt['seconds']:.2f}"
            t_rate = "n/a" if tt is None else f"{tt['images_per_s']:,.0f}"
            same_s = "n/a" if same is None else f"{100 * same:.2f}%"
            print(f"{r['threads']:>3}  {r['net']:<20} {r['images']:>7} {k['seconds']:>8.2f} "
                  f"{t_s:>8} {k['images_per_s']:>11,.0f} {t_rate:>11} "
                  f"{ratio(r.get('kobai_over_torch')):>11} {same_s:>10}")
    if memory:
        print()
        for m in memory:
            target = (f" [target < {MEMORY_TARGET_MB} MB: "
                      f"{'met' if m['peak_rss_mb'] < MEMORY_TARGET_MB else 'NOT met'}]"
                      if m["impl"] == "kobai" else "")
            print(f"peak memory, {m['impl']} DeepConvNet training B={BATCH}: "
                  f"{m['peak_rss_mb']:.0f} MB RSS high-water mark{target} (process before the "
                  f"network: {m['rss_before_mb']:.0f} MB; NumPy allocations peak "
                  f"{m['numpy_peak_mb']:.0f} MB)")
    if accuracy:
        print()
        timed = {"kobai": "s, with the Trainer's evaluation of both sets after every epoch",
                 "torch": "s, evaluating once at the end"}
        for a in accuracy:
            for impl in ("kobai", "torch"):
                if impl in a:
                    r = a[impl]
                    print(f"accuracy, {impl:<5} {a['net']:<13} {a['epochs']} epochs on "
                          f"{a['n_train']} images: test {r['test_acc']:.4f} (train "
                          f"{r['train_acc']:.4f}); {r['seconds']:.0f} {timed[impl]}")


if __name__ == "__main__":
    sys.exit(main())
