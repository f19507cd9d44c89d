"""Activation and loss functions of the book's chapters 3–4 (``common/functions.py``).

Same names as the book, with three fixes: ``softmax`` is stable over the last axis for 1-D and
batched input, ``cross_entropy_error`` accepts one-hot or label targets and checks them (and
that ``y`` holds probabilities, not logits), and ``softmax_cross_entropy`` computes the loss
exactly from logits (log-sum-exp, no ``1e-7`` guard). Infinite scores are taken to their
limit: a -inf score has probability 0, and a row holding +inf puts all of it on its +inf
entries (``softmax([inf, 1])`` is ``[1, 0]``, not NaN).
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from ._validate import as_float_array, check_t

__all__ = [
    "identity_function", "step_function", "sigmoid", "relu", "softmax", "log_softmax",
    "sum_squared_error", "cross_entropy_error", "softmax_cross_entropy",
]


def identity_function(x: np.ndarray) -> np.ndarray:
    """Return ``x`` unchanged (the output activation for regression, §3.5); refuses what is
    not real numbers (a string, None, complex numbers), as the other functions do."""
    if not (isinstance(x, np.ndarray) and x.dtype.kind in "biuf"):
        as_float_array(x)  # raises TypeError naming what x is
    return x


def step_function(x: np.ndarray) -> np.ndarray:
    """Heaviside step, 1 where ``x > 0`` and 0 elsewhere (§3.2.3).

    Float input keeps its dtype; other input gives int64 (the book returns ``np.int``).
    """
    arr = x if isinstance(x, np.ndarray) and x.dtype.kind in "biuf" else as_float_array(x)
    dtype = arr.dtype if arr.dtype.kind == "f" else np.int64
    return np.asarray(arr > 0, dtype=dtype)


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` (§3.2.4), without overflow warnings.

    For ``x`` below about -709 (float64) ``exp(-x)`` overflows to inf and the result is the
    exact limit 0.
    """
    arr = as_float_array(x)
    if arr.ndim == 0:  # a number: the in-place steps below need an array
        return sigmoid(arr.reshape(1))[0]
    with np.errstate(over="ignore"):
        out = np.exp(-arr)
    out += 1.0
    return np.reciprocal(out, out=out)


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit ``max(0, x)`` (§3.2.7), keeping the dtype."""
    arr = as_float_array(x)
    return np.maximum(arr, 0)


def _scores(x: object, fn: str) -> np.ndarray:
    """``x`` as a float array of scores over a non-empty last axis (the classes)."""
    arr = as_float_array(x)
    if arr.ndim == 0:
        raise ValueError(f"x is a single number ({arr.item()!r}); {fn} expects scores over the "
                         "classes, of shape (n_classes,) or (batch_size, n_classes)")
    if arr.shape[-1] == 0:
        raise ValueError(f"x has shape {arr.shape}, with no classes on its last axis; {fn} "
                         "expects at least one score per row: shape (n_classes,) or "
                         "(batch_size, n_classes)")
    return arr


def _shifted(arr: np.ndarray) -> np.ndarray:
    """``arr - max(arr)`` over the last axis as a new array, a row holding +inf at its limit.

    ``softmax(x) = softmax(x - max(x))``, and after the shift the largest exponent is
    ``exp(0) = 1``, so nothing overflows. A row holding +inf has no finite shift (``inf - inf``
    is NaN), so it gets its limit instead: 0 at each +inf entry and -inf elsewhere. Its softmax
    is then uniform over the +inf entries and 0 elsewhere (``[inf, 1] -> [1, 0]``;
    ``[inf, inf] -> [0.5, 0.5]``, the limit of equal scores growing together). Finite input
    pays one reduction over the row maxima for this.
    """
    if arr.ndim == 2:  # a gather at the argmax: faster than max over a row of a few classes
        m = arr[np.arange(arr.shape[0]), arr.argmax(axis=1)][:, None]
    else:
        m = arr.max(axis=-1, keepdims=True)
    top = m.max()
    if top == np.inf or top != top:  # a +inf score, or a NaN row that may hide one
        hot = m == np.inf
        if hot.any():
            limit = np.where(arr == np.inf, 0.0, -np.inf)
            return np.where(hot, limit, arr - np.where(hot, 0.0, m)).astype(arr.dtype,
                                                                             copy=False)
    return arr - m


def _row_sums(e: np.ndarray) -> np.ndarray:
    """Sums over the last axis, keepdims (a product with ones: for the few classes of a row,
    several times faster than ``e.sum(axis=-1)``)."""
    return (e @ np.ones(e.shape[-1], e.dtype))[..., None]


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis (§3.5), stable for any finite scores and exact at ±inf.

    A -inf score gets probability 0. A row holding +inf gets the limit of its softmax: its
    +inf entries share the probability equally and every other entry gets 0 (``[inf, 1]``
    gives ``[1, 0]``, ``[inf, inf]`` gives ``[0.5, 0.5]``). A row with a NaN, or of nothing
    but -inf (no class has any weight), gives NaN.

    Parameters
    ----------
    x : ndarray of shape (n_classes,) or (batch_size, n_classes)

    Returns
    -------
    ndarray of the same shape, each row non-negative and summing to 1
    """
    e = _shifted(_scores(x, "softmax"))
    np.exp(e, out=e)
    e /= _row_sums(e)
    return e


def log_softmax(x: np.ndarray) -> np.ndarray:
    """``log(softmax(x))`` over the last axis, computed as ``x - logsumexp(x)``.

    Infinite scores as in :func:`softmax`: ``log_softmax([inf, 1])`` is ``[0, -inf]``.
    """
    shifted = _shifted(_scores(x, "log_softmax"))
    return shifted - np.log(_row_sums(np.exp(shifted)))


