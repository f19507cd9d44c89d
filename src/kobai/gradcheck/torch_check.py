"""``check_torch``: PyTorch's own backward (``torch.autograd.grad``) against central
differences of the same callable, run under ``torch.no_grad()`` — in float64 (a shadow of the
inputs and of the module) when the code runs in float32.

The callable is anything on tensors: an ``autograd.Function``'s ``.apply``, an ``nn.Module``
(whose parameters are inputs too) or a plain function. Randomness is frozen (the CPU RNG state
is restored before every evaluation, so ``nn.Dropout`` draws one mask), batch-norm statistics
are restored, and the user's tensors and module are left exactly as they were.
"""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import resolve_rng
from .engine import MAX_ELEMENTS, Target, run_check
from .function import (
    batch_axes,
    check_input_array,
    name_inputs,
    note_writes,
    precision_label,
    refuse_aliases,
)
from .report import GradCheckReport, LayerFinding

__all__ = ["check_torch"]


def check_torch(fn: Callable[..., Any], *args: Any, mode: str = "full",
                eps: float | None = None, rtol: float | None = None,
                atol: float | None = None, rng: np.random.Generator | int | None = None,
                cotangent: Any = None, jacobian: bool = False,
                batch_axis: int | Mapping[str, int | None] | None = 0,
                channel_axis: int | None = 1, eps_sweep: bool = False,
                max_elements: int = MAX_ELEMENTS, nondet_tol: float = 0.0,
                locate: bool = False) -> GradCheckReport:
    """Check PyTorch's backward of ``fn(*args)`` against central differences of ``fn``.

    Parameters
    ----------
    fn : callable on tensors
        An ``autograd.Function``'s ``.apply``, an ``nn.Module`` (its ``requires_grad``
        parameters checked too, as ``0.weight``) or a function, returning a tensor or a tuple
        of tensors (each output checked on its own: ``x->out1``).
    *args : tensors and other values
        Positional only (bind keywords with ``functools.partial``). Floating CPU tensors with
        ``requires_grad=True`` are checked, named by ``fn``'s parameters (else x0, x1, ...);
        anything else is a constant. Nothing is modified and no ``.grad`` is set.
    mode, eps, rtol, atol, rng, cotangent, jacobian, channel_axis, eps_sweep, max_elements, \
nondet_tol
        As for :func:`~kobai.gradcheck.check_function`.
    batch_axis : int, dict or None
        The batch axis of the arguments (never of the module's parameters).
    locate : bool
        For an ``nn.Sequential``-like module: also check each child at the input and output
        gradient it gets in the module; ``report.layers`` lists the wrong ones.

    Returns
    -------
    GradCheckReport
        One row per checked argument, then per parameter. A float32 ``fn`` gets a float64
        numerical side where it can run in float64 (``report.precision`` says so).

    Example
    -------
    >>> import torch
    >>> layer = torch.nn.Linear(3, 2)
    >>> check_torch(layer, torch.randn(4, 3, requires_grad=True)).passed
    True
    """
    import torch

    if not callable(fn):
        raise TypeError(f"fn must be callable (a function, a Function's .apply or an "
                        f"nn.Module), got {type(fn).__name__}")
    if locate and not (isinstance(fn, torch.nn.Module) and any(True for _ in fn.children())):
        raise TypeError("locate=True needs an nn.Module with children that run in order, each "
                        f"once (an nn.Sequential); got {type(fn).__name__}")
    rng = resolve_rng(rng)
    options = dict(mode=mode, eps=eps, rtol=rtol, atol=atol, jacobian=jacobian,
                   channel_axis=channel_axis, max_elements=max_elements, nondet_tol=nondet_tol)
    state, threads = torch.get_rng_state(), torch.get_num_threads()
    seen: list[list[np.ndarray]] = []
    # One intra-op thread while checking: the evaluations are many small calls, which 2
    # threads made ~100x slower on a busy 2-core machine (a Conv2d check: 3 s vs 0.03 s).
    torch.set_num_threads(1)
    try:
        report = _check(fn, dict(zip(_arg_names(fn, len(args)), args, strict=True)), rng=rng,
                        cotangent=_as_numpy(cotangent), batch_axis=batch_axis,
                        eps_sweep=eps_sweep, seen=seen, **options)
        if locate:
            cots = ([None if c[0] is None else np.sum(np.stack(c), axis=0)
                     for c in zip(*seen, strict=True)] if seen and not jacobian else None)
            report.layers = _locate(fn, args, cots, report.notes, rng=rng,
                                    batch_axis=batch_axis, **options)
    finally:
        torch.set_rng_state(state)
        torch.set_num_threads(threads)
    return report


