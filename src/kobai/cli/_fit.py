"""``kobai train``'s validation split, early stopping, best checkpoint and learning-rate
schedule: the arguments, what a checkpoint records of them (``data["fit"]``), and how
``--resume`` continues them (:mod:`kobai.stopping`, :mod:`kobai.schedules`)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from ._common import CliError, _number, non_negative_float, positive_int, user_errors

__all__ = ["add_arguments", "base_lr", "settings", "summary", "trainer_arguments"]

_fraction = _number(float, "a fraction in (0, 1)", lambda v: 0 < v < 1)
_unit = _number(float, "a factor in (0, 1)", lambda v: 0 < v < 1)

#: the settings of each schedule, by argparse name: the schedule's own parameter
_SCHEDULE_ARGS = {"step": {"lr_step": "step", "lr_gamma": "gamma"},
                  "cosine": {"lr_floor": "floor"},
                  "plateau": {"lr_patience": "patience", "lr_factor": "factor",
                              "lr_floor": "floor", "min_delta": "min_delta"}}
_FIT_ARGS = ("validation", "test_each_epoch", "patience")
#: what a run without these options has (and does not record)
_DEFAULT: dict[str, Any] = {"validation": None, "test_each_epoch": None, "patience": None,
                            "min_delta": 0.0, "lr_schedule": None}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments, in a group of their own."""
    g = parser.add_argument_group(
        "validation, early stopping and learning-rate schedules",
        "With --validation, each epoch is evaluated on a held-out part of the training data, "
        "best.npz keeps the epoch with the lowest validation loss, the network ends with its "
        "weights, and the test set is scored once, at the end, on them.")
    g.add_argument("--validation", type=_fraction, metavar="FRACTION",
                   help="hold out this fraction of the training images for validation "
                        "(stratified by class, seeded by --seed), e.g. 0.1")
    g.add_argument("--test-each-epoch", action="store_true", default=None,
                   help="with --validation, also evaluate the test set after every epoch, as "
                        "without it (the book's curves)")
    g.add_argument("--patience", type=positive_int, metavar="N",
                   help="stop when the validation loss has not improved for N epochs (needs "
                        "--validation)")
    g.add_argument("--min-delta", type=non_negative_float, metavar="D",
                   help="a smaller decrease of the loss is no improvement, for --patience and "
                        "--lr-schedule plateau (default 0)")
    g.add_argument("--lr-step", type=positive_int, metavar="N",
                   help="--lr-schedule step: epochs between reductions (default: a third of "
                        "--epochs, rounded up)")
    g.add_argument("--lr-gamma", type=_unit, metavar="G",
                   help="--lr-schedule step: the factor of each reduction (default 0.1)")
    g.add_argument("--lr-floor", type=non_negative_float, metavar="LR",
                   help="--lr-schedule cosine and plateau: the lowest learning rate "
                        "(default 0)")
    g.add_argument("--lr-patience", type=positive_int, metavar="N",
                   help="--lr-schedule plateau: epochs without improvement before a "
                        "reduction (default 10)")
    g.add_argument("--lr-factor", type=_unit, metavar="F",
                   help="--lr-schedule plateau: the factor of each reduction (default 0.1)")


def _schedule_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The schedule's settings given on the command line, refusing those of another one."""
    name = args.lr_schedule or "constant"
    mine = _SCHEDULE_ARGS.get(name, {})
    given = {dest: getattr(args, dest) for spec in _SCHEDULE_ARGS.values() for dest in spec
             if getattr(args, dest) is not None and dest != "min_delta"}
    stray = [dest for dest in given if dest not in mine]
    if stray:
        flags = ", ".join(f"--{dest.replace('_', '-')}" for dest in stray)
        verb = "does" if len(stray) == 1 else "do"
        raise CliError(f"{flags} {verb} not apply to --lr-schedule {name}; "
                       + "; ".join(f"{sched} takes "
                                   + ", ".join(f"--{d.replace('_', '-')}" for d in spec
                                               if d != "min_delta")
                                   for sched, spec in _SCHEDULE_ARGS.items()))
    out = {mine[dest]: value for dest, value in given.items()}
    if name == "plateau" and args.min_delta is not None:
        out["min_delta"] = args.min_delta
    return out


