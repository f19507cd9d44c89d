"""Central differences of a vector of scalars ``phi`` (one per output being checked) with
respect to the elements of one array, perturbed in place, and the two ways kobai tells a
kink from a smooth point.

A *kink* is a point where the function is continuous but its slope jumps (ReLU at 0, a
max-pool tie, ``abs``, ``clamp`` at a bound): the central difference there averages the two
slopes, and is the right answer for neither. kobai's layers say where they have one
(``kink_state()``: the checker compares the states at θ+h and θ-h). For any other function the
one-sided differences ``D+ = (φ(θ+h) - φ(θ))/h`` and ``D- = (φ(θ) - φ(θ-h))/h`` are compared
where backprop disagrees with the central difference (where it agrees, there is nothing to
explain):
at a smooth point ``D+ - D- = h·φ''(θ) + O(h³)`` shrinks with the step, at a kink it is the
jump in slope and does not. An element whose gap exceeds the tolerance is probed again at
``h/2``: a gap that halves is curvature (the central difference at ``h`` stands), one that
stays is a kink within ``h/2`` (the backprop value must lie between ``D-`` and ``D+`` at
``h/2``), one that vanishes is a kink between ``h/2`` and ``h`` (the central difference at
``h/2`` does not straddle it and is used instead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..gradient import perturb_each

__all__ = ["Evaluate", "Contract", "Differences", "StepTooSmall", "OutOfDomain",
           "element_differences", "directional_difference", "crossed"]

# evaluate() -> (phi, kink states): phi is the vector of scalars being differentiated at the
# current contents of the array (a float for a single one), the states are those of the
# layers that report kinks (empty when none do: then the one-sided rule applies).
Evaluate = Callable[[], tuple["float | np.ndarray", tuple[np.ndarray, ...]]]

# A gap that keeps more than this share of itself when the step halves is a kink; one that
# keeps less than _GONE is a kink the smaller step no longer straddles.
_STAYS, _GONE = 0.75, 0.25


def crossed(up: tuple[np.ndarray, ...], down: tuple[np.ndarray, ...]) -> bool:
    """Whether any kink state differs between the evaluations at θ+h and θ-h."""
    return any(not np.array_equal(u, d) for u, d in zip(up, down, strict=True))


Contract = Callable[[np.ndarray], np.ndarray]


def _phi(evaluate: Evaluate) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    value, states = evaluate()
    return np.atleast_1d(np.asarray(value, dtype=np.float64)), states


def _identity(d: np.ndarray) -> np.ndarray:
    return d


class StepTooSmall(ValueError):
    """θ ± h rounds back to θ in the array's precision."""


class OutOfDomain(ValueError):
    """The function is not finite at θ ± h."""


@dataclass
class Differences:
    """Central differences of ``m`` scalars with respect to ``k`` elements.

    Attributes
    ----------
    numerical : ndarray of shape (m, k)
    kinks : bool ndarray of shape (m, k)
        Elements at a kink.
    low, high : ndarray of shape (m, k) or None
        The one-sided differences at kinks found by the one-sided rule (NaN elsewhere); None
        when the kinks came from ``kink_state()``, whose elements are not checked.
    """

    numerical: np.ndarray
    kinks: np.ndarray
    low: np.ndarray | None = None
    high: np.ndarray | None = None


