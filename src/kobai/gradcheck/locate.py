"""``locate=True``: which layer of a network has the wrong backward, each layer checked on its
own at the input and upstream gradient it really receives in the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .report import GradCheckReport, LayerFinding

__all__ = ["locate_layers"]


def _ordered(net: Any) -> list[tuple[str, Any]]:
    layers = getattr(net, "layers", None)
    if isinstance(layers, dict):
        named = list(layers.items())
    elif isinstance(layers, (list, tuple)):
        named = [(f"{type(layer).__name__}{i}", layer) for i, layer in enumerate(layers, 1)]
    else:
        raise TypeError(f"locate=True needs a network whose `layers` (a dict or list, in "
                        f"forward order) it can walk; {type(net).__name__} has none")
    last = getattr(net, "last_layer", None) or getattr(net, "lastLayer", None)
    return named + ([("last_layer", last)] if last is not None else [])


def locate_layers(net: Any, x: np.ndarray, t: np.ndarray, check_layer: Callable[..., Any],
                  **options: Any) -> list[LayerFinding]:
    """Run ``net.gradient(x, t)`` once recording each layer's input and upstream gradient, then
    ``check_layer`` each layer there; the layers whose check fails, in forward order."""
    named = _ordered(net)
    inputs: dict[int, np.ndarray] = {}
    douts: dict[int, Any] = {}
    patched: list[tuple[Any, dict[str, Any]]] = []

    def record(i: int, name: str, layer: Any) -> None:
        forward, backward = layer.forward, layer.backward

        def recording_forward(x: Any, *args: Any, **kwargs: Any) -> Any:
            if i in inputs:
                raise ValueError(f"locate=True: layer {name} ({type(layer).__name__}) is "
                                 "called twice in one forward pass, so it has no single "
                                 "input to be checked at")
            inputs[i] = np.array(x, copy=True)
            return forward(x, *args, **kwargs)

        def recording_backward(dout: Any = 1.0) -> Any:
            douts[i] = dout if np.ndim(dout) == 0 else np.array(dout, copy=True)
            return backward(dout)

        patched.append((layer, {k: vars(layer)[k] for k in ("forward", "backward")
                                if k in vars(layer)}))
        layer.forward, layer.backward = recording_forward, recording_backward

    try:
        for i, (name, layer) in enumerate(named):
            record(i, name, layer)
        net.gradient(x, t)
    finally:
        for layer, own in patched:  # as they were: the class's methods or the instance's
            del layer.forward, layer.backward
            vars(layer).update(own)
    findings = []
    for i, (name, layer) in enumerate(named):
        if i not in inputs or i not in douts:
            continue
        is_loss = name == "last_layer"
        kwargs = dict(options, t=t) if is_loss else dict(options, dout=douts[i])
        if is_loss:
            kwargs["dout"] = float(douts[i]) if np.ndim(douts[i]) == 0 else None
        report: GradCheckReport = check_layer(layer, inputs[i], **kwargs)
        if not report.passed:
            wrong = report.failed or ["backward"]
            right = [k for k in report.results if k not in wrong]
            findings.append(LayerFinding(position=i + 1, name=name, kind=type(layer).__name__,
                                         wrong=wrong, right=right, report=report))
    return findings
