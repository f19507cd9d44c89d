"""Element-wise comparison of a backprop gradient with a numerical one, and the patterns a
wrong gradient usually shows (a constant factor, a transpose, all zeros)."""

from __future__ import annotations

import numpy as np

from .report import ParamResult

__all__ = ["compare", "compare_scalar", "within", "is_zero_gradient"]

_MAX_BAD = 100  # out-of-tolerance indices kept per array


def within(a: float | np.ndarray, n: float | np.ndarray, rtol: float, atol: float):
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
            rtol: float, atol: float, mode: str = "full") -> ParamResult:
    """Compare every element of ``analytic`` (backprop) with ``numerical``.

    Parameters
    ----------
    analytic, numerical : ndarray, same shape
    kinks : bool ndarray of the same shape
        Elements whose central difference straddled a ReLU kink; excluded from the errors and
        from pass/fail.
    """
    a = np.asarray(analytic, dtype=np.float64)
    n = np.asarray(numerical, dtype=np.float64)
    diff = np.abs(a - n)
    rel = _rel_error(diff, a, n, atol)
    tol = atol + rtol * np.abs(n)
    ok = diff <= tol
    checked = ~kinks
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
    kink_indices = [tuple(int(i) for i in idx) for idx in np.argwhere(kinks)]
    n_bad = int(bad.sum())
    return ParamResult(
        name=name, shape=tuple(a.shape), mode=mode, n_checked=int(checked.sum()), n_bad=n_bad,
        max_abs_error=max_abs, max_rel_error=max_rel, worst_index=worst, analytic=a_w,
        numerical=n_w, mean_abs_error=mean_abs, n_kinks=len(kink_indices),
        kink_indices=kink_indices, bad_indices=bad_indices,
        hint=diagnose(a, n, bad, rtol, atol) if n_bad else "",
        analytic_grad=a, numerical_grad=n)


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


def diagnose(a: np.ndarray, n: np.ndarray, bad: np.ndarray, rtol: float, atol: float) -> str:
    """Name the pattern of a wrong gradient, or return "" when none is recognised."""
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(n))):
        return "non-finite values (NaN or inf) in the " + (
            "backprop gradient" if not np.all(np.isfinite(a)) else "numerical gradient")
    loose_rtol, loose_atol = max(10 * rtol, 1e-6), 10 * atol
    if not np.any(a):
        return ("backprop gradient is all zeros: it is not computed, not stored, or not "
                "propagated to this array")
    if np.all(np.abs(n) <= atol):
        return ("numerical gradient is zero: the loss does not depend on this array (is the "
                "forward pass using a copy of it?)")
    if (a.ndim == 2 and a.shape[0] == a.shape[1] > 1
            and np.allclose(a.T, n, rtol=loose_rtol, atol=loose_atol)):
        return "backprop gradient is the transpose of the numerical one"
    nn = float(np.vdot(n, n))
    c = float(np.vdot(a, n)) / nn
    if np.allclose(a, c * n, rtol=loose_rtol, atol=loose_atol):
        if abs(c + 1) < 1e-6:
            return "backprop gradient has the wrong sign"
        return (f"backprop = {c:.6g} x numerical everywhere (a constant factor, e.g. a missing or "
                "extra 1/batch_size or a term counted twice)")
    if a.ndim == 2 and bad.sum() > 1:
        rows, cols = np.nonzero(bad)
        if np.unique(cols).size == 1 and a.shape[1] > 1:
            return f"all out-of-tolerance elements are in column {int(cols[0])}"
        if np.unique(rows).size == 1 and a.shape[0] > 1:
            return f"all out-of-tolerance elements are in row {int(rows[0])}"
    return ""
