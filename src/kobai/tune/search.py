"""``kobai.tune.search``: a hyperparameter search on Ray Tune, from data to a tested model.

1. The training data (the first ``train_size`` images of ``dataset``) are split into a
   training and a validation part (``val_fraction``, stratified, seeded).
2. Ray Tune runs ``trials`` configurations drawn from the search space, each trained for up
   to ``epochs`` epochs on the training part and scored on the validation part
   (:mod:`kobai.tune.engine`).
3. The best configuration (by final validation accuracy, among the trials that ran every
   epoch) is trained again on the whole training data with its seed, and evaluated on the
   test set **once**: the test set plays no part in choosing it.

The run folder holds ``search.json`` (the settings, written first, so that an interrupted
search can be resumed), ``results.csv``, ``tune.png``, ``best.json``, ``model.npz`` (the
retrained best model, a kobai checkpoint) and ``ray/`` (Ray Tune's own state).
"""

from __future__ import annotations

import json
import numbers
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .records import COMPLETED, ERROR, UNFINISHED, TrialResult
from .space import SearchSpace
from .trial import TrialData

__all__ = ["PRESETS", "SEARCH_FILE", "RetrainError", "SearchResult", "SearchSettings",
           "search"]

#: the settings of a search, in its run folder: what --resume reads
SEARCH_FILE = "search.json"
FORMAT = "kobai-tune"
#: presets: settings that reproduce a known experiment (the search space is the default)
PRESETS: dict[str, dict[str, Any]] = {
    # the book's ch06/hyperparameter_optimization.py: the first 500 training images, 20% of
    # them for validation, 100 trials of 50 epochs; lr 10^[-6,-2], weight decay 10^[-8,-4]
    "book": {"train_size": 500, "val_fraction": 0.2, "epochs": 50, "trials": 100},
}
SCHEDULERS = ("random", "asha")


