"""Running trials on Ray Tune: the local instance or a cluster, the Tuner, and its results.

Everything that touches Ray is here; :mod:`kobai.tune.trial` is the work of one trial and
knows nothing of Ray.

* **Where.** ``cpus=N`` starts a private local Ray instance with N worker CPUs, on 127.0.0.1
  only; ``address`` joins a running cluster (``ray start --head``), after checking within a
  few seconds that something speaking gRPC answers there.
* **How.** One trial per CPU, one BLAS thread each, actors reused between trials
  (``reuse_actors``); the training data go into Ray's object store once
  (``tune.with_parameters``). Random search is Ray Tune's ``BasicVariantGenerator`` seeded by
  the search's seed, ASHA its ``ASHAScheduler``. A trial that raises is reported and the
  search goes on (``FailureConfig(max_failures=0)``, not ``fail_fast``).
* **State.** Ray Tune keeps the experiment in ``<out>/ray``, each trial's results as JSON and
  CSV; ``Tuner.restore`` continues it (running trials start again, finished ones are kept).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .records import COMPLETED, DIVERGED, ERROR, STOPPED, UNFINISHED, TrialResult
from .trial import EpochReport, TrialData, run_trial

__all__ = ["EXPERIMENT", "METRIC", "ClusterError", "check_address", "ray_session",
           "run_trials"]

#: the folder of Ray Tune's experiment state inside a run folder
EXPERIMENT = "ray"
#: the metric trials report and the search maximizes
METRIC = "val_acc"
#: seconds to wait for a cluster's address to answer
CONNECT_TIMEOUT = 5.0
#: HTTP/2's connection preface: a gRPC server (Ray's GCS) answers it with a SETTINGS frame
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


class ClusterError(ConnectionError):
    """No Ray cluster could be reached at the given address."""


def install_hint() -> str:
    return 'kobai tune runs on Ray Tune: install it with  pip install "kobai[tune]"'


def import_ray(local: bool) -> Any:
    """``ray``, imported; for a local instance, first told to stay on 127.0.0.1 (read by
    Ray at import, and by the processes it starts)."""
    if local and "ray" not in sys.modules:
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    if not local:  # joining: a GCS that refuses us is retried for ~8 s, not Ray's ~20 s
        os.environ.setdefault("RAY_NUM_REDIS_GET_RETRIES", "8")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the reporter that honours verbose=0
    # no automatic loggers: run_trials passes Ray Tune's JSON and CSV loggers itself, and so
    # leaves out its TensorBoard logger, whose tensorboardX import loads PyTorch when that is
    # installed (3 s of the driver's CPU at the first search) and which writes every reported
    # epoch again (4 ms each in the driver, while the trial waits for its next step)
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    try:
        import ray
        from ray import tune  # noqa: F401
    except ImportError as exc:
        raise ImportError(f"{install_hint()} ({exc})") from None
    return ray


def check_address(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """Refuse, within ``timeout`` seconds, a ``HOST:PORT`` where no gRPC server (a Ray head's
    GCS) answers; ``auto`` is left to Ray, which fails at once when it finds no cluster."""
    if address == "auto":
        return
    if "://" in address:
        raise ValueError(f"--address {address}: Ray Client addresses (ray://) are not "
                         "supported; give the cluster's HOST:PORT (the address `ray start "
                         "--head` prints, port 6379 by default) from a machine that can reach "
                         "it")
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"--address {address}: expected HOST:PORT (the address `ray start "
                         "--head` prints, e.g. 10.0.0.5:6379) or auto")
    where = f"the Ray cluster at {address}"
    try:
        with socket.create_connection((host.strip("[]"), int(port_text)), timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_HTTP2_PREFACE)
            answer = sock.recv(9)
    except TimeoutError:
        raise ClusterError(f"cannot reach {where}: no answer within {timeout:g} s (a firewall, "
                           "or the wrong host?)") from None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ClusterError(f"cannot reach {where}: {reason}; is `ray start --head --port "
                           f"{port_text}` running there?") from None
    if len(answer) < 4 or answer[3] != 0x04:  # a frame header of type SETTINGS
        raise ClusterError(f"{address} answers, but not as a Ray cluster (no gRPC server); "
                           "give the address `ray start --head` printed")


@contextmanager
def ray_session(*, cpus: int | None = None, address: str | None = None) -> Iterator[Any]:
    """Ray, initialized for the block: a local instance of ``cpus`` CPUs (default: all), or
    the cluster at ``address``; shut down (the local instance stopped) at the end."""
    ray = import_ray(local=address is None)
    if ray.is_initialized():
        raise RuntimeError("Ray is already initialized in this process; kobai.tune starts "
                           "its own local instance or joins --address itself")
    quiet = {"include_dashboard": False, "logging_level": logging.ERROR,
             "log_to_driver": False}
    if address is None:
        ray.init(address="local", num_cpus=cpus, **quiet)
    else:
        check_address(address)
        _join(ray, address)
    try:
        if ray.cluster_resources().get("CPU", 0) < 1:  # trials would wait for ever
            where = f"the Ray cluster at {address}" if address else "the local Ray instance"
            raise ClusterError(f"{where} has no CPU for trials (started with --num-cpus 0?); "
                               "add a machine with CPUs to it (ray start --address ...)")
        yield ray
    finally:
        ray.shutdown()


def _join(ray: Any, address: str) -> None:
    """``ray.init(address=...)``, its core's retry messages kept off the console and read
    for the cause when it fails (a token the cluster requires, most often)."""
    with tempfile.TemporaryFile() as captured:
        try:
            with _stderr_to(captured):
                ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
        except ConnectionError as exc:
            captured.seek(0)
            text = captured.read().decode("utf-8", "replace")
            if "InvalidAuthToken" in text or "Unauthenticated" in text:
                raise ClusterError(
                    f"the Ray cluster at {address} requires its authentication token: run "
                    "kobai tune with RAY_AUTH_MODE=token and the head's token in "
                    "~/.ray/auth_token or RAY_AUTH_TOKEN (`ray get-auth-token` on the head "
                    "prints it)") from None
            raise ClusterError(f"cannot join the Ray cluster at {address}: "
                               f"{str(exc).splitlines()[0]}") from None


@contextmanager
def _stderr_to(file: Any) -> Iterator[None]:
    """File descriptor 2 (where Ray's C++ core logs) redirected to ``file`` in the block."""
    sys.stderr.flush()
    saved = os.dup(2)
    os.dup2(file.fileno(), 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


@dataclass(frozen=True)
class TrialSettings:
    """What every trial of a search shares."""

    epochs: int
    dtype: str = "float32"


def _trainable(config: dict[str, Any], data: TrialData | None = None,
               settings: TrialSettings | None = None) -> None:
    """The function Ray Tune runs for each trial (in a worker)."""
    from ray import tune

    assert data is not None and settings is not None  # given by tune.with_parameters

    def report(r: EpochReport) -> None:
        tune.report({METRIC: r.val_acc, "train_acc": r.train_acc, "train_loss": r.train_loss,
                     "epoch": r.epoch, "diverged": r.diverged or ""})

    run_trial(config, data, epochs=settings.epochs, dtype=settings.dtype, report=report,
              blas_threads=1)


def run_trials(param_space: Mapping[str, Any] | None, data: TrialData,
               settings: TrialSettings, storage: Path, *, trials: int, scheduler: str,
               seed: int, grace_period: int = 1, resume: bool = False,
               callbacks: list[Any] | None = None,
               reuse_actors: bool = True) -> list[TrialResult]:
    """Run the search (or, with ``resume``, continue the one in ``storage/EXPERIMENT``)
    and return one :class:`TrialResult` per trial that started, in Ray's order.

    Call inside :func:`ray_session`. ``callbacks`` are Ray Tune callbacks (the progress
    display); Ray Tune saves them with the experiment, and a resumed search uses those.
    ``reuse_actors=False``: a new worker process per trial (Ray Tune's default). Ray Tune
    logs each trial's results as JSON and CSV in its folder (no TensorBoard logger).
    """
    from ray import tune
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    trainable = tune.with_resources(
        tune.with_parameters(_trainable, data=data, settings=settings), {"cpu": 1})
    path = storage / EXPERIMENT
    if resume:
        tuner = tune.Tuner.restore(str(path.resolve()), trainable=trainable,
                                   resume_unfinished=True,
                                   resume_errored=False, restart_errored=False)
    else:
        if param_space is None:
            raise ValueError("a new search needs its param_space")
        tuner = tune.Tuner(
            trainable, param_space=dict(param_space),
            tune_config=tune.TuneConfig(
                metric=METRIC, mode="max", num_samples=trials, reuse_actors=reuse_actors,
                search_alg=tune.search.BasicVariantGenerator(random_state=seed),
                scheduler=make_scheduler(scheduler, settings.epochs, grace_period)),
            run_config=tune.RunConfig(
                name=EXPERIMENT, storage_path=str(storage.resolve()), verbose=0,
                # result.json and progress.csv: each result's metrics_dataframe reads them
                callbacks=[*(callbacks or []), JsonLoggerCallback(), CSVLoggerCallback()],
                failure_config=tune.FailureConfig(max_failures=0)))
    grid = _fit(tuner)
    return unique_trials(collect(result, settings.epochs) for result in grid if result.config)


def unique_trials(results: Iterable[TrialResult]) -> list[TrialResult]:
    """One result per trial id, the one that got furthest, in the order of first sight.

    After a Ctrl-C, Ray Tune's result grid can hold a trial twice: as it finished, and as a
    stale entry with no epochs (seen with 2.41+, under load), which would be written as a
    second row of the same trial in results.csv.
    """
    kept: dict[str, TrialResult] = {}
    for trial in results:
        other = kept.get(trial.trial_id)
        if other is None or _progress(trial) > _progress(other):
            kept[trial.trial_id] = trial
    return list(kept.values())


def _progress(trial: TrialResult) -> tuple[bool, int]:
    return trial.status != UNFINISHED, trial.epochs


def _fit(tuner: Any) -> Any:
    """``tuner.fit()``, with the process's Ctrl-C handler put back afterwards.

    Ray Tune turns the first Ctrl-C of a search into a graceful stop (the experiment state
    is saved, so ``--resume`` can continue it), but its handler stays installed when the
    search ends normally, and would swallow a Ctrl-C during the retraining that follows.
    """
    main = threading.current_thread() is threading.main_thread()
    handler = signal.getsignal(signal.SIGINT) if main else None
    # a failed trial is reported in kobai's table, one line each, and its traceback is in
    # ray/<trial>/error.txt: not also Ray Tune's logged traceback on the console
    tune_log = logging.getLogger("ray.tune")
    level = tune_log.level
    tune_log.setLevel(logging.CRITICAL)
    try:
        return tuner.fit()
    finally:
        tune_log.setLevel(level)
        if main and handler is not None:
            signal.signal(signal.SIGINT, handler)


def make_scheduler(name: str, epochs: int, grace_period: int) -> Any:
    """Ray Tune's scheduler for ``--scheduler``: FIFO (every trial runs all its epochs:
    plain random search) or ASHA (stops the trials that trail at each rung)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if name == "random":
        return FIFOScheduler()
    if name == "asha":
        return ASHAScheduler(time_attr="training_iteration", max_t=epochs,
                             grace_period=min(grace_period, epochs), reduction_factor=3)
    raise ValueError(f"--scheduler {name}: expected random or asha")


def collect(result: Any, epochs: int) -> TrialResult:
    """A Ray Tune ``Result`` as a :class:`TrialResult`."""
    frame = result.metrics_dataframe
    rows: list[Mapping[str, Any]] = [] if frame is None else frame.to_dict("records")
    diverged = next((str(row["diverged"]) for row in rows if row.get("diverged")), None)
    epochs_rows = [row for row in rows if not row.get("diverged")]
    metrics = result.metrics or {}
    trial_id = str(metrics.get("trial_id") or Path(str(result.path)).name)
    config = {key: value for key, value in result.config.items()}
    error = None
    if result.error is not None:
        status, error = ERROR, _one_line(result.error)
    elif diverged:
        status, error = DIVERGED, diverged
    elif not metrics.get("done"):
        status = UNFINISHED
    else:
        status = COMPLETED if len(epochs_rows) >= epochs else STOPPED
    return TrialResult(trial_id=trial_id, config=config, status=status,
                       val_acc=[float(row[METRIC]) for row in epochs_rows],
                       train_acc=[float(row["train_acc"]) for row in epochs_rows],
                       train_loss=[float(row["train_loss"]) for row in epochs_rows],
                       seconds=float(metrics.get("time_total_s") or 0.0), error=error)


def _one_line(error: BaseException) -> str:
    """The last line of an error's text: for a trial's exception, ``Type: message``."""
    lines = [line.strip() for line in str(error).strip().splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__

