"""``check_function``: a NumPy function's hand-written ``vjp`` (or ``grad``) against central
differences of the function itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import resolve_rng
from .engine import MAX_ELEMENTS, Target, run_check
from .report import GradCheckReport

__all__ = ["check_function", "name_inputs", "check_input_array", "refuse_aliases", "batch_axes",
           "precision_label", "note_writes"]


def name_inputs(inputs: Any, what: str = "inputs") -> tuple[dict[str, Any], bool]:
    """``(name -> value, given as a tuple)``: a dict as it is, a tuple or list named x0, x1, …"""
    if isinstance(inputs, Mapping):
        if not inputs:
            raise ValueError(f"{what} is empty: nothing to check")
        bad = [k for k in inputs if not isinstance(k, str)]
        if bad:
            raise TypeError(f"{what} must be keyed by str (the names in the report); got "
                            f"{bad[0]!r}")
        return dict(inputs), False
    if isinstance(inputs, (tuple, list)):
        if not inputs:
            raise ValueError(f"{what} is empty: nothing to check")
        return {f"x{i}": v for i, v in enumerate(inputs)}, True
    return {"x0": inputs}, True


def check_input_array(name: str, value: Any) -> np.ndarray:
    """``value`` as an array, refused when complex or holding NaN/inf (which input, where)."""
    arr = np.asarray(value)
    if arr.dtype.kind == "c":
        raise TypeError(f"input {name!r} is complex ({arr.dtype}): complex inputs are not "
                        "supported (pass the real and imaginary parts as two real inputs)")
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ValueError(f"input {name!r} already holds {arr[idx]} at {list(idx)}: a gradient "
                         "check needs finite inputs")
    return arr


def refuse_aliases(arrays: Mapping[str, np.ndarray]) -> None:
    """Refuse the same memory passed as two inputs: perturbing one would move the other."""
    names = [k for k, v in arrays.items() if v.dtype.kind == "f" and v.size]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if np.shares_memory(arrays[a], arrays[b]):
                raise ValueError(f"inputs {a!r} and {b!r} are the same array (or share "
                                 "memory): a perturbation of one would move both; pass a "
                                 "copy, or pass it once and use it twice inside the function")


def batch_axes(arrays: Mapping[str, np.ndarray], batch_axis: int | Mapping[str, int | None]
               | None) -> dict[str, int | None]:
    """Each input's batch axis: the given dict, or ``batch_axis`` for every input whose
    length along it is that of the first input with that axis (the others are parameters)."""
    if isinstance(batch_axis, Mapping):
        return {k: batch_axis.get(k) for k in arrays}
    if batch_axis is None:
        return {k: None for k in arrays}
    lengths = [v.shape[batch_axis] for v in arrays.values() if v.ndim > max(batch_axis, 1)]
    if not lengths:
        return {k: None for k in arrays}
    n = lengths[0]
    return {k: batch_axis if v.ndim > max(batch_axis, 1) and v.shape[batch_axis] == n else None
            for k, v in arrays.items()}


def note_writes(copies: Mapping[str, np.ndarray], work: Mapping[str, np.ndarray],
                mutated: list[str], notes: list[str], where: str) -> None:
    """Say once (``mutated`` remembers) which inputs the function wrote into: it was given
    ``copies`` of ``work``, so the check is unaffected, but a caller's arrays would not be."""
    if mutated:
        return
    changed = [k for k in copies if not np.array_equal(copies[k], work[k])]
    if changed:
        mutated.extend(changed)
        notes.append(f"{where} writes into its input{'s' if len(changed) > 1 else ''} "
                     f"{', '.join(changed)}: kobai passed copies, so the check and your "
                     "arrays are unaffected, but a caller's array would change")


def precision_label(analytic: np.dtype, numerical: np.dtype, how: str = "") -> str:
    if analytic == numerical == np.float64:
        return "float64"
    if numerical == np.float64:
        return f"{analytic} backprop, float64 numerical ({how or 'a float64 shadow'})"
    return (f"{numerical} on both sides ({how or 'no float64 shadow'}; step and tolerances "
            f"by the dtype rule)")


