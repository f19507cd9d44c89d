"""Early stopping and the best epoch's weights, watched on the validation set (Keras's
``EarlyStopping(restore_best_weights=True)`` and ``ModelCheckpoint(save_best_only=True)``).

Both read the run's :class:`~kobai.history.History` only: the best epoch is the first whose
monitored value beats every earlier one by more than ``min_delta`` (lower for a loss,
higher for an accuracy), so a run resumed after epoch ``k`` stops where the uninterrupted
one does. :class:`EarlyStopping` stops training (``trainer.stop_training = True``) once
``patience`` epochs in a row have not improved on it; :class:`KeepBest` keeps that epoch's
weights (and with a ``path`` writes its checkpoint, ``best.npz``, whenever it changes) and
puts them back in the network at the end of training.

``monitor`` is ``"val_loss"`` (the default, as Keras's) or ``"val_acc"``; the
:class:`~kobai.trainer.Trainer` adds both for ``Trainer(..., validation=0.1, patience=3)``.

Examples
--------
>>> from kobai.history import EpochRecord, History
>>> h = History(epochs=[EpochRecord(e, e, 1.0, 0.5, None, None, 0.1, val_loss=v, val_acc=0.5)
...                     for e, v in enumerate([0.9, 0.7, 0.8, 0.75, 0.71], start=1)])
>>> best_epoch(h)
2
>>> best_epoch(h, min_delta=0.25)
1
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ._validate import is_number

__all__ = ["MONITORS", "EarlyStopping", "KeepBest", "best_epoch"]

#: what early stopping and the best checkpoint can watch: whether higher is better
MONITORS = {"val_loss": False, "val_acc": True, "train_loss": False, "train_acc": True}


def _check(monitor: str, min_delta: Any) -> float:
    if monitor not in MONITORS:
        raise ValueError(f"monitor must be one of {', '.join(MONITORS)}, got {monitor!r}")
    if not (is_number(min_delta) and min_delta >= 0):
        raise ValueError(f"min_delta must be a number >= 0, got {min_delta!r}")
    return float(min_delta)


def best_epoch(history: Any, monitor: str = "val_loss", min_delta: float = 0.0) -> int | None:
    """The 1-based epoch of ``history`` with the best ``monitor`` value (see the module), or
    None when no epoch recorded it."""
    min_delta = _check(monitor, min_delta)
    higher = MONITORS[monitor]
    best, where = math.nan, None
    for record in history.epochs:
        value = getattr(record, monitor)
        if value is None:
            continue
        if where is None or (value > best + min_delta if higher else value < best - min_delta):
            best, where = value, record.epoch
    return where


class EarlyStopping:
    """Trainer callback: stop when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    patience : int
        Epochs in a row without improvement after which training stops (Keras's).
    monitor : {"val_loss", "val_acc"}
    min_delta : float
        An improvement smaller than this does not count.

    Attributes
    ----------
    stopped_epoch : int or None
        The epoch after which it stopped training.

    Examples
    --------
    >>> trainer = Trainer(net, x, t, xt, tt, validation=0.1, patience=3)  # doctest: +SKIP
    >>> trainer.train().epoch  # doctest: +SKIP
    """

    def __init__(self, patience: int, monitor: str = "val_loss", min_delta: float = 0.0):
        if not (isinstance(patience, int) and not isinstance(patience, bool) and patience >= 1):
            raise ValueError(f"patience must be an integer >= 1 (epochs without improvement), "
                             f"got {patience!r}")
        self.patience, self.monitor = patience, monitor
        self.min_delta = _check(monitor, min_delta)
        self.stopped_epoch: int | None = None

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        best = best_epoch(trainer.history, self.monitor, self.min_delta)
        if best is not None and record.epoch - best >= self.patience:
            trainer.stop_training = True
            self.stopped_epoch = record.epoch

    def __repr__(self) -> str:
        return (f"EarlyStopping(patience={self.patience}, monitor={self.monitor!r}, "
                f"min_delta={self.min_delta:g})")


class KeepBest:
    """Trainer callback: keep the weights of the best epoch, and put them back at the end.

    Parameters
    ----------
    monitor, min_delta
        As :class:`EarlyStopping`'s.
    path : str or path-like, optional
        Write the best epoch's checkpoint here (:func:`kobai.io.save`: network, optimizer,
        history up to that epoch, ``data``) each time a better epoch ends.
    data : dict, optional
        Recorded in the checkpoint.
    restore : bool
        At the end of training, load the best epoch's weights into the network.
    previous : str or path-like, optional
        A checkpoint of the best epoch of the run before a resume (its ``best.npz``), for a
        best epoch that this process did not train.

    Attributes
    ----------
    epoch : int or None
        The best epoch so far.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, *,
                 path: str | os.PathLike[str] | None = None, data: dict | None = None,
                 restore: bool = True, previous: str | os.PathLike[str] | None = None):
        self.monitor, self.min_delta = monitor, _check(monitor, min_delta)
        self.path = None if path is None else Path(path)
        self.previous = None if previous is None else Path(previous)
        self.data, self.restore = data, bool(restore)
        self.epoch: int | None = None
        self._state: dict[str, np.ndarray] | None = None
        self._optimizer: Any = None  # the optimizer after the best epoch, for its checkpoint
        self._n_losses = 0

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        best = best_epoch(trainer.history, self.monitor, self.min_delta)
        self.epoch = best
        if best != record.epoch:
            return
        net = trainer.network
        self._state = (net.state_dict() if callable(getattr(net, "state_dict", None)) else
                       {k: np.array(v, copy=True) for k, v in net.params.items()})
        if self.path is not None:
            from .io import save

            save(net, self.path, optimizer=trainer.optimizer, history=trainer.history,
                 data=self.data)
            self._optimizer = copy.deepcopy(trainer.optimizer)
            self._n_losses = len(trainer.history.train_loss_list)

    def on_test_end(self, trainer: Any) -> None:
        """Record the test set's score (``history.test``) in the best checkpoint, when it was
        scored on the best epoch's weights (which the network then holds)."""
        test = trainer.history.test
        if (self.path is None or self._optimizer is None or test is None
                or test["epoch"] != self.epoch):
            return
        from .history import History
        from .io import save

        h = trainer.history
        upto = History(train_loss_list=h.train_loss_list[:self._n_losses],
                       epochs=h.epochs[:self.epoch], seed=h.seed, test=dict(test))
        save(trainer.network, self.path, optimizer=self._optimizer, history=upto,
             data=self.data)

    def on_train_end(self, trainer: Any) -> None:
        """Load the best epoch's weights into the network (when ``restore``)."""
        self.epoch = best_epoch(trainer.history, self.monitor, self.min_delta)
        if not self.restore or self.epoch is None:
            return
        state = self._state if self._state is not None else self._read(self.epoch)
        if state is None:
            warnings.warn(f"the best epoch ({self.epoch}, by {self.monitor}) was trained before "
                          "this run resumed and no checkpoint of it was given (previous=); the "
                          "network keeps the last epoch's weights", UserWarning, stacklevel=2)
            return
        net = trainer.network
        if callable(getattr(net, "load_state_dict", None)):
            net.load_state_dict(state)
        else:
            for key, saved in state.items():
                net.params[key][...] = saved

    def _read(self, epoch: int) -> dict[str, np.ndarray] | None:
        """The weights of ``epoch`` from ``previous`` or ``path``, if one holds that epoch."""
        from .io import load

        for file in (self.previous, self.path):
            if file is None or not file.is_file():
                continue
            checkpoint = load(file)
            if (checkpoint.history.epoch if checkpoint.history else 0) == epoch:
                if self.path is not None and file != self.path:
                    from .io import save

                    save(checkpoint.net, self.path, optimizer=checkpoint.optimizer,
                         history=checkpoint.history, data=checkpoint.data)
                return checkpoint.net.state_dict()
        return None

    def __repr__(self) -> str:
        return f"KeepBest(monitor={self.monitor!r}, path={self.path!r})"
