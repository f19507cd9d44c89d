"""One input of a function, checked: its directions (fast mode), its elements (all of them,
or a seeded sample), one result per output, and the eps sweep. Used by ``engine.run_check``
and, for the sweep, by ``check_gradients``/``check_layer``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .compare import Context, compare, compare_scalar, within
from .differences import (
    Differences,
    Evaluate,
    OutOfDomain,
    StepTooSmall,
    directional_difference,
    element_differences,
)
from .probe import N_DIRECTIONS
from .report import EpsSweep, ParamResult

__all__ = ["check_input", "sweep", "SWEEP_STEPS", "SAMPLE_CHUNK", "SAMPLE_ENOUGH"]

SWEEP_STEPS = [10.0 ** -k for k in range(1, 11)]


def _row_names(name: str, rows: list[tuple[int, int]], out0: list[np.ndarray],
               names: list[str], jacobian: bool) -> list[tuple[str, list[int]]]:
    """(result name, row numbers) per output: rows of one output form one result."""
    groups: list[tuple[str, list[int]]] = []
    for k in range(len(out0)):
        members = [i for i, (kk, _) in enumerate(rows) if kk == k]
        label = name if len(out0) == 1 else f"{name}->{names[k]}"
        groups.append((label, members))
    return groups


def check_input(name: str, arr: np.ndarray, analytic: np.ndarray, evaluate: Evaluate,
                 phi0: np.ndarray, rows: list[tuple[int, int]], out0: list[np.ndarray],
                 names: list[str], *, mode: str, eps: float, rtol: float, atols: np.ndarray,
                 rng: np.random.Generator, max_elements: int, kinked: bool, jacobian: bool,
                 context: Context, notes: list[str],
                 contract: Any) -> dict[str, ParamResult]:
    """Results for one input: one per output (per output's Jacobian block with jacobian).

    ``atols`` holds the absolute tolerance of each row (atol, or the rounding floor of a large
    output)."""
    def tol(n: np.ndarray) -> np.ndarray:
        return atols + rtol * np.abs(n)

    atol = atols  # within() broadcasts it over the rows

    one_sided = None if kinked else phi0
    flat_a = analytic.reshape(len(rows), -1)
    directions: list[tuple[np.ndarray, np.ndarray]] = []
    escalate = mode == "full"
    why, kink_seen = "", False
    if mode == "fast":
        for _ in range(N_DIRECTIONS):
            u = rng.standard_normal(arr.shape)
            u /= np.sqrt(np.sum(u * u))
            num, taken, kink = directional_difference(
                arr, u, evaluate, eps, phi0=one_sided, tol=tol, contract=contract,
                agrees=lambda t, n: within(flat_a @ t.reshape(-1), n, rtol, atol))
            a_d = flat_a @ taken.reshape(-1)
            directions.append((a_d, num))
            if kink.any():
                why, escalate, kink_seen = "a random direction crossed a kink", True, True
                break
            if not np.all(within(a_d, num, rtol, atol)):
                why = (f"a directional derivative disagreed (u.grad: backprop "
                       f"{a_d[~within(a_d, num, rtol, atol)][0]:.6e}, numerical "
                       f"{num[~within(a_d, num, rtol, atol)][0]:.6e})")
                escalate = True
                break
    groups = _row_names(name, rows, out0, names, jacobian)
    if not escalate:
        results = {}
        for label, members in groups:
            pairs = [(float(a[i]), float(n[i])) for a, n in directions for i in members]
            worst = max(pairs, key=lambda p: abs(p[0] - p[1]))
            r = compare_scalar(label, arr.shape, worst[0], worst[1], rtol,
                               float(np.max(atols[members])))
            r.directions = pairs
            results[label] = r
        return results
    indices, computed = None, None
    stopped = False
    if mode == "fast" and arr.size > max_elements:  # full mode checks every element
        indices, d, stopped = _sample(arr, evaluate, eps, one_sided, tol, flat_a, rtol, atol,
                                      contract, rng, max_elements)
        computed = np.zeros(arr.size, dtype=bool)
        computed[indices] = True
    else:
        d = element_differences(arr, evaluate, eps, phi0=one_sided, tol=tol,
                                agrees=lambda j, n: within(flat_a[:, j], n, rtol, atol),
                                contract=contract)

    def spread(values: np.ndarray | None, fill: float) -> np.ndarray | None:
        if values is None:
            return None
        if indices is None:
            return values
        full = np.full((values.shape[0], arr.size), fill)
        full[:, indices] = values
        return full

    numerical = spread(d.numerical, np.nan)
    kinks = spread(d.kinks.astype(np.float64), 0.0)
    low, high = spread(d.low, np.nan), spread(d.high, np.nan)
    assert numerical is not None and kinks is not None
    results = {}
    for label, members in groups:
        out_shape = out0[rows[members[0]][0]].shape if jacobian else ()
        shape = (*out_shape, *arr.shape)

        def pick(values: np.ndarray | None, shape: tuple[int, ...] = shape,
                 members: list[int] = members) -> np.ndarray | None:
            return None if values is None else values[members].reshape(shape)

        a = flat_a[members].reshape(shape)
        comp = None if computed is None else np.broadcast_to(
            computed.reshape(arr.shape), shape)
        r = compare(label, a, numerical[members].reshape(shape),
                    kinks[members].reshape(shape).astype(bool), rtol,
                    float(np.max(atols[members])),
                    mode="full" if mode == "full" else "fast->full",
                    low=pick(low), high=pick(high), computed=comp,
                    context=context if not jacobian else None)
        if directions:
            r.directions = [(float(a_d[i]), float(n[i])) for a_d, n in directions
                            for i in members]
            r.directional = r.directions[-1]
            a_d, n_d = r.directional
            if (indices is not None and not r.n_bad and not kink_seen
                    and not within(a_d, n_d, rtol, float(np.max(atols[members])))):
                r.unlocated = True  # wrong, but not in the sample: still a FAIL
        results[label] = r
    if mode == "fast":
        n_bad = sum(r.n_bad for r in results.values())
        sample = ""
        if indices is not None:
            sample = (f" ({indices.size:,} of its {arr.size:,} elements, a seeded sample"
                      + ("; stopped once it showed elements out of tolerance" if stopped
                         else "") + ")")
        notes.append(f"{name}: {why}, so its elements were checked one by one{sample}: "
                     + (f"{n_bad} out of tolerance" if n_bad else "none out of tolerance"))
    return results


SAMPLE_CHUNK = 1_000  # a sample is checked in chunks of this many elements ...
SAMPLE_ENOUGH = 2_000  # ... and stops once this many show elements out of tolerance


def _sample(arr: np.ndarray, evaluate: Evaluate, eps: float, phi0: np.ndarray | None,
            tol: Callable[[np.ndarray], np.ndarray], flat_a: np.ndarray, rtol: float,
            atol: np.ndarray, contract: Any, rng: np.random.Generator, max_elements: int
            ) -> tuple[np.ndarray, Differences, bool]:
    """Central differences of a seeded random sample of at most ``max_elements`` elements,
    in chunks, stopping once ``SAMPLE_ENOUGH`` of them show elements out of tolerance (enough
    to name the worst and a pattern; a 1M-parameter layer costs seconds, not a minute).

    Returns (flat indices, their differences, stopped early)."""
    order = rng.choice(arr.size, size=max_elements, replace=False)
    parts: list[Differences] = []
    done = 0
    bad = False
    while done < order.size:
        chunk = order[done:done + SAMPLE_CHUNK]

        def agrees(j: int, n: np.ndarray, chunk: np.ndarray = chunk) -> np.ndarray:
            return within(flat_a[:, chunk[j]], n, rtol, atol)
        d = element_differences(arr, evaluate, eps, phi0=phi0, tol=tol, indices=chunk,
                                agrees=agrees, contract=contract)
        parts.append(d)
        done += chunk.size
        off = ~within(flat_a[:, chunk], d.numerical, rtol, atol[:, None]) & ~d.kinks
        bad = bad or bool(off.any())
        if bad and done >= SAMPLE_ENOUGH:
            break
    indices = order[:done]
    joined = Differences(np.concatenate([p.numerical for p in parts], axis=1),
                         np.concatenate([p.kinks for p in parts], axis=1))
    def stacked(attr: str) -> np.ndarray:
        return np.concatenate([getattr(p, attr) if getattr(p, attr) is not None
                               else np.full(p.numerical.shape, np.nan) for p in parts], axis=1)

    if any(p.low is not None for p in parts):
        joined.low, joined.high = stacked("low"), stacked("high")
    return indices, joined, done < order.size


def sweep(name: str, arr: np.ndarray, analytic: np.ndarray, evaluate: Evaluate,
          first: ParamResult, contract: Any = None) -> EpsSweep:
    """The error of the worst element of ``first`` (else the largest gradient) at each step
    of SWEEP_STEPS; ``arr`` is perturbed in place and restored."""
    if first.worst_index is not None and first.worst_index != () or arr.ndim == 0:
        index = first.worst_index if first.worst_index is not None else ()
    else:
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(np.abs(analytic))),
                                                        arr.shape))
    flat = np.array([np.ravel_multi_index(index, arr.shape) if arr.ndim else 0])
    errors = []
    for h in SWEEP_STEPS:
        try:
            d = element_differences(arr, evaluate, h, phi0=None, tol=lambda n: n, indices=flat,
                                    contract=contract)
        except (StepTooSmall, OutOfDomain):  # a step the dtype cannot hold there: no point
            errors.append(float("nan"))
            continue
        errors.append(float(abs(analytic[index] - d.numerical[0, 0])))
    return EpsSweep(name=name, index=index, steps=list(SWEEP_STEPS), errors=errors)
