"""The picture of a search: the book's Figure 6-24 (the validation curves of the best 20
trials in a grid, ``ch06/hyperparameter_optimization.py``, each named by every searched value)
beside a scatter of every trial's final validation accuracy over the two main search
dimensions and, when more than one was searched, one small panel of it over each dimension
(names and choices as named slots in colours).

Drawn as :mod:`kobai.plot` draws: matplotlib's Agg backend on a figure of our own (no
``pyplot``), imported inside the functions, and the PNG written atomically. No Ray.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..plot import new_figure, save_png
from .records import COMPLETED, TrialResult
from .report import CATEGORICAL_KEYS, SHORT_NAMES, format_value, ranked, status_summary

__all__ = ["tune_figure", "plot_tune"]

#: panels per row in the grid (the book's 5)
GRID_COLUMNS = 5
#: one grid panel, in inches (width, height)
_CELL = (2.05, 1.6)
#: the scatter with its colour bar, in inches (width, minimal height)
_SCATTER = (6.2, 4.8)
#: a numeric dimension gets a log axis when its values span more than this many decades
LOG_DECADES = 2.0
#: a numeric dimension with at most this many distinct values (a choice) is drawn as categories
MAX_CHOICES = 8
#: categories are spread over +-this much of their slot, so equal values do not hide each other
_JITTER = 0.28
#: a grid of at most this many panels has two rows (2x2 for 4), not one
_SQUARE_UP_TO = 4
#: grid panels grow up to this factor to fill the height beside the scatter
_MAX_GROWTH = 1.7
#: one panel per searched dimension (beside the scatter), in inches, and per row at most
_DIMENSION = (2.4, 2.3)
_DIMENSIONS_PER_ROW = 3


def _label(key: str) -> str:
    return key.replace("_", " ")


def _annotation(trial: TrialResult, main: Sequence[str]) -> str:
    lines = [f"{SHORT_NAMES.get(k, k)} {format_value(k, trial.config.get(k))}" for k in main]
    if trial.status != COMPLETED:
        lines.append(f"{trial.status}, {trial.epochs} ep.")
    return "\n".join(lines)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _category_order(key: str, value: Any) -> tuple[int, float, list[Any]]:
    """Sort key of a category: None first, then numbers by value, then names in natural
    order ("50x6" before "100x6")."""
    if value is None:
        return (0, 0.0, [])
    if _is_number(value):
        return (1, float(value), [])
    text = format_value(key, value)
    return (2, 0.0, [(0, int(p), "") if p.isdigit() else (1, 0, p)
                     for p in re.split(r"(\d+)", text)])


class _Axis:
    """Where one search dimension puts each trial: a number (log or linear axis) or a slot of
    a category. Names are categories, and so are numbers with at most :data:`MAX_CHOICES`
    distinct values, repeated (a choice such as ``--batch-size 32,64,128``)."""

    def __init__(self, key: str, trials: Sequence[TrialResult], rng: np.random.Generator):
        values = [t.config.get(key) for t in trials]
        self.key, self.log = key, False
        self.categories: list[str] | None = None
        numbers = [v for v in values if _is_number(v)]
        numeric = all(_is_number(v) or v is None for v in values)
        choice = len(numbers) > len(set(numbers)) <= MAX_CHOICES  # values repeat: a choice
        if key in CATEGORICAL_KEYS or not numeric or choice:
            order = {format_value(key, v): _category_order(key, v) for v in values}
            labels = [format_value(key, v) for v in values]
            self.categories = sorted(order, key=order.__getitem__)
            slot = {c: i for i, c in enumerate(self.categories)}
            jitter = rng.uniform(-_JITTER, _JITTER, len(labels))
            self.coords = np.array([slot[c] for c in labels], dtype=float) + jitter
        else:
            self.coords = np.array([math.nan if v is None else float(v) for v in values])
            finite = self.coords[np.isfinite(self.coords)]
            self.log = bool(finite.size and finite.min() > 0
                            and np.log10(finite.max() / finite.min()) > LOG_DECADES)
        #: which trials have a place on this axis (a number; every category does)
        self.placed = np.isfinite(self.coords)

    def apply(self, ax: Any, which: str) -> None:
        set_label, set_scale = ((ax.set_xlabel, ax.set_xscale) if which == "x"
                                else (ax.set_ylabel, ax.set_yscale))
        set_label(_label(self.key) + (" (log scale)" if self.log else ""))
        if self.log:
            set_scale("log")
        if self.categories is not None:
            n = len(self.categories)
            ticks, lim = (ax.set_xticks, ax.set_xlim) if which == "x" else (ax.set_yticks,
                                                                             ax.set_ylim)
            ticks(range(n), self.categories, **({"rotation": 30, "ha": "right"}
                                                if which == "x" and n > 4 else {}))
            lim(-0.5, n - 0.5)


def _dimension_panel(ax: Any, trials: Sequence[TrialResult], key: str) -> None:
    """Final validation accuracy over one search dimension; categories as coloured slots."""
    axis = _Axis(key, trials, np.random.default_rng(0))
    acc = np.array([t.final_acc for t in trials])
    keep = axis.placed
    if axis.categories is not None:
        slots = np.round(axis.coords[keep]).astype(int)
        colours = [f"C{i % 10}" for i in slots]
    else:
        colours = ["C0"] * int(np.count_nonzero(keep))
    ax.scatter(axis.coords[keep], acc[keep], c=colours, s=18, linewidths=0, zorder=2)
    axis.apply(ax, "x")
    ax.xaxis.label.set_fontsize(8)
    ax.tick_params(labelsize=7)
    ax.set_ylabel("final val. accuracy", fontsize=8)
    ax.set_title(f"by {_label(key)}", fontsize=9)
    ax.grid(True, alpha=0.3)


def _scatter(ax: Any, trials: Sequence[TrialResult], searched: Sequence[str],
             n_best: int, total: int) -> Any:
    """Final validation accuracy over searched[0] (x) and searched[1] (y), or over searched[0]
    (x) alone; returns the scatter's collection (for a colour bar) or None."""
    rng = np.random.default_rng(0)  # the jitter is the same on every drawing
    acc = np.array([t.final_acc for t in trials])
    x = _Axis(searched[0], trials, rng)
    y = _Axis(searched[1], trials, rng) if len(searched) > 1 else None
    keep = x.placed & (y.placed if y is not None else True)
    xs = x.coords
    ys = y.coords if y is not None else acc
    order = [i for i in np.argsort(acc, kind="stable") if keep[i]]  # the best drawn on top
    size = 70 if len(order) <= 30 else 36
    edge = ["black" if i < n_best else "none" for i in order]  # trials are ranked: i is a rank
    points = ax.scatter(xs[order], ys[order], c=acc[order], cmap="viridis", s=size,
                        edgecolors=edge, linewidths=0.6, vmin=acc.min(),
                        vmax=max(acc.max(), acc.min() + 1e-3), zorder=2)
    if keep[0]:
        ax.scatter(xs[0], ys[0], marker="*", s=size * 6, facecolors="none",
                   edgecolors="red", linewidths=1.6, zorder=3,
                   label=f"best: trial {trials[0].trial_id} ({acc[0]:.3f})")
    if len(order) > min(n_best, len(trials)):
        ax.scatter([], [], s=size, facecolors="white", edgecolors="black", linewidths=0.6,
                   label=f"outlined: the {min(n_best, len(trials))} curves of the grid")
    x.apply(ax, "x")
    if y is not None:
        y.apply(ax, "y")
        what = f"over {_label(x.key)} and {_label(y.key)}"
    else:
        ax.set_ylabel("final validation accuracy")
        what = f"over {_label(x.key)}"
    shown = int(np.count_nonzero(keep))
    notes = [f"{shown} of {total} trials"]
    if total > len(trials):
        notes.append(f"{total - len(trials)} without a final accuracy")
    if len(trials) > shown:
        notes.append(f"{len(trials) - shown} without a value on an axis")
    others = [_label(k) for k in searched[2:]]
    if others:
        notes.append(f"also searched: {', '.join(others)}")
    ax.set_title(f"final validation accuracy {what}\n({'; '.join(notes)})", fontsize=10)
    ax.grid(True, alpha=0.3, which="major")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="upper center", fontsize=8, frameon=False,
                  bbox_to_anchor=(0.5, -0.1 if x.categories is None else -0.2))
    return points if y is not None else None


