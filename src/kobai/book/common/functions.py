"""The book's ``common/functions.py``: kobai's functions (:mod:`kobai.functions`) under the
book's names, plus the three it lacks: ``sigmoid_grad``, ``relu_grad`` and ``softmax_loss``.

kobai's versions check their input and keep float dtypes; their values are the book's.
``cross_entropy_error`` keeps the book's ``1e-7`` inside the log (and refuses logits, which
the book would silently take for probabilities). ``step_function`` returns an int array, as
the book's does.

``sigmoid`` of a float array (the book's only use: ch03's ``neuralnet_mnist.py`` calls it
20,000 times on 50 or 100 numbers) skips kobai's conversion of other input and computes the
same numbers in place, ``1 / (1 + exp(-x))``, without overflow warnings.
"""

from __future__ import annotations

import numpy as np

from ... import functions as _kobai
from ...functions import (
    cross_entropy_error,
    identity_function,
    relu,
    softmax,
    sum_squared_error,
)

# ``np`` too: the book's ``from common.functions import *`` gives a script NumPy as ``np``.
__all__ = ["np", "identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
           "relu_grad", "softmax", "sum_squared_error", "cross_entropy_error", "softmax_loss"]


def step_function(x: np.ndarray) -> np.ndarray:
    """1 where ``x > 0``, else 0, as an int array (§3.2.3)."""
    return np.asarray(_kobai.step_function(x), dtype=int)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-x))`` (§3.2.4): :func:`kobai.functions.sigmoid`,
    the same numbers, with a shorter path for float arrays."""
    if type(x) is np.ndarray and x.dtype.kind == "f" and x.ndim:
        return _sigmoid_of_floats(x)
    return _kobai.sigmoid(x)


@np.errstate(over="ignore")  # exp(-x) overflows to inf for x < -709 (float64): y = 0
def _sigmoid_of_floats(x: np.ndarray) -> np.ndarray:
    # kobai.functions.sigmoid's steps (tests/test_book_modules.py checks every bit), with
    # errstate as a decorator: a third of the with-statement's cost, most of a small call's
    out = np.negative(x)
    np.exp(out, out=out)
    out += 1.0
    return np.reciprocal(out, out=out)


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """The sigmoid's derivative at ``x``: ``(1 - sigmoid(x)) · sigmoid(x)`` (ch04's
    ``two_layer_net.py``)."""
    y = sigmoid(x)
    return (1.0 - y) * y


def relu_grad(x: np.ndarray) -> np.ndarray:
    """The ReLU's derivative at ``x``, in ``x``'s dtype: 1 where ``x >= 0`` (the book takes 1 at
    the kink, where kobai's ``Relu`` layer takes 0), else 0."""
    arr = np.asarray(x)
    return (arr >= 0).astype(arr.dtype)


def softmax_loss(X: np.ndarray, t: np.ndarray) -> float:
    """``cross_entropy_error(softmax(X), t)``: the mean loss of scores ``X``, with the book's
    ``1e-7`` (:func:`kobai.functions.softmax_cross_entropy` is the exact one)."""
    return cross_entropy_error(softmax(X), t)