def sum_squared_error(y: np.ndarray, t: np.ndarray) -> float:
    """Sum of squares ``0.5 * Σ (y - t)²`` over all elements (§4.2.1), as in the book."""
    y_arr, t_arr = as_float_array(y, "y"), as_float_array(t, "t")
    if y_arr.shape != t_arr.shape:
        raise ValueError(f"y has shape {y_arr.shape} but t has shape {t_arr.shape}; "
                         "sum_squared_error expects the same shape")
    return float(0.5 * np.sum((y_arr - t_arr) ** 2))


def _as_batch(y: np.ndarray, name: str) -> np.ndarray:
    if y.ndim not in (1, 2):
        raise ValueError(f"{name} has shape {y.shape}; expected (n_classes,) or "
                         "(batch_size, n_classes)")
    if y.size == 0:
        raise ValueError(f"{name} is empty (shape {y.shape}); expected at least one sample and "
                         "one class: shape (n_classes,) or (batch_size, n_classes)")
    return y.reshape(1, -1) if y.ndim == 1 else y


# How far a row of probabilities may sum from 1: rounding of a float32 softmax is ~1e-7 per
# class, and hand-written examples are exact; logits and scores miss by far more.
_SUM_TOLERANCE = 1e-3


def _check_probabilities(y: np.ndarray) -> None:
    """Refuse ``y`` (batch_size, n_classes) that is not rows of probabilities (logits?)."""
    hint = ("cross_entropy_error expects probabilities, e.g. softmax(scores); for raw scores "
            "(logits) use softmax_cross_entropy(logits, t), which is also exact")
    lo = float(y.min())
    if not lo >= 0.0:  # also NaN
        row, col = (int(i) for i in np.argwhere(~(y >= 0))[0])
        raise ValueError(f"y[{row}, {col}] is {y[row, col]:g}, not a probability in [0, 1]; "
                         f"{hint}")
    sums = y.sum(axis=1)
    off = ~(np.abs(sums - 1.0) <= _SUM_TOLERANCE)
    if off.any():
        row = int(np.flatnonzero(off)[0])
        raise ValueError(f"y row {row} sums to {sums[row]:g}, not 1 (within "
                         f"{_SUM_TOLERANCE:g}), so it is not a probability distribution; "
                         f"{hint}")


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy ``-Σ log(y[t] + 1e-7) / batch_size`` of probabilities ``y`` (§4.2.4).

    Keeps the book's ``1e-7`` guard against ``log(0)``: this is what reproduces the book's (and
    the seed notebook's) printed losses. For an exact loss from logits use
    :func:`softmax_cross_entropy`.

    Parameters
    ----------
    y : ndarray of shape (n_classes,) or (batch_size, n_classes)
        Probabilities, e.g. the output of :func:`softmax`: each row non-negative and summing
        to 1 (within 1e-3).
    t : ndarray of shape (batch_size,) or (batch_size, n_classes)
        Integer labels or one-hot rows.

    Raises
    ------
    ValueError
        If ``y`` is empty or not rows of probabilities (a negative entry, or a row whose sum
        is not 1: logits, which :func:`softmax_cross_entropy` takes), or ``t`` does not fit.
    """
    y2 = _as_batch(as_float_array(y, "y"), "y")
    _check_probabilities(y2)
    labels = check_t(t, y2.shape[0], y2.shape[1])
    batch_size = y2.shape[0]
    return float(-np.sum(np.log(y2[np.arange(batch_size), labels] + 1e-7)) / batch_size)


def softmax_cross_entropy(logits: np.ndarray, t: np.ndarray) -> float:
    """Exact mean cross-entropy of ``softmax(logits)``, via log-sum-exp (no guard).

    ``-log softmax(a)[t] = logsumexp(a) - a[t]``, finite for finite logits; infinite logits are
    taken to the limit as in :func:`softmax` (``[inf, 0]`` costs 0 for label 0, inf for 1).

    Parameters
    ----------
    logits : ndarray of shape (n_classes,) or (batch_size, n_classes)
    t : ndarray of shape (batch_size,) or (batch_size, n_classes)
        Integer labels or one-hot rows.

    Returns
    -------
    float
        The mean loss; inf in the limit above, or when the exact loss overflows the dtype
        (``softmax_cross_entropy([[1e308, -1e308]], [1])``).

    Warns
    -----
    RuntimeWarning
        When finite logits give an infinite loss (that overflow), naming the row.
    """
    a = _as_batch(as_float_array(logits, "logits"), "logits")
    labels = check_t(t, a.shape[0], a.shape[1])
    # -log softmax(a)[t] = log Σ exp(a - max a) - (a[t] - max a)
    with np.errstate(over="ignore"):  # finite logits too far apart: warned of below
        shifted = _shifted(a)
    picked = shifted[np.arange(a.shape[0]), labels]
    losses = np.log(_row_sums(np.exp(shifted, out=shifted))[:, 0])
    losses -= picked
    loss = float(losses.mean())
    if loss == math.inf:
        rows = np.flatnonzero(losses == math.inf)
        finite = rows[np.isfinite(a[rows]).all(axis=1)]
        if finite.size:
            row = int(finite[0])
            warnings.warn(f"softmax_cross_entropy: the loss of row {row} is larger than the "
                          f"largest {a.dtype} number ({float(np.finfo(a.dtype).max):.3g}): "
                          f"its logits span {float(a[row].min()):g} to "
                          f"{float(a[row].max()):g}, its target's is "
                          f"{float(a[row, labels[row]]):g}; the mean is returned as inf",
                          RuntimeWarning, stacklevel=2)
    return loss