@dataclass
class SearchSettings:
    """Everything about a search but its space; saved in ``search.json``."""

    trials: int = 100
    epochs: int = 20
    scheduler: str = "random"
    grace_period: int | None = None  # ASHA's first rung; default max(1, epochs // 10)
    dataset: str = "sample"
    data_dir: str | None = None
    train_size: int | None = None
    val_fraction: float = 0.2
    seed: int = 0
    dtype: str = "float32"
    retrain: bool = True

    def check(self) -> None:
        """Refuse settings that cannot run, naming the option."""
        for name in ("trials", "epochs"):
            _positive(getattr(self, name), name)
        for name in ("grace_period", "train_size"):
            if getattr(self, name) is not None:
                _positive(getattr(self, name), name)
        if self.scheduler not in SCHEDULERS:
            raise ValueError(f"--scheduler {self.scheduler}: expected one of "
                             f"{', '.join(SCHEDULERS)}")
        if self.grace_period is not None and self.scheduler != "asha":
            raise ValueError(f"--grace-period {self.grace_period} is ASHA's first rung; it "
                             "needs --scheduler asha")
        if self.grace_period is not None and self.grace_period > self.epochs:
            raise ValueError(f"--grace-period {self.grace_period} is more than --epochs "
                             f"{self.epochs}: ASHA could never stop a trial")
        if not (isinstance(self.val_fraction, numbers.Real) and 0 < self.val_fraction < 1):
            raise ValueError(f"--val-fraction {self.val_fraction}: expected a number in (0, 1)")
        if not (isinstance(self.seed, numbers.Integral) and int(self.seed) >= 0):
            raise ValueError(f"--seed {self.seed}: expected an integer >= 0")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"--dtype {self.dtype}: expected float32 or float64")

    @property
    def first_rung(self) -> int:
        return self.grace_period or max(1, self.epochs // 10)


def _positive(value: Any, name: str) -> None:
    integer = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if not (integer and int(value) >= 1):
        raise ValueError(f"--{name.replace('_', '-')} {value}: expected a positive integer")


@dataclass
class SearchResult:
    """What :func:`search` found and where it wrote it."""

    out: Path
    trials: list[TrialResult]
    #: the best trial that ran every epoch (None when none did)
    best: TrialResult | None
    #: the retrained best model's accuracy on the test set, measured once (None: not run)
    test_acc: float | None
    #: the search stopped before every trial finished (Ctrl-C): resume it
    interrupted: bool = False
    files: list[Path] = field(default_factory=list)


def search(space: SearchSpace | Mapping[str, Any] | None = None,
           settings: SearchSettings | None = None, *, out: str | Path | None = None,
           cpus: int | None = None, address: str | None = None,
           resume: str | Path | None = None, progress: bool = True,
           log: Any = None) -> SearchResult:
    """Run a hyperparameter search on Ray Tune (or continue one), retrain and test the best.

    Parameters
    ----------
    space : SearchSpace or dict, optional
        Default: the book's search (lr 10^[-6, -2], weight decay 10^[-8, -4],
        MultiLayerNet(784, [100]*6, 10), SGD, batch 100). A dict is read by
        :meth:`SearchSpace.from_options`, e.g. ``{"lr": "1e-4:1e-1:log"}``.
    settings : SearchSettings, optional
        Trials, epochs, scheduler, data, validation fraction, seed.
    out : path, optional
        The run folder (default: a new ``runs/tune-<timestamp>``): a new or empty folder.
    cpus : int, optional
        Start a local Ray instance with this many CPUs, one trial on each (default: all).
    address : str, optional
        ``HOST:PORT`` of a running Ray cluster (``ray start --head``), or ``auto``.
    resume : path, optional
        The run folder of an interrupted search, continued with its own settings (give no
        ``space``/``settings``/``out`` then); finished trials are not run again.
    progress : bool
        Show a progress bar of the trials.
    log : file, optional
        Where to print the summary (default: stdout).

    Raises
    ------
    ValueError
        For a malformed space or settings, an ``out`` that holds files, a ``resume`` folder
        that is not a search (or other data), or a failed retraining (:class:`RetrainError`).
    ConnectionError
        When no Ray cluster answers at ``address``.
    """
    write = (log or sys.stdout).write
    if cpus is not None:
        _positive(cpus, "cpus")
    if cpus is not None and address is not None:
        raise ValueError("--cpus starts a local Ray instance and --address joins a cluster "
                         "(whose CPUs are its own): give one of them")
    target = None if out is None else Path(out)
    if resume is not None:
        if space is not None or settings is not None or out is not None:
            raise ValueError("--resume continues a search with its own space and settings; "
                             "give no other search options with it")
        folder = Path(resume)
        space, settings, recorded = read_search(folder)
    else:
        space = (space if isinstance(space, SearchSpace)
                 else SearchSpace.from_options(dict(space or {})))
        settings = settings or SearchSettings()
        settings.check()
        recorded = None
        if target is not None:
            _check_out(target)
    data, n_train, x_all, t_all, (x_test, t_test), fingerprint = _load(settings)
    if recorded is not None and recorded != fingerprint:
        raise ValueError(f"the {settings.dataset} training data differ from those the search "
                         f"in {resume} ran on (fingerprint {fingerprint}, recorded {recorded}); "
                         "resume it on the same data")
    held = (x_all, t_all, x_test, t_test, n_train)
    if resume is not None:
        done = _finished_trials(folder, settings)
        if done is not None:  # every trial ran: at most the retraining is left
            return _finish(folder, space, settings, done, *held, write, resumed=True)
    from .engine import TrialSettings, ray_session, run_trials

    with ray_session(cpus=cpus, address=address):  # first: Ray reachable, before any folder
        from ray import tune as ray_tune

        from .progress import Progress

        if resume is None:
            folder = _new_run_folder(target, {
                "format": FORMAT, "space": space.to_dict(), "settings": asdict(settings),
                "fingerprint": fingerprint, "kobai_version": _version()})
        # Ray Tune's own state, once a search has started in the folder (a Ctrl-C in its
        # first second leaves none: the recorded search then starts afresh)
        restore = resume is not None and (folder / "ray" / "tuner.pkl").is_file()
        write(f"{'resuming' if restore else 'searching'} {settings.trials} trials of up to "
              f"{_epochs(settings.epochs)} ({settings.scheduler}) on {settings.dataset}: "
              f"{len(data.x_train)} training and {len(data.x_val)} validation images -> "
              f"{folder}/\n")
        lines = space.describe()
        write(f"  search: {' '.join(line for line in lines if _searched(line, space)) or '-'}"
              f"\n  fixed:  {' '.join(line for line in lines if not _searched(line, space))}\n")
        param_space = {**space.to_ray(), "seed": ray_tune.randint(0, 2**31 - 1)}
        Progress.show = progress  # read at run time: a resumed search has its saved callback
        trials = run_trials(None if restore else param_space, data,
                            TrialSettings(settings.epochs, settings.dtype), folder,
                            trials=settings.trials, scheduler=settings.scheduler,
                            seed=settings.seed, grace_period=settings.first_rung,
                            resume=restore, callbacks=[Progress(settings.trials)])
    return _finish(folder, space, settings, trials, *held, write)


class RetrainError(ValueError):
    """The best configuration could not be trained again on all the training data."""


def _finish(folder: Path, space: SearchSpace, settings: SearchSettings,
            trials: list[TrialResult], x_all: np.ndarray, t_all: np.ndarray,
            x_test: np.ndarray, t_test: np.ndarray, n_train: int, write: Any, *,
            resumed: bool = False) -> SearchResult:
    """Write the results, choose the best trial, retrain and test it; print as it goes."""
    from .engine import EXPERIMENT
    from .figure import plot_tune
    from .report import best_json, ranked, top_table, write_best_json, write_results_csv

    # the book's two dimensions, lr and weight decay, first: the figure's scatter plots them
    searched = sorted(space.searched(), key=lambda d: (d != "lr", d != "weight_decay"))
    interrupted = any(t.status == UNFINISHED for t in trials) or len(trials) < settings.trials
    files = [folder / "results.csv", folder / "tune.png"]
    write_results_csv(trials, files[0], searched=searched, epochs=settings.epochs)
    plot_tune(trials, files[1], searched=searched,
              title=f"{settings.trials} trials on {settings.dataset}, {settings.epochs} epochs")
    if trials:
        write(top_table(trials, searched=searched) + "\n")
    if any(t.status == ERROR for t in trials):
        write(f"the failed trials' tracebacks: {folder / EXPERIMENT}/*/error.txt\n")
    first = ranked(trials)[0] if trials else None
    best = first if first is not None and first.status == COMPLETED else None
    result = SearchResult(folder, trials, best, None, interrupted, files)
    if interrupted:
        finished = sum(t.status != UNFINISHED for t in trials)
        write(f"the search stopped with {settings.trials - finished} of {settings.trials} "
              f"trials unfinished; continue it with: kobai tune --resume {folder}\n")
    elif best is None:
        write("no trial ran every epoch, so there is no best configuration to retrain\n")
    if interrupted or best is None:
        write(f"wrote {', '.join(map(str, files))}\n")
        return result

    model = folder / "model.npz"
    extra = {"settings": asdict(settings), "trials_run": len(trials)}

    def record(test_acc: float | None) -> None:
        retrain = ({"train_images": n_train, "epochs": settings.epochs, "checkpoint":
                    model.name} if test_acc is not None else None)
        write_best_json(folder / "best.json",
                        best_json(best, searched=searched, space_lines=space.describe(),
                                  test_acc=test_acc, retrain=retrain, extra=extra))

    if resumed and model.is_file():
        result.test_acc = _recorded_test_acc(folder)
        write(f"the search in {folder} has finished, and its best configuration was "
              f"retrained: nothing is left to do\n")
        return result
    record(None)  # the choice is kept even if the retraining fails
    files.append(folder / "best.json")
    if settings.retrain:
        write(f"retraining trial {best.trial_id} (validation accuracy {best.final_acc:.4f}) on "
              f"all {n_train} training images for {_epochs(settings.epochs)}...\n")
        try:
            result.test_acc = _retrain(best, settings, x_all, t_all, x_test, t_test, model)
        except KeyboardInterrupt:
            write(f"interrupted while retraining; {folder}/best.json holds the chosen "
                  f"configuration, and kobai tune --resume {folder} retrains it\n")
            raise
        except ValueError as exc:
            raise RetrainError(f"retraining trial {best.trial_id} on all {n_train} training "
                               f"images failed: {exc}; {folder}/best.json holds the chosen "
                               "configuration") from None
        files.append(model)
        record(result.test_acc)
        write(f"test accuracy of the retrained best configuration: {result.test_acc:.4f} "
              f"(measured once, on {len(x_test)} test images, after the search)\n")
    write(f"wrote {', '.join(map(str, files))}\n")
    return result


def _finished_trials(folder: Path, settings: SearchSettings) -> list[TrialResult] | None:
    """The trials of ``folder``'s results.csv when every one of them ran (None otherwise)."""
    from .report import read_results_csv

    path = folder / "results.csv"
    if not path.is_file():
        return None
    trials = read_results_csv(path)
    if len(trials) < settings.trials or any(t.status == UNFINISHED for t in trials):
        return None
    return trials


def _recorded_test_acc(folder: Path) -> float | None:
    try:
        value = json.loads((folder / "best.json").read_text(encoding="utf-8")).get(
            "test_acc_after_retraining")
    except (OSError, ValueError):
        return None
    return float(value) if isinstance(value, (int, float)) else None


def _searched(line: str, space: SearchSpace) -> bool:
    """Whether a line of ``space.describe()`` is one of its search dimensions."""
    return line.split()[0][2:].replace("-", "_") in space.searched()


def _epochs(n: int) -> str:
    return f"{n} epoch" if n == 1 else f"{n} epochs"


def _retrain(best: TrialResult, settings: SearchSettings, x: np.ndarray, t: np.ndarray,
             x_test: np.ndarray, t_test: np.ndarray, path: Path) -> float:
    """Train ``best``'s configuration on all of ``x`` as its trial was trained (the same
    code, its seed, every epoch), save it to ``path`` and return its test accuracy: the one
    use of the test set. ValueError when it cannot be trained or its loss diverges."""
    from .. import io
    from ..datasets import describe
    from .trial import EpochReport, run_trial

    reports: list[EpochReport] = []
    # the per-epoch evaluation watches part of the training data: never the test set
    watch = min(len(x), 1000)
    trainer = run_trial(best.config, TrialData(x, t, x[:watch], t[:watch]),
                        epochs=settings.epochs, report=reports.append, dtype=settings.dtype,
                        blas_threads="auto")
    if reports and reports[-1].diverged:
        raise ValueError(f"its loss diverged ({reports[-1].diverged})")
    test_acc = float(trainer.network.accuracy(x_test, t_test))
    data = describe(settings.dataset, x, t, data_dir=settings.data_dir)
    data["batch_size"] = int(best.config.get("batch_size", 100))
    if settings.train_size is not None:
        data["train_size"] = settings.train_size
    io.save(trainer.network, path, optimizer=trainer.optimizer, data=data)
    return test_acc


def _load(settings: SearchSettings) -> tuple[TrialData, int, np.ndarray, np.ndarray,
                                             tuple[np.ndarray, np.ndarray], str]:
    """The split of the training data, all of it (for retraining), the test set and the
    training data's fingerprint."""
    from ..datasets import fingerprint, load_mnist
    from ..datasets.split import validation_split

    (x, t), test = load_mnist(source=settings.dataset, data_dir=settings.data_dir,
                              dtype=np.dtype(settings.dtype))
    if settings.train_size is not None:
        if settings.train_size > len(x):
            raise ValueError(f"--train-size {settings.train_size} is more than the {len(x)} "
                             f"training images of --dataset {settings.dataset}")
        x, t = x[:settings.train_size], t[:settings.train_size]
    train, val = validation_split(t, settings.val_fraction, rng=settings.seed)
    data = TrialData(x[train], t[train], x[val], t[val])
    return data, len(x), x, t, test, fingerprint(x, t)


def read_search(folder: Path) -> tuple[SearchSpace, SearchSettings, str | None]:
    """The space, settings and data fingerprint of the search in ``folder``."""
    path = folder / SEARCH_FILE
    if not folder.is_dir():
        raise ValueError(f"--resume {folder}: not a folder (give the run folder of a search, "
                         "e.g. runs/tune-20261128-101500)")
    if not path.is_file():
        raise ValueError(f"--resume {folder}: not a kobai tune run (it has no {SEARCH_FILE})")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != FORMAT:
            raise ValueError(f"format {record.get('format')!r} is not {FORMAT!r}")
        settings = SearchSettings(**record["settings"])
        settings.check()
        space = SearchSpace.from_dict(record["space"])
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ValueError(f"--resume {folder}: {path} is not a valid kobai tune record "
                         f"({exc})") from None
    return space, settings, record.get("fingerprint")


def _check_out(out: Path) -> None:
    """Refuse an ``--out`` that is a file or a folder holding anything: a search's files
    are written only into a new or empty folder, so nothing of the user's is replaced."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; --out names the search's folder")
    if out.is_dir() and any(out.iterdir()):
        what = ("holds a search: continue it with --resume " + str(out)
                if (out / SEARCH_FILE).exists() else "is not empty")
        raise ValueError(f"--out {out} {what}; kobai tune writes only into a new or empty "
                         "folder: choose another --out")


def _new_run_folder(out: Path | None, record: dict[str, Any]) -> Path:
    """``out`` (created) or a new ``runs/tune-<timestamp>`` (claimed atomically), with the
    search's record in it. The record is created exclusively, so of two searches started
    into the same ``--out`` at once, one is refused."""
    from ..runs import claim_folder

    if out is None:
        folder = claim_folder("tune-")
    else:
        _check_out(out)
        out.mkdir(parents=True, exist_ok=True)
        folder = out
    try:
        with open(folder / SEARCH_FILE, "x", encoding="utf-8") as fh:
            fh.write(json.dumps(record, indent=2, allow_nan=False) + "\n")
    except FileExistsError:
        raise ValueError(f"--out {folder} was claimed by another search meanwhile; choose "
                         "another --out") from None
    return folder


def _version() -> str:
    from .. import __version__

    return __version__

