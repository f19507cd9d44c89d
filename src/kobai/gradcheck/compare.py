"""Element-wise comparison of a backprop gradient with a numerical one, and the patterns a
wrong gradient usually shows (a constant factor, a transpose, all zeros)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .report import ParamResult

__all__ = ["Context", "compare", "compare_scalar", "within", "is_zero_gradient", "diagnose"]

_MAX_BAD = 100  # out-of-tolerance indices kept per array


def within(a: float | np.ndarray, n: float | np.ndarray, rtol: float,
           atol: float | np.ndarray):
    """``|a - n| <= atol + rtol·|n|`` (``np.allclose``'s rule); NaN is never within."""
    return np.abs(a - n) <= atol + rtol * np.abs(n)


def _rel_error(diff: np.ndarray | np.float64, a: np.ndarray | np.float64,
               n: np.ndarray | np.float64, atol: float) -> np.ndarray:
    # |a - n| / max(|a|, |n|), and 0 where both are zero to within atol: below atol the sign
    # and size of a value are rounding noise (a bias before batch normalization has true
    # gradient 0, but its central difference is ~1e-11, not 0).
    scale = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = diff / scale
    return np.where((scale <= atol) & ~np.isnan(diff), 0.0, rel)


def compare(name: str, analytic: np.ndarray, numerical: np.ndarray, kinks: np.ndarray,
            rtol: float, atol: float, mode: str = "full", *,
            low: np.ndarray | None = None, high: np.ndarray | None = None,
            computed: np.ndarray | None = None,
            context: Context | None = None) -> ParamResult:
    """Compare every element of ``analytic`` (backprop) with ``numerical``.

    Parameters
    ----------
    analytic, numerical : ndarray, same shape
    kinks : bool ndarray of the same shape
        Elements whose central difference straddled a kink. Without ``low``/``high`` they are
        excluded from the errors and from pass/fail (a kobai layer's ``kink_state()`` said so).
    low, high : ndarray of the same shape, optional
        The one-sided differences at the kinks (``differences._one_sided``): there backprop
        passes when it lies between them, to within the tolerance.
    computed : bool ndarray of the same shape, optional
        The elements whose numerical gradient was computed (a sample of a large array); the
        others are not compared.
    context : Context, optional
        Batch and channel axes and the batch size, for the hints.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    checked = ~kinks
    kink_rule = "excluded"
    if low is not None and high is not None:
        known = kinks & np.isfinite(low) & np.isfinite(high)
        # at a kink, the nearest value of [low, high]: in between counts as exact
        n = np.where(known, np.clip(a, low, high), n)
        checked = ~kinks | known
        kink_rule = "between"
    if computed is not None:
        checked &= computed
        n = np.where(computed, n, a)
    diff = np.abs(a - n)
    rel = _rel_error(diff, a, n, atol)
    tol = atol + rtol * np.abs(n)
    ok = diff <= tol
    bad = ~ok & checked
    # How far out of tolerance each element is (> 1 means out); NaN ranks worst.
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(ok & (tol == 0), 0.0, diff / tol)
    ratio = np.nan_to_num(ratio, nan=np.inf, posinf=np.inf)
    order_key = np.where(checked, ratio, -1.0)
    if checked.any():
        flat = int(np.argmax(order_key))
        worst: tuple[int, ...] | None = tuple(int(i) for i in np.unravel_index(flat, a.shape))
        max_abs, mean_abs = float(np.max(diff[checked])), float(np.mean(diff[checked]))
        max_rel = float(np.max(rel[checked]))
        a_w, n_w = float(a[worst]), float(n[worst])
    else:
        worst, max_abs, mean_abs, max_rel, a_w, n_w = None, 0.0, 0.0, 0.0, 0.0, 0.0
    bad_flat = np.flatnonzero(bad)
    bad_flat = bad_flat[np.argsort(-order_key.reshape(-1)[bad_flat], kind="stable")][:_MAX_BAD]
    bad_indices = [tuple(int(i) for i in np.unravel_index(f, a.shape)) for f in bad_flat]
    kink_indices = [tuple(int(i) for i in idx) for idx in np.argwhere(kinks)[:_MAX_BAD]]
    n_bad = int(bad.sum())
    return ParamResult(
        name=name, shape=tuple(a.shape), mode=mode, n_checked=int(checked.sum()), n_bad=n_bad,
        max_abs_error=max_abs, max_rel_error=max_rel, worst_index=worst, analytic=a_w,
        numerical=n_w, mean_abs_error=mean_abs, n_kinks=int(kinks.sum()),
        kink_indices=kink_indices, bad_indices=bad_indices,
        hint=diagnose(a, n, bad, rtol, atol, context, checked) if n_bad else "",
        analytic_grad=a, numerical_grad=n, kink_rule=kink_rule,
        n_elements=int(a.size) if computed is not None else None)


def compare_scalar(name: str, shape: tuple[int, ...], a: float, n: float, rtol: float,
                   atol: float) -> ParamResult:
    """A result for a directional derivative ``u·∇L`` that agreed (fast mode)."""
    diff = abs(a - n)
    rel = float(_rel_error(np.float64(diff), np.float64(a), np.float64(n), atol))
    return ParamResult(name=name, shape=shape, mode="fast", n_checked=0,
                       n_bad=0 if within(a, n, rtol, atol) else 1, max_abs_error=diff,
                       max_rel_error=rel, worst_index=None, analytic=a, numerical=n,
                       mean_abs_error=diff, directional=(a, n))


def is_zero_gradient(result: ParamResult, atol: float) -> bool:
    """Both gradients are zero to within ``atol`` everywhere (e.g. a bias before batch norm)."""
    if result.analytic_grad is not None:
        # compare() sets both full gradients together; only directional results lack them
        assert result.numerical_grad is not None
        return bool(np.all(np.abs(result.analytic_grad) <= atol)
                    and np.all(np.abs(result.numerical_grad) <= atol))
    return result.directional is not None and max(map(abs, result.directional)) <= atol


@dataclass(frozen=True)
class Context:
    """What the hints know of an array: its batch and channel axes (None for a parameter, which
    has neither) and the batch size of the check (for "a missing 1/N")."""

    batch_axis: int | None = None
    channel_axis: int | None = None
    batch_size: int | None = None


def diagnose(a: np.ndarray, n: np.ndarray, bad: np.ndarray, rtol: float, atol: float,
             context: Context | None = None, checked: np.ndarray | None = None) -> str:
    """Name the pattern of a wrong gradient, or return "" when none is recognised.

    ``a`` is backprop's gradient, ``n`` the numerical one, ``bad`` the elements out of
    tolerance; ``checked`` (default: all) the elements whose numerical value is known.
    """
    context = context or Context()
    if checked is not None and not checked.all():
        a, n, bad = a[checked], n[checked], bad[checked]  # a sample: only the flat hints
        context = Context(batch_size=context.batch_size)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        return "non-finite values (NaN or inf) in the " + (
            "backprop gradient" if not np.all(np.isfinite(a)) else "numerical gradient")
    loose_rtol, loose_atol = max(10 * rtol, 1e-6), 10 * atol

    def close(x: np.ndarray, y: np.ndarray) -> bool:
        return bool(np.allclose(x, y, rtol=loose_rtol, atol=loose_atol))

    if not np.any(a):
        return ("backprop gradient is all zeros: it is not computed, not stored, or not "
                "propagated to this array (a missing path)")
    if np.all(np.abs(n) <= atol):
        return ("numerical gradient is zero: the loss does not depend on this array (is the "
                "forward pass using a copy of it?)")
    for hint in (_swapped(a, n, close), _factor(a, n, close, context.batch_size, rtol),
                 _missing_path(a, n, bad, atol), _slices(bad, context), _line(a, bad)):
        if hint:
            return hint
    return ""


def _swapped(a: np.ndarray, n: np.ndarray, close) -> str:  # type: ignore[no-untyped-def]
    """Backprop is the numerical gradient with two axes of the same length swapped."""
    for i in range(a.ndim):
        for j in range(i + 1, a.ndim):
            if a.shape[i] == a.shape[j] > 1 and close(np.swapaxes(a, i, j), n):
                if a.ndim == 2:
                    return "backprop gradient is the transpose of the numerical one"
                return (f"backprop gradient is the numerical one with axes {i} and {j} "
                        "swapped (a transpose or a wrong reshape)")
    return ""


def _factor(a: np.ndarray, n: np.ndarray, close, batch_size: int | None,  # type: ignore[no-untyped-def]
            rtol: float) -> str:
    """Backprop is a constant multiple of the numerical gradient."""
    c = float(np.vdot(a, n)) / float(np.vdot(n, n))
    if not close(a, c * n):
        return ""
    # c is as exact as the gradients: name 1, -1, 2, N ... to within their tolerance
    tol = max(1e-6, min(10 * rtol, 1e-2))

    def near(value: float) -> bool:
        return abs(c - value) <= tol * abs(value)

    if near(1.0):
        return ""  # right to within the looser tolerance: no pattern to name
    if near(-1.0):
        return "backprop gradient has the wrong sign (backprop = -1 x numerical everywhere)"
    if c < 0:
        return f"backprop gradient has the wrong sign and a factor: backprop = {c:.6g} x numerical"
    if batch_size and batch_size > 1:
        if near(batch_size):
            return (f"backprop = {c:.6g} x numerical = N x numerical with N = {batch_size}, "
                    "the batch size: a missing mean (divide by the batch size)")
        if near(1 / batch_size):
            return (f"backprop = {c:.6g} x numerical = numerical / N with N = {batch_size}, "
                    "the batch size: an extra mean (divided by the batch size once too often)")
    if near(2.0) or near(0.5):
        return (f"backprop = {c:.6g} x numerical everywhere (a factor 2: a term counted twice "
                "or once too few, e.g. the derivative of x² or a symmetric product)")
    return (f"backprop = {c:.6g} x numerical everywhere (a constant factor, e.g. a missing or "
            "extra 1/batch_size or a term counted twice)")


def _missing_path(a: np.ndarray, n: np.ndarray, bad: np.ndarray, atol: float) -> str:
    """Backprop is zero exactly where it is wrong (some contribution never reaches them)."""
    zero_bad = bad & (a == 0) & (np.abs(n) > atol)
    if zero_bad.sum() == bad.sum() > 0:
        return (f"backprop gradient is 0 at all {_count(int(bad.sum()))} out-of-tolerance "
                "elements, where the numerical one is not, and right elsewhere: a missing "
                "path (a branch whose gradient is not added, or a mask that drops it)")
    return ""


def _slices(bad: np.ndarray, context: Context) -> str:
    """Wrong for only some samples of the batch, or only some channels."""
    if bad.sum() < 2:  # one wrong element is not a pattern of samples or channels
        return ""
    for axis, what in ((context.batch_axis, "sample"), (context.channel_axis, "channel")):
        if axis is None or not -bad.ndim <= axis < bad.ndim or bad.shape[axis] < 2:
            continue
        if what == "channel" and (bad.ndim < 3 or axis % bad.ndim == (context.batch_axis or 0)
                                  % bad.ndim):
            continue  # a 2-D array's columns are features, not channels (see _line)
        rest = tuple(i for i in range(bad.ndim) if i != axis % bad.ndim)
        wrong = np.flatnonzero(np.any(bad, axis=rest))
        size = bad.shape[axis]
        if 0 < wrong.size < size:
            right = np.setdiff1d(np.arange(size), wrong)
            named, other = (wrong, right) if wrong.size <= right.size else (right, wrong)
            listed = _listed(named)
            if named is wrong:
                return (f"wrong only for {what}{'s' if wrong.size > 1 else ''} {listed} "
                        f"(axis {axis}) of {size}; the other {what}s are right")
            return (f"right only for {what}{'s' if right.size > 1 else ''} {listed} "
                    f"(axis {axis}) of {size}; the other {other.size} are wrong")
    return ""


def _line(a: np.ndarray, bad: np.ndarray) -> str:
    """All the wrong elements of a 2-D array in one row or one column."""
    if a.ndim == 2 and bad.sum() > 1:
        rows, cols = np.nonzero(bad)
        if np.unique(cols).size == 1 and a.shape[1] > 1:
            return f"all out-of-tolerance elements are in column {int(cols[0])}"
        if np.unique(rows).size == 1 and a.shape[0] > 1:
            return f"all out-of-tolerance elements are in row {int(rows[0])}"
    return ""


def _listed(indices: np.ndarray, most: int = 8) -> str:
    shown = ", ".join(str(int(i)) for i in indices[:most])
    return shown + (f", ... ({indices.size - most} more)" if indices.size > most else "")


def _count(n: int) -> str:
    return f"{n:,}"
