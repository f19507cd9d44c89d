"""What a search found: one :class:`TrialResult` per trial, as the driver collects them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

#: the statuses of a trial, as results.csv writes them
COMPLETED = "completed"  # trained for every epoch
STOPPED = "stopped early"  # stopped by the scheduler (ASHA) before the last epoch
DIVERGED = "diverged"  # the loss became NaN/infinite or exploded (kobai's TrainingDivergedError)
ERROR = "error"  # raised something else: reported, and the search went on
UNFINISHED = "unfinished"  # pending or running when the search stopped (--resume continues it)
STATUSES = (COMPLETED, STOPPED, DIVERGED, ERROR, UNFINISHED)


@dataclass
class TrialResult:
    """One trial of a search.

    ``config`` holds the trial's values by ``kobai train`` option (argparse names): ``net``,
    ``hidden`` (a list of ints), ``activation``, ``weight_decay``, ``dropout`` (None: no
    dropout), ``batchnorm``, ``optimizer``, ``lr``, ``batch_size``, and ``seed``; the lists
    hold one value per completed epoch.
    """

    trial_id: str
    config: dict[str, Any]
    status: str
    val_acc: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    seconds: float = 0.0
    #: one line saying what went wrong (status "error" or "diverged"), else None
    error: str | None = None

    @property
    def epochs(self) -> int:
        """The number of epochs completed."""
        return len(self.val_acc)

    @property
    def final_acc(self) -> float:
        """The validation accuracy after the last completed epoch (NaN when none)."""
        return self.val_acc[-1] if self.val_acc else math.nan

    @property
    def best_acc(self) -> float:
        """The best validation accuracy over the completed epochs (NaN when none)."""
        return max(self.val_acc) if self.val_acc else math.nan
