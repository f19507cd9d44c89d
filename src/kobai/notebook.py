"""kobai in Jupyter: :class:`LivePlot`, a Trainer callback redrawing the learning curve in the
notebook as training goes, at most once per second.

The Trainer's progress bar needs nothing here: in a kernel it is a widget with ipywidgets
(``pip install kobai[notebook]``) and one line of text updated in place without
(:mod:`kobai._progress`). IPython and matplotlib are imported when a plot is drawn, not before.

Examples
--------
>>> from kobai.notebook import LivePlot  # doctest: +SKIP
>>> Trainer(net, x, t, x_test, t_test, epochs=20, callbacks=[LivePlot()]).train()
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable
from typing import Any

from ._validate import is_number

__all__ = ["LivePlot"]


class LivePlot:
    """A Trainer callback that shows the learning curve (:func:`kobai.plot.plot_learning_curve`'s
    figure: loss and accuracy per epoch, train and test) in one notebook output, redrawn in
    place after an epoch at most once per ``interval`` seconds, and always after the last.

    Parameters
    ----------
    interval : float
        Seconds between two redraws at least (1.0: fast epochs do not spend their time
        drawing).
    title : str, optional
        Over the figure.
    clock : callable, optional
        Returns seconds (``time.monotonic``).

    Attributes
    ----------
    redraws : int
        How many times the figure was drawn.
    """

    def __init__(self, interval: float = 1.0, *, title: str | None = None,
                 clock: Callable[[], float] = time.monotonic):
        if not (is_number(interval) and math.isfinite(interval) and interval >= 0):
            raise ValueError(f"interval must be a number of seconds >= 0, got {interval!r}")
        self.interval = float(interval)
        self.title = title
        self.clock = clock
        self.redraws = 0
        self._last = -math.inf
        self._handle: Any = None

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        """Redraw with ``trainer.history`` if ``interval`` has passed or training ends."""
        now = self.clock()
        if record.epoch < trainer.epochs and now - self._last < self.interval:
            return
        self._last = now
        self.show(trainer.history)

    def show(self, history: Any) -> None:
        """Draw ``history`` (a :class:`kobai.history.History`) into this plot's output."""
        from IPython.display import Image, display

        from .plot import learning_curve_figure

        buf = io.BytesIO()
        learning_curve_figure(history, title=self.title).savefig(buf, format="png", dpi=80)
        image = Image(data=buf.getvalue(), format="png")
        if self._handle is None:
            self._handle = display(image, display_id=True)
        else:
            self._handle.update(image)
        self.redraws += 1
