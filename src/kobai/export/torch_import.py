"""The way back from PyTorch: a kobai :class:`~kobai.nets.Network` from an ``nn.Sequential``.

:func:`from_torch` reads the modules :func:`~kobai.export.torch_module.to_torch` writes, in
any ``nn.Sequential`` (nested ones are flattened), into kobai's layers:

==========================================  =============================================
``nn.Linear``                               ``Affine(weight.T, bias)`` (no bias: zeros)
``nn.Conv2d``                               ``Convolution``: groups 1, dilation 1, zero
                                            padding the same on every side
``nn.MaxPool2d``                            ``Pooling``: dilation 1, no ``ceil_mode``, no
                                            indices; ``nn.ConstantPad2d(p, -inf)`` before
                                            one without padding is its ``pad``
``nn.ReLU``, ``nn.Sigmoid``, ``nn.Tanh``    ``Relu``, ``Sigmoid``, ``Tanh``
``nn.Flatten()``                            ``Flatten``
``nn.Dropout(p)``                           ``Dropout(p)`` (inverted, as PyTorch's)
``nn.BatchNorm1d``                          ``BatchNormalization`` with ``eps``, running
                                            statistics and ``momentum = 1 - PyTorch's``
``Flatten, BatchNorm1d, Unflatten(1, s)``   one ``BatchNormalization`` of samples ``s``
==========================================  =============================================

Anything else is refused, naming the module; so are subclasses of these (their forward may
differ), as :func:`~kobai.export.graph.inference_graph` refuses layers it does not know.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Flatten,
    Pooling,
    Relu,
    Sigmoid,
    Tanh,
)
from ..util import window_count
from .graph import ExportError

__all__ = ["from_torch", "import_torch", "SUPPORTED"]

#: what from_torch reads, for messages
SUPPORTED = ("nn.Linear, nn.Conv2d, nn.MaxPool2d, nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Flatten, "
             "nn.Dropout, nn.BatchNorm1d (also as nn.Flatten, nn.BatchNorm1d, nn.Unflatten for "
             "images), nn.ConstantPad2d(p, -inf) before an nn.MaxPool2d, nested nn.Sequential")


def import_torch() -> Any:
    """The ``torch`` module, or an ImportError saying how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise ImportError(f'kobai\'s PyTorch export needs torch ({exc}); install it with '
                          'pip install "kobai[torch]"') from exc
    return torch


def from_torch(module: Any, *, input_shape: Any = None) -> Any:
    """A generic :class:`~kobai.nets.Network` computing what ``module`` computes.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of the modules in this module's docstring, float32 or float64 (that is the
        network's dtype); the last gives the scores, of shape (N, output_size).
    input_shape : tuple of int, optional
        Of one sample, e.g. ``(1, 28, 28)``; default ``(in_features,)`` of the first
        ``nn.Linear`` (or ``nn.BatchNorm1d``). Required when the first is a convolution,
        pooling or flatten.

    Returns
    -------
    Network
        Its layers named as kobai names them (``Affine1``, ``Relu1``, ...), ending in
        ``SoftmaxWithLoss``; ``predict`` gives the module's logits (in ``eval()`` mode).

    Raises
    ------
    ExportError
        A module kobai has no layer for (naming its index, class and what is supported), a
        setting kobai's layer lacks, shapes that do not chain, parameters that are not
        float32/float64 or not finite, or a missing ``input_shape``.
    """
    from ..nets import Network

    torch = import_torch()
    nn = torch.nn
    if type(module) is not nn.Sequential:
        raise ExportError(f"from_torch takes a torch.nn.Sequential, got "
                          f"{_class_name(module)}; wrap the modules in one (supported: "
                          f"{SUPPORTED})")
    mods = _flattened(module, nn)
    if not mods:
        raise ExportError("from_torch got an empty nn.Sequential; expected at least one layer")
    dt = _dtype(module, torch)
    shape = _input_shape(mods, input_shape, nn)
    first_shape = shape
    layers: list[Any] = []
    i = 0
    while i < len(mods):
        try:
            layer, shape, used = _layer(mods, i, shape, nn, dt)
        except ExportError:
            raise
        except ValueError as exc:  # a setting kobai's layer refuses, e.g. Dropout(p=1)
            raise ExportError(f"{_label(mods, i)}: {exc}") from None
        layers.append(layer)
        i += used
    if len(shape) != 1:
        raise ExportError(f"the module's last layer gives samples of shape {shape}; expected "
                          "(output_size,), one score per class: end it with an nn.Linear "
                          "(after an nn.Flatten)")
    try:
        return Network(layers, input_shape=first_shape, output_size=shape[0])
    except ValueError as exc:
        raise ExportError(f"cannot build a kobai network from the module: {exc}") from None


def _class_name(obj: Any) -> str:
    cls = type(obj)
    if cls.__module__.startswith("torch.nn."):
        return f"nn.{cls.__name__}"
    return f"{cls.__module__}.{cls.__qualname__}"


