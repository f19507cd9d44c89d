"""Plots: the learning curve (the book's Figure 4-11/4-12), a confusion matrix, and for
convolutional nets the first layer's filters (§7.6.1, Figure 7-24), the feature maps of one
image after a layer, and a grid of digits (§8.1.1, Figure 8-3's misclassified ones).

Drawn with matplotlib's Agg backend on a :class:`matplotlib.figure.Figure` of our own, never
through ``pyplot``, so no global state is touched and no display is needed. matplotlib is
imported inside the functions: ``import kobai`` stays fast. Files are written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._files import atomic_write
from .metrics import at_chance, check_confusion_matrix

__all__ = ["plot_learning_curve", "learning_curve_figure", "plot_confusion", "plot_filters",
           "plot_activations", "plot_digits", "plot_eps_sweep", "new_figure", "save_png"]

#: at most this many markers per curve: at 50+ epochs, one per epoch would merge into a band
MAX_MARKERS = 20


def new_figure(figsize: tuple[float, float]) -> Any:
    """A matplotlib ``Figure`` of ``figsize`` inches on an Agg canvas, outside ``pyplot``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Any, path: str | os.PathLike[str], dpi: int) -> Path:
    """Write ``fig`` to ``path`` as a PNG, atomically; return the path."""
    path = Path(path)
    with atomic_write(path) as fh:
        fig.savefig(fh, format="png", dpi=dpi)
    return path


def _marked(n_points: int) -> list[int]:
    """Indices of the points that get a marker: all of up to MAX_MARKERS, else evenly spread
    ones from the first to the last."""
    count = min(n_points, MAX_MARKERS)
    return sorted({int(round(i)) for i in np.linspace(0, n_points - 1, count)})


def _accuracy_limits(values: np.ndarray, n_classes: int | None = None) -> tuple[float, float]:
    """The accuracy axis around the data (0.96-0.99 fills the panel, not its top 3 %), with a
    margin of a tenth of the range (at least 0.01) and never below 0; all of [0, 1] when no
    accuracy rose above chance (:func:`kobai.metrics.at_chance`), so noise at chance is not
    zoomed into what looks like progress."""
    lo, hi = float(values.min()), float(values.max())
    if n_classes is not None and at_chance(hi, n_classes):
        return 0.0, 1.0
    pad = max(0.01, 0.1 * (hi - lo))
    return max(0.0, lo - pad), min(1.0 + pad / 2, hi + pad)


def _epoch_columns(history: Any) -> tuple[dict[str, np.ndarray], list[float]]:
    """Per-epoch columns and per-iteration losses of a History or its ``to_dict()``."""
    if hasattr(history, "to_dict"):
        history = history.to_dict()
    if not isinstance(history, Mapping):
        raise TypeError(f"history must be a kobai.trainer.History or its to_dict(), got "
                        f"{type(history).__name__}")
    records = history.get("epochs") or []
    if not records:
        raise ValueError("history has no completed epoch; nothing to plot")
    keys = ("epoch", "iteration", "train_loss", "test_loss", "train_acc", "test_acc")
    try:
        # None (a run with a validation set tests once, at the end) becomes NaN: not drawn
        cols = {k: np.array([np.nan if r[k] is None else r[k] for r in records],
                            dtype=np.float64) for k in keys}
        for k in ("val_loss", "val_acc"):
            cols[k] = np.array([np.nan if r.get(k) is None else r[k] for r in records],
                               dtype=np.float64)
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"history epochs must be records with {list(keys)} ({exc})") from None
    return cols, [float(v) for v in history.get("train_loss_list") or []]


_LABELS = {"test": "test", "val": "validation"}


def plot_learning_curve(history: Any, path: str | os.PathLike[str], *,
                        title: str | None = None, dpi: int = 100,
                        n_classes: int | None = None) -> Path:
    """Draw loss and accuracy against epoch, train and test (and validation, when the run
    had a validation set), side by side, into a PNG.

    The loss panel also shows every mini-batch loss (faint), as the book's Figure 4-11; the
    accuracy panel (axis spanning the data) is Figure 4-12. With ``n_classes``, the accuracy
    panel also shows chance, ``1 / n_classes`` (dashed, "chance"), where it falls in the
    axis, and spans all of [0, 1] when no accuracy rose above it
    (:func:`kobai.metrics.at_chance`): a run that learned nothing is a flat line on chance.

    Parameters
    ----------
    history : kobai.trainer.History or dict
        ``Trainer.train()``'s result, or its ``to_dict()`` (e.g. read from history.json).
    path : str or path-like
        The PNG file to write (replaced atomically).
    title : str, optional
        Figure title, e.g. the network, optimizer and data set.
    dpi : int
        Resolution of the PNG.
    n_classes : int, optional
        The number of classes (``net.output_size``), for the chance level.

    Returns
    -------
    pathlib.Path
    """
    return save_png(learning_curve_figure(history, title=title, n_classes=n_classes), path, dpi)


