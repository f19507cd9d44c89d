"""The book's ``common/gradient.py``: central differences with ``h = 1e-4`` (§4.4).

``numerical_gradient(f, x)`` is kobai's (:func:`kobai.gradient.numerical_gradient`: the same
element loop, ``x`` perturbed in place and restored, with checks). ``numerical_gradient_2d``
is the book's other reading of a 2-D ``X``: one point per row, ``f`` of one row at a time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...gradient import numerical_gradient

__all__ = ["np", "numerical_gradient", "numerical_gradient_2d"]


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
