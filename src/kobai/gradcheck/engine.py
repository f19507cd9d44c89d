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

from .compare import Context
from .one_input import SWEEP_STEPS, check_input, sweep
from .probe import DEFAULT_EPS, N_DIRECTIONS
from .report import GradCheckReport

__all__ = ["Target", "run_check", "resolve_tolerances", "sweep", "N_DIRECTIONS", "MAX_ELEMENTS",
           "SWEEP_STEPS"]

MAX_ELEMENTS = 10_000  # elements of one input checked at most after a failed direction


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
      truncation (∝ eps²) and rounding (∝ u/eps) errors balance, and
      ``rtol = atol = 3·u^(1/3)`` (1.5e-2 for float32). u: the dtype's machine epsilon.
    """
    u_num = float(np.finfo(numerical).eps)
    u_an = float(np.finfo(analytic).eps)
    if numerical == np.float64:
        step = DEFAULT_EPS
        tol_r, tol_a = (1e-5, 1e-8) if analytic == np.float64 else (10 * u_an ** 0.5,) * 2
    else:
        step = u_num ** (1 / 3)
        # 1.5e-2 in float32: above the worst float32 error on kobai's own functions (2e-3),
        # still catching a 5 % error in a gradient.
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
        results = check_input(name, arr, np.stack(grads), evaluate, phi0, rows, out0, names,
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
