"""What every check does to the objects it is given: validate its options, walk a
network's layers, hold dropout masks and running statistics fixed, and re-point shared arrays
at float64 copies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any

import numpy as np

from .._validate import is_real
from .probe import DEFAULT_EPS

__all__ = ["resolve_options", "net_layers", "frozen", "rebind"]

_MODES = ("full", "fast")


def resolve_options(mode: str, eps: float | None, rtol: float, atol: float) -> float:
    """Validate the options shared by the checks and return ``eps``."""
    if mode not in _MODES:
        raise ValueError(f"mode must be one of {_MODES}, got {mode!r}")
    if eps is None:
        eps = DEFAULT_EPS
    for name, value, low in (("eps", eps, "> 0"), ("rtol", rtol, ">= 0"), ("atol", atol, ">= 0")):
        if (not is_real(value) or not np.isfinite(value) or value < 0
                or (low == "> 0" and value == 0)):
            raise ValueError(f"{name} must be a finite number {low}, got {value!r}")
    return float(eps)


def net_layers(obj: object) -> list[object]:
    """``obj.layers`` as a list (a dict's values, or a list), or [] when it has none."""
    layers = getattr(obj, "layers", None)
    if isinstance(layers, Mapping):
        return list(layers.values())
    if isinstance(layers, (list, tuple)):
        return list(layers)
    return []


@contextmanager
def frozen(obj: object, layers: list[object]) -> Iterator[None]:
    """``obj.frozen()`` when it has one, else ``frozen = True`` on each layer that has it."""
    method = getattr(obj, "frozen", None)
    with ExitStack() as stack:
        if callable(method):
            stack.enter_context(method())
        else:
            flags: list[Any] = [layer for layer in layers  # each has a frozen flag
                                if isinstance(getattr(layer, "frozen", None), (bool, np.bool_))]
            before = [layer.frozen for layer in flags]

            def restore() -> None:
                for layer, was in zip(flags, before, strict=True):
                    layer.frozen = was
            stack.callback(restore)
            for layer in flags:
                layer.frozen = True
        yield


def rebind(root: object, replace: dict[int, np.ndarray], depth: int = 4) -> None:
    """Point every attribute, dict value or list item reachable from ``root`` that is one of
    the old arrays (keyed by ``id``) at its replacement (layers share the net's params)."""
    seen: set[int] = set()

    def visit(obj: object, level: int) -> None:
        if level > depth or id(obj) in seen or isinstance(obj, (np.ndarray, str, bytes)):
            return
        seen.add(id(obj))
        if isinstance(obj, dict):
            items = list(obj.items())
        elif isinstance(obj, list):
            items = list(enumerate(obj))
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            items = list(vars(obj).items())
        else:
            return
        for key, value in items:
            if isinstance(value, np.ndarray) and id(value) in replace:
                if isinstance(obj, (dict, list)):
                    obj[key] = replace[id(value)]
                else:
                    setattr(obj, key, replace[id(value)])
            else:
                visit(value, level + 1)

    visit(root, 0)
