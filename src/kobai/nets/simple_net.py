"""``simpleNet`` of §4.4.2: one 2×3 weight matrix, softmax and the book's cross-entropy."""

from __future__ import annotations

import numpy as np

from .._validate import as_float_array, check_t, check_x, resolve_rng
from ..functions import cross_entropy_error, softmax

__all__ = ["SimpleNet", "simpleNet"]


class SimpleNet:
    """The seed notebook's ``simpleNet``: ``predict(x) = x · W``, loss = cross-entropy of softmax.

    Parameters
    ----------
    W : array_like of shape (2, 3), optional
        The weights; drawn from ``rng.standard_normal((2, 3))`` when not given.
    rng : numpy.random.Generator or int, optional
        Source of randomness (or a seed): the same seed gives the same ``W``.
    """

    def __init__(self, W: np.ndarray | None = None,
                 rng: np.random.Generator | int | None = None):
        if W is None:
            self.W = resolve_rng(rng).standard_normal((2, 3))
        else:
            W_arr = as_float_array(W, "W")
            if W_arr.shape != (2, 3):
                raise ValueError(f"W has shape {W_arr.shape}; simpleNet expects shape (2, 3)")
            self.W = np.array(W_arr, dtype=np.float64)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Scores ``x · W``: shape (3,) for one sample of shape (2,), else (batch_size, 3)."""
        x2 = check_x(x, 2, np.float64)
        out = x2 @ self.W
        return out[0] if np.ndim(x) == 1 else out

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        """Cross-entropy (with the book's ``1e-7`` guard) of ``softmax(predict(x))``."""
        y = softmax(self.predict(x))
        y2 = y.reshape(1, -1) if y.ndim == 1 else y
        check_t(t, y2.shape[0], 3)
        return cross_entropy_error(y, t)


simpleNet = SimpleNet