def learning_curve_figure(history: Any, *, title: str | None = None,
                          n_classes: int | None = None) -> Any:
    """The figure of :func:`plot_learning_curve` (a matplotlib ``Figure``), without saving:
    what :class:`kobai.notebook.LivePlot` shows in a notebook."""
    cols, batch_losses = _epoch_columns(history)
    fig = new_figure((10.0, 4.0))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epochs = cols["epoch"]
    if batch_losses:
        # Iteration k (1-based) of epoch e ends at fractional epoch e - 1 + k / iters(e).
        ends = np.concatenate([[0.0], cols["iteration"]])
        marks = np.concatenate([[epochs[0] - 1], epochs])
        x = np.interp(np.arange(1, len(batch_losses) + 1), ends, marks)
        ax_loss.plot(x, batch_losses, color="0.75", linewidth=0.7, label="mini-batch")
    style = {"markevery": _marked(len(epochs)), "markersize": 6 if len(epochs) <= 20 else 4}
    drawn = [(name, marker) for name, marker in (("test", "s--"), ("val", "^-."))
             if not np.isnan(cols[f"{name}_acc"]).all()]
    ax_loss.plot(epochs, cols["train_loss"], "o-", label="train", **style)
    for name, marker in drawn:
        ax_loss.plot(epochs, cols[f"{name}_loss"], marker, label=_LABELS[name], **style)
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.plot(epochs, cols["train_acc"], "o-", label="train", **style)
    for name, marker in drawn:
        ax_acc.plot(epochs, cols[f"{name}_acc"], marker, label=_LABELS[name], **style)
    accuracies = np.concatenate([cols["train_acc"], *(cols[f"{name}_acc"] for name, _ in drawn)])
    accuracies = accuracies[~np.isnan(accuracies)]
    final = history.get("test") if isinstance(history, Mapping) else getattr(history, "test",
                                                                             None)
    if final:  # the test set scored once, at the end, on the weights of epoch final["epoch"]
        ax_loss.plot([final["epoch"]], [final["loss"]], "*", markersize=12, label="test (once)")
        ax_acc.plot([final["epoch"]], [final["acc"]], "*", markersize=12, label="test (once)")
        accuracies = np.append(accuracies, final["acc"])
    bottom, top = _accuracy_limits(accuracies, n_classes)
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(bottom, top))
    if n_classes is not None and bottom <= 1 / n_classes <= top:
        ax_acc.axhline(1 / n_classes, color="0.45", linestyle=(0, (6, 3)), linewidth=1.2,
                       label=f"chance (1/{n_classes})")
    from matplotlib.ticker import MaxNLocator

    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        ax.legend(loc="best")
    if title:
        fig.suptitle(title)
    return fig


def plot_confusion(confusion_matrix: np.ndarray, path: str | os.PathLike[str],
                   labels: Sequence[str] | None = None, *, title: str | None = None,
                   dpi: int = 100) -> Path:
    """Draw a confusion matrix as a heat map with counts into a PNG.

    Colours show each row's share (the recall of that true class), so classes of different
    sizes are comparable; the numbers are the counts.

    Parameters
    ----------
    confusion_matrix : ndarray of shape (n_classes, n_classes)
        Rows true, columns predicted (:func:`kobai.metrics.confusion_matrix`).
    path : str or path-like
        The PNG file to write (replaced atomically).
    labels : sequence of str, optional
        Class names; default ``0 .. n_classes - 1``.
    title : str, optional
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    pathlib.Path
    """
    cm = check_confusion_matrix(confusion_matrix)
    n = cm.shape[0]
    names = [str(v) for v in (range(n) if labels is None else labels)]
    if len(names) != n:
        raise ValueError(f"{len(names)} labels for a {n}-class confusion matrix")
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    side = min(3.0 + 0.4 * n, 20.0)
    fig = new_figure((side + 1.0, side))
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="share of the true class")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true",
           title=title or f"confusion matrix ({int(cm.sum())} samples, accuracy "
                          f"{np.trace(cm) / max(int(cm.sum()), 1):.4f})")
    ax.set_xticklabels(names)
    ax.set_yticklabels(names)
    if n <= 30:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(int(cm[i, j])), ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.5 else "black")
    return save_png(fig, path, dpi)