def _as_numpy(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return type(value)(_as_numpy(v) for v in value)
    return value.detach().numpy() if hasattr(value, "detach") else value


def _arg_names(fn: Any, n: int) -> list[str]:
    """``fn``'s own positional parameter names (``forward``'s after ``ctx`` for a Function's
    ``.apply``), else x0, x1, ..."""
    import torch

    target, skip = fn, 0
    if isinstance(fn, torch.nn.Module):
        target = fn.forward
    elif (inspect.ismethod(fn) and isinstance(fn.__self__, type)
          and issubclass(fn.__self__, torch.autograd.Function)):
        target = fn.__self__.forward
        # a Function with setup_context has no ctx in forward
        skip = int(fn.__self__.setup_context is torch.autograd.Function.setup_context)
    fallback = list(name_inputs(tuple(range(n)))[0]) if n else []
    try:
        params = list(inspect.signature(target).parameters.values())[skip:]
    except (TypeError, ValueError):  # a builtin without a signature
        return fallback
    positional = [p.name for p in params
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) < n:
        return fallback
    return positional[:n]


def _where(fn: Any) -> str:
    import torch

    if isinstance(fn, torch.nn.Module):
        return f"the module ({type(fn).__name__})"
    if inspect.ismethod(fn) and isinstance(fn.__self__, type):
        return f"{fn.__self__.__name__}.apply"
    name = getattr(fn, "__name__", "fn")
    return "fn" if name == "<lambda>" else name


def _refuse(kind: str, name: str, t: Any) -> None:
    """Refuse a tensor the checker cannot perturb: not on the CPU, complex, not float32/64."""
    import torch

    if t.device.type != "cpu":
        raise ValueError(f"{kind} {name!r} is on device {t.device}: check_torch checks CPU "
                         f"tensors (move it with .cpu())")
    if t.is_complex():
        raise TypeError(f"{kind} {name!r} is complex ({t.dtype}): complex inputs are not "
                        "supported (pass the real and imaginary parts as two real tensors)")
    if t.is_floating_point() and t.requires_grad and t.dtype not in (torch.float32,
                                                                     torch.float64):
        raise TypeError(f"{kind} {name!r} is {t.dtype}: check_torch checks float32 and float64 "
                        "tensors (convert it with .float())")


def _outputs(value: Any, where: str) -> tuple[list[Any], list[str]]:
    """(tensors, names) of what ``fn`` returned: one tensor (``out``) or a tuple (out0, ...)."""
    import torch

    if isinstance(value, torch.Tensor):
        return [value], ["out"]
    if isinstance(value, (tuple, list)) and value:
        for i, v in enumerate(value):
            if not isinstance(v, torch.Tensor):
                raise TypeError(f"{where} returned a {type(value).__name__} whose element {i} "
                                f"is {type(v).__name__}; expected a tensor or a tuple of "
                                "tensors")
        return list(value), [f"out{i}" for i in range(len(value))]
    raise TypeError(f"{where} returned {type(value).__name__}; expected a tensor or a tuple "
                    "of tensors")


def _snapshot(module: Any, buffers_only: bool = False) -> Callable[[], None]:
    """A function that puts the module's parameters (unless ``buffers_only``) and buffers
    (batch-norm running statistics, ``num_batches_tracked``) back bit for bit."""
    import torch

    if module is None:
        return lambda: None
    kept = (*(() if buffers_only else module.parameters()), *module.buffers())
    saved = [(t, t.detach().clone()) for t in kept]

    def restore() -> None:
        with torch.no_grad():
            for t, value in saved:
                t.copy_(value)
    return restore


def _dropout_masks(module: Any, masks: list[Any]) -> list[Any]:
    """Forward hooks on the module's dropout layers that append ``(dropped, nonzero input)``."""
    import torch

    kinds = (torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d)

    def hook(layer: Any, inputs: tuple[Any, ...], output: Any) -> None:
        masks.append(((output == 0) & (inputs[0] != 0), inputs[0] != 0))
    return [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]


def _same_masks(a: list[Any], b: list[Any]) -> bool:
    """Both passes dropped the same elements (where both dropout inputs were nonzero)."""
    return len(a) == len(b) and all(
        bool(((da == db) | ~(na & nb)).all()) for (da, na), (db, nb) in zip(a, b, strict=True))


def _check(fn: Any, given: dict[str, Any], *, rng: np.random.Generator, cotangent: Any,
           batch_axis: Any, eps_sweep: bool, seen: list[list[np.ndarray]] | None,
           **options: Any) -> GradCheckReport:
    """One check of ``fn(*given.values())``: see :func:`check_torch`."""
    import torch

    module = fn if isinstance(fn, torch.nn.Module) else None
    where = _where(fn)
    checked: dict[str, Any] = {}
    constants: list[str] = []
    for name, value in given.items():
        if isinstance(value, torch.Tensor):
            _refuse("input", name, value)
            if value.is_floating_point() and value.requires_grad:
                check_input_array(name, value.detach().numpy())
                checked[name] = value
                continue
            constants.append(f"{name} ({str(value.dtype).removeprefix('torch.')}"
                             + (", requires_grad=False)" if value.is_floating_point() else ")"))
        else:
            constants.append(f"{name} ({type(value).__name__})")
    params: dict[str, Any] = {}
    frozen: list[str] = []
    for name, p in (module.named_parameters() if module is not None else ()):
        if not p.requires_grad:
            frozen.append(name)
            continue
        if name in given:
            raise ValueError(f"argument {name!r} has the name of a parameter of {where}; pass "
                             "it under another name (a function with another parameter name)")
        _refuse("parameter", name, p)
        check_input_array(name, p.detach().numpy())
        params[name] = p
    tensors = {**checked, **params}
    if not tensors:
        raise TypeError(f"nothing to check: no argument of {where} is a floating tensor with "
                        "requires_grad=True" + (" and it has no parameter requiring grad"
                                                if module is not None else ""))
    refuse_aliases({k: t.detach().numpy() for k, t in tensors.items()})
    notes: list[str] = []
    if constants:
        notes.append("passed unchanged as constants and not checked: " + ", ".join(constants))
    if frozen:
        notes.append("parameters with requires_grad=False, not checked: " + ", ".join(frozen))
    analytic_dtype = min((t.detach().numpy().dtype for t in tensors.values()),
                         key=lambda d: np.finfo(d).bits)
    state = torch.get_rng_state()
    restore = _snapshot(module)
    try:
        # backprop's side: the user's module, copies of the user's tensors (fn may write
        # into them), one forward; its graph serves every vjp.
        leaves = {k: t.detach().clone().requires_grad_(True) for k, t in checked.items()}
        masks: list[Any] = []
        hooks = _dropout_masks(module, masks) if module is not None else []
        torch.set_rng_state(state)
        try:
            with torch.enable_grad():
                value = fn(*(leaves[k].clone() if k in leaves else v for k, v in given.items()))
        finally:
            for h in hooks:
                h.remove()
        outs, out_names = _outputs(value, where)

        def vjp(cots: list[np.ndarray]) -> dict[str, Any]:
            if seen is not None:
                seen.append(cots)
            pairs = [(o, torch.from_numpy(c).to(o.dtype)) for o, c in zip(outs, cots,
                                                                           strict=True)
                     if c is not None and o.requires_grad]
            if not pairs:
                return {k: None for k in tensors}
            grads = torch.autograd.grad([o for o, _ in pairs],
                                        [*leaves.values(), *params.values()],
                                        grad_outputs=[c for _, c in pairs], retain_graph=True,
                                        allow_unused=True)
            return {k: None if g is None else g.detach().numpy()
                    for k, g in zip(tensors, grads, strict=True)}

        work, call, how = _numerical_side(module, fn, given, checked, params, analytic_dtype,
                                          state, masks, outs, where, notes)
        mutated: list[str] = []

        def outputs() -> list[np.ndarray]:
            copies = {k: work[k].copy() for k in checked}
            value = call({**copies, **{k: work[k] for k in params}})
            note_writes(copies, work, mutated, notes, where)
            tensors_out, names = _outputs(value, where)
            if names != out_names:
                raise ValueError(f"{where} returned outputs {out_names}, then {names}: it "
                                 "must return the same outputs at every point")
            return [t.detach().numpy() for t in tensors_out]

        axes = {**batch_axes({k: work[k] for k in checked}, batch_axis),
                **{k: None for k in params}}
        target = Target(inputs=work, outputs=outputs, vjp=vjp, output_names=out_names,
                        analytic_dtype=np.dtype(analytic_dtype),
                        shadow=work[next(iter(work))].dtype != analytic_dtype,
                        batch_axes=axes, notes=notes, where=where,
                        inplace_cotangent_is_problem=False)
        return run_check(target, rng=rng, cotangent=cotangent, eps_sweep=eps_sweep,
                         precision=precision_label(np.dtype(analytic_dtype),
                                                   work[next(iter(work))].dtype, how),
                         **options)
    finally:
        restore()
        torch.set_rng_state(state)


def _numerical_side(module: Any, fn: Any, given: dict[str, Any], checked: dict[str, Any],
                    params: dict[str, Any], analytic_dtype: np.dtype, state: Any,
                    masks: list[Any], reference: list[Any], where: str, notes: list[str]
                    ) -> tuple[dict[str, np.ndarray], Callable[[dict[str, np.ndarray]], Any],
                               str]:
    """``(working arrays, call(arrays) -> fn's value under no_grad, how)``: in float64 (a
    shadow) when that runs, returns float64, draws the same dropout masks and agrees with
    backprop's forward (``reference``) to float32 rounding; else in the dtype of backprop."""
    import torch

    tensors = {**checked, **params}

    def make(double: bool, work: dict[str, np.ndarray]
             ) -> tuple[Callable[[dict[str, np.ndarray]], Any], Any]:
        twin = copy.deepcopy(module) if module is not None else None
        if twin is not None:
            if double:
                twin.double()
            # the twin's parameters *are* the arrays the engine perturbs in place (shared
            # memory): no per-call binding, and nothing to restore but the buffers
            for k in params:
                twin.get_parameter(k).data = torch.from_numpy(work[k])
        restore = _snapshot(twin, buffers_only=True)
        consts = {k: v.detach().double() if double and isinstance(v, torch.Tensor)
                  and v.is_floating_point() else v for k, v in given.items()}

        def call(arrays: dict[str, np.ndarray]) -> Any:
            args = [torch.from_numpy(arrays[k]) if k in arrays else v for k, v in consts.items()]
            torch.set_rng_state(state)
            with torch.no_grad():
                if twin is None:
                    return fn(*args)
                try:
                    return twin(*args)
                finally:
                    restore()
        return call, twin

    if analytic_dtype != np.float64:
        work = {k: t.detach().numpy().astype(np.float64) for k, t in tensors.items()}
        call, twin = make(double=True, work=work)
        shadow_masks: list[Any] = []
        hooks = _dropout_masks(twin, shadow_masks) if twin is not None else []
        why = ""
        try:
            probe, _ = _outputs(call({k: v.copy() for k, v in work.items()}), where)
            if any(o.is_floating_point() and o.dtype != torch.float64 for o in probe):
                why = f"{where} returned {probe[0].dtype} for float64 inputs"
        except Exception as exc:  # anything float64 cannot do falls back to the dtype rule
            why = f"{where} raised {type(exc).__name__} in float64 ({exc})"
        finally:
            for h in hooks:
                h.remove()
        if not why and not _same_masks(masks, shadow_masks):
            why = "the float64 copy drew other dropout masks from the same RNG state"
            notes.append(f"the numerical side ran in {analytic_dtype}: {why}")
        elif not why and not _agree(probe, reference):
            why = (f"{where} in float64 differs from {where} in {analytic_dtype} by more than "
                   f"rounding (random numbers drawn per dtype, e.g. torch.rand_like?)")
            notes.append(f"the numerical side ran in {analytic_dtype}: {why}")
        if not why:
            how = ("a float64 copy of the module" if module is not None
                   else f"{where} run on float64 copies")
            return work, call, how
    else:
        why = ""
    work = {k: t.detach().numpy().copy() for k, t in tensors.items()}
    return work, make(double=False, work=work)[0], why


def _agree(shadow: list[Any], reference: list[Any]) -> bool:
    """The float64 outputs are the lower-precision ones to within rounding (1e-3 of their
    size), so the shadow computes the same function."""
    for a, b in zip(shadow, reference, strict=True):
        if a.is_floating_point() and b.is_floating_point():
            x, y = a.detach().numpy(), b.detach().numpy().astype(np.float64)
            scale = float(np.max(np.abs(x), initial=1.0))
            if x.shape != y.shape or not np.allclose(y, x, rtol=1e-3, atol=1e-3 * scale):
                return False
    return True


@dataclass
class _Call:
    """One child's call during the locate pass: its inputs, the RNG state it ran at, and the
    gradient that reached each of its outputs."""

    name: str
    child: Any
    inputs: list[Any] = field(default_factory=list)
    state: Any = None
    grads: list[Any] = field(default_factory=list)
    shapes: list[tuple[int, ...]] = field(default_factory=list)


def _locate(module: Any, args: tuple[Any, ...], cots: list[np.ndarray | None] | None,
            notes: list[str], *, rng: np.random.Generator, batch_axis: Any,
            **options: Any) -> list[LayerFinding]:
    """Check each direct child of ``module`` on its own, at the input it received in one
    forward pass and with the gradient of its output in the backward pass."""
    import torch

    calls: list[_Call] = []

    def pre_hook(name: str) -> Callable[..., None]:
        def hook(child: Any, inputs: tuple[Any, ...]) -> None:
            if any(c.name == name for c in calls):
                raise ValueError(f"locate=True: child {name!r} ({type(child).__name__}) runs "
                                 "twice in one forward pass; locate checks each child once, "
                                 "at the input it receives (a reused child is not supported)")
            calls.append(_Call(name, child, [x.detach().clone() if isinstance(x, torch.Tensor)
                                             else x for x in inputs], torch.get_rng_state()))
        return hook

    def post_hook(name: str) -> Callable[..., None]:
        def hook(child: Any, inputs: tuple[Any, ...], output: Any) -> None:
            record = next(c for c in calls if c.name == name)
            outs = list(output) if isinstance(output, (tuple, list)) else [output]
            record.grads = [None] * len(outs)
            record.shapes = [tuple(o.shape) if isinstance(o, torch.Tensor) else () for o in outs]
            for i, o in enumerate(outs):
                if isinstance(o, torch.Tensor) and o.requires_grad:
                    o.register_hook(lambda g, i=i, r=record: r.grads.__setitem__(
                        i, g.detach().numpy().astype(np.float64)))
        return hook

    leaves = [a.detach().clone().requires_grad_(True)
              if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args]
    restore = _snapshot(module)
    hooks = [h for name, child in module.named_children()
             for h in (child.register_forward_pre_hook(pre_hook(name)),
                       child.register_forward_hook(post_hook(name)))]
    try:
        with torch.enable_grad():
            outs, _ = _outputs(module(*leaves), _where(module))
        if cots is None:
            cots = [np.ones(()) if o.dim() == 0 else rng.standard_normal(tuple(o.shape))
                    for o in outs]
        pairs = [(o, torch.from_numpy(np.asarray(c)).to(o.dtype))
                 for o, c in zip(outs, cots, strict=True) if o.requires_grad]
        wrt = [x for x in leaves if isinstance(x, torch.Tensor)]
        wrt += [p for p in module.parameters() if p.requires_grad]
        if pairs and wrt:
            torch.autograd.grad([o for o, _ in pairs], wrt, [c for _, c in pairs],
                                allow_unused=True)
    finally:
        for h in hooks:
            h.remove()
        restore()
    findings = []
    for position, record in enumerate(calls, 1):
        inputs = [x.requires_grad_(True) if isinstance(x, torch.Tensor)
                  and x.is_floating_point() else x for x in record.inputs]
        has_params = any(p.requires_grad for p in record.child.parameters())
        if not has_params and not any(isinstance(x, torch.Tensor) and x.requires_grad
                                      for x in inputs):
            continue
        names = ["x"] + [f"x{i}" for i in range(1, len(inputs))]
        grads = [np.zeros(s) if g is None else g for g, s in zip(record.grads, record.shapes,
                                                                 strict=True)]
        torch.set_rng_state(record.state)
        report = _check(record.child, dict(zip(names, inputs, strict=True)), rng=rng,
                        cotangent=grads[0] if len(grads) == 1 else tuple(grads),
                        batch_axis=batch_axis, eps_sweep=False, seen=None, **options)
        kind = type(record.child).__name__
        wrong = report.failed
        if wrong:
            findings.append(LayerFinding(position=position, name=record.name, kind=kind,
                                         wrong=wrong,
                                         right=[k for k in report.results if k not in wrong],
                                         report=report))
        elif report.problems:
            notes.append(f"layer {position} ({record.name}, {kind}) on its own: "
                         + "; ".join(report.problems))
    return findings
