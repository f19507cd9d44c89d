"""``check_layer``: one layer's ``backward`` against central differences of its ``forward``,
for the input and every parameter, with the scalar ``L = Σ forward(x)·dout``."""

from __future__ import annotations

import copy
import inspect
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._validate import resolve_rng
from .compare import Context
from .one_input import sweep
from .probe import check_array, kink_probes
from .report import GradCheckReport
from .support import frozen, net_layers, rebind, resolve_options

__all__ = ["check_layer"]


def _float_arrays(obj: object) -> dict[str, np.ndarray]:
    try:
        items = vars(obj).items()
    except TypeError:  # __slots__
        return {}
    return {k: v for k, v in items if isinstance(v, np.ndarray) and v.dtype.kind == "f"}


def _dict_pair(layer: object) -> tuple[Mapping, Mapping] | None:
    params, grads = getattr(layer, "params", None), getattr(layer, "grads", None)
    if isinstance(params, Mapping) and isinstance(grads, Mapping):
        return params, grads
    return None


def _float64_layer(layer: object, notes: list[str]) -> object:
    """``layer`` itself when its float arrays are float64, else a float64 deep copy."""
    def low_arrays(obj: object) -> list[tuple[str, np.ndarray]]:
        arrays = list(_float_arrays(obj).items())
        pair = _dict_pair(obj)
        if pair:
            arrays += [(k, v) for k, v in pair[0].items()
                       if isinstance(v, np.ndarray) and v.dtype.kind == "f"]
        return [(k, v) for k, v in arrays if v.dtype != np.float64]

    low = low_arrays(layer)
    if not low:
        return layer
    clone = copy.deepcopy(layer)
    rebind(clone, {id(v): v.astype(np.float64) for _, v in low_arrays(clone)})
    names = ", ".join(sorted({f"{k} ({v.dtype})" for k, v in low}))
    notes.append(f"layer arrays {names} are not float64: checked a float64 deep copy of the "
                 "layer instead; the layer itself is unchanged")
    return clone


def _forward_call(layer: Any, t: object, train: bool) -> Callable[[np.ndarray], npt.ArrayLike]:
    """``x -> layer.forward(x[, t][, train=train])``; ``layer``: any object with ``forward``."""
    names: Mapping[str, inspect.Parameter]
    try:
        names = inspect.signature(layer.forward).parameters
    except (TypeError, ValueError):
        names = {}
    takes_t, takes_train = "t" in names, "train" in names
    kind = type(layer).__name__
    if takes_t and t is None:
        raise TypeError(f"{kind}.forward takes targets t (a loss layer); pass them: "
                        f"check_layer(layer, x, t=labels)")
    if t is not None and not takes_t:
        raise TypeError(f"t was given but {kind}.forward(x) takes no targets")
    args = (t,) if takes_t else ()
    kwargs = {"train": train} if takes_train else {}

    def forward(x: np.ndarray) -> npt.ArrayLike:
        out = layer.forward(x, *args, **kwargs)
        if out is None:
            raise TypeError(f"{kind}.forward returned None; expected its output array")
        return out
    return forward


def _make_dout(dout: npt.ArrayLike | None, out: npt.ArrayLike,
               rng: np.random.Generator) -> float | np.ndarray:
    if np.ndim(out) == 0:  # a loss layer: L = dout · loss
        if dout is None:
            return float(rng.uniform(0.5, 2.0))
        if np.ndim(dout) != 0:
            raise ValueError(f"forward returned a scalar, so dout must be a scalar; got shape "
                             f"{np.shape(dout)}")
        return float(dout)  # type: ignore[arg-type]
    shape = np.shape(out)
    if dout is None:
        return rng.standard_normal(shape)
    d = np.array(dout, dtype=np.float64)
    if d.shape != shape:
        raise ValueError(f"dout has shape {d.shape} but forward(x) returned shape {shape}; "
                         "expected the same shape")
    return d


def _backward(layer: Any, dout: float | np.ndarray,
              report: GradCheckReport) -> npt.ArrayLike | None:
    """``layer.backward(dout)`` (``dx``, None when it computes none); ``layer``: any object
    with ``backward``."""
    if isinstance(dout, float):
        return layer.backward(dout)
    arg = dout.copy()
    dx = layer.backward(arg)
    if not np.array_equal(arg, dout):
        changed = np.argwhere(arg != dout)
        idx = tuple(int(i) for i in changed[0])
        report.problems.append(
            f"backward modified its dout argument in place ({len(changed)} of {dout.size} "
            f"elements, e.g. dout{list(idx)}: {dout[idx]:.6g} -> {arg[idx]:.6g}); a caller "
            "that reuses dout gets wrong gradients (write dx = dout * mask, not dout[~mask] = 0)")
    return dx


