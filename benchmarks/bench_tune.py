"""Time ``kobai tune`` on Ray Tune against a plain Python loop over the same trials.

The targets of issue "kobai 9" (``kobai tune`` on Ray), measured in one run:

* **Throughput.** The same trials — drawn once, with their seeds, from the book's search space
  (MultiLayerNet(784, [100]*6, 10), SGD, batch 100, lr log-uniform 1e-6..1e-2, weight decay
  log-uniform 1e-8..1e-4; 20 trials of 20 epochs) on the bundled training data
  (``kobai.datasets.load_mnist()``: 5,000 images, split 80/20 by
  ``kobai.datasets.split.validation_split``) — run (a) as a sequential loop calling
  :func:`kobai.tune.trial.run_trial` in this process with one BLAS thread; (b) on 2 plain
  worker processes (``concurrent.futures``, started before the clock starts), no Ray: what the
  machine gives two processes right now, the ceiling for Ray; (c) on a local Ray instance with
  2 workers (``kobai.tune.engine.ray_session(cpus=2)`` and ``run_trials``, actors reused).
  The Ray figure is the search (``run_trials``: the Tuner's set-up, its fit and the collection
  of the results); Ray's start-up (``ray.init``) and shutdown are timed apart, and a second
  ratio includes them, a third leaves out the search's own start (until its first trial
  runs). Target: (c) ≥ 1.7× the loop's trials per minute.
  Ray runs each configuration through ``tune.grid_search`` over the trials' indices, each
  option a ``tune.sample_from`` of that trial's value, so all three train exactly the same
  configurations; the script checks that their validation accuracies agree.
* **Ray's fixed costs.** Importing Ray, ``ray.init`` of a local instance, the time from the
  search's start to its first trial running (the Tuner's set-up, the data put into the object
  store, a worker process importing Ray Tune and kobai), shutdown; and the per-trial overhead
  with ONE worker on tiny trials (40 trials of about 0.25 s), with ``reuse_actors=True``
  (kobai's setting) and ``reuse_actors=False`` (Ray Tune's default: a new worker process per
  trial), as ``(Ray's search time - the loop's time) / trials``. Both one-worker searches run
  in one Ray instance, reused actors first.
* **Quality** (``--quality``, minutes): ``kobai tune --preset book --cpus 2 --no-retrain``, the
  book's experiment (the first 500 training images, 20% of them for validation, 100 trials of
  50 epochs), run as a subprocess; its best validation accuracy (target ≥ 0.87, the book's own
  code's figure) and wall time, read from ``best.json`` and ``results.csv``.
  ``--quality-data-dir DIR`` runs it once more on the book's exact data, full MNIST from DIR.

Where the time goes: while each search runs, the CPU time of this process (Ray's driver),
of Ray's own processes (GCS, raylet, agents) and of its workers, read from ``/proc``, and the
machine's total, so that other work on the machine shows. A search's per-trial wall time on Ray
(from the trial's start to its end, as the driver sees them) is set against the trial's own
compute time (``time_total_s``) and the loop's.

Reading the numbers on a shared machine: with the kernel's autogroup scheduling (Linux's
default for desktop and many server kernels; ``/proc/sys/kernel/sched_autogroup_enabled``),
``nice`` ranks processes only within their own session, so a ``nice 19`` job started from
another session still takes a whole core from this one; then (b) shows about 1× and so must
(c). The ``other`` column of the cores says how much CPU other processes took.

Ray stays on 127.0.0.1 (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, set by
``kobai.tune.engine.import_ray`` before Ray is imported). Nothing is asserted: the targets are
printed next to the measurements.

Run (from the repository root)::

    python benchmarks/bench_tune.py --json bench_tune.json
    python benchmarks/bench_tune.py --quality --quality-data-dir ../shared/mnist   # + minutes
    python benchmarks/bench_tune.py --quick          # smoke mode, well under a minute
    TUNE_DISABLE_AUTO_CALLBACK_LOGGERS=0 python benchmarks/bench_tune.py   # with Ray Tune's
        # automatic loggers, TensorBoard's included, which kobai.tune.engine leaves out
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train import Threads, _cpu_name, cpu_seconds  # noqa: E402  (a sibling file)

THROUGHPUT_TARGET = 1.7
QUALITY_TARGET = 0.87
#: the issue's measurement of 40 tiny trials (0.27 s each) on one worker, seconds
ISSUE_TINY = {"loop": 11.0, "reuse_actors=True": 17.0, "reuse_actors=False": 115.0}


# -- the trials ---------------------------------------------------------------------------------
def trial_data(val_fraction: float = 0.2, seed: int = 0) -> Any:
    """The bundled training data split as ``kobai tune`` splits it (stratified, seeded)."""
    from kobai.datasets import load_mnist
    from kobai.datasets.split import validation_split
    from kobai.tune.trial import TrialData

    (x, t), _ = load_mnist(dtype=np.float32)
    train, val = validation_split(t, val_fraction, rng=seed)
    return TrialData(x[train], t[train], x[val], t[val])


def draw_configs(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` configurations of the book's search space, drawn once with Ray Tune's samplers
    (the space ``kobai tune`` gives Ray, plus each trial's seed, as ``kobai.tune.search``)."""
    from ray import tune
    from ray.tune.search.sample import Domain

    from kobai.tune.space import SearchSpace

    space = {**SearchSpace.from_options({}).to_ray(), "seed": tune.randint(0, 2**31 - 1)}
    rng = np.random.default_rng(seed)
    return [{key: (value.sample(random_state=rng) if isinstance(value, Domain)
                   else copy.deepcopy(value)) for key, value in space.items()}
            for _ in range(n)]