def settings(args: argparse.Namespace, lr: float, recorded: dict | None
             ) -> dict[str, Any] | None:
    """What the run's checkpoints record of these options (``data["fit"]``): ``validation``,
    ``test_each_epoch``, ``patience``, ``min_delta`` and the schedule's ``get_config()``
    (None: a constant learning rate); None when they are all the defaults (not recorded).

    A new run takes them from ``args`` (``lr`` the optimizer's, ``args.epochs`` set). A
    resumed run (``recorded``: the checkpoint's data) takes the recorded ones, and refuses
    options given that differ from them, as ``--resume`` does for the network's.
    """
    from ..schedules import get_schedule

    if args.patience is not None and args.validation is None and not (
            recorded and (recorded.get("fit") or {}).get("validation")):
        raise CliError("--patience needs --validation FRACTION: early stopping on the test set "
                       "would choose the epoch by the data it then reports")
    if recorded is None or args.resume is None:
        with user_errors():
            schedule = get_schedule(args.lr_schedule or "constant", lr=lr, epochs=args.epochs,
                                    **_schedule_settings(args))
        new = {"validation": args.validation, "test_each_epoch": args.test_each_epoch,
               "patience": args.patience, "min_delta": args.min_delta or 0.0,
               "lr_schedule": None if schedule.name == "constant" else schedule.get_config()}
        return None if new == _DEFAULT else new
    fit = recorded.get("fit")
    have = dict(fit or _DEFAULT)
    conflicts = [f"{_flag(dest)} {getattr(args, dest)} (the checkpoint has "
                 f"{_shown(have.get(dest))})" for dest in (*_FIT_ARGS, "min_delta")
                 if getattr(args, dest) is not None and not _same(getattr(args, dest),
                                                                  have.get(dest))]
    schedule = dict(have["lr_schedule"] or {"name": "constant", "lr": lr})
    if args.lr_schedule is not None and args.lr_schedule != schedule["name"]:
        conflicts.append(f"--lr-schedule {args.lr_schedule} (the checkpoint has "
                         f"--lr-schedule {schedule['name']})")
    else:
        for key, value in _schedule_settings(argparse.Namespace(
                **{**vars(args), "lr_schedule": schedule["name"]})).items():
            if not _same(value, schedule.get(key)):
                conflicts.append(f"{_flag('lr_' + key if key != 'min_delta' else key)} "
                                 f"{value:g} (the checkpoint's schedule has {schedule.get(key)})")
    if conflicts:
        raise CliError(f"--resume continues {args.resume} with the validation split, early "
                       f"stopping and learning-rate schedule it was trained with, and these "
                       f"options conflict with them: {'; '.join(conflicts)}. Leave them out, or "
                       "start a new run without --resume")
    return fit


def trainer_arguments(fit: dict[str, Any] | None, out: Path, data: dict[str, Any],
                      resume: Path | None) -> dict[str, Any]:
    """The Trainer's keyword arguments for ``fit`` (:func:`settings`): the validation split,
    early stopping, the schedule, and a :class:`~kobai.stopping.KeepBest` writing
    ``out/best.npz`` (a resumed run's earlier best is its folder's ``best.npz``)."""
    from ..schedules import schedule_from_config
    from ..stopping import KeepBest

    if fit is None:
        return {"callbacks": []}
    with user_errors():
        schedule = (None if fit["lr_schedule"] is None else
                    schedule_from_config(fit["lr_schedule"]))
    kwargs: dict[str, Any] = {"validation": fit["validation"], "patience": fit["patience"],
                              "min_delta": fit["min_delta"],
                              "test_each_epoch": fit["test_each_epoch"],
                              "lr_schedule": schedule, "callbacks": []}
    if fit["validation"] is not None:
        previous = None if resume is None else resume.parent / "best.npz"
        kwargs["callbacks"] = [KeepBest(min_delta=fit["min_delta"], path=out / "best.npz",
                                        data=data, previous=previous)]
    return kwargs


def summary(history: Any, out: Path) -> str:
    """The last line of a run with a validation set: the test set's one score, on which
    epoch's weights."""
    test = history.test
    tested = history.epochs[test["epoch"] - 1]
    best = " (the lowest validation loss; best.npz)" if (out / "best.npz").is_file() else ""
    return (f"test accuracy {test['acc']:.4f} (loss {test['loss']:.4f}), scored once on the "
            f"weights of epoch {test['epoch']}{best}: validation accuracy "
            f"{tested.val_acc:.4f}, train {tested.train_acc:.4f}; {history.epoch} epochs "
            "trained")


def base_lr(recorded: dict | None) -> float | None:
    """The learning rate a resumed run was started with (its schedule's base), if recorded:
    ``--lr`` is compared with it, not with the scheduled one the optimizer holds."""
    schedule = ((recorded or {}).get("fit") or {}).get("lr_schedule") or {}
    lr = schedule.get("lr")
    return float(lr) if isinstance(lr, (int, float)) and not isinstance(lr, bool) else None


def _flag(dest: str) -> str:
    return f"--{dest.replace('_', '-')}"


def _shown(value: Any) -> str:
    return "none" if value is None else str(value)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, (int, float)) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return bool(a == b)
