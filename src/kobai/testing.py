"""Assertions for test suites: ``assert_gradients`` fails a test with kobai's gradient-check
report as its message (which input, which element, what kind of mistake, which layer).

Example
-------
>>> import numpy as np
>>> from kobai.testing import assert_gradients
>>> def f(x):
...     return (x ** 2).sum()
>>> assert_gradients(f, (np.array([1.0, 2.0]),), grad=lambda a: (2 * a[0],))
"""

from __future__ import annotations

import sys
from typing import Any

from .gradcheck import GradCheckReport, check_function, check_gradients, check_layer

__all__ = ["assert_gradients", "gradient_report"]


def _is_torch(obj: Any, args: tuple[Any, ...]) -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    return isinstance(obj, torch.nn.Module) or any(isinstance(a, torch.Tensor) for a in args)


def _is_jax(args: tuple[Any, ...]) -> bool:
    jax = sys.modules.get("jax")
    return jax is not None and any(isinstance(a, jax.Array) for a in args)


def gradient_report(obj: Any, *args: Any, **kwargs: Any) -> GradCheckReport:
    """The report of the checker that fits ``obj``: a network (``params``, ``loss``,
    ``gradient``) → :func:`check_gradients`; a layer (``forward``, ``backward``) →
    :func:`check_layer`; a ``torch.nn.Module`` or a callable given torch tensors →
    ``check_torch``; a callable given JAX arrays → ``check_jax``; any other callable with
    ``vjp=`` or ``grad=`` → :func:`check_function`."""
    if all(hasattr(obj, a) for a in ("params", "loss", "gradient")):
        return check_gradients(obj, *args, **kwargs)
    if _is_torch(obj, args):
        from .gradcheck.torch_check import check_torch
        return check_torch(obj, *args, **kwargs)
    if callable(getattr(obj, "forward", None)) and callable(getattr(obj, "backward", None)):
        return check_layer(obj, *args, **kwargs)
    if _is_jax(args):
        from .gradcheck.jax_check import check_jax
        return check_jax(obj, *args, **kwargs)
    if callable(obj) and ("vjp" in kwargs or "grad" in kwargs):
        return check_function(obj, *args, **kwargs)
    raise TypeError(f"assert_gradients does not know how to check {type(obj).__name__}: "
                    "expected a network (params, loss, gradient), a layer (forward, backward), "
                    "a torch module or function of tensors, a JAX function of jax arrays, or "
                    "a function with vjp= or grad=")


def assert_gradients(obj: Any, *args: Any, **kwargs: Any) -> GradCheckReport:
    """Check ``obj``'s backward pass and raise ``AssertionError`` with the report if it is
    wrong; return the report when it passes. Arguments as :func:`gradient_report`."""
    report = gradient_report(obj, *args, **kwargs)
    report.raise_if_failed()
    return report