def _flattened(module: Any, nn: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """(dotted name, module) of every non-Sequential module, nested Sequentials opened."""
    out = []
    for name, child in module.named_children():
        if type(child) is nn.Sequential:
            out += _flattened(child, nn, f"{prefix}{name}.")
        else:
            out.append((prefix + name, child))
    return out


def _dtype(module: Any, torch: Any) -> np.dtype:
    tensors = [t for t in (*module.parameters(), *module.buffers()) if t.is_floating_point()]
    dtypes = sorted({str(t.dtype) for t in tensors})
    if len(dtypes) > 1:
        raise ExportError(f"the module's parameters mix dtypes {dtypes}; convert it with "
                          ".float() or .double() first")
    if not dtypes:
        return np.dtype(np.float64)
    if dtypes[0] not in ("torch.float32", "torch.float64"):
        raise ExportError(f"the module's parameters are {dtypes[0]}; kobai computes in float32 "
                          "or float64: convert it with .float() or .double() first")
    return np.dtype(np.float32 if dtypes[0] == "torch.float32" else np.float64)


def _label(mods: list[tuple[str, Any]], i: int) -> str:
    name, module = mods[i]
    where = f"module {i}" if name == str(i) else f"module {i} {name!r}"
    return f"{where} ({_class_name(module)})"


def _input_shape(mods: list[tuple[str, Any]], given: Any, nn: Any) -> tuple[int, ...]:
    if given is not None:
        shape = (given,) if isinstance(given, (int, np.integer)) else tuple(given)
        if not shape or not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                                and s > 0 for s in shape):
            raise ExportError(f"input_shape must be positive integers, the shape of one "
                              f"sample such as (1, 28, 28), got {given!r}")
        return tuple(int(s) for s in shape)
    for i, (_, m) in enumerate(mods):
        if type(m) is nn.Linear:
            return (m.in_features,)
        if type(m) is nn.BatchNorm1d:
            return (m.num_features,)
        if type(m) not in (nn.ReLU, nn.Sigmoid, nn.Tanh, nn.Dropout):
            raise ExportError(f"give input_shape: the first layer, {_label(mods, i)}, "
                              "does not say what one sample is; e.g. "
                              "from_torch(module, input_shape=(1, 28, 28)) for MNIST images")
    raise ExportError("give input_shape: no layer of the module says what one sample is")


def _numpy(t: Any, dt: np.dtype, what: str) -> np.ndarray:
    arr = np.array(t.detach().cpu().numpy(), dtype=dt, copy=True)
    if not np.all(np.isfinite(arr)):
        raise ExportError(f"{what} holds NaN or infinite values; expected finite parameters")
    return arr


