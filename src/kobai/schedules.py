"""Learning-rate schedules: the optimizer's ``lr`` for each epoch, from the epochs so far.

A schedule is any object with ``lr_at(epoch, history) -> float``: the learning rate of the
1-based ``epoch``, given the :class:`~kobai.history.History` of the epochs completed before it.
Every schedule here is a pure function of those two, so a run resumed after epoch ``k`` takes
exactly the learning rates of the uninterrupted run (reduce-on-plateau replays its rule over
the history). :class:`ScheduleCallback` sets ``optimizer.lr`` at the start of each epoch; the
:class:`~kobai.trainer.Trainer` adds it for ``Trainer(..., lr_schedule=...)``.

``lr`` is the base learning rate (the optimizer's at the start), ``e`` the epoch:

- ``constant``: ``lr``;
- ``step``: ``lr · gamma ** ((e - 1) // step)`` (PyTorch's ``StepLR``);
- ``cosine``: ``floor + (lr - floor) · (1 + cos(π (e - 1) / epochs)) / 2``, from ``lr`` in the
  first epoch towards ``floor`` after the last (PyTorch's ``CosineAnnealingLR``; epochs past
  ``epochs``, in a run resumed for longer, keep the last epoch's);
- ``plateau``: ``lr`` multiplied by ``factor`` each time the monitored loss has not improved
  (by more than ``min_delta``) for ``patience`` epochs in a row, not below ``floor`` (Keras's
  ``ReduceLROnPlateau``). It watches ``val_loss`` when the run has a validation set, else
  ``train_loss``, never the test set.

Examples
--------
>>> from kobai.history import History
>>> s = get_schedule("step", lr=0.1, epochs=30, step=10, gamma=0.1)
>>> [round(s.lr_at(e, History()), 6) for e in (1, 10, 11, 21)]
[0.1, 0.1, 0.01, 0.001]
>>> get_schedule("cosine", lr=0.1, epochs=4).lr_at(3, History())
0.05
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Protocol

from ._validate import is_number

__all__ = ["SCHEDULES", "Constant", "CosineDecay", "ReduceOnPlateau", "Schedule",
           "ScheduleCallback", "StepDecay", "get_schedule", "schedule_from_config"]


class Schedule(Protocol):
    """What the Trainer needs of a schedule."""

    def lr_at(self, epoch: int, history: Any) -> float: ...


def _positive(value: Any, name: str) -> float:
    if not (is_number(value) and math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a number > 0, got {value!r}")
    return float(value)


def _unit(value: Any, name: str) -> float:
    if not (is_number(value) and 0 < value < 1):
        raise ValueError(f"{name} must be a number in (0, 1), got {value!r}")
    return float(value)


def _count(value: Any, name: str) -> int:
    if not (isinstance(value, int) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return value


def _floor(value: Any, lr: float) -> float:
    if not (is_number(value) and 0 <= value < lr):
        raise ValueError(f"the learning-rate floor must be a number >= 0 below lr={lr:g}, got "
                         f"{value!r}")
    return float(value)


@dataclass(frozen=True)
class Constant:
    """``lr`` in every epoch (no schedule)."""

    lr: float
    name: ClassVar[str] = "constant"

    def __post_init__(self) -> None:
        _positive(self.lr, "lr")

    def lr_at(self, epoch: int, history: Any) -> float:
        return self.lr

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class StepDecay:
    """``lr · gamma ** ((epoch - 1) // step)``: ``gamma`` times smaller every ``step`` epochs."""

    lr: float
    step: int
    gamma: float = 0.1
    name: ClassVar[str] = "step"

    def __post_init__(self) -> None:
        _positive(self.lr, "lr")
        _count(self.step, "the step (epochs between reductions)")
        _unit(self.gamma, "gamma (the factor of each step)")

    def lr_at(self, epoch: int, history: Any) -> float:
        return self.lr * self.gamma ** ((epoch - 1) // self.step)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


@dataclass(frozen=True)
class CosineDecay:
    """Half a cosine from ``lr`` (epoch 1) to ``floor`` (after epoch ``epochs``)."""

    lr: float
    epochs: int
    floor: float = 0.0
    name: ClassVar[str] = "cosine"

    def __post_init__(self) -> None:
        _positive(self.lr, "lr")
        _count(self.epochs, "the cosine's epochs")
        _floor(self.floor, self.lr)

    def lr_at(self, epoch: int, history: Any) -> float:
        done = min(epoch, self.epochs) - 1
        return self.floor + (self.lr - self.floor) * (1 + math.cos(math.pi * done /
                                                                   self.epochs)) / 2

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


def monitored_loss(record: Any) -> float:
    """The loss a schedule or early stopping watches in an epoch's record: the validation
    loss when the run has a validation set, else the training loss."""
    value = getattr(record, "val_loss", None)
    return float(record.train_loss if value is None else value)


@dataclass(frozen=True)
class ReduceOnPlateau:
    """``lr`` times ``factor`` whenever the monitored loss (:func:`monitored_loss`) has not
    gone below its best minus ``min_delta`` for ``patience`` epochs in a row; at least
    ``floor``. After a reduction the count starts again."""

    lr: float
    patience: int = 10
    factor: float = 0.1
    min_delta: float = 0.0
    floor: float = 0.0
    name: ClassVar[str] = "plateau"

    def __post_init__(self) -> None:
        _positive(self.lr, "lr")
        _count(self.patience, "the plateau's patience")
        _unit(self.factor, "the plateau's factor")
        if not (is_number(self.min_delta) and self.min_delta >= 0):
            raise ValueError(f"min_delta must be a number >= 0, got {self.min_delta!r}")
        _floor(self.floor, self.lr)

    def lr_at(self, epoch: int, history: Any) -> float:
        lr, best, waited = self.lr, math.inf, 0
        for record in list(history.epochs)[:epoch - 1]:
            value = monitored_loss(record)
            if value < best - self.min_delta:
                best, waited = value, 0
                continue
            waited += 1
            if waited >= self.patience:
                lr, waited = max(lr * self.factor, self.floor), 0
        return lr

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **asdict(self)}


#: the schedules by name (``kobai train --lr-schedule``), with the settings each takes
SCHEDULES: dict[str, type] = {cls.name: cls for cls in (Constant, StepDecay, CosineDecay,
                                                        ReduceOnPlateau)}


def get_schedule(name: str, *, lr: float, epochs: int, step: int | None = None,
                 gamma: float = 0.1, floor: float = 0.0, patience: int = 10,
                 factor: float = 0.1, min_delta: float = 0.0) -> Any:
    """The schedule ``name`` of :data:`SCHEDULES` for a run of ``epochs`` epochs from ``lr``.

    Parameters
    ----------
    name : {"constant", "step", "cosine", "plateau"}
    lr : float
        The base learning rate.
    epochs : int
        The run's length: the cosine's, and the default step (a third of it, rounded up).
    step, gamma : int, float
        ``step``'s epochs between reductions and their factor.
    floor : float
        The lowest learning rate of ``cosine`` and ``plateau``.
    patience, factor, min_delta : int, float, float
        ``plateau``'s.

    Examples
    --------
    >>> get_schedule("plateau", lr=0.1, epochs=20, patience=2, factor=0.5)
    ReduceOnPlateau(lr=0.1, patience=2, factor=0.5, min_delta=0.0, floor=0.0)
    """
    if name == "constant":
        return Constant(lr)
    if name == "step":
        return StepDecay(lr, -(-_count(epochs, "epochs") // 3) if step is None else step, gamma)
    if name == "cosine":
        return CosineDecay(lr, epochs, floor)
    if name == "plateau":
        return ReduceOnPlateau(lr, patience, factor, min_delta, floor)
    raise ValueError(f"unknown learning-rate schedule {name!r}; expected one of "
                     f"{', '.join(SCHEDULES)}")


def schedule_from_config(config: Mapping[str, Any]) -> Any:
    """The schedule that ``get_config()`` described (as a checkpoint records it)."""
    if not isinstance(config, Mapping) or config.get("name") not in SCHEDULES:
        raise ValueError(f"expected a schedule's config with a name among "
                         f"{', '.join(SCHEDULES)}, got {config!r}")
    settings = {k: v for k, v in config.items() if k != "name"}
    try:
        return SCHEDULES[config["name"]](**settings)
    except TypeError as exc:
        raise ValueError(f"schedule config {dict(config)!r} does not fit: {exc}") from None


class ScheduleCallback:
    """Trainer callback: ``optimizer.lr = schedule.lr_at(epoch, history)`` before each epoch.

    Examples
    --------
    >>> trainer = Trainer(net, x, t, xt, tt, lr_schedule="cosine")  # doctest: +SKIP
    """

    def __init__(self, schedule: Any):
        if not callable(getattr(schedule, "lr_at", None)):
            raise TypeError(f"a learning-rate schedule needs lr_at(epoch, history), got "
                            f"{schedule!r}")
        self.schedule = schedule

    def on_epoch_begin(self, trainer: Any, epoch: int) -> None:
        lr = float(self.schedule.lr_at(epoch, trainer.history))
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"{self.schedule!r} gave lr={lr!r} for epoch {epoch}; a learning "
                             "rate must be a number > 0")
        trainer.optimizer.lr = lr

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        """Nothing: the learning rate is set when an epoch begins."""

    def __repr__(self) -> str:
        return f"ScheduleCallback({self.schedule!r})"
