"""The book's ``common/gradient.py``: central differences with ``h = 1e-4`` (§4.4).

``numerical_gradient(f, x)`` is kobai's (:func:`kobai.gradient.numerical_gradient`: the same
element loop, ``x`` perturbed in place and restored, with checks), with the checks of a float64
``x`` and its step made once: each evaluation of ``f`` that returns a finite float is used as
it is, and anything else sends the whole gradient to kobai's own loop, which converts or
refuses it with its messages. ``numerical_gradient_2d`` is the book's other reading of a 2-D
``X``: one point per row, ``f`` of one row at a time.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ... import gradient as _kobai
from ..._validate import check_step

__all__ = ["np", "numerical_gradient", "numerical_gradient_2d"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4,
                       vectorized: bool = False) -> np.ndarray:
    """Gradient of ``f`` at ``x`` by central differences, one element at a time (§4.4):
    :func:`kobai.gradient.numerical_gradient`, the same numbers and errors.

    The book's numerical gradients (ch05's ``gradient_check.py``: 80,000 losses) spend a
    tenth of their time in the per-evaluation checks of kobai's loop, so for a float64
    ``x`` this loop checks ``x`` and ``h`` once and then takes each ``f(x)`` that is a finite
    Python or NumPy float64 as it is. At the first other value (an array, NaN, a float32)
    ``x`` is restored and kobai's loop computes the whole gradient again, converting that
    value or refusing it with its message.
    """
    if vectorized or type(x) is not np.ndarray or x.dtype != np.float64:
        return _kobai.numerical_gradient(f, x, h, vectorized)
    step = check_step(h, x)
    grad = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        tmp_val = x[idx]
        try:
            x[idx] = tmp_val + step
            fxh1 = f(x)
            x[idx] = tmp_val - step
            fxh2 = f(x)
        finally:
            x[idx] = tmp_val
        if not (type(fxh1) in _FLOATS and type(fxh2) in _FLOATS
                and math.isfinite(fxh1) and math.isfinite(fxh2)):
            return _kobai.numerical_gradient(f, x, h)
        grad[idx] = (fxh1 - fxh2) / (2 * step)
    return grad


#: what f may return on the short path: float64 arithmetic on them is kobai's, float(value)'s
_FLOATS = (float, np.float64)


def _numerical_gradient_1d(f: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Gradient of ``f`` at the 1-D point ``x`` (``f`` receives ``x``, perturbed in place)."""
    return numerical_gradient(f, x)


def numerical_gradient_2d(f: Callable[[np.ndarray], float], X: np.ndarray) -> np.ndarray:
    """Gradient of ``f`` at each row of ``X`` (``f`` takes one point), or at ``X`` if 1-D.

    Returns
    -------
    ndarray of ``X``'s shape
        Row ``i`` is the gradient of ``f`` at ``X[i]`` (ch04's ``gradient_2d.py``).
    """
    if X.ndim == 1:
        return _numerical_gradient_1d(f, X)
    grad = np.zeros_like(X)
    for idx, x in enumerate(X):
        grad[idx] = _numerical_gradient_1d(f, x)
    return grad
