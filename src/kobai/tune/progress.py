"""The console display of a running search: a progress bar of finished trials, with the best
validation accuracy so far."""

from __future__ import annotations

import math
from typing import Any

from ray import tune

from .._progress import progress_bar
from .engine import METRIC

__all__ = ["Progress"]

#: Ray Tune's statuses of a trial that will not run again
_FINISHED = ("TERMINATED", "ERROR")


class Progress(tune.Callback):
    """A Ray Tune callback drawing a tqdm bar over the search's trials.

    It reads the trials' statuses after every step of Ray Tune's loop, so a resumed search
    starts the bar at the trials already finished; the best accuracy shown is the best any
    trial has reported so far. Ray Tune saves its callbacks with the experiment (for
    ``Tuner.restore``), so neither the bar nor whether to show it (the class attribute
    :attr:`show`, set for each run) is part of its state.
    """

    #: draw the bar (``kobai tune --no-progress`` sets it False for the run)
    show = True

    def __init__(self, total: int):
        self.total = total
        self._bar: Any = None
        self._best = math.nan
        self._shown = (-1, math.nan)

    def __getstate__(self) -> dict[str, Any]:
        return {"total": self.total, "_bar": None, "_best": math.nan, "_shown": (-1, math.nan)}

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        if not type(self).show:
            return
        done = sum(trial.status in _FINISHED for trial in trials)
        accs = [trial.last_result.get(METRIC) for trial in trials if trial.last_result]
        best = max((float(a) for a in accs if a is not None), default=math.nan)
        self._best = best if math.isnan(self._best) else max(self._best, best)
        best = self._best
        if (done, best) == self._shown:
            return
        if self._bar is None:
            self._bar = progress_bar(total=self.total, unit="trial", desc="trials",
                                     dynamic_ncols=True)
        self._bar.n = done
        if not math.isnan(best):
            self._bar.set_postfix_str(f"best val acc {best:.4f}", refresh=False)
        self._bar.refresh()
        self._shown = (done, best)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        self.on_step_end(0, trials)
        if self._bar is not None:
            self._bar.close()
            self._bar = None
