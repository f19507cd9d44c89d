"""Numerical differentiation by central differences (the book's chapter 4, ``common/gradient.py``).

These are the plain, black-box reference: ``f`` is called twice per element. Networks have a
much faster structured version, ``net.numerical_gradient(x, t)``. :func:`perturb_each` is the
one element loop (``θ_i ± h`` in place, restored bit for bit) under ``numerical_gradient``,
``kobai.gradcheck`` and the structured gradient's layers before the first Affine.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from ._validate import check_step
from .optimizers.base import check_lr

__all__ = ["numerical_diff", "numerical_gradient", "gradient_descent", "perturb_each"]

T = TypeVar("T")

# Memory for one vectorized call: the stack of perturbed copies is kept under this many bytes.
_VECTORIZED_BYTES = 32 * 2**20


def perturb_each(arr: np.ndarray, h: float, evaluate: Callable[[tuple[int, ...], str], T],
                 indices: Iterable[tuple[int, ...]] | None = None
                 ) -> Iterator[tuple[tuple[int, ...], T, T, float, float]]:
    """The central-difference element loop (§4.4.2): for each element ``i`` of ``arr`` (every
    one in C order, or the index tuples given), set ``arr[i] = θ_i + h`` in place and call
    ``evaluate(i, "+")``, then ``arr[i] = θ_i - h`` and ``evaluate(i, "-")``, then restore
    ``θ_i`` bit for bit (also when ``evaluate`` raises).

    Yields
    ------
    (i, up, down, up_step, down_step)
        The two values ``evaluate`` returned and the steps actually taken, ``θ_i ± h`` as
        rounded to ``arr``'s dtype, minus ``θ_i``, in float64 (both > 0 unless the step is lost
        to rounding).
    """
    for idx in np.ndindex(arr.shape) if indices is None else indices:
        old = arr[idx]
        try:
            arr[idx] = old + h
            up_step = float(arr[idx]) - float(old)
            up = evaluate(idx, "+")
            arr[idx] = old - h
            down_step = float(old) - float(arr[idx])
            down = evaluate(idx, "-")
        finally:
            arr[idx] = old
        yield idx, up, down, up_step, down_step


def numerical_diff(f: Callable[[float], float], x: float, h: float = 1e-4) -> float:
    """Central difference ``(f(x + h) - f(x - h)) / 2h`` (§4.3.1).

    Raises
    ------
    ValueError
        If ``h`` is not a finite number of at least float64's machine epsilon, or ``x ± h``
        rounds back to ``x``.
    """
    h = check_step(h, np.asarray(x, dtype=np.float64) if np.ndim(x) == 0 else None)
    return (f(x + h) - f(x - h)) / (2 * h)


#: the types of a loss that are taken as they are (float(value) is the same number)
_FLOATS = (float, np.float64)


def _scalar(value: npt.ArrayLike, where: str) -> float:
    if np.ndim(value) != 0:
        raise ValueError(f"f must return a scalar loss, but returned an array of shape "
                         f"{np.shape(value)} {where}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise TypeError(f"f must return a number, but returned {type(value).__name__} "
                        f"{where}") from None


def _not_finite(value: float, idx: tuple[int, ...], side: str, x_value: float,
                h: float) -> ValueError:
    """The error for ``f`` not finite at ``x[idx] ± h`` (``side`` "+" or "-")."""
    return ValueError(f"f is {value} at x{list(idx)} {side} h (x{list(idx)} = {x_value:g}, "
                      f"h = {h:g}), so the central difference there is not a number; "
                      "numerical_gradient needs f finite at x[i] + h and x[i] - h for every "
                      "element (a log or a division near 0? a smaller h may stay inside f's "
                      "domain)")


def _check_x(x: object) -> np.ndarray:
    if not isinstance(x, np.ndarray):
        raise TypeError(f"x must be a NumPy float array (it is perturbed in place), got "
                        f"{type(x).__name__}; use np.array(..., dtype=float)")
    if x.dtype.kind != "f":
        raise TypeError(f"x has dtype {x.dtype}; numerical_gradient needs a float array, "
                        f"because x ± h would be rounded to integers (use x.astype(float))")
    if x.dtype.itemsize < 4:
        raise TypeError(f"x has dtype {x.dtype}, whose {np.finfo(x.dtype).nmant + 1}-bit "
                        "significand rounds x ± h back to x or near it, so central differences "
                        "come out as zeros or noise; numerical_gradient perturbs x in place and "
                        "cannot compute in another dtype for you: use x.astype(np.float64) "
                        "(float32 at least)")
    if x.dtype == np.float32:
        warnings.warn("x is float32: central differences with h=1e-4 are then accurate only to "
                      "about 1e-3; use float64 for gradient checks", RuntimeWarning, stacklevel=3)
    return x


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-4,
                       vectorized: bool = False) -> np.ndarray:
    """Gradient of ``f`` at ``x`` by central differences, one element at a time (§4.4).

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. As in the book, ``x`` is perturbed **in place** (so
        ``lambda W: net.loss(x, t)`` works) and restored bit for bit, also when ``f`` raises.
        With ``vectorized=True``, ``f`` gets a stack of perturbed copies ``(k, *x.shape)``
        and returns ``k`` values; ``x`` is not touched.
    x : ndarray of any shape, float32 or float64
        float16 is refused (``1.0 + 1e-4`` rounds to 1.0).
    h : float
        Step of the central difference.
    vectorized : bool
        Evaluate many perturbations per call of ``f`` (see ``f``).

    Returns
    -------
    ndarray of the same shape and dtype as ``x``

    Raises
    ------
    TypeError
        If ``x`` is not a float32 or float64 ndarray.
    ValueError
        If ``h`` is not finite and at least ``x``'s machine epsilon, ``x[i] ± h`` rounds back
        to ``x[i]``, or ``f`` is not finite at some ``x[i] ± h`` (``x`` is restored).

    Example
    -------
    >>> numerical_gradient(lambda x: float(np.sum(x ** 2)), np.array([3.0, 4.0]))
    array([6., 8.])
    """
    x = _check_x(x)
    h = check_step(h, x)
    if vectorized:
        return _numerical_gradient_vectorized(f, x, h)
    grad = np.zeros_like(x)

    def evaluate(idx: tuple[int, ...], side: str) -> float:
        value = f(x)
        if type(value) in _FLOATS:  # the usual case: no message built, no np.ndim
            value = float(value)
        else:
            value = _scalar(value, f"at x{list(idx)} {side} h")
        if not math.isfinite(value):
            raise _NotFinite(value, idx, side)
        return value

    try:
        for idx, fxh1, fxh2, _, _ in perturb_each(x, h, evaluate):
            grad[idx] = (fxh1 - fxh2) / (2 * h)
    except _NotFinite as exc:  # x is restored: x[idx] is the element's own value again
        value, idx, side = exc.args
        raise _not_finite(value, idx, side, float(x[idx]), h) from None
    return grad


class _NotFinite(Exception):
    """``f`` was not finite at ``x[idx] ± h``: (value, idx, side)."""


def _numerical_gradient_vectorized(f: Callable[[np.ndarray], npt.ArrayLike], x: np.ndarray,
                                   h: float) -> np.ndarray:
    n = x.size
    flat = x.reshape(-1)
    chunk = max(1, min(n, _VECTORIZED_BYTES // max(1, 2 * x.nbytes)))
    grad = np.empty(n, dtype=x.dtype)
    for start in range(0, n, chunk):
        idx = np.arange(start, min(n, start + chunk))
        k = idx.size
        stack = np.repeat(flat[None, :], 2 * k, axis=0)
        rows = np.arange(k)
        # The same arithmetic as the loop: x[i] + h and x[i] - h rounded to x's dtype.
        stack[rows, idx] = flat[idx] + h
        stack[k + rows, idx] = flat[idx] - h
        values = np.asarray(f(stack.reshape((2 * k, *x.shape))), dtype=np.float64)
        if values.shape not in ((2 * k,), (2 * k, 1)):
            raise ValueError(f"with vectorized=True, f must return {2 * k} values for a stack of "
                             f"shape {(2 * k, *x.shape)}, but returned shape {values.shape}")
        values = values.reshape(-1)
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            i = int(idx[first % k])
            where = tuple(int(j) for j in np.unravel_index(i, x.shape))
            raise _not_finite(float(values[first]), where, "+" if first < k else "-",
                              float(flat[i]), h)
        grad[idx] = (values[:k] - values[k:]) / (2 * h)
    return grad.reshape(x.shape)


def gradient_descent(f: Callable[[np.ndarray], float], init_x: np.ndarray, lr: float = 0.01,
                     step_num: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Minimise ``f`` by ``x ← x - lr·∇f(x)`` with numerical gradients (§4.4.1).

    Raises ``ValueError`` for a learning rate that is not a finite number > 0 (NaN would run on
    as NaN, a negative one climbs).

    Returns
    -------
    x : ndarray
        The point after ``step_num`` steps (``init_x`` is left unchanged).
    history : ndarray of shape (step_num, *init_x.shape)
        ``x`` before each step, as the book's ``gradient_method.py`` records it.
    """
    if step_num < 0:
        raise ValueError(f"step_num must be >= 0, got {step_num}")
    lr = check_lr(lr, "lr")  # a NaN or negative rate would run on, as the optimizers refuse
    x = np.array(init_x, dtype=np.float64 if np.asarray(init_x).dtype.kind != "f" else None)
    history = np.empty((step_num, *x.shape), dtype=x.dtype)
    for i in range(step_num):
        history[i] = x
        x -= lr * numerical_gradient(f, x)
    return x, history