# -- images: filters, feature maps, digits ----------------------------------------------------
def _grid(images: Sequence[np.ndarray], ncols: int, *, captions: Sequence[str] | None = None,
          title: str | None = None, cell: float = 1.1) -> Any:
    """A figure of grey images in rows of ``ncols``, ink dark (``gray_r``, as the book's)."""
    ncols = max(1, min(int(ncols), len(images)))
    nrows = -(-len(images) // ncols)
    height = nrows * (cell + (0.2 if captions else 0.0)) + (0.4 if title else 0.0)
    fig = new_figure((ncols * cell, height))
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(images):
            ax.set_axis_off()
            continue
        ax.imshow(images[i], cmap="gray_r", interpolation="nearest")
        if captions:
            ax.set_title(captions[i], fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def _finish(fig: Any, path: str | os.PathLike[str] | None, dpi: int) -> Any:
    if path is not None:
        save_png(fig, path, dpi)
    return fig


def plot_filters(filters: np.ndarray, path: str | os.PathLike[str] | None = None, *,
                 ncols: int = 8, channel: int = 0, title: str | None = None,
                 dpi: int = 100) -> Any:
    """Draw convolution filters as a grid of grey images (the book's ``visualize_filter.py``,
    Figure 7-24).

    Each filter is scaled to its own range, dark for its largest weights (``gray_r``, as the
    book's ``filter_show``).

    Parameters
    ----------
    filters : ndarray of shape (filter_num, channels, filter_h, filter_w)
        e.g. ``net.params["W1"]`` of a SimpleConvNet, (30, 1, 5, 5).
    path : str or path-like, optional
        Also write the figure to this PNG file (atomically).
    ncols : int
        Filters per row (the book's 8).
    channel : int
        Which input channel of each filter to draw (MNIST's filters have one).
    title : str, optional
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    W = np.asarray(filters)
    if W.ndim != 4 or W.dtype.kind not in "fiu" or 0 in W.shape:
        raise ValueError(f"filters must be a numeric array of shape (filter_num, channels, "
                         f"height, width), such as a SimpleConvNet's params['W1']; got "
                         f"{W.dtype} of shape {W.shape}")
    if not 0 <= channel < W.shape[1]:
        raise ValueError(f"channel {channel} is not one of the filters' {W.shape[1]} "
                         f"channels (0-{W.shape[1] - 1})")
    fig = _grid([W[i, channel] for i in range(W.shape[0])], ncols,
                title=title or f"{W.shape[0]} filters {W.shape[2]}×{W.shape[3]}")
    return _finish(fig, path, dpi)


def plot_activations(net: Any, x: Any, layer: str, path: str | os.PathLike[str] | None = None,
                     *, ncols: int = 8, title: str | None = None, dpi: int = 100) -> Any:
    """Draw the feature maps of one image after a layer of a convolutional net.

    The image, then one panel per output channel on one grey scale (dark is large).

    Parameters
    ----------
    net : kobai.nets.Network
        e.g. a SimpleConvNet or DeepConvNet (``kobai.pretrained.load()``).
    x : ndarray of shape net.input_shape, (1, *net.input_shape) or (input_size,)
        One image, scaled as the net was trained (``load_mnist()``'s [0, 1]).
    layer : str
        A layer of ``net.layers`` whose output is feature maps, e.g. ``"Conv1"``, ``"Pool1"``.
    path : str or path-like, optional
        Also write the figure to this PNG file (atomically).
    ncols : int
        Panels per row.
    title : str, optional
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    names = list(net.layers)
    if layer not in names:
        raise ValueError(f"{type(net).__name__} has no layer {layer!r}; its layers are "
                         f"{', '.join(names)}")
    image = np.asarray(x, dtype=net.dtype).reshape(1, *net.input_shape)
    scores = net.predict(image)  # checks the input (and wires the net's parameters)
    a, maps, with_maps = image, None, []
    for name, lyr in net.layers.items():  # the layers' own forward, in evaluation mode
        a = lyr.forward(a, train=False)
        if np.ndim(a) == 4:
            with_maps.append(name)
        if name == layer:
            maps = np.array(a, copy=True)  # a layer may reuse its output array
    assert maps is not None
    if maps.ndim != 4:
        raise ValueError(f"layer {layer!r} gives an array of shape {maps.shape}, not feature "
                         f"maps (1, channels, height, width); the layers that do are "
                         f"{', '.join(with_maps) or 'none'}")
    channels, h, w = maps.shape[1:]
    fig = _grid([image[0, 0], *maps[0]], ncols,
                captions=["input", *(str(c) for c in range(channels))],
                title=title or f"{layer}: {channels} maps {h}×{w} (predicted "
                               f"{int(np.argmax(scores))})")
    lo, hi = float(maps.min()), float(maps.max())  # one scale for the maps, not the input
    for ax in fig.axes[1:1 + channels]:
        for im in ax.get_images():
            im.set_clim(lo, hi if hi > lo else lo + 1.0)
    return _finish(fig, path, dpi)


def plot_digits(images: Any, path: str | os.PathLike[str] | None = None, *,
                captions: Sequence[str] | None = None, ncols: int = 5,
                title: str | None = None, dpi: int = 100) -> Any:
    """Draw digits as a grid of grey images, ink dark, each with an optional caption (the
    book's ``misclassified_mnist.py``, Figure 8-3).

    Parameters
    ----------
    images : ndarray of shape (N, 784), (N, 28, 28) or (N, 1, 28, 28)
        Any square size: rows of ``side²`` pixels, or images with one channel.
    captions : sequence of str, optional
        One per image, e.g. ``"7 → 2"`` for a 7 predicted as 2.
    ncols : int
        Images per row (the book's 5).
    path : str or path-like, optional
        Also write the figure to this PNG file (atomically).
    title : str, optional
    dpi : int
        Resolution of the PNG.

    Returns
    -------
    matplotlib.figure.Figure
    """
    arr = np.asarray(images)
    if arr.ndim == 4 and arr.shape[1] == 1:
        arr = arr[:, 0]
    elif arr.ndim == 2:
        side = int(round(np.sqrt(arr.shape[1])))
        if side * side != arr.shape[1]:
            raise ValueError(f"images of {arr.shape[1]} pixels are not square; give them as "
                             "(N, height, width)")
        arr = arr.reshape(len(arr), side, side)
    if arr.ndim != 3 or len(arr) == 0 or arr.dtype.kind not in "fiub":
        raise ValueError(f"images must be a non-empty numeric array of shape (N, 784), (N, 28, "
                         f"28) or (N, 1, 28, 28); got {arr.dtype} of shape {np.shape(images)}")
    if captions is not None and len(captions) != len(arr):
        raise ValueError(f"{len(captions)} captions for {len(arr)} images (one each)")
    fig = _grid(list(arr), ncols, captions=captions, title=title)
    return _finish(fig, path, dpi)


def plot_eps_sweep(sweeps: Any, path: str | os.PathLike[str] | None = None, *,
                   dpi: int = 100) -> Any:
    """The error of a central difference against its step, on log-log axes: the V whose
    left arm is rounding error (∝ u/h) and right arm truncation error (∝ h²).

    Parameters
    ----------
    sweeps : GradCheckReport or dict of str to EpsSweep
        A report of a check run with ``eps_sweep=True``, or its ``sweeps``.
    path : path, optional
        Write a PNG there; without it the Figure is returned.
    dpi : int
        Resolution of the PNG.
    """
    sweeps = getattr(sweeps, "sweeps", sweeps)
    if not sweeps:
        raise ValueError("no eps sweeps to draw: run the check with eps_sweep=True")
    fig = new_figure((6.0, 4.0))
    ax = fig.add_subplot()
    for sweep in sweeps.values():
        errors = np.maximum(np.asarray(sweep.errors, dtype=float), 1e-18)  # 0 on a log axis
        # (NaN: a step the dtype cannot hold at that value; matplotlib leaves a gap)
        ax.loglog(sweep.steps, errors, marker="o", label=f"{sweep.name}{list(sweep.index)}")
        ax.plot([sweep.best_step], [max(sweep.best_error, 1e-18)], marker="*", markersize=12,
                color=ax.lines[-1].get_color())
    ax.set_xlabel("step h of the central difference")
    ax.set_ylabel("|backprop - numerical|")
    ax.set_title("error against step: truncation (right) and rounding (left)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    return _finish(fig, path, dpi)