def _pair(value: Any, what: str, label: str) -> int:
    """One int for a setting kobai's layer keeps once for both dimensions."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or pair[0] != pair[1]:
        raise ExportError(f"{label} has {what} {value!r}; kobai's layer takes one {what} for "
                          "height and width")
    return int(pair[0])


def _windows(shape: tuple[int, ...], window: tuple[int, int], stride: int, pad: int,
             label: str) -> tuple[int, int]:
    try:
        return (window_count(shape[1], window[0], stride, pad, "height", f"{label} "),
                window_count(shape[2], window[1], stride, pad, "width", f"{label} "))
    except ValueError as exc:
        raise ExportError(str(exc)) from None


def _layer(mods: list[tuple[str, Any]], i: int, shape: tuple[int, ...], nn: Any,
           dt: np.dtype) -> tuple[Any, tuple[int, ...], int]:
    """(kobai layer, sample shape after it, how many modules it took) at ``mods[i]``."""
    m, label = mods[i][1], _label(mods, i)
    kind = type(m)
    nxt = [type(mm) for _, mm in mods[i + 1:i + 3]]
    if kind in (nn.ReLU, nn.Sigmoid, nn.Tanh):
        return {nn.ReLU: Relu, nn.Sigmoid: Sigmoid, nn.Tanh: Tanh}[kind](), shape, 1
    if kind is nn.Dropout:
        return Dropout(m.p), shape, 1
    if kind is nn.Linear:
        if len(shape) != 1 or shape[0] != m.in_features:
            raise ExportError(f"{label} takes {m.in_features} features but gets samples of "
                              f"shape {shape}" + (" (PyTorch's Linear acts on the last axis; "
                                                  "put an nn.Flatten() before it)"
                                                  if len(shape) != 1 else ""))
        W = _numpy(m.weight, dt, f"{label} weight").T.copy()
        b = (np.zeros(m.out_features, dt) if m.bias is None
             else _numpy(m.bias, dt, f"{label} bias"))
        return Affine(W, b), (m.out_features,), 1
    if kind is nn.Flatten and nxt == [nn.BatchNorm1d, nn.Unflatten] and len(shape) > 1:
        unflatten = mods[i + 2][1]
        if (m.start_dim, m.end_dim) == (1, -1) and unflatten.dim == 1 \
                and tuple(unflatten.unflattened_size) == shape:
            return _batchnorm(mods, i + 1, shape, nn, dt), shape, 3
    if kind is nn.Flatten:
        if (m.start_dim, m.end_dim) != (1, -1):
            raise ExportError(f"{label} flattens dims {m.start_dim}..{m.end_dim}; kobai's "
                              "Flatten keeps the batch axis and flattens the rest "
                              "(start_dim=1, end_dim=-1)")
        return Flatten(), (math.prod(shape),), 1
    if kind is nn.BatchNorm1d:
        if len(shape) != 1:
            raise ExportError(f"{label} gets samples of shape {shape} and would normalize per "
                              "channel; kobai's BatchNormalization normalizes per element: "
                              "use nn.Flatten, nn.BatchNorm1d, nn.Unflatten as to_torch does")
        return _batchnorm(mods, i, shape, nn, dt), shape, 1
    if kind is nn.Conv2d:
        return _conv(m, label, shape, dt)
    if kind is nn.ConstantPad2d and nxt[:1] == [nn.MaxPool2d]:
        pad = tuple(m.padding)
        if m.value == -math.inf and len(set(pad)) == 1 and mods[i + 1][1].padding in (0, (0, 0)):
            layer, out, _ = _pool(mods[i + 1][1], _label(mods, i + 1), shape, pad[0])
            return layer, out, 2
    if kind is nn.MaxPool2d:
        return _pool(m, label, shape, 0)
    raise ExportError(f"{label} has no kobai layer; from_torch reads {SUPPORTED} "
                      "(their subclasses count as unknown: their forward may differ)")


def _batchnorm(mods: list[tuple[str, Any]], i: int, shape: tuple[int, ...], nn: Any,
               dt: np.dtype) -> BatchNormalization:
    m, label = mods[i][1], _label(mods, i)
    if m.num_features != math.prod(shape):
        raise ExportError(f"{label} normalizes {m.num_features} features but gets samples of "
                          f"shape {shape}")
    if not (m.affine and m.track_running_stats) or m.momentum is None:
        raise ExportError(f"{label} has affine={m.affine}, track_running_stats="
                          f"{m.track_running_stats}, momentum={m.momentum}; kobai's "
                          "BatchNormalization has gamma and beta and running averages: "
                          "affine=True, track_running_stats=True and a momentum number")
    try:
        return BatchNormalization(
            _numpy(m.weight, dt, f"{label} weight"), _numpy(m.bias, dt, f"{label} bias"),
            momentum=1.0 - m.momentum, eps=m.eps,
            running_mean=_numpy(m.running_mean, dt, f"{label} running_mean"),
            running_var=_numpy(m.running_var, dt, f"{label} running_var"))
    except ValueError as exc:
        raise ExportError(f"{label} {exc}") from None


def _conv(m: Any, label: str, shape: tuple[int, ...], dt: np.dtype
          ) -> tuple[Any, tuple[int, ...], int]:
    padding = 0 if m.padding == "valid" else m.padding
    if m.groups != 1 or tuple(m.dilation) != (1, 1) or m.padding_mode != "zeros" \
            or isinstance(padding, str):
        raise ExportError(f"{label} has groups={m.groups}, dilation={m.dilation}, padding="
                          f"{m.padding!r}, padding_mode={m.padding_mode!r}; kobai's "
                          "Convolution takes groups=1, dilation=1 and zero padding given as "
                          "numbers")
    pad, stride = _pair(padding, "padding", label), _pair(m.stride, "stride", label)
    if len(shape) != 3 or shape[0] != m.in_channels:
        raise ExportError(f"{label} takes images of {m.in_channels} channel(s), (C, H, W), "
                          f"but gets samples of shape {shape}")
    W = _numpy(m.weight, dt, f"{label} weight")
    b = (np.zeros(m.out_channels, dt) if m.bias is None
         else _numpy(m.bias, dt, f"{label} bias"))
    out = (m.out_channels, *_windows(shape, m.kernel_size, stride, pad, label))
    return Convolution(W, b, stride=stride, pad=pad), out, 1


def _pool(m: Any, label: str, shape: tuple[int, ...], pad: int
          ) -> tuple[Any, tuple[int, ...], int]:
    if m.ceil_mode or m.return_indices or m.dilation not in (1, (1, 1)):
        raise ExportError(f"{label} has dilation={m.dilation}, ceil_mode={m.ceil_mode}, "
                          f"return_indices={m.return_indices}; kobai's Pooling takes "
                          "dilation=1, ceil_mode=False, return_indices=False")
    window = (m.kernel_size, m.kernel_size) if isinstance(m.kernel_size, int) \
        else tuple(m.kernel_size)
    stride = _pair(m.stride if m.stride is not None else m.kernel_size, "stride", label)
    pad = pad or _pair(m.padding, "padding", label)
    if len(shape) != 3:
        raise ExportError(f"{label} takes images (C, H, W) but gets samples of shape {shape}")
    try:
        layer = Pooling(window[0], window[1], stride=stride, pad=pad)
    except ValueError as exc:
        raise ExportError(f"{label} {exc}") from None
    return layer, (shape[0], *_windows(shape, window, stride, pad, label)), 1
