"""``check_jax``: a JAX function's gradients (``jax.vjp``, so a ``jax.custom_vjp`` rule is what
is checked) against central differences of the function itself.

JAX functions are pure and their random keys are arguments, so nothing needs freezing: the
numerical side evaluates ``fn`` (jitted where it can be) on the engine's NumPy working arrays.
JAX is imported when :func:`check_jax` is called, so kobai does not need it otherwise.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import resolve_rng
from .engine import MAX_ELEMENTS, Target, run_check
from .function import batch_axes, check_input_array, precision_label, refuse_aliases
from .report import GradCheckReport

__all__ = ["check_jax"]


def _import_jax() -> Any:
    try:
        import jax
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("check_jax needs JAX: pip install 'kobai[jax]' (or pip install jax)"
                          ) from err
    return jax


def arg_names(fn: Callable[..., Any], n: int) -> list[str]:
    """The names of ``fn``'s first ``n`` positional parameters, from its signature where it
    can be read (a ``jax.custom_vjp``'s wrapped ``fun``; ``functools.wraps`` and ``jax.jit``
    keep it), else ``x0, x1, ...`` (also for arguments taken by ``*args``)."""
    fallback = [f"x{i}" for i in range(n)]
    for target in (fn, getattr(fn, "fun", None)):
        if target is None:
            continue
        try:
            params = list(inspect.signature(target).parameters.values())
        except (TypeError, ValueError):
            continue
        positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                           p.POSITIONAL_OR_KEYWORD)]
        names = positional[:n] + fallback[len(positional):]
        return names if len(set(names)) == n else fallback
    return fallback


def _is_array(value: Any, jax: Any) -> bool:
    return isinstance(value, (np.ndarray, np.generic, jax.Array))


def _split_args(args: Sequence[Any], names: list[str], jax: Any
                ) -> tuple[dict[str, np.ndarray], dict[str, Any], list[str]]:
    """(floating inputs as NumPy arrays, every argument by name, notes on the constants)."""
    floats: dict[str, np.ndarray] = {}
    every: dict[str, Any] = {}
    constants: list[str] = []
    for name, value in zip(names, args, strict=True):
        every[name] = value
        if not _is_array(value, jax):
            constants.append(f"{name} ({type(value).__name__})")
            continue
        if jax.dtypes.issubdtype(value.dtype, jax.dtypes.prng_key):
            constants.append(f"{name} ({value.dtype}, a PRNG key)")
            continue
        if jax.dtypes.issubdtype(value.dtype, np.floating) and np.dtype(value.dtype).kind != "f":
            raise TypeError(f"input {name!r} is {value.dtype}: check_jax supports float16, "
                            "float32 and float64 inputs (cast it to float32)")
        arr = check_input_array(name, value)
        if arr.dtype.kind == "f":
            floats[name] = arr
        else:
            constants.append(f"{name} ({arr.dtype})")
    jax_arrays = [k for k in floats if isinstance(every[k], jax.Array)]
    for i, a in enumerate(jax_arrays):
        for b in jax_arrays[i + 1:]:
            if every[a] is every[b]:
                raise ValueError(f"inputs {a!r} and {b!r} are the same array: a perturbation "
                                 "of one would move both; pass a copy, or pass it once and use "
                                 "it twice inside fn")
    refuse_aliases({k: v for k, v in floats.items() if not isinstance(every[k], jax.Array)})
    notes = ["not floating, passed unchanged as constants and not checked: "
             + ", ".join(constants)] if constants else []
    return floats, every, notes


def _output_names(paths: Sequence[tuple[Any, ...]], jax: Any) -> list[str]:
    """"out" for one array, "out0", "out1", ... for a tuple or list, the keys for a dict;
    deeper levels are joined with "/": ``out1/W``, ``loss/0``."""
    tu = jax.tree_util
    if len(paths) == 1 and not paths[0]:
        return ["out"]
    names = []
    for path in paths:
        parts = []
        for depth, key in enumerate(path):
            if isinstance(key, tu.SequenceKey):
                parts.append(f"out{key.idx}" if depth == 0 else str(key.idx))
            elif isinstance(key, tu.DictKey):
                parts.append(str(key.key))
            elif isinstance(key, tu.GetAttrKey):
                parts.append(key.name)
            else:
                parts.append(str(key))
        names.append("/".join(parts))
    return names


def check_jax(fn: Callable[..., Any], *args: Any, mode: str = "full", eps: float | None = None,
              rtol: float | None = None, atol: float | None = None,
              rng: np.random.Generator | int | None = None, cotangent: Any = None,
              jacobian: bool = False, batch_axis: int | Mapping[str, int | None] | None = 0,
              channel_axis: int | None = 1, eps_sweep: bool = False,
              max_elements: int = MAX_ELEMENTS, nondet_tol: float = 0.0) -> GradCheckReport:
    """Check a JAX function's gradients (``jax.vjp``) against central differences of ``fn``.

    Parameters
    ----------
    fn : callable
        ``fn(*args)`` returns a floating array or a pytree of them (each leaf checked on its
        own, named by path: ``x->out1/W``). A ``jax.custom_vjp`` rule is checked too.
    *args : arrays and other values
        Floating arrays (JAX or NumPy) are checked, named by ``fn``'s signature (else x0,
        x1, ...); anything else is a constant. Nothing passed is modified.
    mode, eps, rtol, atol, rng, jacobian, batch_axis, channel_axis, eps_sweep, max_elements, \
