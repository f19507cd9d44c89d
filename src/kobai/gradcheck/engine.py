"""The checker behind :func:`check_function`, :func:`check_torch` and :func:`check_jax`: a
function of named arrays, seen through a :class:`Target`, checked input by input.

The scalar differentiated for output ``k`` is ``φ_k = <v_k, f_k(inputs)>`` with a seeded random
cotangent ``v_k`` (1 for a scalar output), so backprop's side is one ``vjp`` per output and the
numerical side two evaluations of ``f`` per element (full mode) or per random direction (fast
mode: ``u·∇φ`` along 3 seeded unit directions per input, then per element only where a
direction disagreed, at most ``max_elements`` of them). ``jacobian=True`` takes one cotangent
per output element instead: the whole Jacobian, as ``torch.autograd.gradcheck`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
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
from .probe import DEFAULT_EPS, N_DIRECTIONS
from .report import EpsSweep, GradCheckReport, ParamResult

__all__ = ["Target", "run_check", "resolve_tolerances", "sweep", "N_DIRECTIONS", "MAX_ELEMENTS",
           "SWEEP_STEPS"]

MAX_ELEMENTS = 10_000  # elements of one input checked at most after a failed direction
SWEEP_STEPS = [10.0 ** -k for k in range(1, 11)]


@dataclass
class Target:
    """A function of named arrays, as the checker sees it, whatever it is written in.

    Attributes
    ----------
    inputs : dict of str to ndarray
        The point, as arrays of the numerical side's dtype. The checker perturbs them in place
        (``outputs`` must read them) and restores them bit for bit.
    outputs : callable () -> list of ndarray
        The function's outputs at the current contents of ``inputs`` (the numerical side).
    vjp : callable (list of ndarray) -> mapping of str to array or None
        Backprop's gradients of ``Σ_k <v_k, f_k>`` at the point for cotangents ``v_k`` (one per
        output, of its shape; None for an integer or boolean output, which is not checked),
        by input name; None for an input it has no gradient for.
    output_names : list of str
    analytic_dtype : numpy dtype
        The lowest precision backprop runs in.
    shadow : bool
        The numerical side runs in float64 while backprop does not.
    batch_axes : dict of str to int or None
        Per input, its batch axis (None for a parameter, which has none).
    kink_probes : list of callables
        Kink states of layers that report them (``kink_state()``), read after ``outputs``.
    """

    inputs: dict[str, np.ndarray]
    outputs: Callable[[], Sequence[np.ndarray]]
    vjp: Callable[[list[np.ndarray]], Mapping[str, Any]]
    output_names: list[str]
    analytic_dtype: np.dtype
    shadow: bool = False
    batch_axes: dict[str, int | None] = field(default_factory=dict)
    kink_probes: Sequence[Callable[[], np.ndarray]] = ()
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    where: str = "f"  # how messages name the function: "f", "the module", ...
    # a backward writing into its cotangent: a problem (NumPy, as check_layer), or a note
    # where the framework owns that buffer (torch's autograd)
    inplace_cotangent_is_problem: bool = True


def resolve_tolerances(numerical: np.dtype, analytic: np.dtype, eps: float | None,
                       rtol: float | None, atol: float | None) -> tuple[float, float, float]:
    """The step and tolerances: given ones, else the dtype rule.

    - float64 on both sides: ``eps = 1e-5`` (``DEFAULT_EPS``), ``rtol = 1e-5``, ``atol = 1e-8``.
    - float64 numerical side (a shadow), lower-precision backprop (float32): the same step,
      tolerances of backprop's own rounding, ``rtol = atol = 10·sqrt(u)`` (3.5e-3 for float32).
    - lower precision on both sides (no shadow): ``eps = u^(1/3)`` (4.9e-3 for float32), where
      truncation (∝ eps²) and rounding (∝ u/eps) errors balance (their sum is then ~u^(2/3),
      2.4e-5 for float32, times the function's scale), and ``rtol = atol = 3·u^(1/3)``
      (1.5e-2 for float32: the worst error measured on kobai's suite of functions in float32
      was 2e-3; a 5 % error in a gradient is still caught). u: the dtype's machine epsilon.
    """
    u_num = float(np.finfo(numerical).eps)
    u_an = float(np.finfo(analytic).eps)
    if numerical == np.float64:
        step = DEFAULT_EPS
        tol_r, tol_a = (1e-5, 1e-8) if analytic == np.float64 else (10 * u_an ** 0.5,) * 2
    else:
        step = u_num ** (1 / 3)
        tol_r = tol_a = 3 * max(u_num, u_an) ** (1 / 3)
    return (step if eps is None else eps, tol_r if rtol is None else rtol,
            tol_a if atol is None else atol)


def _validate_outputs(target: Target, outs: Sequence[Any]) -> list[np.ndarray]:
    arrays = []
    for name, out in zip(target.output_names, outs, strict=True):
        arr = np.asarray(out)
        if arr.dtype.kind not in "fc":
            raise TypeError(f"{target.where} returned output {name!r} of dtype {arr.dtype}; "
                            "expected floating values to differentiate")
        if arr.dtype.kind == "c":
            raise TypeError(f"{target.where} returned a complex output {name!r}: complex "
                            "functions are not supported (check the real and imaginary parts "
                            "as two real outputs)")
        arr = arr.astype(np.float64)
        if not np.all(np.isfinite(arr)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"{target.where} returned non-finite values in output {name!r} "
                             f"at the given inputs (e.g. {name}{list(idx)} = {arr[idx]}); a "
                             "gradient check needs a finite function")
        arrays.append(arr)
    return arrays


def _floating_outputs(target: Target) -> Target:
    """``target`` without its integer and boolean outputs (``torch.max``'s indices, an
    argmax): no gradient flows through them, so they are left out, said in the notes; its
    ``vjp`` gets None as their cotangent."""
    first = list(target.outputs())
    keep = [k for k, o in enumerate(first) if np.asarray(o).dtype.kind not in "iub"]
    if len(keep) == len(first):
        return target
    names = target.output_names
    dropped = [f"{names[k]} ({np.asarray(first[k]).dtype})" for k in range(len(first))
               if k not in keep]
    if not keep:
        raise TypeError(f"{target.where} returned no floating output ({', '.join(dropped)}): "
                        "nothing to differentiate")
    target.notes.append("not floating, so not checked (no gradient flows through them): "
                        f"output{'s' if len(dropped) > 1 else ''} {', '.join(dropped)}")
    outputs, vjp, n = target.outputs, target.vjp, len(first)

    def kept_outputs() -> list[Any]:
        values = list(outputs())
        return [values[k] for k in keep]

    def full_vjp(cots: list[np.ndarray]) -> Mapping[str, Any]:
        full: list[Any] = [None] * n
        for k, c in zip(keep, cots, strict=True):
            full[k] = c
        return vjp(full)

    return replace(target, outputs=kept_outputs, vjp=full_vjp,
                   output_names=[names[k] for k in keep])


def _analytic(target: Target, cots: list[np.ndarray], what: str) -> dict[str, np.ndarray | None]:
    """``target.vjp(cots)``, checked: the input names, shapes and floating dtypes."""
    grads = target.vjp(cots)
    if not isinstance(grads, Mapping):
        raise TypeError(f"vjp returned {type(grads).__name__}; expected a dict of gradients "
                        f"with the inputs' names {list(target.inputs)}")
    missing = [k for k in target.inputs if k not in grads]
    extra = [k for k in grads if k not in target.inputs]
    if missing or extra:
        raise ValueError(f"vjp returned gradients for {list(grads)}; expected one per input "
                         f"{list(target.inputs)}" + (f" (missing {missing})" if missing else "")
                         + (f" (unknown {extra})" if extra else ""))
    out: dict[str, np.ndarray | None] = {}
    for name, x in target.inputs.items():
        g = grads[name]
        if g is None:
            out[name] = None
            continue
        arr = np.asarray(g)
        if arr.dtype.kind != "f":
            raise TypeError(f"vjp returned the gradient of {name} with dtype {arr.dtype}; "
                            f"expected a floating array like {name} ({x.dtype})")
        if arr.shape != x.shape:
            raise ValueError(f"vjp returned the gradient of {name} with shape {arr.shape}; "
                             f"expected {name}'s shape {x.shape}")
        if (np.finfo(arr.dtype).bits < np.finfo(target.analytic_dtype).bits
                and not any(name in n for n in target.notes)):
            target.notes.append(f"vjp returned the gradient of {name} in {arr.dtype}, lower "
                                f"than the inputs' {target.analytic_dtype}: checked as given")
        if not np.all(np.isfinite(arr)):
            idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
            raise ValueError(f"vjp returned non-finite values in the gradient of {name} "
                             f"({what}; e.g. at {list(idx)}: {arr[idx]})")
        out[name] = arr.astype(np.float64)
    return out


def _cotangents(shapes: list[tuple[int, ...]], given: Any, names: list[str],
                rng: np.random.Generator) -> list[np.ndarray]:
    if given is None:
        return [np.ones(()) if s == () else rng.standard_normal(s) for s in shapes]
    given = list(given) if isinstance(given, (list, tuple)) else [given]
    if len(given) != len(shapes):
        raise ValueError(f"cotangent: {len(given)} given for {len(shapes)} outputs {names}")
    cots = []
    for name, c, s in zip(names, given, shapes, strict=True):
        arr = np.array(c, dtype=np.float64)
        if arr.shape != s:
            raise ValueError(f"the cotangent of output {name!r} has shape {arr.shape}; "
                             f"expected the output's shape {s}")
        cots.append(arr)
    return cots


def run_check(target: Target, *, mode: str = "full", eps: float | None = None,
              rtol: float | None = None, atol: float | None = None,
              rng: np.random.Generator, cotangent: Any = None, jacobian: bool = False,
              channel_axis: int | None = 1, eps_sweep: bool = False,
              max_elements: int = MAX_ELEMENTS, nondet_tol: float = 0.0,
              precision: str = "float64") -> GradCheckReport:
    """Check ``target`` input by input; see the module docstring."""
    if mode not in ("full", "fast"):
        raise ValueError(f"mode must be 'full' or 'fast', got {mode!r}")
    if eps_sweep and jacobian:
        raise ValueError("eps_sweep=True sweeps one element per input of one scalar; it does "
                         "not combine with jacobian=True")
    numerical_dtype = min((x.dtype for x in target.inputs.values()),
                          key=lambda d: np.finfo(d).bits, default=np.dtype(np.float64))
    eps, rtol, atol = resolve_tolerances(numerical_dtype, target.analytic_dtype, eps, rtol,
                                         atol)
    for name, value in (("eps", eps), ("rtol", rtol), ("atol", atol), ("nondet_tol",
                                                                        nondet_tol)):
        if not np.isfinite(value) or value < 0 or (name == "eps" and value == 0):
            raise ValueError(f"{name} must be a finite number {'> 0' if name == 'eps' else '>= 0'}"
                             f", got {value!r}")
    report = GradCheckReport(mode=mode, eps=eps, rtol=rtol, atol=atol, kind="input",
                             precision=precision, notes=target.notes, problems=target.problems)
    target = _floating_outputs(target)
    out0 = _validate_outputs(target, target.outputs())
    again = _validate_outputs(target, target.outputs())
    spread = max((float(np.max(np.abs(a - b), initial=0.0)) for a, b in zip(out0, again,
                                                                              strict=True)))
    scale = max((float(np.max(np.abs(a), initial=0.0)) for a in out0), default=0.0)
    # a few units of rounding (a BLAS summing in another order) is not randomness
    if spread > max(nondet_tol, 16 * float(np.finfo(numerical_dtype).eps) * scale):
        report.problems.append(
            f"{target.where} is not deterministic: two evaluations at the same inputs differ "
            f"by up to {spread:.3g} (nondet_tol={nondet_tol:g}), so its central differences "
            "would be noise and nothing was checked; fix its randomness (a seed or key as an "
            "input, a frozen dropout mask) or raise nondet_tol")
        return report
    names = target.output_names
    if jacobian:
        rows = [(k, j) for k, o in enumerate(out0) for j in range(o.size)]
    else:
        cots = _cotangents([o.shape for o in out0], cotangent, names, rng)
        rows = [(k, -1) for k in range(len(out0))]

    def row_cotangents(k: int, j: int) -> list[np.ndarray]:
        cs = [np.zeros(o.shape) for o in out0]
        if j < 0:
            cs[k] = cots[k].copy()
        else:
            cs[k].reshape(-1)[j] = 1.0
        return cs

    def flat(outs: Sequence[Any]) -> np.ndarray:
        return np.concatenate([np.asarray(o, dtype=np.float64).reshape(-1) for o in outs])

    # φ_k = <v_k, f_k>: the outputs are differenced before they are contracted with v_k
    bounds = np.cumsum([0] + [o.size for o in out0])
    if jacobian:
        contract = None
        weights = np.abs(flat(out0))  # the scale of each φ_j = f_j, for its rounding
    else:
        flat_cots = [c.reshape(-1) for c in cots]

        def contract(d: np.ndarray) -> np.ndarray:
            return np.array([float(np.dot(c, d[lo:hi])) for c, lo, hi in
                             zip(flat_cots, bounds[:-1], bounds[1:], strict=True)])
        weights = np.array([float(np.dot(np.abs(c), np.abs(o.reshape(-1))))
                            for c, o in zip(flat_cots, out0, strict=True)])
    # Rounding of f in the numerical side's dtype, divided by the step: where it is above
    # atol (|<v, f>| of a few hundred in float64), the tolerance of that output is raised to it
    floors = 10 * float(np.finfo(numerical_dtype).eps) * weights / eps
    atols = np.maximum(atol, floors)
    if np.any(floors > atol):
        worst = int(np.argmax(floors))
        where = names[int(np.searchsorted(bounds, worst, side="right")) - 1 if jacobian
                      else worst]
        report.notes.append(
            f"rounding: output {where!r} is large (|<v, f>| up to {weights.max():.3g}), so its "
            f"central differences carry rounding errors up to ~{floors.max():.2g} at step "
            f"{eps:g}; atol was raised to that for it")

    analytic: dict[str, list[np.ndarray | None]] = {name: [] for name in target.inputs}
    for k, j in rows:
        what = f"output {names[k]!r}" + (f", element {j}" if j >= 0 else "")
        given = row_cotangents(k, j)
        for name, g in _analytic(target, given, what).items():
            analytic[name].append(g)
        if j < 0 and not np.array_equal(given[k], cots[k]):
            message = (f"the backward pass modified its incoming gradient (the cotangent of "
                       f"output {names[k]!r}) in place; a caller or another branch that reuses "
                       "it gets wrong gradients (write dx = v * mask, not v *= mask)")
            (report.problems if target.inplace_cotangent_is_problem
             else report.notes).append(message)
    phi0 = flat(out0)
    probes = list(target.kink_probes)

    def evaluate() -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        return flat(target.outputs()), tuple(probe() for probe in probes)

    batch_size = next((x.shape[a] for n, x in target.inputs.items()
                       if (a := target.batch_axes.get(n)) is not None and x.ndim > a), None)
    for name, arr in target.inputs.items():
        if arr.size == 0:
            report.notes.append(f"{name} has no elements (shape {arr.shape}): nothing to check")
            continue
        grads = [np.zeros(arr.shape) if g is None else g for g in analytic[name]]
        if any(g is None for g in analytic[name]):
            report.notes.append(f"no backprop gradient for {name} (None): taken as zero, so it "
                                f"fails where {target.where} depends on {name} (a missing path)")
        batch_axis = target.batch_axes.get(name)
        context = Context(batch_axis=batch_axis,
                          channel_axis=channel_axis if batch_axis is not None else None,
                          batch_size=batch_size)
        results = _check_input(name, arr, np.stack(grads), evaluate, phi0, rows, out0, names,
                               mode=mode, eps=eps, rtol=rtol, atols=atols, rng=rng,
                               max_elements=max_elements, kinked=bool(probes),
                               jacobian=jacobian, context=context, notes=report.notes,
                               contract=contract)
        report.results.update(results)
        if eps_sweep:
            report.sweeps[name] = sweep(name, arr, np.stack(grads)[0], evaluate,
                                        next(iter(results.values())), contract)
    if not report.results and not report.problems:
        report.problems.append(f"nothing was checked: {target.where} has no floating input "
                               "with elements")
    return report


def _row_names(name: str, rows: list[tuple[int, int]], out0: list[np.ndarray],
               names: list[str], jacobian: bool) -> list[tuple[str, list[int]]]:
    """(result name, row numbers) per output: rows of one output form one result."""
    groups: list[tuple[str, list[int]]] = []
    for k in range(len(out0)):
        members = [i for i, (kk, _) in enumerate(rows) if kk == k]
        label = name if len(out0) == 1 else f"{name}->{names[k]}"
        groups.append((label, members))
    return groups


def _check_input(name: str, arr: np.ndarray, analytic: np.ndarray, evaluate: Evaluate,
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
