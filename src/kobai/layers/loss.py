"""The loss layer (§5.6.3): softmax followed by the mean cross-entropy."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import LossLayer, buffer

__all__ = ["SoftmaxWithLoss", "cross_entropy_rows"]


def cross_entropy_rows(z: np.ndarray, labels: np.ndarray, softmax: bool = False
                       ) -> np.ndarray:
    """``-log softmax(z)[t]`` of each row of scores ``z`` (..., n_classes), exactly.

    ``labels`` broadcasts against ``z`` without its last axis. ``z`` is overwritten with
    ``exp(z - max z)``, the softmax's numerators, or with the softmax itself when ``softmax``.
    Used by :class:`SoftmaxWithLoss` and, on stacks of perturbed logits, by the structured
    numerical gradient.
    """
    # -log softmax(z)[t] = log Σ exp(z - max) - (z[t] - max)
    n_classes = z.shape[-1]
    if z.ndim == 2 and z.flags.c_contiguous:
        # One batch, as in a training step: at the book's sizes the reductions cost more than
        # the arithmetic, so the row max is read at the argmax and sums are products with ones
        # (several times faster than max/sum over the last axis of a small array).
        start = np.arange(0, z.size, n_classes)
        flat = z.reshape(-1)
        z -= flat[np.argmax(z, axis=1) + start][:, None]
        picked = flat[labels + start]
    else:
        z -= z.max(axis=-1, keepdims=True)
        picked = np.take_along_axis(z, labels[..., None], axis=-1)[..., 0]
    s = np.exp(z, out=z) @ np.ones(n_classes, z.dtype)
    if softmax:
        z /= s[..., None]
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
        self.guard = float(guard)
        self.loss: float | None = None
        self.y: np.ndarray | None = None  # softmax output
        self.labels: np.ndarray | None = None

    def forward_labels(self, x: np.ndarray, labels: np.ndarray) -> float:
        ws = self._workspace((x.shape, x.dtype))
        y = buffer(ws, "y", x.shape, x.dtype)
        np.copyto(y, x)
        losses = cross_entropy_rows(y, labels, softmax=True)
        if self.guard:  # as the book's cross_entropy_error(softmax(x), t)
            picked = y[np.arange(y.shape[0]), labels]
            self.loss = float(-np.sum(np.log(picked + self.guard)) / y.shape[0])
        else:
            self.loss = float(losses.sum()) / y.shape[0]  # the mean (sum: faster than np.mean)
        self.y, self.labels = y, labels
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        assert self.y is not None and self.labels is not None, "backward before forward"
        y = self.y
        n = y.shape[0]
        ws = self._workspace((y.shape, y.dtype))
        dx = buffer(ws, "dx", y.shape, y.dtype)
        np.copyto(dx, y)
        rows = np.arange(n)
        dx[rows, self.labels] -= 1.0
        if self.guard:  # d/dx -log(y_t + g) = y_t / (y_t + g) · (y - onehot(t))
            picked = y[rows, self.labels]
            dx *= (picked / (picked + self.guard))[:, None]
        dx *= dout / n
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"guard": self.guard} if self.guard else {}
