"""Input checks shared by the functions, layers and nets.

Every public entry point turns bad input into a ``TypeError`` or ``ValueError`` that says what
was wrong and what was expected, instead of a NumPy broadcasting error from deep inside.
"""

from __future__ import annotations

import math
import numbers
from typing import TypeGuard, cast

import numpy as np
import numpy.typing as npt

__all__ = ["as_float_array", "check_x", "check_t", "check_step", "positive_int", "is_real",
           "is_number", "resolve_rng", "resolve_dtype"]


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray):
        return f"an array of dtype {obj.dtype} and shape {obj.shape}"
    return f"{type(obj).__name__} {obj!r}"[:80]


def as_float_array(x: object, name: str = "x", dtype: npt.DTypeLike | None = None) -> np.ndarray:
    """Return ``x`` as a floating-point ndarray, refusing non-numeric input.

    Integer and boolean input is converted to ``dtype`` (default float64); float input keeps its
    dtype unless ``dtype`` is given. No copy is made when none is needed.
    """
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(f"{name} must be a numeric array (a numpy.ndarray or a nested list of "
                        f"numbers), got {_describe(x)}")
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:  # ragged lists
        raise TypeError(f"{name} must be a numeric array with a regular shape: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be a numeric array (a numpy.ndarray or a nested list of "
                        f"numbers), got {_describe(x)}")
    if dtype is not None:
        return arr.astype(dtype, copy=False)
    if arr.dtype.kind != "f":
        return arr.astype(np.float64)
    return arr


def check_finite(arr: np.ndarray, name: str = "x") -> None:
    """Raise a ``ValueError`` naming the first non-finite entry of ``arr``."""
    if np.isfinite(arr).all():  # (not a BLAS dot: under thread contention that is slower)
        return
    bad = ~np.isfinite(arr)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(f"{name} contains {int(bad.sum())} NaN or infinite value(s), the first "
                         f"at index {idx} ({arr[idx]}); expected finite numbers")


def check_x(x: object, n_features: int, dtype: np.dtype | type = np.float64,
            name: str = "x") -> np.ndarray:
    """Validate a network input and return it as a 2-D array of ``dtype``.

    Parameters
    ----------
    x : array_like of shape (input_size,), (batch_size, input_size) or (batch_size, ...)
        One sample (1-D) or a batch; trailing dimensions are flattened when their product is
        ``n_features`` (so MNIST images of shape (N, 1, 28, 28) are accepted).
    n_features : int
        The network's input size.

    Returns
    -------
    ndarray of shape (batch_size, n_features)
    """
    arr = as_float_array(x, name, dtype)
    if arr.ndim == 0:
        raise ValueError(f"{name} is a scalar; expected one sample of shape ({n_features},) or "
                         f"a batch of shape (batch_size, {n_features})")
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    elif arr.ndim > 2:  # (not -1: NumPy cannot infer it for an empty batch)
        arr = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))
    if arr.shape[1] != n_features:
        # as_float_array accepted x, so it is array-like
        shape = np.shape(cast("npt.ArrayLike", x))
        raise ValueError(f"{name} has {arr.shape[1]} features per sample (shape {shape}) but the "
                         f"network expects {n_features} (shape (batch_size, {n_features}))")
    if arr.shape[0] == 0:
        shape = np.shape(cast("npt.ArrayLike", x))
        raise ValueError(f"{name} is an empty batch (shape {shape}); expected at least one "
                         "sample")
    check_finite(arr, name)
    return arr


def check_t(t: object, n_samples: int, n_classes: int, name: str = "t") -> np.ndarray:
    """Validate targets and return them as integer labels of shape (n_samples,).

    ``t`` is either integer labels in ``[0, n_classes)`` (shape ``(n_samples,)``) or one-hot
    rows (shape ``(n_samples, n_classes)``, or ``(n_classes,)`` for a single sample), following
    the book's rule: one-hot when ``t.size == y.size``.
    """
    if isinstance(t, (str, bytes, dict, set)) or t is None:
        raise TypeError(f"{name} must be integer labels or one-hot rows, got {_describe(t)}")
    arr = np.asarray(t)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be integer labels or one-hot rows, got {_describe(t)}")
    expect = (f"expected {n_samples} integer label(s) in [0, {n_classes}) or a one-hot array of "
              f"shape ({n_samples}, {n_classes})")
    if arr.size == n_samples * n_classes and n_classes > 1 and (arr.ndim == 2 or n_samples == 1):
        onehot = arr.reshape(n_samples, n_classes)
        if onehot.ndim != 2 or arr.ndim > 2:
            raise ValueError(f"{name} has shape {arr.shape}; {expect}")
        ok_values = np.all((onehot == 0) | (onehot == 1), axis=1) & (onehot.sum(axis=1) == 1)
        if not ok_values.all():
            row = int(np.flatnonzero(~ok_values)[0])
            raise ValueError(f"{name} row {row} is not one-hot: {onehot[row].tolist()}; expected "
                             "exactly one 1 and zeros elsewhere")
        return onehot.argmax(axis=1)
    if arr.ndim > 1:
        raise ValueError(f"{name} has shape {arr.shape} but x has {n_samples} sample(s); {expect}")
    labels = arr.reshape(-1)
    if labels.size != n_samples:
        raise ValueError(f"{name} has {labels.size} label(s) but x has {n_samples} sample(s) "
                         f"(one label per sample); {expect}")
    if labels.dtype.kind == "b":
        raise TypeError(f"{name} is boolean; {expect}")
    if labels.size == 0:
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or np.any(labels != np.round(labels)):
            raise ValueError(f"{name} contains non-integer labels; {expect}")
    lo, hi = labels.min(), labels.max()
    if lo < 0 or hi >= n_classes:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{name} contains the label {bad:g}, outside [0, {n_classes}) for "
                         f"{n_classes} classes")
    return labels.astype(np.int64, copy=False)