def grid_columns(n: int) -> int:
    """Columns of the grid of ``n`` panels: the book's 5, or two rows for a few (a 2x2 block
    for 3 or 4), which fill the height beside the scatter."""
    if n <= _SQUARE_UP_TO:
        return -(-n // 2)
    return min(GRID_COLUMNS, n)


def _grid(fig: Any, trials: Sequence[TrialResult], main: Sequence[str], n_rows_room: float,
          total: int) -> None:
    """The book's Figure 6-24: one panel per trial, best first, y from 0 to 1, each named by
    its values of every searched dimension (``main``)."""
    from matplotlib.ticker import MaxNLocator

    n = len(trials)
    ncols = grid_columns(n)
    nrows = -(-n // ncols)
    filler = max(n_rows_room - nrows, 0.0)
    gs = fig.add_gridspec(nrows + (1 if filler > 0.05 else 0), ncols,
                          height_ratios=[1.0] * nrows + ([filler] if filler > 0.05 else []))
    longest = max(t.epochs for t in trials)
    with_train = False
    for i, trial in enumerate(trials):
        ax = fig.add_subplot(gs[i // ncols, i % ncols])
        epochs = np.arange(1, trial.epochs + 1)
        ax.plot(epochs, trial.val_acc, color="C0", linewidth=1.4)
        ax.plot(epochs[-1:], trial.val_acc[-1:], "o", color="C0", markersize=3)
        if len(trial.train_acc) == trial.epochs:
            ax.plot(epochs, trial.train_acc, "--", color="C1", linewidth=1.0)
            with_train = True
        ax.set_title(f"Best-{i + 1}: {trial.final_acc:.3f}", fontsize=9, pad=3)
        ax.set_ylim(0.0, 1.0)
        ax.set_xlim(0.8, max(longest, 2) + 0.2)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.set_yticks([0.0, 0.5, 1.0])
        ax.tick_params(labelsize=6.5, pad=1.5)
        if i % ncols:
            ax.set_yticklabels([])
        else:
            ax.set_ylabel("val. accuracy", fontsize=7.5, labelpad=2)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_xlabel("epoch\n" + _annotation(trial, main), fontsize=7.5, labelpad=1)
    what = f"best {n} of {total} trials: validation accuracy per epoch"
    fig.suptitle(what + (" (dashed: training)" if with_train else ""), fontsize=10)


def tune_figure(trials: Iterable[TrialResult], *, searched: Sequence[str], n_best: int = 20,
                title: str | None = None) -> Any:
    """Draw a search's figure (see :func:`plot_tune`) and return it, without saving.

    The grid's panels are the axes titled ``Best-1`` ... ``Best-k``, the scatter's is titled
    ``final validation accuracy over ...``, and the colour bar's is labelled ``final
    validation accuracy``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(n_best, bool) or not isinstance(n_best, int) or n_best < 1:
        raise ValueError(f"n_best must be a positive int (panels in the grid), got {n_best!r}")
    order = ranked(trials)
    with_epochs = [t for t in order if t.epochs > 0 and math.isfinite(t.final_acc)]
    best = with_epochs[:n_best]
    if not best:
        fig = new_figure((6.0, 2.4))
        fig.text(0.5, 0.55, "no completed trial", ha="center", va="center", fontsize=16)
        fig.text(0.5, 0.3, status_summary(order), ha="center", va="center", fontsize=9)
        if title:
            fig.suptitle(title)
        return fig
    main = list(searched)  # every searched value names a panel
    ncols = grid_columns(len(best))
    nrows = -(-len(best) // ncols)
    cell = (_CELL[0], _CELL[1] + 0.12 * (len(main) + 1))  # + the lines under each panel
    has_scatter = bool(searched)
    dimensions = list(searched) if len(searched) > 1 else []  # one: the scatter is that
    per_row = min(len(dimensions), _DIMENSIONS_PER_ROW)
    dim_rows = -(-len(dimensions) // per_row) if dimensions else 0
    right_size = (max(_SCATTER[0], per_row * _DIMENSION[0], 4.2 if len(searched) == 1 else 0),
                  _SCATTER[1] + dim_rows * _DIMENSION[1])
    height = max(nrows * cell[1] + 0.5, right_size[1] if has_scatter else 0.0)
    # a few trials get bigger panels, filling the height beside the scatter
    grow = min(max((height - 0.5) / (nrows * cell[1]), 1.0), _MAX_GROWTH)
    cell = (cell[0] * grow, cell[1] * grow)
    grid_width = ncols * cell[0] + 0.4
    width = grid_width + (right_size[0] if has_scatter else 0.0)
    fig = new_figure((width, height + (0.4 if title else 0.0)))
    if title:
        fig.suptitle(title, fontsize=12)
    if not has_scatter:
        _grid(fig, best, main, nrows, len(order))
        return fig
    left, right = fig.subfigures(1, 2, width_ratios=[grid_width, width - grid_width])
    _grid(left, best, main, (height - 0.5) / cell[1], len(order))
    gs = right.add_gridspec(1 + dim_rows, max(per_row, 1),
                            height_ratios=[_SCATTER[1]] + [_DIMENSION[1]] * dim_rows)
    ax = right.add_subplot(gs[0, :])
    points = _scatter(ax, with_epochs, searched, n_best, len(order))
    if points is not None:
        right.colorbar(points, ax=ax, label="final validation accuracy")
    for i, key in enumerate(dimensions):
        _dimension_panel(right.add_subplot(gs[1 + i // per_row, i % per_row]), with_epochs, key)
    return fig


def plot_tune(trials: Iterable[TrialResult], path: str | os.PathLike[str], *,
              searched: Sequence[str], n_best: int = 20, title: str | None = None,
              dpi: int = 100) -> Path:
    """Draw a search into a PNG: the book's Figure 6-24 and where the good trials lie.

    Left, as ``ch06/hyperparameter_optimization.py``: validation accuracy per epoch of the
    ``n_best`` best trials (panels ``Best-1`` ...). Right: each trial's final validation
    accuracy over ``searched[0]`` and ``searched[1]``, the best starred. Trials without a
    completed epoch are left out.

    Parameters
    ----------
    trials : iterable of TrialResult
    path : str or path-like
        The PNG to write (atomically).
    searched : sequence of str
        The search dimensions, by ``kobai train`` option name, main ones first.
    n_best : int
        Panels in the grid (the book's 20).
    title : str, optional
        A title over the whole figure.
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        If ``n_best`` is not a positive int.
    """
    fig = tune_figure(trials, searched=searched, n_best=n_best, title=title)
    return save_png(fig, path, dpi)