class _Pick:
    """A ``tune.sample_from`` function: one option's value in the configuration whose index
    the trial's ``trial`` grid value is."""

    def __init__(self, configs: list[dict[str, Any]], key: str):
        self.configs, self.key = configs, key

    def __call__(self, spec: Any) -> Any:
        return copy.deepcopy(self.configs[spec.config.trial][self.key])


def fixed_space(configs: list[dict[str, Any]]) -> dict[str, Any]:
    """A Ray Tune ``param_space`` whose grid (with ``num_samples=1``) is exactly ``configs``,
    in order; each trial's config also holds its index, ``trial``."""
    from ray import tune

    return {"trial": tune.grid_search(list(range(len(configs)))),
            **{key: tune.sample_from(_Pick(configs, key)) for key in configs[0]}}


# -- where the CPU goes -------------------------------------------------------------------------
#: Ray's own processes whose title starts with ray:: like its workers'
_RAY_AGENTS = (b"ray::DashboardAgent", b"ray::RuntimeEnvAgent")
#: the script a Ray worker process runs (its title until it sets one)
_RAY_WORKER = b"/ray/_private/workers/default_worker.py"


def process_tree_cpu() -> dict[int, tuple[str, float]] | None:
    """CPU seconds used so far by this process and its descendants (Linux), by pid, with the
    kind of process: ``driver`` (this one), ``workers`` (Ray's worker processes, whose title
    starts with ``ray::`` once they run, and this process's forks, the pool's) or ``ray``
    (Ray's own: GCS, raylet, agents, monitors); None elsewhere."""
    hz = os.sysconf("SC_CLK_TCK")
    parent, used = {}, {}
    try:
        entries = [e for e in Path("/proc").iterdir() if e.name.isdigit()]
    except OSError:
        return None
    for entry in entries:
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # the fields after "(comm)", from state
        pid = int(entry.name)
        parent[pid], used[pid] = int(fields[1]), (int(fields[11]) + int(fields[12])) / hz
    children: dict[int, list[int]] = defaultdict(list)
    for pid, ppid in parent.items():
        children[ppid].append(pid)
    me = os.getpid()
    mine = (Path("/proc") / str(me) / "cmdline").read_bytes()
    out, stack = {}, [me]
    while stack:
        pid = stack.pop()
        stack.extend(children[pid])
        try:
            title = (Path("/proc") / str(pid) / "cmdline").read_bytes()
        except OSError:
            continue
        if not title:  # exiting (a zombie): counted up to the sample before
            continue
        args = title.split(b"\0")
        if pid == me:
            kind = "driver"
        elif (title == mine or (len(args) > 1 and args[1].endswith(_RAY_WORKER))
              or (title.startswith(b"ray::") and not title.startswith(_RAY_AGENTS))):
            kind = "workers"
        else:
            kind = "ray"
        out[pid] = (kind, used[pid])
    return out