def resolve_rng(rng: object) -> np.random.Generator:
    """Return a ``np.random.Generator`` from a Generator, an int seed or None."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, numbers.Integral) and not isinstance(rng, bool)):
        return np.random.default_rng(None if rng is None else int(rng))
    raise TypeError(f"rng must be a numpy.random.Generator, an int seed or None, got "
                    f"{_describe(rng)}")


def resolve_dtype(dtype: object) -> np.dtype:
    """Return ``dtype`` as ``np.float32`` or ``np.float64``, refusing anything else.

    Accepted: anything ``np.dtype`` reads as one of them (``np.float32``, ``"float64"``,
    ``"f4"``, ``float``). Refused with a ``ValueError``: other dtypes, names NumPy does not
    know (``"banana"``) and None (which ``np.dtype`` would silently read as float64).
    """
    dt: np.dtype | None = None
    if dtype is not None:
        try:
            dt = np.dtype(cast("npt.DTypeLike", dtype))
        except (TypeError, ValueError):  # not a dtype at all
            dt = None
    if dt is None or dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    return dt


def is_real(value: object) -> TypeGuard[float]:
    """``isinstance(value, numbers.Real)`` (int, float, NumPy's, Fraction, bool), for type checkers.

    typeshed does not register ``float`` as a ``numbers.Real``, so mypy reads a plain
    ``isinstance(v, numbers.Real)`` on a ``float`` argument as always false and skips every
    statement after it. Every ``numbers.Real`` converts to and compares with floats, hence
    the ``float`` it narrows to.
    """
    return isinstance(value, numbers.Real)


def is_number(value: object) -> TypeGuard[float]:
    """A real number other than a bool (narrowed to float as :func:`is_real` is)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def positive_int(value: object, name: str) -> int:
    """Return ``value`` as an int, refusing anything but an integer >= 1 (bools included)."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_step(h: object, x: np.ndarray | None = None, name: str = "h",
               x_name: str = "x") -> float:
    """Return a central-difference step ``h`` as a float, refusing a step that cannot work.

    ``h`` must be a finite real number > 0 and at least the machine epsilon of ``x``'s dtype
    (float64's without ``x``): a smaller step, such as 1e-300, measures the rounding of ``f``,
    not its slope, and gives zeros. With ``x``, ``x[i] ± h`` must also differ from ``x[i]``
    for every element, else that element's gradient silently comes out as 0.
    """
    if isinstance(h, bool) or not (is_real(h) and math.isfinite(h) and h > 0):
        raise ValueError(f"{name} must be a finite number > 0 (about 1e-4 is usual), got {h!r}")
    step = float(h)
    dtype = np.dtype(np.float64) if x is None else x.dtype
    eps = float(np.finfo(dtype).eps)
    if step < eps:
        raise ValueError(f"{name}={h!r} is too small for {dtype}: a central difference needs a "
                         f"step of at least its machine epsilon ({eps:.3g}), and about 1e-4 is "
                         "usual (smaller steps measure rounding errors, not the slope)")
    if x is not None and x.size:
        lost = (np.asarray(x + step, dtype) == x) | (np.asarray(x - step, dtype) == x)
        if lost.any():
            idx = tuple(int(i) for i in np.argwhere(lost)[0])
            raise ValueError(f"{name}={h!r} is lost in {dtype} rounding at {x_name}{list(idx)} "
                             f"= {float(x[idx]):g} (x ± h rounds back to x, so the gradient "
                             f"there would be 0); use a larger {name} or float64")
    return step
