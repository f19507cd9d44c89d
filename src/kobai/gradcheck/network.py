"""``check_gradients``: a whole network's backprop ``gradient(x, t)`` against central
differences of its ``loss(x, t)``, for kobai nets and book-style nets alike (duck typing)."""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from .._validate import resolve_rng
from .compare import Context
from .one_input import sweep
from .probe import Evaluate, check_array, kink_probes
from .report import GradCheckReport
from .support import frozen, net_layers, rebind, resolve_options

__all__ = ["check_gradients"]

class _Net(Protocol):
    """What ``check_gradients`` uses of a network, kobai's or the book's (``_require_net``)."""

    params: dict[str, np.ndarray]

    def loss(self, x: np.ndarray, t: np.ndarray) -> npt.ArrayLike: ...

    def gradient(self, x: np.ndarray, t: np.ndarray) -> object: ...


def _float64_net(net: _Net, notes: list[str]) -> _Net:
    """``net`` itself when every param is float64, else a float64 copy (saying so)."""
    low = {k: v.dtype for k, v in net.params.items() if v.dtype != np.float64}
    if not low:
        return net
    astype = getattr(net, "astype", None)
    if callable(astype):
        clone, how = astype(np.float64), "net.astype(np.float64)"
    else:
        clone, how = copy.deepcopy(net), "a deep copy with its params cast to float64"
        replace: dict[int, np.ndarray] = {}
        for key, arr in list(clone.params.items()):
            replace[id(arr)] = clone.params[key] = arr.astype(np.float64)
        rebind(clone, replace)
    still = [k for k, v in clone.params.items() if v.dtype != np.float64]
    if still:
        raise TypeError(f"{how} returned params {still} that are not float64")
    names = ", ".join(f"{k} ({dt})" for k, dt in low.items())
    notes.append(f"params {names} are not float64: checked {how} instead, since central "
                 f"differences in float32 are accurate only to about 1e-3; the net itself is "
                 f"unchanged")
    return clone


def _require_net(net: Any) -> _Net:
    """``net`` (any object), after checking that it has what :class:`_Net` describes."""
    missing = [attr for attr in ("params", "loss", "gradient") if not hasattr(net, attr)]
    if missing:
        raise TypeError(f"check_gradients needs a network with params (dict of arrays), "
                        f"loss(x, t) and gradient(x, t); {type(net).__name__} has no "
                        f"{', '.join(missing)}")
    if not isinstance(net.params, Mapping) or not net.params:
        raise TypeError(f"net.params must be a non-empty dict of name -> ndarray, got "
                        f"{type(net.params).__name__}")
    for key, arr in net.params.items():
        if not isinstance(arr, np.ndarray) or arr.dtype.kind != "f":
            what = (f"an array of dtype {arr.dtype}" if isinstance(arr, np.ndarray)
                    else type(arr).__name__)
            raise TypeError(f"net.params[{key!r}] is {what}; expected a float ndarray that "
                            "the network reads in its forward pass")
    return net


def _scalar(value: npt.ArrayLike) -> float:
    if np.ndim(value) != 0:
        raise TypeError(f"net.loss(x, t) returned an array of shape {np.shape(value)}; "
                        "expected a scalar loss")
    return float(value)  # type: ignore[arg-type]


def _analytic(grads: object, params: Mapping[str, np.ndarray],
              report: GradCheckReport) -> dict[str, np.ndarray]:
    if not isinstance(grads, Mapping):
        raise TypeError(f"net.gradient(x, t) returned {type(grads).__name__}; expected a dict "
                        "with the same keys as net.params")
    out = {}
    for key, arr in params.items():
        if key not in grads or grads[key] is None:
            report.problems.append(f"gradient(x, t) returned no {key!r} (it returned "
                                   f"{list(grads)}); {key} was not checked")
            continue
        g = np.array(grads[key], dtype=np.float64)  # a copy: later passes may overwrite it
        if g.shape != arr.shape:
            report.problems.append(f"gradient(x, t)[{key!r}] has shape {g.shape} but "
                                   f"params[{key!r}] has shape {arr.shape}; not checked")
            continue
        out[key] = g
    extra = [k for k in grads if k not in params]
    if extra:
        report.notes.append(f"gradient(x, t) also returned {extra}, which are not in "
                            "net.params and were not checked")
    return out