nondet_tol
        As for :func:`kobai.gradcheck.check_function`.
    cotangent : array or pytree of arrays, optional
        The cotangent(s) ``v`` (of the output's structure) instead of seeded random ones.

    Returns
    -------
    GradCheckReport
        One row per input (and output); ``precision`` says in which dtypes the sides ran.

    Notes
    -----
    float64 runs only with ``jax_enable_x64`` on (never changed here); with it off both sides
    run in float32. With it on, float32 inputs get a float64 numerical side when ``fn``
    returns float64 for them.

    Example
    -------
    >>> import jax.numpy as jnp
    >>> import numpy as np
    >>> def f(x, w):
    ...     return jnp.tanh(x @ w)
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(4, 3)).astype(np.float32)
    >>> w = rng.normal(size=(3, 2)).astype(np.float32)
    >>> check_jax(f, x, w).passed
    True
    """
    jax = _import_jax()
    jnp = jax.numpy
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    if not args:
        raise ValueError("check_jax needs the arguments to call fn with: check_jax(fn, x, ...)")
    rng = resolve_rng(rng)
    names = arg_names(fn, len(args))
    floats, every, notes = _split_args(args, names, jax)
    if not floats:
        raise TypeError("no argument is a floating array ("
                        + ", ".join(f"{k}: {type(v).__name__}" for k, v in every.items())
                        + "): nothing to differentiate")
    x64 = bool(jax.config.jax_enable_x64)
    # what JAX makes of each input: float64 is float32 unless x64 is on
    inside = {k: np.dtype(jax.dtypes.canonicalize_dtype(v.dtype)) for k, v in floats.items()}
    narrowed = [k for k, v in floats.items() if v.dtype != inside[k]]
    if narrowed:
        notes.append(f"jax_enable_x64 is off: JAX computes {', '.join(narrowed)} in float32, so "
                     "both sides ran in float32; for a float64 check turn it on "
                     "(jax.config.update('jax_enable_x64', True)) and pass float64 arrays")
    analytic_dtype = min(inside.values(), key=lambda d: np.finfo(d).bits)

    def pure(*values: Any) -> Any:
        """fn of the floating inputs only, the constants closed over."""
        call = dict(every)
        call.update(zip(floats, values, strict=True))
        return fn(*call.values())

    def shapes_of(dtype: Any) -> list[Any]:
        return [jax.ShapeDtypeStruct(v.shape, inside[k] if dtype is None else dtype)
                for k, v in floats.items()]

    try:
        structure = jax.eval_shape(pure, *shapes_of(None))
        wide = (jax.eval_shape(pure, *shapes_of(np.float64))
                if x64 and analytic_dtype != np.float64 else None)
    except Exception:  # not traceable abstractly (Python control flow on values): run it
        structure = pure(*(jnp.asarray(v, dtype=inside[k]) for k, v in floats.items()))
        wide = (pure(*(jnp.asarray(v, dtype=np.float64) for v in floats.values()))
                if x64 and analytic_dtype != np.float64 else None)
    paths, treedef = jax.tree_util.tree_flatten_with_path(structure)
    out_names = _output_names([p for p, _ in paths], jax)
    out_dtypes = [np.dtype(leaf.dtype) for _, leaf in paths]
    out_shapes = [tuple(leaf.shape) for _, leaf in paths]
    shadow = wide is not None and all(np.dtype(o.dtype) == np.float64
                                      for o in jax.tree_util.tree_leaves(wide)
                                      if np.dtype(o.dtype).kind == "f")
    if shadow:
        work = {k: v.astype(np.float64) for k, v in floats.items()}
        how = "fn run on float64 copies"
    else:
        work = {k: v.astype(inside[k]) for k, v in floats.items()}  # astype copies
        how = ("jax_enable_x64 is off" if not x64 and analytic_dtype != np.float64
               else "fn returned lower precision for float64 inputs")

    forward = _compiled(pure, jax, notes, "the numerical side")

    def outputs() -> list[np.ndarray]:
        # the jitted fn takes the NumPy arrays as they are now (JAX converts them, the eager
        # fallback with jnp.asarray); np.array copies back, as the engine perturbs `work` in
        # place and an output may share an input's buffer (fn returning x)
        value = forward(*work.values())
        leaves, tree = jax.tree_util.tree_flatten(value)
        if tree != treedef:
            raise ValueError(f"fn returned outputs of structure {tree}, then {treedef}: it "
                             "must return the same outputs at every point")
        return [np.array(leaf) for leaf in leaves]

    def pullback(primals: Sequence[Any], cts: Any) -> Any:
        return jax.vjp(pure, *primals)[1](cts)

    backward = _compiled(pullback, jax, [], "")
    primals = [v.astype(inside[k]) for k, v in floats.items()]

    def analytic(cots: list[np.ndarray]) -> Mapping[str, Any]:
        cts = treedef.unflatten([  # an integer output's cotangent is JAX's float0 zeros
            np.zeros(s, dtype=jax.dtypes.float0) if c is None else c.astype(d)
            for c, d, s in zip(cots, out_dtypes, out_shapes, strict=True)])
        try:
            grads = backward(primals, cts)
        except ValueError as err:
            raise _named_error(err, _is_custom_vjp(fn, jax), names, floats) from err
        return {k: np.asarray(g) for k, g in zip(floats, grads, strict=True)}

    if cotangent is not None:
        try:
            cotangent = treedef.flatten_up_to(cotangent)
        except (TypeError, ValueError) as err:
            raise ValueError(f"cotangent must have the structure of fn's output {treedef} "
                             f"({', '.join(out_names)}): {err}") from err

    target = Target(inputs=work, outputs=outputs, vjp=analytic, output_names=out_names,
                    analytic_dtype=np.dtype(analytic_dtype), shadow=shadow,
                    batch_axes=batch_axes(floats, batch_axis), notes=notes, where="fn")
    numerical_dtype = min((v.dtype for v in work.values()), key=lambda d: np.finfo(d).bits)
    return run_check(target, mode=mode, eps=eps, rtol=rtol, atol=atol, rng=rng,
                     cotangent=cotangent, jacobian=jacobian, channel_axis=channel_axis,
                     eps_sweep=eps_sweep, max_elements=max_elements, nondet_tol=nondet_tol,
                     precision=precision_label(np.dtype(analytic_dtype), numerical_dtype, how))


def _compiled(f: Callable[..., Any], jax: Any, notes: list[str], what: str
              ) -> Callable[..., Any]:
    """``jax.jit(f)``, or ``f`` run eagerly on JAX arrays when it cannot be jitted (Python
    control flow on values, say), which ``notes`` is told about when ``what`` names it."""
    jitted = jax.jit(f)
    chosen: list[Callable[..., Any]] = []

    def eager(*values: Any) -> Any:
        return f(*jax.tree_util.tree_map(jax.numpy.asarray, values))

    def call(*values: Any) -> Any:
        if chosen:
            return chosen[0](*values)
        try:
            value = jitted(*values)
            chosen.append(jitted)
        except Exception as err:
            value = eager(*values)
            chosen.append(eager)
            if what:
                notes.append(f"fn could not be jitted ({type(err).__name__}), so {what} "
                             "evaluated it eagerly (slower, same values)")
        return value

    return call


def _is_custom_vjp(fn: Any, jax: Any) -> bool:
    """``fn`` is a ``jax.custom_vjp`` (perhaps jitted or wrapped): its rule's outputs are
    ``fn``'s arguments, in order."""
    while fn is not None:
        if isinstance(fn, jax.custom_vjp):
            return True
        fn = getattr(fn, "__wrapped__", None)
    return False


def _named_error(err: ValueError, own_rule: bool, names: list[str],
                 floats: Mapping[str, np.ndarray]) -> ValueError:
    """JAX's error for a custom_vjp rule's gradient of the wrong shape, naming the input when
    the rule is ``fn``'s own (``own_rule``)."""
    text = str(err)
    if "bwd rule" not in text:
        return err
    found = re.search(r"output\[(\d+)\]", text)
    if found and own_rule and int(found.group(1)) < len(names):
        name = names[int(found.group(1))]
        what = f"for input {name!r}" + (f" (shape {floats[name].shape})" if name in floats
                                         else "")
    else:
        what = "for one of the inputs " + ", ".join(f"{k} {v.shape}" for k, v in floats.items())
    return ValueError(f"fn's custom_vjp backward rule returned a gradient of the wrong shape "
                      f"{what}: {text}")