def _outputs(value: Any) -> tuple[list[Any], list[str], str]:
    """(arrays, names, form) of what f returned: one array, a tuple or a dict of them."""
    if isinstance(value, Mapping):
        return list(value.values()), [str(k) for k in value], "dict"
    if isinstance(value, (tuple, list)):
        return list(value), [f"out{i}" for i in range(len(value))], "tuple"
    return [value], ["out"], "array"


def check_function(f: Callable[..., Any], inputs: Any, vjp: Callable[..., Any] | None = None,
                   *, grad: Callable[..., Any] | None = None, mode: str = "full",
                   eps: float | None = None, rtol: float | None = None,
                   atol: float | None = None, rng: np.random.Generator | int | None = None,
                   cotangent: Any = None, jacobian: bool = False,
                   batch_axis: int | Mapping[str, int | None] | None = 0,
                   channel_axis: int | None = 1, eps_sweep: bool = False,
                   max_elements: int = MAX_ELEMENTS, nondet_tol: float = 0.0
                   ) -> GradCheckReport:
    """Check a function's hand-written backward pass against central differences of ``f``.

    Parameters
    ----------
    f : callable
        ``f(**inputs)`` (``f(*inputs)`` for a tuple or a ufunc): an array of any shape, or a
        tuple or dict of them (each output checked on its own: ``x->out1``).
    inputs : dict of str to array, or tuple of arrays (named x0, x1, ...)
        Floating arrays are checked, integer and boolean ones are constants; ``f`` gets copies.
    vjp : callable ``(inputs, cotangent) -> gradients``
        The gradients of ``Σ v·f`` per input (a dict by name, or a tuple for tuple inputs;
        None where there is none), ``v`` of the output's shape or structure.
    grad : callable ``(inputs) -> gradients``
        Instead of ``vjp``, for a scalar ``f``.
    mode : {"full", "fast"}
        Every element; or 3 seeded random directions per input (``v·J·u``), then elements of
        an input whose direction disagrees.
    eps, rtol, atol : float, optional
        Step and tolerances; default from the dtypes (float64: 1e-5 / 1e-5 / 1e-8).
    rng : numpy.random.Generator or int, optional
        Seeds the cotangents, the directions and the samples.
    cotangent : array or tuple of arrays, optional
        The cotangent(s) ``v`` instead of random ones.
    jacobian : bool
        Check the whole Jacobian (one ``vjp`` per output element), for small functions.
    batch_axis, channel_axis : int, dict or None
        Sample and channel axes for the failure hints (a dict name -> axis per input).
    eps_sweep : bool
        Also measure each input's worst element at steps 10^-1 ... 10^-10 (``report.sweeps``).
    max_elements : int
        In "fast" mode, the most elements checked one by one per input.
    nondet_tol : float
        Two evaluations of ``f`` at the same inputs may differ by this much.

    Returns
    -------
    GradCheckReport
        One row per input (per input and output for several outputs).

    Raises
    ------
    TypeError
        If not exactly one of ``vjp`` and ``grad`` is given, or ``f`` is not callable.

    Example
    -------
    >>> import numpy as np
    >>> def f(x, w):
    ...     return np.tanh(x @ w)
    >>> def vjp(inputs, v):
    ...     y = f(**inputs)
    ...     dz = v * (1 - y ** 2)
    ...     return {"x": dz @ inputs["w"].T, "w": inputs["x"].T @ dz}
    >>> rng = np.random.default_rng(0)
    >>> check_function(f, {"x": rng.normal(size=(4, 3)), "w": rng.normal(size=(3, 2))},
    ...                vjp).passed
    True
    """
    if (vjp is None) == (grad is None):
        raise TypeError("check_function needs exactly one of vjp=(inputs, cotangent) -> "
                        "gradients or grad=(inputs) -> gradients (for a scalar f)")
    if not callable(f):
        raise TypeError(f"f must be callable, got {type(f).__name__}")
    rng = resolve_rng(rng)
    named, as_tuple = name_inputs(inputs)
    given = {k: check_input_array(k, v) for k, v in named.items()}
    refuse_aliases(given)
    floats = {k: v for k, v in given.items() if v.dtype.kind == "f"}
    notes: list[str] = []
    constants = [k for k in given if k not in floats]
    if constants:
        notes.append("not floating, passed unchanged as constants and not checked: "
                     + ", ".join(f"{k} ({given[k].dtype})" for k in constants))
    if not floats:
        kinds = ", ".join(f"{k}: {v.dtype}" for k, v in given.items())
        raise TypeError(f"no input is floating ({kinds}): nothing to differentiate")
    analytic_dtype = min((v.dtype for v in floats.values()), key=lambda d: np.finfo(d).bits)

    positional = as_tuple or isinstance(f, np.ufunc)  # np.sin(x=...) takes no keywords

    def call(arrays: Mapping[str, np.ndarray]) -> Any:
        args = {**given, **arrays}
        return f(*args.values()) if positional else f(**args)

    shadow = False
    how = ""
    work = {k: v.astype(np.float64) if v.dtype != np.float64 else v.copy()
            for k, v in floats.items()}
    if analytic_dtype != np.float64:
        probe_out = _outputs(call({k: v.copy() for k, v in work.items()}))[0]
        if all(np.asarray(o).dtype == np.float64 for o in probe_out
               if np.asarray(o).dtype.kind == "f"):
            shadow, how = True, "f run on float64 copies"
        else:
            work = {k: v.copy() for k, v in floats.items()}
            how = "f returned lower precision for float64 inputs"
    form = _outputs(call({k: v.copy() for k, v in work.items()}))
    out_names, out_form = form[1], form[2]
    mutated: list[str] = []

    def outputs() -> list[Any]:
        copies = {k: v.copy() for k, v in work.items()}
        value = call(copies)
        note_writes(copies, work, mutated, notes, "f")
        arrays, names, _ = _outputs(value)
        if names != out_names:
            raise ValueError(f"f returned outputs {names}, then {out_names}: it must return "
                             "the same outputs at every point")
        return arrays

    def analytic(cots: list[np.ndarray]) -> Mapping[str, Any]:
        point = {k: v.copy() for k, v in given.items()}
        args: Any = tuple(point.values()) if as_tuple else point
        if grad is not None:
            if cots[0].shape != () or len(cots) != 1:
                raise TypeError(f"grad= is for a scalar f, but f returns {len(cots)} output(s) "
                                f"of shape {cots[0].shape}; pass vjp=(inputs, cotangent) instead")
            raw, scale = grad(args), float(cots[0])
        else:
            v: Any = (cots[0] if out_form == "array" else tuple(cots) if out_form == "tuple"
                      else dict(zip(out_names, cots, strict=True)))
            raw, scale = vjp(args, v), 1.0  # type: ignore[misc]
        grads = _as_dict(raw, list(given), as_tuple, "grad" if grad is not None else "vjp")
        out = {}
        for k in floats:
            g = grads.get(k, _MISSING)
            if g is _MISSING:
                out[k] = g
            else:
                out[k] = None if g is None else np.asarray(g) * scale if scale != 1.0 else g
        extra = [k for k in grads if k not in given]
        if extra:
            out.update({k: grads[k] for k in extra})
        return {k: v for k, v in out.items() if v is not _MISSING}

    target = Target(inputs=work, outputs=outputs, vjp=analytic, output_names=out_names,
                    analytic_dtype=np.dtype(analytic_dtype), shadow=shadow,
                    batch_axes=batch_axes(floats, batch_axis), notes=notes)
    return run_check(target, mode=mode, eps=eps, rtol=rtol, atol=atol, rng=rng,
                     cotangent=cotangent, jacobian=jacobian, channel_axis=channel_axis,
                     eps_sweep=eps_sweep, max_elements=max_elements, nondet_tol=nondet_tol,
                     precision=precision_label(np.dtype(analytic_dtype),
                                               next(iter(work.values())).dtype, how))


_MISSING: Any = object()


def _as_dict(raw: Any, names: Sequence[str], as_tuple: bool, what: str) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, (tuple, list)):
        if len(raw) != len(names):
            raise ValueError(f"{what} returned {len(raw)} gradients; expected one per input "
                             f"({len(names)}: {', '.join(names)})")
        return dict(zip(names, raw, strict=True))
    if len(names) == 1:
        return {names[0]: raw}
    raise TypeError(f"{what} returned {type(raw).__name__}; expected a "
                    + ("tuple in input order" if as_tuple else "dict keyed by input name"))