def _param_targets(layer: object, stable: dict[str, np.ndarray],
                   report: GradCheckReport) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, array, backprop gradient) for each parameter: a ``params``/``grads`` dict pair,
    and each float array attribute ``p`` that kept its identity through forward and has a
    ``d{p}`` attribute (W -> dW, b -> db, gamma -> dgamma, beta -> dbeta)."""
    targets: list[tuple[str, np.ndarray, np.ndarray]] = []
    seen: set[int] = set()

    def add(name: str, arr: np.ndarray, grad: object, where: str) -> None:
        seen.add(id(arr))
        if grad is None:
            report.problems.append(f"backward did not set {where} (it is None); {name} was "
                                   "not checked")
            return
        g = np.array(grad, dtype=np.float64)
        if g.shape != arr.shape:
            report.problems.append(f"{where} has shape {g.shape} but {name} has shape "
                                   f"{arr.shape}; {name} was not checked")
            return
        targets.append((name, arr, g))

    pair = _dict_pair(layer)
    if pair:
        params, grads = pair
        for key, arr in params.items():
            if isinstance(arr, np.ndarray) and arr.dtype.kind == "f":
                add(key, arr, grads.get(key), f"grads[{key!r}]")
    for name, arr in stable.items():
        if id(arr) not in seen and hasattr(layer, "d" + name):
            add(name, arr, getattr(layer, "d" + name), f"layer.d{name}")
    return targets


def check_layer(layer: object, x: np.ndarray, *, dout: np.ndarray | float | None = None,
                t: np.ndarray | None = None, train: bool = True, mode: str = "full",
                eps: float | None = None, rtol: float = 1e-5, atol: float = 1e-8,
                rng: np.random.Generator | int | None = None,
                eps_sweep: bool = False) -> GradCheckReport:
    """Check a layer's ``backward`` against central differences of its ``forward`` (§5.4–5.6).

    Differentiates ``L = Σ forward(x)·dout`` for a fixed ``dout``: ``backward(dout)`` must
    return ``dL/dx`` (skipped with a note when None) and store each parameter's gradient
    (``W``/``dW`` attributes or a ``params``/``grads`` pair). Also checks that ``backward``
    leaves ``dout`` unchanged; ``frozen`` layers (dropout, batch norm) are frozen meanwhile.

    Parameters
    ----------
    layer : object with ``forward(x[, t][, train])`` and ``backward(dout)``
    x : ndarray of shape (batch_size, ...)
        Copied to float64 (the copy is perturbed).
    dout : ndarray of forward(x)'s shape, or float for a loss layer, optional
        Default: standard normal from ``rng`` (uniform in [0.5, 2) for a loss layer).
    t : ndarray, optional
        Targets, for a loss layer whose ``forward(x, t)`` returns a scalar (SoftmaxWithLoss).
    train : bool
        Passed to ``forward`` when it takes ``train``.
    mode, eps, rtol, atol, rng, eps_sweep
        As in :func:`check_gradients`.

    Returns
    -------
    GradCheckReport
        One row for ``x`` and one per parameter.

    Example
    -------
    >>> from kobai.layers import Affine
    >>> rng = np.random.default_rng(0)
    >>> check_layer(Affine(rng.normal(size=(3, 2)), np.zeros(2)), rng.normal(size=(4, 3))).passed
    True
    """
    eps = resolve_options(mode, eps, rtol, atol)
    rng = resolve_rng(rng)
    if not (callable(getattr(layer, "forward", None)) and callable(getattr(layer, "backward",
                                                                           None))):
        raise TypeError(f"check_layer needs a layer with forward(x) and backward(dout); got "
                        f"{type(layer).__name__}")
    report = GradCheckReport(mode=mode, eps=eps, rtol=rtol, atol=atol)
    checked = layer
    layer = _float64_layer(layer, report.notes)
    if layer is not checked:
        report.precision = "float64 (a float64 copy of the layer)"
    x64 = np.array(x, dtype=np.float64)
    forward = _forward_call(layer, t, train)
    layers = [layer, *net_layers(layer)]
    probes = kink_probes(layers)
    with frozen(layer, layers):
        before = _float_arrays(layer)
        out = forward(x64)
        stable = {k: v for k, v in _float_arrays(layer).items()
                  if before.get(k) is v and v is not x64}
        dout = _make_dout(dout, out, rng)
        dx = _backward(layer, dout, report)
        targets = []
        if dx is None:
            report.notes.append("backward returned None, so dx was not checked (an Affine "
                                "with compute_dx=False?)")
        elif np.shape(dx) != x64.shape:
            report.problems.append(f"backward returned dx of shape {np.shape(dx)} but x has "
                                   f"shape {x64.shape}; dx was not checked")
        else:
            targets.append(("x", x64, np.array(dx, dtype=np.float64)))
        targets += _param_targets(layer, stable, report)

        def evaluate() -> tuple[float, tuple[np.ndarray, ...]]:
            value = float(np.sum(np.asarray(forward(x64), dtype=np.float64) * dout))
            return value, tuple(probe() for probe in probes)

        saved = [(arr, arr.copy()) for _, arr, _ in targets]
        try:
            batch = len(x64) if x64.ndim > 1 else None
            for name, arr, grad in targets:
                context = (Context(batch_axis=0, channel_axis=1, batch_size=batch)
                           if name == "x" and batch else Context(batch_size=batch))
                report.results[name] = check_array(
                    name, arr, grad, evaluate, mode=mode, eps=eps, rtol=rtol, atol=atol,
                    rng=rng, notes=report.notes, context=context)
                if eps_sweep:
                    report.sweeps[name] = sweep(name, arr, grad, evaluate,
                                                report.results[name])
        finally:
            for arr, copy_ in saved:
                arr[...] = copy_
    if not targets:  # a check of nothing must not read as PASSED
        what = ("backward returned None" if dx is None else "dx could not be compared")
        report.problems.append(f"nothing was checked: {what} and the layer has no parameters "
                               "with gradients (params/grads dicts or W/dW attributes); "
                               "backward must return dx, the gradient with respect to x")
    return report