def _step(arr: np.ndarray, idx: tuple[int, ...], h: float,
          evaluate: Evaluate) -> tuple[np.ndarray, np.ndarray, float, float,
                                       tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The function at θ+h and θ-h for one element, the steps actually taken (θ ± h is rounded
    to the array's precision), and the kink states; the element is restored bit for bit."""
    (step,) = _steps(arr, [idx], h, evaluate)
    return step


def _steps(arr: np.ndarray, indices: list[tuple[int, ...]], h: float, evaluate: Evaluate
           ) -> Iterator[tuple[np.ndarray, np.ndarray, float, float, tuple[np.ndarray, ...],
                               tuple[np.ndarray, ...]]]:
    """:func:`_step` for each element of ``indices`` in turn (the one element loop,
    ``kobai.gradient.perturb_each``), refusing a step lost to rounding or leaving the domain."""
    for idx, (f_up, s_up), (f_down, s_down), up_step, down_step in perturb_each(
            arr, h, lambda _i, _side: _phi(evaluate), indices):
        old = arr[idx]
        if up_step <= 0 or down_step <= 0:
            raise StepTooSmall(f"the step {h:g} is lost to rounding at element {list(idx)} "
                               f"(value {old}, {arr.dtype}): the array cannot hold θ ± {h:g}; "
                               "give a larger eps")
        for side, value in (("+", f_up), ("-", f_down)):
            if not np.all(np.isfinite(value)):
                raise OutOfDomain(f"the function is not finite at element {list(idx)} {side} "
                                  f"{h:g} (value {old}): the step leaves its domain (a log or "
                                  "a division near 0?); give a smaller eps")
        yield f_up, f_down, up_step, down_step, s_up, s_down


def element_differences(arr: np.ndarray, evaluate: Evaluate, h: float, *,
                        phi0: np.ndarray | None, tol: Callable[[np.ndarray], np.ndarray],
                        indices: np.ndarray | None = None,
                        agrees: Callable[[int, np.ndarray], np.ndarray] | None = None,
                        contract: Contract | None = None) -> Differences:
    """Central differences of every element of ``arr`` (or the flat ``indices`` given).

    ``evaluate`` returns the function's values; ``contract`` (linear, default the identity)
    maps a difference of them to the ``m`` scalars φ (e.g. ``<v, f(θ+h) - f(θ-h)>``: the
    outputs are subtracted before they are summed, so the large common part cancels exactly).
    ``phi0`` is the function at the unperturbed point, needed by the one-sided kink rule
    (None: kinks only from the kink states). ``tol(numerical)`` gives the tolerance of each
    value: a gap between the one-sided differences within it is not a kink. ``agrees(j,
    central)``, when given, marks the values of the ``j``-th element that backprop already
    matches: they need no look for a kink (a smooth, right element costs two evaluations).
    """
    contract = contract or _identity
    flat = np.arange(arr.size) if indices is None else np.asarray(indices)
    columns, low, high, kinks = [], [], [], []
    one_sided = False
    where = [tuple(int(i) for i in np.unravel_index(int(f), arr.shape)) for f in flat]
    for j, (idx, (f_up, f_down, up, down, s_up, s_down)) in enumerate(
            zip(where, _steps(arr, where, h, evaluate), strict=True)):
        central = contract(f_up - f_down) / (up + down)
        lo = hi = np.full_like(central, np.nan)
        if s_up or s_down:  # layers that report their kinks
            kink = np.full(central.shape, crossed(s_up, s_down))
        elif phi0 is not None and (agrees is None or not (settled := agrees(j, central)).all()):
            kink, central, lo, hi = _one_sided(arr, idx, h, evaluate, phi0, f_up, f_down,
                                               up, down, central, tol,
                                               None if agrees is None else settled, contract)
            one_sided = one_sided or bool(kink.any())
        else:
            kink = np.zeros(central.shape, dtype=bool)
        columns.append(central)
        kinks.append(kink)
        low.append(lo)
        high.append(hi)
    m = len(columns[0]) if columns else 1
    shape = (m, len(flat))
    numerical = np.array(columns).T.reshape(shape)
    kink_mask = np.array(kinks, dtype=bool).T.reshape(shape)
    if not one_sided:
        return Differences(numerical, kink_mask)
    return Differences(numerical, kink_mask, np.array(low).T.reshape(shape),
                       np.array(high).T.reshape(shape))


def _one_sided(arr: np.ndarray, idx: tuple[int, ...], h: float,
               evaluate: Evaluate, phi0: np.ndarray, f_up: np.ndarray, f_down: np.ndarray,
               up: float, down: float, central: np.ndarray,
               tol: Callable[[np.ndarray], np.ndarray], settled: np.ndarray | None,
               contract: Contract) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The one-sided kink rule for one element: (kink mask, numerical, low, high).

    Where the gap halves with the step (curvature, not a kink), the central differences give
    Richardson's extrapolation ``(4·c(h/2) - c(h)) / 3``, whose truncation error is O(h⁴)
    instead of O(h²), refined at smaller steps until it settles: near a steep point (``log``
    at 1e-4) the step itself is too large.
    """
    gap = np.abs(contract(f_up - phi0) / up - contract(phi0 - f_down) / down)
    lo = hi = np.full_like(central, np.nan)
    suspect = gap > tol(central)
    if settled is not None:
        suspect &= ~settled
    if not suspect.any():
        return np.zeros(central.shape, dtype=bool), central, lo, hi
    f_up2, f_down2, up2, down2, _, _ = _step(arr, idx, h / 2, evaluate)
    d_plus, d_minus = contract(f_up2 - phi0) / up2, contract(phi0 - f_down2) / down2
    central2 = contract(f_up2 - f_down2) / (up2 + down2)
    gap2 = np.abs(d_plus - d_minus)
    kink = suspect & (gap2 > _STAYS * gap)
    gone = suspect & (gap2 < _GONE * gap)  # a kink between h/2 and h: h/2 does not straddle it
    smooth = suspect & ~kink & ~gone
    if smooth.any():
        refined = _richardson(arr, idx, h / 2, evaluate, contract, central, central2, tol)
        central = np.where(smooth, refined, central)
    central = np.where(gone, central2, central)
    lo = np.where(kink, np.minimum(d_plus, d_minus), np.nan)
    hi = np.where(kink, np.maximum(d_plus, d_minus), np.nan)
    return kink, central, lo, hi


_HALVINGS = 6  # at most h/128: enough for log(x) at x = 3h


def _richardson(arr: np.ndarray, idx: tuple[int, ...], h: float,
                evaluate: Evaluate, contract: Contract, c_2h: np.ndarray, c_h: np.ndarray,
                tol: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """Richardson's extrapolation ``(4·c(h) - c(2h)) / 3`` of the central differences, with the
    step halved again until two extrapolations agree to a tenth of the tolerance (a steep point
    such as ``log`` near 0, where the step itself is too large)."""
    estimate = (4 * c_h - c_2h) / 3
    if np.all(np.abs(c_h - c_2h) <= 0.1 * tol(c_h)):  # truncation is not what disagrees
        return estimate
    for _ in range(_HALVINGS):
        h /= 2
        try:
            f_up, f_down, up, down, _, _ = _step(arr, idx, h, evaluate)
        except StepTooSmall:
            break
        c_half = contract(f_up - f_down) / (up + down)
        better = (4 * c_half - c_h) / 3
        settled = np.all(np.abs(better - estimate) <= 0.1 * tol(better))
        estimate, c_h = better, c_half
        if settled:
            break
    return estimate


def _along(arr: np.ndarray, saved: np.ndarray, u: np.ndarray, h: float,
           evaluate: Evaluate) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                        tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """The function at θ+hu and θ-hu, and the step actually taken (≈ 2hu, as rounded)."""
    try:
        np.add(saved, h * u, out=arr, casting="unsafe")
        taken = arr.astype(np.float64)
        f_up, s_up = _phi(evaluate)
        np.subtract(saved, h * u, out=arr, casting="unsafe")
        taken -= arr
        f_down, s_down = _phi(evaluate)
    finally:
        arr[...] = saved
    if not np.any(taken):
        raise StepTooSmall(f"a step of {h:g} along a random direction is lost to rounding "
                           f"everywhere in this {arr.dtype} array; give a larger eps")
    if not (np.all(np.isfinite(f_up)) and np.all(np.isfinite(f_down))):
        raise OutOfDomain(f"the function is not finite a step of {h:g} along a random "
                          "direction away: the step leaves its domain; give a smaller eps")
    return f_up, f_down, taken, s_up, s_down


def directional_difference(arr: np.ndarray, u: np.ndarray, evaluate: Evaluate, h: float, *,
                           phi0: np.ndarray | None, tol: Callable[[np.ndarray], np.ndarray],
                           agrees: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                           contract: Contract | None = None
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(numerical u·∇φ, the step actually taken / 2h, kink mask)`` along the unit
    direction ``u``, by central differences, with the same kink rules and ``contract`` as
    :func:`element_differences` (``agrees(taken / 2h, numerical)``: the values backprop
    already matches); ``arr`` is restored bit for bit."""
    contract = contract or _identity
    saved = arr.copy()
    f_up, f_down, taken, s_up, s_down = _along(arr, saved, u, h, evaluate)
    numerical = contract(f_up - f_down) / (2 * h)
    if s_up or s_down:
        kink = np.full(numerical.shape, crossed(s_up, s_down))
    elif phi0 is not None:
        gap = np.abs(contract(f_up - phi0) - contract(phi0 - f_down)) / h
        kink = gap > tol(numerical)
        if agrees is not None:
            kink &= ~agrees(taken / (2 * h), numerical)
        if kink.any():  # curvature or a kink? halve the step, as element_differences does
            f_up2, f_down2 = _along(arr, saved, u, h / 2, evaluate)[:2]
            gap2 = np.abs(contract(f_up2 - phi0) - contract(phi0 - f_down2)) / (h / 2)
            kink &= gap2 > _STAYS * gap
    else:
        kink = np.zeros(numerical.shape, dtype=bool)
    return numerical, taken / (2 * h), kink
