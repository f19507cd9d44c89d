"""One trial of a search: train a configuration, report its validation accuracy every epoch.

This is the work each Ray worker does (:mod:`kobai.tune.engine` wraps it), and it runs
without Ray too: the benchmark's sequential loop and the retraining of the best
configuration call the same code. A trial is the ``kobai train`` of its configuration, on
the training part of the split, scored on the validation part.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["EpochReport", "TrialData", "build_trial_net", "run_trial"]

@dataclass(frozen=True)
class TrialData:
    """The arrays a trial trains and is scored on: the split of the training data."""

    x_train: np.ndarray
    t_train: np.ndarray
    x_val: np.ndarray
    t_val: np.ndarray


@dataclass(frozen=True)
class EpochReport:
    """What a trial reports after each epoch."""

    epoch: int
    val_acc: float
    train_acc: float
    train_loss: float
    #: set on the last report of a trial whose training diverged: what happened
    diverged: str | None = None


def build_trial_net(config: Mapping[str, Any], dtype: Any = np.float32) -> Any:
    """The network of a configuration (the keys of :data:`~kobai.nets.options.NETWORK_OPTIONS`;
    missing ones default as in ``kobai train``), with its weights drawn from
    ``config["seed"]``. A ``dropout`` of None means no dropout (``--dropout none``); left
    out, a net's own default (DeepConvNet: the book's 0.5)."""
    from ..nets.options import NETS, NETWORK_OPTIONS, build_net

    args = argparse.Namespace(**{key: config.get(key) for key in NETWORK_OPTIONS})
    if args.dropout is False:
        args.dropout = None
    off = NETS[args.net].no_dropout if args.net in NETS else None
    if off is not None and "dropout" in config and args.dropout is None:
        args.dropout = off  # "--dropout none" chosen for a net whose dropout is on by default
    args.batchnorm = bool(args.batchnorm) or None
    return build_net(args, dtype=np.dtype(dtype), rng=int(config.get("seed", 0)))


def run_trial(config: Mapping[str, Any], data: TrialData, *, epochs: int,
              report: Callable[[EpochReport], None], dtype: Any = np.float32,
              blas_threads: int | str | None = 1,
              evaluate_sample_num_per_epoch: int | None = None) -> Any:
    """Train ``config`` for ``epochs`` epochs on ``data``, calling ``report`` after each.

    ``config`` holds kobai train's options by dest name (``net``, ``hidden``, ...,
    ``optimizer``, ``lr``, ``batch_size``, ``lr_schedule`` with its defaults over ``epochs``:
    :func:`kobai.schedules.get_schedule`) and the trial's ``seed`` (weights, batch order
    and dropout). A run whose loss diverges (kobai's
    :class:`~kobai.trainer.TrainingDivergedError`) is not an error of the search: its last
    report repeats the last good epoch's figures (zeros when none) with ``diverged`` set.
    Returns the :class:`~kobai.trainer.Trainer`: its ``network`` and ``optimizer`` are the
    trained ones (the retraining of the best configuration saves them).
    """
    from ..optimizers import get_optimizer
    from ..trainer import Trainer, TrainingDivergedError

    net = build_trial_net(config, dtype)
    optimizer = get_optimizer(str(config.get("optimizer", "sgd")), lr=float(config["lr"]))
    last = EpochReport(0, 0.0, 0.0, 0.0)

    def on_epoch_end(trainer: Any, record: Any) -> None:
        nonlocal last
        last = EpochReport(record.epoch, float(record.test_acc), float(record.train_acc),
                           float(record.train_loss))
        report(last)

    # the trial's scoring set is the Trainer's test set: a plateau schedule watches the
    # training loss, as in a kobai train run without --validation
    schedule = config.get("lr_schedule")
    trainer = Trainer(net, data.x_train, data.t_train, data.x_val, data.t_val, epochs=epochs,
                      mini_batch_size=int(config.get("batch_size", 100)),
                      optimizer=optimizer, verbose=False, rng=int(config.get("seed", 0)),
                      callbacks=[on_epoch_end], blas_threads=blas_threads,
                      evaluate_sample_num_per_epoch=evaluate_sample_num_per_epoch,
                      lr_schedule=None if schedule in (None, "constant") else str(schedule))
    try:
        trainer.train()
    except TrainingDivergedError as exc:
        report(EpochReport(last.epoch, last.val_acc, last.train_acc, last.train_loss,
                           diverged=str(exc).splitlines()[0]))
    return trainer