def check_gradients(net: object, x: np.ndarray, t: np.ndarray, *, mode: str = "full",
                    eps: float | None = None, rtol: float = 1e-5, atol: float = 1e-8,
                    rng: np.random.Generator | int | None = None,
                    structured: bool = True, locate: bool = False,
                    eps_sweep: bool = False) -> GradCheckReport:
    """Check ``net.gradient(x, t)`` (backprop) against central differences of ``net.loss``.

    For any object with ``params``, ``loss(x, t)`` and ``gradient(x, t)`` (kobai's nets and the
    book's, §5.7). Params are perturbed in place and restored bit for bit; elements near a
    kink are flagged, not failed.

    Parameters
    ----------
    net : network
    x : ndarray of shape (batch_size, input_size)
    t : ndarray of shape (batch_size,) or (batch_size, output_size)
    mode : {"full", "fast"}
        "full": every element, ``(L(θ+ε) - L(θ-ε)) / 2ε``. "fast": random unit directions,
        ``u·∇L`` against ``(L(θ+εu) - L(θ-εu)) / 2ε``, then elements where one disagrees.
    eps : float, optional
        Step of the central differences; default 1e-5.
    rtol, atol : float
        An element fails when ``|a - n| > atol + rtol·|n|`` (``np.allclose``'s rule).
    rng : numpy.random.Generator or int, optional
        Source of the random directions of "fast" mode.
    eps_sweep : bool
        Also measure each parameter's worst element at steps 10^-1 ... 10^-10.
    locate : bool
        Also check each layer on its own (:func:`check_layer`); ``report.layers`` lists the
        wrong ones.
    structured : bool
        In "full" mode, use the structured central differences where the layers allow
        (:mod:`kobai.nets.numgrad`); False: always the element loop.

    Returns
    -------
    GradCheckReport
        ``print(report)`` shows a table; ``report.raise_if_failed()`` asserts.

    Example
    -------
    >>> from kobai.nets import TwoLayerNet
    >>> rng = np.random.default_rng(0)
    >>> net = TwoLayerNet(4, 5, 3, rng=0)
    >>> check_gradients(net, rng.normal(size=(2, 4)), np.array([0, 2])).passed
    True
    """
    eps = resolve_options(mode, eps, rtol, atol)
    rng = resolve_rng(rng)
    checked = _require_net(net)
    report = GradCheckReport(mode=mode, eps=eps, rtol=rtol, atol=atol)
    target = _float64_net(checked, report.notes)
    if target is not checked:
        low = sorted({str(v.dtype) for v in checked.params.values() if v.dtype != np.float64})
        report.precision = f"float64 (a float64 copy of the {'/'.join(low)} net)"
    x = np.asarray(x)
    if x.dtype.kind == "f" and x.dtype != np.float64:
        x = x.astype(np.float64)
    layers = net_layers(target)
    probes = kink_probes(layers)

    def evaluate() -> tuple[float, tuple[np.ndarray, ...]]:
        value = _scalar(target.loss(x, t))
        return value, tuple(probe() for probe in probes)

    params = target.params
    saved = {key: arr.copy() for key, arr in params.items()}
    try:
        with frozen(target, layers):
            analytic = _analytic(target.gradient(x, t), params, report)
            numerical = (_structured_numerical(target, x, t, mode, eps, report)
                         if structured else {})
            escalated: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []

            def every_element(key: str) -> tuple[np.ndarray, np.ndarray] | None:
                """Fast mode's escalation: the structured numerical gradient, computed once
                for the whole net when the first direction fails (every element, quickly)."""
                if not structured:
                    return None
                if not escalated:
                    escalated.append(_structured_numerical(target, x, t, "full", eps, report))
                return escalated[0].get(key)

            for key, arr in params.items():
                if key in analytic:
                    report.results[key] = check_array(
                        key, arr, analytic[key], evaluate, mode=mode, eps=eps, rtol=rtol,
                        atol=atol, rng=rng, notes=report.notes, numerical=numerical.get(key),
                        context=Context(batch_size=len(x) if x.ndim > 1 else None),
                        every_element=functools.partial(every_element, key))
                    if eps_sweep:
                        report.sweeps[key] = sweep(key, arr, analytic[key], evaluate,
                                                   report.results[key])
            if report.failed:
                _check_deterministic(evaluate, report)
    finally:
        for key, arr in params.items():
            arr[...] = saved[key]
    if locate:
        from .layer import check_layer
        from .locate import locate_layers

        with frozen(target, layers):
            report.layers = locate_layers(target, x, t, check_layer, mode=mode, eps=eps,
                                          rtol=rtol, atol=atol, rng=rng)
        if not report.layers:
            report.notes.append("locate: every layer's backward is right at the input it "
                                "receives" + ("" if report.passed else
                                              " (so the error is in how they are combined)"))
    if not layers:
        report.notes.append("the net has no `layers` to ask for kink_state(): an element next "
                            "to a ReLU kink, if any, would show as FAIL rather than KINK")
    return report


def _structured_numerical(net: Any, x: np.ndarray, t: np.ndarray, mode: str, eps: float,
                          report: GradCheckReport
                          ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Full mode on a kobai :class:`~kobai.nets.Network`: its structured numerical gradient
    and kinks, per param.

    ``Network.numerical_gradient_and_kinks``: the element loop's ±eps, equal to it to
    rounding, with the elements whose ±eps moved a ReLU input across 0. Returns {} when the
    loop has to run, saying why in the report.
    """
    from ..nets import Network, UnsupportedNetwork

    if mode != "full" or not isinstance(net, Network):
        return {}
    # The structured path differentiates Network.loss: a loss or gradient overridden in a
    # subclass or replaced on the instance is checked by the loop, which calls it.
    patched = [name for name in ("loss", "gradient") if name in vars(net)
               or getattr(type(net), name) is not getattr(Network, name)]
    if patched:
        report.notes.append(f"the net overrides {', '.join(patched)}: numerical gradients by "
                            "the element loop (the generic path)")
        return {}
    try:
        numerical, kinks = net.numerical_gradient_and_kinks(x, t, eps)
    except UnsupportedNetwork as exc:
        report.notes.append(f"numerical gradients by the element loop (the generic path, "
                            f"slower): {exc}")
        return {}
    report.notes.append("numerical gradients by the net's structured central differences "
                        "(the same ±eps per element as the loop, kobai.nets.numgrad)")
    return {key: (numerical[key], kinks[key]) for key in numerical}


def _check_deterministic(evaluate: Evaluate, report: GradCheckReport) -> None:
    """After a failure: does the loss even return the same value twice at the same θ?"""
    first, second = evaluate()[0], evaluate()[0]
    if first != second:
        report.notes.append(f"loss(x, t) returned {first!r} and then {second!r} at the same "
                            "parameters: it is random (dropout without frozen()?), so its "
                            "central differences are noise")