@contextmanager
def cpu_use(into: dict[str, Any], interval: float = 0.5) -> Iterator[None]:
    """Fill ``into`` with the cores used during the block: by this process tree's kinds
    (:func:`process_tree_cpu`, sampled every ``interval`` seconds, so that a process that
    exits during the block counts up to its last sample) and by everything else on the
    machine (``other``); empty where ``/proc`` is not there."""
    first, machine0, wall0 = process_tree_cpu(), cpu_seconds(), time.perf_counter()
    if first is None or machine0 is None:
        yield
        return
    last = dict(first)
    stop = threading.Event()

    def sample() -> None:
        last.update(process_tree_cpu() or {})

    def run() -> None:
        while not stop.wait(interval):
            sample()

    sampler = threading.Thread(target=run, daemon=True)
    sampler.start()
    try:
        yield
    finally:
        stop.set()
        sampler.join()
        sample()
        machine1, wall = cpu_seconds(), time.perf_counter() - wall0
        kinds: dict[str, float] = defaultdict(float)
        for pid, (kind, seconds) in last.items():
            kinds[kind] += seconds - (first[pid][1] if pid in first else 0.0)
        into.update({f"{kind}_cores": kinds[kind] / wall
                     for kind in ("driver", "ray", "workers")})
        if machine1 is not None:
            busy = machine1[0] - machine0[0]
            into["other_cores"] = max(0.0, busy - sum(kinds.values())) / wall
            into["steal_cores"] = (machine1[1] - machine0[1]) / wall


# -- the two ways of running trials --------------------------------------------------------------
def one_trial(config: dict[str, Any], data: Any, epochs: int) -> tuple[float, float]:
    """Run one trial without Ray (one BLAS thread); its seconds and final validation
    accuracy."""
    from kobai.tune.trial import run_trial

    reports: list[Any] = []
    start = time.perf_counter()
    run_trial(config, data, epochs=epochs, report=reports.append, blas_threads=1)
    return time.perf_counter() - start, (reports[-1].val_acc if reports else float("nan"))


def run_loop(configs: list[dict[str, Any]], data: Any, epochs: int) -> dict[str, Any]:
    """The trials one after another in this process: the reference."""
    usage: dict[str, Any] = {}
    start = time.perf_counter()
    with cpu_use(usage):
        done = [one_trial(config, data, epochs) for config in configs]
    return _plain_row(configs, done, time.perf_counter() - start, usage)


def _plain_row(configs: list[dict[str, Any]], done: list[tuple[float, float]], wall: float,
               usage: dict[str, Any]) -> dict[str, Any]:
    return {"seconds": wall, "trials": len(configs),
            "per_trial_seconds": [seconds for seconds, _ in done],
            "final_val_acc": [acc for _, acc in done], "cpu": usage}


_pool_data: Any = None


def _pool_init(data: Any) -> None:
    global _pool_data
    _pool_data = data


def _pool_trial(job: tuple[dict[str, Any], int]) -> tuple[float, float]:
    return one_trial(job[0], _pool_data, job[1])


def run_pool(configs: list[dict[str, Any]], data: Any, epochs: int,
             processes: int) -> dict[str, Any]:
    """The trials on ``processes`` plain worker processes (``concurrent.futures``, forked,
    started and warmed up before the clock starts), no Ray: what the machine gives to that
    many processes right now, the ceiling of Ray's speed-up."""
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(processes, mp_context=context, initializer=_pool_init,
                             initargs=(data,)) as pool:
        list(pool.map(_pool_trial, [(configs[0], 1)] * processes))
        usage: dict[str, Any] = {}
        start = time.perf_counter()
        with cpu_use(usage):
            done = list(pool.map(_pool_trial, [(config, epochs) for config in configs]))
        wall = time.perf_counter() - start
    return dict(_plain_row(configs, done, wall, usage), processes=processes)


def _timeline_callback() -> Any:
    """A Ray Tune callback noting, on the driver's clock, when the search starts and when each
    trial starts, first reports and completes (by its index in the configurations)."""
    from ray import tune

    class Timeline(tune.Callback):
        def __init__(self) -> None:
            self.setup_at: float | None = None
            self.started: dict[int, float] = {}
            self.first_result: dict[int, tuple[float, float]] = {}
            self.completed: dict[int, float] = {}

        def setup(self, **info: Any) -> None:
            self.setup_at = time.perf_counter()

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            self.started.setdefault(trial.config["trial"], time.perf_counter())

        def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                            **info: Any) -> None:
            self.first_result.setdefault(trial.config["trial"], (
                time.perf_counter(), float(result.get("time_this_iter_s") or 0.0)))

        def on_trial_complete(self, iteration: int, trials: list, trial: Any,
                              **info: Any) -> None:
            self.completed[trial.config["trial"]] = time.perf_counter()

    return Timeline()


