"""The book's ``common/layers.py``: kobai's layers with the book's signatures and semantics.

``Relu``, ``Sigmoid``, ``Affine`` and ``Pooling`` are kobai's classes themselves; the others
are subclasses choosing the book's parameters:

==========================  =================================================================
``Dropout(dropout_ratio)``  ``kobai.layers.Dropout(ratio, inverted=False, rng=global_stream())``:
                            kept inputs unscaled, evaluation scaled by ``1 - ratio``, masks
                            from ``np.random.rand(*x.shape)``, NumPy's global stream
``BatchNormalization``      ``eps=10e-7`` (the book's 1e-6), running mean and variance starting
                            at 0, a batch of one sample accepted in training (the book's
                            ``batch_norm_gradient_check.py`` uses one)
``SoftmaxWithLoss()``       the loss the book reports, ``cross_entropy_error(softmax(x), t)``
                            with its ``1e-7``, and the gradient it backpropagates,
                            ``(softmax(x) - onehot(t)) / N`` (kobai's exact layer's)
``Convolution(W, b, …)``    ``b`` may be a number, as in ch07's ``apply_filter.py``
==========================  =================================================================

``Dropout`` and ``BatchNormalization`` take the mode as the book passes it,
``forward(x, train_flg)``, and as kobai's networks do, ``forward(x, train=...)``.

``from common.layers import *`` also gives ``np``, :mod:`kobai.book.common.functions`,
``im2col`` and ``col2im``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from ... import layers as _kobai
from ..._validate import check_t
from ...layers import Affine, Pooling, Relu, Sigmoid
from .._random import global_stream
from .functions import (
    cross_entropy_error,
    identity_function,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_loss,
    step_function,
    sum_squared_error,
)
from .util import col2im, im2col

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
           "Convolution", "Pooling",
           # what the book's module has from its own imports
           "np", "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
           "relu_grad", "softmax", "sum_squared_error", "cross_entropy_error", "softmax_loss",
           "im2col", "col2im"]

#: the book's batch-norm epsilon, written ``10e-7`` in its code
BOOK_EPS = 10e-7


def _mode(train_flg: bool, train: bool | None) -> bool:
    """The training flag given the book's way (``train_flg``, positional) or kobai's
    (``train=``)."""
    return bool(train_flg) if train is None else bool(train)


class SoftmaxWithLoss(_kobai.SoftmaxWithLoss):
    """Softmax and the book's cross-entropy (§5.6.3).

    ``forward(x, t)`` returns ``-Σ log(y[t] + 1e-7) / N`` for ``y = softmax(x)``, the value the
    book prints (kobai's ``guard=1e-7``); ``backward(dout=1)`` returns the book's gradient
    ``(y - onehot(t)) / N``, which is the exact loss's (kobai's layer without the guard), not
    the guarded one's. Targets are integer labels or one-hot rows as everywhere in kobai, and
    also, as the book's indexing takes them, one label per row in a column ``(N, 1)`` (ch07's
    ``gradient_check.py``).

    The targets are checked as kobai's layer checks them, once per value: a numerical
    gradient evaluates the loss twice per parameter with the same ``t`` (ch05's
    ``gradient_check.py``: 80,000 times), so the labels of the last array checked are kept
    with a copy of its bytes, and an array of the same dtype, shape and bytes reuses them.
    """

    def __init__(self) -> None:
        super().__init__(guard=1e-7)
        self.t: Any = None  # the targets of the last forward, as given
        self._checked: tuple[Any, ...] | None = None  # (dtype, shape, n, classes, bytes)
        self._checked_labels: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: Any, *,  # type: ignore[override]
                train: bool = True) -> float:
        self.t = t
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        return self.forward_labels(x2, self._labels(t, x2.shape[0], x2.shape[-1]))

    def _labels(self, t: Any, n: int, n_classes: int) -> np.ndarray:
        """``check_t(t, n, n_classes)`` (a column ``(n, 1)`` of labels read as ``(n,)``),
        computed once per value of ``t``."""
        key = None
        if type(t) is np.ndarray:
            key = (t.dtype, t.shape, n, n_classes, t.tobytes())
            if key == self._checked:
                assert self._checked_labels is not None
                return self._checked_labels
        arr = np.asarray(t)
        if arr.ndim == 2 and arr.shape == (n, 1) and n_classes > 1:
            arr = arr.reshape(n)
        labels = check_t(arr, n, n_classes)
        if key is not None:
            self._checked, self._checked_labels = key, labels
        return labels

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        guard, self.guard = self.guard, 0.0  # the unguarded gradient, as the book's
        try:
            return super().backward(dout)
        finally:
            self.guard = guard


class Dropout(_kobai.Dropout):
    """The book's dropout (§6.4.3; Srivastava et al.): kobai's ``Dropout`` with
    ``inverted=False`` and NumPy's global stream.

    Training zeroes each input whose draw of ``np.random.rand(*x.shape)`` is below
    ``dropout_ratio`` and keeps the others unscaled; evaluation multiplies every input by
    ``1 - dropout_ratio``. (The book also zeroes a draw *equal* to the ratio: one in 2⁵³ draws
    for a ratio of 0.5, never for 0.2.)
    """

    def __init__(self, dropout_ratio: float = 0.5):
        super().__init__(dropout_ratio, rng=global_stream(), inverted=False)

    @property
    def dropout_ratio(self) -> float:
        """The fraction of inputs dropped in training (kobai's ``ratio``)."""
        return self.ratio

    def forward(self, x: np.ndarray, train_flg: bool = True, *,
                train: bool | None = None) -> np.ndarray:
        return super().forward(x, train=_mode(train_flg, train))


class BatchNormalization(_kobai.BatchNormalization):
    """The book's batch normalization (§6.3): kobai's with ``eps=10e-7`` and running mean and
    variance starting at 0 (unless given), updated with ``momentum``.

    Like the book's, it trains on any batch, one sample included (whose output is ``beta``:
    a sample is its own mean).
    """

    min_train_batch: ClassVar[int] = 1

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 running_mean: np.ndarray | None = None, running_var: np.ndarray | None = None):
        zeros = np.zeros(np.shape(gamma))
        super().__init__(gamma, beta, momentum, eps=BOOK_EPS,
                         running_mean=zeros if running_mean is None else running_mean,
                         running_var=zeros if running_var is None else running_var)

    def forward(self, x: np.ndarray, train_flg: bool = True, *,
                train: bool | None = None) -> np.ndarray:
        return super().forward(x, train=_mode(train_flg, train))


class Convolution(_kobai.Convolution):
    """kobai's convolution (§7.2) with the book's constructor, where the bias may also be one
    number for every filter (ch07's ``apply_filter.py`` passes ``b = 0``)."""

    def __init__(self, W: np.ndarray, b: Any, stride: int = 1, pad: int = 0):
        if np.ndim(b) == 0 and isinstance(W, np.ndarray) and W.ndim == 4:
            b = np.full(W.shape[:1], b, dtype=W.dtype)
        super().__init__(W, b, stride, pad)
