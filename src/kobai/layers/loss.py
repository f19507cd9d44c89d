"""The loss layer (§5.6.3): softmax followed by the mean cross-entropy."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import LossLayer, buffer

__all__ = ["SoftmaxWithLoss", "cross_entropy_rows"]


def cross_entropy_rows(z: np.ndarray, labels: np.ndarray, softmax: bool = False,
                       out: np.ndarray | None = None,
                       work: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """``-log softmax(z)[t]`` of each row of scores ``z`` (..., n_classes), exactly.

    ``labels`` broadcasts against ``z`` without its last axis. ``out`` (default: ``z`` itself)
    receives ``exp(z - max z)``, the softmax's numerators, or the softmax when ``softmax``.
    ``work`` may keep small index arrays between calls. Used by :class:`SoftmaxWithLoss` and,
    on stacks of perturbed logits, by the structured numerical gradient.
    """
    # -log softmax(z)[t] = log Σ exp(z - max) - (z[t] - max)
    out = z if out is None else out
    n_classes = z.shape[-1]
    if z.ndim == 2 and z.flags.c_contiguous and out.flags.c_contiguous:
        # One batch, as in a training step: at the book's sizes the reductions cost more than
        # the arithmetic, so the row max is read at the argmax and sums are products with ones
        # (several times faster than max/sum over the last axis of a small array).
        work = {} if work is None else work
        start = work.get("start")
        if start is None or start.size != z.shape[0]:
            start = work["start"] = np.arange(0, z.size, n_classes)
            work["ones"] = np.ones(n_classes, z.dtype)
        top = z.argmax(axis=1)
        top += start
        np.subtract(z, z.reshape(-1)[top][:, None], out=out)
        target = work["target"] = labels + start  # flat index of each z[n, t_n]
        picked = out.reshape(-1)[target]
        ones = work["ones"]
    else:
        if work is not None:
            work.pop("target", None)  # not computed here: a stale one must not be used
        np.subtract(z, z.max(axis=-1, keepdims=True), out=out)
        picked = np.take_along_axis(out, labels[..., None], axis=-1)[..., 0]
        ones = np.ones(n_classes, z.dtype)
    s = np.exp(out, out=out) @ ones
    if softmax:
        out /= s[..., None]
    losses = np.log(s, out=s)
    losses -= picked
    return losses


class SoftmaxWithLoss(LossLayer):
    """Softmax followed by the mean cross-entropy loss (§5.6.3), exact via log-sum-exp.

    ``forward(x, t)`` accepts integer labels or one-hot rows; ``backward(dout=1.0)`` returns
    ``dout · (softmax(x) - onehot(t)) / batch_size`` (the book ignores ``dout``).

    Parameters
    ----------
    guard : float
        0 (default): the exact loss. The book's ``cross_entropy_error`` adds ``1e-7`` inside
        the log (``-log(y[t] + 1e-7)``), which the seed's ``simpleNet`` keeps; ``guard=1e-7``
        computes that loss, and ``backward`` its exact gradient,
        ``y[t] / (y[t] + guard) · (y - onehot(t)) / batch_size``.
    """

    def __init__(self, guard: float = 0.0) -> None:
        super().__init__()
        if not (guard >= 0 and np.isfinite(guard)):
            raise ValueError(f"guard must be a finite number >= 0, got {guard!r}")
        self.guard = float(guard)
        self.loss: float | None = None
        self.y: np.ndarray | None = None  # softmax output
        self.labels: np.ndarray | None = None

    def forward_labels(self, x: np.ndarray, labels: np.ndarray) -> float:
        ws = self._workspace((x.shape, x.dtype))
        y = buffer(ws, "y", x.shape, x.dtype)
        losses = cross_entropy_rows(x, labels, softmax=True, out=y, work=ws)
        if self.guard:  # as the book's cross_entropy_error(softmax(x), t)
            picked = y[np.arange(y.shape[0]), labels]
            self.loss = float(-np.sum(np.log(picked + self.guard)) / y.shape[0])
        else:
            self.loss = float(losses.sum()) / y.shape[0]  # the mean (sum: faster than np.mean)
        self.y, self.labels = y, labels
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        if self.y is None or self.labels is None:
            raise self._before_forward()
        y = self.y
        n = y.shape[0]
        ws = self._workspace((y.shape, y.dtype))
        dx = buffer(ws, "dx", y.shape, y.dtype)
        target = ws.get("target") if ws is not None else None
        if target is None:  # flat index of each y[n, t_n]
            target = self.labels + np.arange(0, y.size, y.shape[1])
        if self.guard:  # d/dx -log(y_t + g) = y_t / (y_t + g) · (y - onehot(t))
            np.copyto(dx, y)
            dx.reshape(-1)[target] -= 1.0
            picked = y.reshape(-1)[target]
            dx *= (picked / (picked + self.guard))[:, None]
            dx *= dout / n
            return dx
        # dout · (y - onehot(t)) / N
        scale = dout / n
        np.multiply(y, scale, out=dx)
        dx.reshape(-1)[target] -= scale
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"guard": self.guard} if self.guard else {}