def run_ray_searches(runs: list[tuple[list[dict[str, Any]], bool]], data: Any, epochs: int,
                     cpus: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """Start a local Ray instance of ``cpus`` CPUs, run one search per ``(configs,
    reuse_actors)`` in it, shut it down; the instance's start-up/shutdown seconds and each
    search's measurements."""
    from kobai.tune.engine import TrialSettings, ray_session, run_trials

    searches = []
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        t0 = time.perf_counter()
        with ray_session(cpus=cpus):
            init = time.perf_counter() - t0
            for i, (configs, reuse_actors) in enumerate(runs):
                timeline, usage = _timeline_callback(), {}
                start = time.perf_counter()
                with cpu_use(usage):
                    results = run_trials(fixed_space(configs), data, TrialSettings(epochs),
                                         Path(tmp) / str(i), trials=1, scheduler="random",
                                         seed=0, callbacks=[timeline],
                                         reuse_actors=reuse_actors)
                wall = time.perf_counter() - start
                searches.append(_search_row(configs, results, timeline, start, wall, usage,
                                            cpus, reuse_actors))
            t1 = time.perf_counter()
        shutdown = time.perf_counter() - t1
    return {"init_seconds": init, "shutdown_seconds": shutdown}, searches


def _search_row(configs: list[dict[str, Any]], results: list[Any], timeline: Any,
                start: float, wall: float, usage: dict[str, Any], cpus: int,
                reuse_actors: bool) -> dict[str, Any]:
    by_index = {int(r.config["trial"]): r for r in results}
    final = [by_index[i].final_acc if i in by_index else float("nan")
             for i in range(len(configs))]
    statuses = sorted({r.status for r in results})
    walls = [timeline.completed[i] - timeline.started[i] for i in timeline.completed
             if i in timeline.started]
    first = None
    if timeline.first_result:
        at, first_epoch = min(timeline.first_result.values())
        first = at - start - first_epoch
    return {"cpus": cpus, "reuse_actors": reuse_actors, "trials": len(configs),
            "seconds": wall, "statuses": statuses, "final_val_acc": final,
            "first_trial_running_after_seconds": first,
            "tuner_setup_seconds": (None if timeline.setup_at is None
                                    else timeline.setup_at - start),
            "trial_wall_seconds_mean": float(np.mean(walls)) if walls else None,
            "trial_compute_seconds_mean": float(np.mean([r.seconds for r in results])),
            "cpu": usage}


# -- quality: kobai tune --preset book ---------------------------------------------------------
def quality_run(out: Path, quick: bool, data_dir: Path | None) -> dict[str, Any]:
    """``kobai tune --preset book --cpus 2 --no-retrain`` in a subprocess; its best trial."""
    from kobai.tune.report import ranked, read_results_csv

    cmd = [sys.executable, "-m", "kobai", "tune", "--preset", "book", "--cpus", "2",
           "--no-retrain", "--no-progress", "--out", str(out)]
    if quick:
        cmd += ["--trials", "2", "--epochs", "2"]
    if data_dir is not None:
        cmd += ["--dataset", "mnist", "--data-dir", str(data_dir)]
    shown = "kobai " + " ".join(cmd[3:])
    print(f"running: {shown}", flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{shown} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    best = json.loads((out / "best.json").read_text(encoding="utf-8"))
    trials = read_results_csv(out / "results.csv")
    top = ranked(trials)
    return {"command": shown, "dataset": "mnist" if data_dir else "sample", "seconds": wall,
            "trials": len(trials), "completed": sum(t.status == "completed" for t in trials),
            "best_final_val_acc": best["final_val_acc"], "best_val_acc": best["best_val_acc"],
            "best_lr": best["config"]["lr"], "best_weight_decay": best["config"]["weight_decay"],
            "top5_final_val_acc": [t.final_acc for t in top[:5]],
            "warnings": [line for line in proc.stderr.splitlines() if "warn" in line.lower()]}


# -- the report ---------------------------------------------------------------------------------
def machine_info(ray_version: str) -> dict[str, Any]:
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    autogroup = Path("/proc/sys/kernel/sched_autogroup_enabled")
    return {"autogroup_scheduling": autogroup.read_text().strip() == "1"
            if autogroup.exists() else None,
            "cpu": _cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
            "numpy": np.__version__, "ray": ray_version, "blas": Threads(None).blas_info(),
            "load_average_at_start": load,
            "ray_environment": {key: value for key, value in sorted(os.environ.items())
                                if key.startswith(("RAY_", "TUNE_"))}}


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _per_min(trials: int, seconds: float) -> float:
    return 60.0 * trials / seconds


def _cores(cpu: dict[str, Any]) -> str:
    if not cpu:
        return "n/a"
    return (f"driver {cpu['driver_cores']:.2f}, ray {cpu['ray_cores']:.2f}, workers "
            f"{cpu['workers_cores']:.2f}, other {cpu['other_cores']:.2f}")


def _agreement(loop: list[float], ray: list[float]) -> str:
    same = sum(a == b for a, b in zip(loop, ray, strict=True))
    close = sum(abs(a - b) <= 0.002 for a, b in zip(loop, ray, strict=True))
    return (f"{same}/{len(loop)} identical, {close}/{len(loop)} within 0.002" if same < len(loop)
            else f"all {same} identical")


def print_throughput(t: dict[str, Any]) -> None:
    loop, ray, session = t["loop"], t["ray"], t["session"]
    n = loop["trials"]
    with_startup = ray["seconds"] + session["init_seconds"] + session["shutdown_seconds"]
    steady = ray["seconds"] - ray["first_trial_running_after_seconds"]
    pool = t["pool"]
    rows = [("loop: 1 process, 1 BLAS thread", loop["seconds"], loop["cpu"]),
            (f"{pool['processes']} plain processes, no Ray", pool["seconds"], pool["cpu"]),
            (f"Ray, {ray['cpus']} workers: search", ray["seconds"], ray["cpu"]),
            (f"Ray, {ray['cpus']} workers: + init & shutdown", with_startup, None),
            (f"Ray, {ray['cpus']} workers: from 1st trial on", steady, None)]
    print(f"\nthroughput: {n} trials of MultiLayerNet(784, {t['hidden']}, 10), "
          f"{_epochs(t['epochs'])} each, SGD, batch 100, on {t['train']} training / {t['val']} "
          f"validation images")
    header = f"{'':<38} {'wall s':>8} {'trials/min':>10} {'vs loop':>8}   cores used"
    print(header)
    print("-" * (len(header) + 50))
    for name, seconds, cpu in rows:
        ratio = loop["seconds"] / seconds
        target = f" (target >= {THROUGHPUT_TARGET}x)" if name.endswith("search") else ""
        print(f"{name:<38} {seconds:>8.1f} {_per_min(n, seconds):>10.1f} {ratio:>7.2f}x   "
              f"{_cores(cpu) if cpu is not None else ''}{target}")
    print("(from 1st trial on: the search's time from its first trial running to its end; "
          "Ray's start-up, init to first trial running, is in the fixed costs below)")
    print(f"Ray's search over {pool['processes']} plain processes' throughput: "
          f"{pool['seconds'] / ray['seconds']:.2f} (the plain processes show what the machine "
          f"gives {pool['processes']} processes now)")
    print(f"per trial: loop {np.mean(loop['per_trial_seconds']):.2f} s; plain processes "
          f"{np.mean(pool['per_trial_seconds']):.2f} s; on Ray "
          f"{ray['trial_wall_seconds_mean']:.2f} s from start to end as the driver sees it, of "
          f"which the trial's own compute (time_total_s) {ray['trial_compute_seconds_mean']:.2f} "
          f"s; first trial running {ray['first_trial_running_after_seconds']:.1f} s after the "
          f"search started")
    others = [row["cpu"].get("other_cores", 0.0) for row in (loop, pool, ray)]
    if max(others) > 0.1:
        print(f"warning: other processes used up to {max(others):.2f} cores during these "
              "runs; the ratios depend on how much of the machine was free")
    print(f"same trials check: final validation accuracies vs the loop's: plain processes "
          f"{_agreement(loop['final_val_acc'], pool['final_val_acc'])}; Ray "
          f"{_agreement(loop['final_val_acc'], ray['final_val_acc'])}")


def print_fixed(f: dict[str, Any], throughput_search: dict[str, Any]) -> None:
    loop = f["loop"]
    n = loop["trials"]
    print(f"\nRay's fixed costs: import ray {f['import_ray_seconds']:.2f} s; ray.init (local) "
          + ", ".join(f"{s['init_seconds']:.1f} s" for s in f["sessions"])
          + "; shutdown " + ", ".join(f"{s['shutdown_seconds']:.1f} s" for s in f["sessions"]))
    searches = [throughput_search, *f["searches"]]
    print("search start to first trial running (the Tuner's set-up, the data to the object "
          "store, a worker process importing Ray Tune and kobai): "
          + ", ".join(f"{s['first_trial_running_after_seconds']:.1f} s" for s in searches)
          + " (the throughput search, then the one-worker ones), of which the Tuner's set-up "
          + ", ".join(f"{s['tuner_setup_seconds']:.2f} s" for s in searches))
    print(f"\nper-trial overhead, ONE worker, {n} tiny trials (MultiLayerNet(784, "
          f"{f['hidden']}, 10), {_epochs(f['epochs'])}, "
          f"{float(np.mean(loop['per_trial_seconds'])):.2f} s each in the loop)")
    header = (f"{'':<50} {'wall s':>8} {'per trial s':>11} {'overhead ms/trial':>18} "
              f"{'issue s (40 trials)':>20}   cores used")
    print(header)
    print("-" * (len(header) + 50))
    print(f"{'loop':<50} {loop['seconds']:>8.1f} {loop['seconds'] / n:>11.3f} {'':>18} "
          f"{ISSUE_TINY['loop']:>20.0f}   {_cores(loop['cpu'])}")
    for s in f["searches"]:
        name = f"reuse_actors={s['reuse_actors']}"
        label = f"Ray, 1 worker, {name}" + ("" if s["reuse_actors"] else " (Ray's default)")
        overhead = 1000.0 * (s["seconds"] - loop["seconds"]) / n
        print(f"{label:<50} {s['seconds']:>8.1f} {s['seconds'] / n:>11.3f} {overhead:>18.0f} "
              f"{ISSUE_TINY[name]:>20.0f}   {_cores(s['cpu'])}")
        agree = _agreement(loop["final_val_acc"], s["final_val_acc"])
        print(f"{'':<50} same trials check: {agree}")


def print_quality(rows: list[dict[str, Any]]) -> None:
    print(f"\nquality: the book's search (target: best validation accuracy >= {QUALITY_TARGET})")
    for q in rows:
        print(f"{q['dataset']:<7} best final val acc {q['best_final_val_acc']:.4f} (best over "
              f"epochs {q['best_val_acc']:.4f}; lr {q['best_lr']:.2e}, weight decay "
              f"{q['best_weight_decay']:.2e}); {q['completed']}/{q['trials']} trials completed "
              f"in {q['seconds']:.0f} s wall;  {q['command']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=None,
                        help="throughput: trials (default 20; --quick: 2)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="throughput: epochs per trial (default 20; --quick: 1)")
    parser.add_argument("--cpus", type=int, default=2, help="throughput: Ray workers (default 2)")
    parser.add_argument("--tiny-trials", type=int, default=None,
                        help="overhead: tiny trials on one worker (default 40; --quick: 2)")
    parser.add_argument("--tiny-epochs", type=int, default=None,
                        help="overhead: epochs of a tiny trial (default 3, about 0.25 s; "
                             "--quick: 1)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the configurations drawn")
    parser.add_argument("--quality", action="store_true",
                        help="also run kobai tune --preset book (minutes)")
    parser.add_argument("--quality-data-dir", type=Path, default=None,
                        help="with --quality: run it again on full MNIST from this folder "
                             "(the book's exact data)")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--quick", action="store_true",
                        help="smoke mode: a few short trials, no reuse_actors=False search "
                             "(a new worker process per trial: seconds each), and a 2-trial "
                             "--quality")
    args = parser.parse_args(argv)
    quick = args.quick
    trials = args.trials or (2 if quick else 20)
    epochs = args.epochs or (1 if quick else 20)
    tiny_trials = args.tiny_trials or (2 if quick else 40)
    tiny_epochs = args.tiny_epochs or (1 if quick else 3)

    from kobai.tune.engine import import_ray

    start = time.perf_counter()
    ray = import_ray(local=True)  # before anything else imports Ray: stay on 127.0.0.1
    import_seconds = time.perf_counter() - start
    machine = machine_info(ray.__version__)
    print(f"machine: {machine['cpu']}, {machine['cores']} cores; python {machine['python']}, "
          f"numpy {machine['numpy']}, ray {machine['ray']}; load average "
          f"{' '.join(f'{x:.2f}' for x in machine['load_average_at_start'] or ())}")
    for lib in machine["blas"]:
        print(f"numpy BLAS: {lib.get('internal_api')} {lib.get('version')}, "
              f"{lib.get('num_threads')} threads by default (1 per trial here)")
    print("Ray/Tune environment: " + " ".join(f"{k}={v}" for k, v in
                                             machine["ray_environment"].items()))
    if machine["autogroup_scheduling"]:
        print("note: autogroup scheduling is on: a niced process of another session still takes "
              "a full core from this one (see the `other` cores)")

    data = trial_data()
    # warm-up, untimed: the loop's first trial should not pay for first calls
    run_loop(draw_configs(1, args.seed + 1), data, 1)

    configs = draw_configs(trials, args.seed)
    print(f"\nthroughput: loop over {trials} trials of {_epochs(epochs)}...", flush=True)
    loop = run_loop(configs, data, epochs)
    print(f"throughput: {args.cpus} plain processes...", flush=True)
    pool = run_pool(configs, data, epochs, args.cpus)
    print(f"throughput: Ray, {args.cpus} workers...", flush=True)
    session, (search,) = run_ray_searches([(configs, True)], data, epochs, args.cpus)
    throughput = {"hidden": configs[0]["hidden"], "epochs": epochs, "train": len(data.x_train),
                  "val": len(data.x_val), "configs": configs, "loop": loop, "pool": pool,
                  "ray": search, "session": session,
                  "ratio_pool": loop["seconds"] / pool["seconds"],
                  "ratio_search": loop["seconds"] / search["seconds"],
                  "ratio_with_startup": loop["seconds"] / (
                      search["seconds"] + session["init_seconds"] + session["shutdown_seconds"]),
                  "target": THROUGHPUT_TARGET}

    tiny = draw_configs(tiny_trials, args.seed + 2)
    print(f"\nfixed costs: loop over {tiny_trials} tiny trials...", flush=True)
    tiny_loop = run_loop(tiny, data, tiny_epochs)
    print(f"fixed costs: Ray, 1 worker, reuse_actors=True{'' if quick else ', then False'}...",
          flush=True)
    runs = [(tiny, True)] if quick else [(tiny, True), (tiny, False)]
    tiny_session, tiny_searches = run_ray_searches(runs, data, tiny_epochs, 1)
    fixed = {"import_ray_seconds": import_seconds, "hidden": tiny[0]["hidden"],
             "epochs": tiny_epochs,
             "sessions": [session, tiny_session], "loop": tiny_loop, "searches": tiny_searches,
             "overhead_ms_per_trial": {f"reuse_actors={s['reuse_actors']}":
                                       1000.0 * (s["seconds"] - tiny_loop["seconds"]) / tiny_trials
                                       for s in tiny_searches}}

    quality = []
    if args.quality:
        with tempfile.TemporaryDirectory(prefix="bench-tune-quality-") as tmp:
            quality.append(quality_run(Path(tmp) / "sample", quick, None))
            if args.quality_data_dir is not None:
                quality.append(quality_run(Path(tmp) / "mnist", quick, args.quality_data_dir))

    print_throughput(throughput)
    print_fixed(fixed, search)
    if quality:
        print_quality(quality)
    if args.json is not None:
        results = {"machine": machine, "throughput": throughput, "fixed_costs": fixed,
                   "quality": quality}
        args.json.write_text(json.dumps(results, indent=1, default=_plain))
        print(f"wrote {args.json}")
    return 0


def _plain(value: Any) -> Any:
    """JSON for NumPy scalars."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {value!r}")


if __name__ == "__main__":
    sys.exit(main())
