"""The inference graph of a network: the one walk over its layers that every exporter reads.

:func:`inference_graph` turns a :class:`~kobai.nets.Network` into a list of :class:`Step`\\ s,
each what one layer computes in evaluation mode (``train=False``), with its arrays copied in
the export's dtype and the shape of one sample before and after it. ONNX, PyTorch and the web
page are three ways of writing these steps down; none of them looks at a layer itself, so a
layer kobai adds needs one entry here (and one per backend), and a layer the exporters do not
know is refused once, here, naming it.

What each step computes, for one batch ``x`` of samples of shape ``in_shape``:

=============  ========================================================================
``flatten``    ``x.reshape(N, -1)``: C-order, as ``Affine`` flattens images
``linear``     ``x @ W + b``; ``W`` as kobai keeps it, (in, out)
``conv``       cross-correlation of (N, C, H, W) with ``W`` (FN, C, FH, FW), plus ``b``;
               ``stride``, ``pad`` (zeros, on every side)
``maxpool``    max over ``pool_h × pool_w`` windows; ``stride``, ``pad`` (padding never wins)
``relu``       ``max(x, 0)``
``sigmoid``    ``1 / (1 + exp(-x))``
``tanh``       ``tanh(x)``
``batchnorm``  ``(x - mean) / std * gamma + beta``, every array of shape ``in_shape``
               (the book normalizes a 4-D input per element, ``x.reshape(N, -1)``, not per
               channel); ``std = sqrt(var + eps)`` computed as the layer does, ``var``,
               ``eps`` and ``momentum`` kept for backends with a batch-norm module
``dropout``    ``x`` when ``inverted`` (kobai's default), else ``x * (1 - ratio)``
=============  ========================================================================

The graph ends with the logits; the class probabilities are ``softmax`` of them over the last
axis, as :meth:`~kobai.nets.Network.predict_proba`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import DTypeLike

from ..layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Flatten,
    Pooling,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)
from ..util import window_count

__all__ = ["ExportError", "Graph", "Step", "inference_graph", "check_finite", "OPS"]

#: every op a Step can hold
OPS = ("flatten", "linear", "conv", "maxpool", "relu", "sigmoid", "tanh", "batchnorm",
       "dropout")

_ELEMENTWISE = {Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}
_KNOWN = (Affine, Flatten, Convolution, Pooling, Relu, Sigmoid, Tanh, Dropout,
          BatchNormalization)


class ExportError(ValueError):
    """A network cannot be exported as asked; the message names the layer or file and why."""


@dataclass(frozen=True)
class Step:
    """One layer's evaluation-mode computation (see the module docstring for each ``op``).

    Attributes
    ----------
    op : str
        One of :data:`OPS`.
    name : str
        The layer's name in the network (``"Affine1"``); a ``flatten`` that ``Affine`` does
        by itself is named after that Affine (``"Affine1.flatten"``).
    arrays : dict of str to ndarray
        Copies, in the graph's dtype.
    attrs : dict of str to int, float or bool
    in_shape, out_shape : tuple of int
        Of one sample.
    """

    op: str
    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Graph:
    """A network's inference as steps.

    Attributes
    ----------
    steps : list of Step
        In order; the last one's output is the logits, of shape ``(output_size,)``.
    input_shape : tuple of int
        Of one sample: ``(784,)`` for the MLPs, ``(1, 28, 28)`` for the conv nets.
    output_size : int
    dtype : numpy.dtype
        Of every array (float32 or float64).
    network : str
        The network's class name, for messages and file metadata.
    """

    steps: list[Step]
    input_shape: tuple[int, ...]
    output_size: int
    dtype: np.dtype
    network: str


def inference_graph(net: Any, dtype: DTypeLike | None = None) -> Graph:
    """The evaluation-mode computation of ``net`` as :class:`Step`\\ s.

    Parameters
    ----------
    net : Network
        Any kobai network (``TwoLayerNet``, ``MultiLayerNet``, the conv nets, a ``Network``
        of built-in layers, one loaded from the book's pickles).
    dtype : float32 or float64, optional
        Of the graph's arrays; default the network's own.

    Raises
    ------
    ExportError
        A layer or loss layer the exporters do not know (naming it and listing those they
        do), a parameter or running statistic holding NaN or infinity, or shapes that do not
        chain.
    """
    from ..nets import Network

    if not isinstance(net, Network):
        raise ExportError(f"expected a kobai network (kobai.nets.Network or one of its "
                          f"subclasses), got {type(net).__name__}")
    dt = np.dtype(net.dtype if dtype is None else dtype)
    if dt not in (np.float32, np.float64):
        raise ExportError(f"dtype must be float32 or float64, got {dt}")
    if type(net.last_layer) is not SoftmaxWithLoss:
        raise ExportError(f"cannot export a network ending in {_class_name(net.last_layer)}: "
                          "the exporters write softmax probabilities, the output of "
                          "SoftmaxWithLoss")
    check_finite(net)
    steps: list[Step] = []
    shape = tuple(net.input_shape)
    for name, layer in net.layers.items():
        for step in _steps(name, layer, shape, dt):
            steps.append(step)
            shape = step.out_shape
    if shape != (net.output_size,):
        raise ExportError(f"{type(net).__name__}'s last layer gives samples of shape {shape}; "
                          f"expected ({net.output_size},), one score per class")
    return Graph(steps=steps, input_shape=tuple(net.input_shape),
                 output_size=int(net.output_size), dtype=dt, network=type(net).__name__)


def _class_name(obj: Any) -> str:
    cls = type(obj)
    return cls.__name__ if cls.__module__.startswith("kobai.") else \
        f"{cls.__module__}.{cls.__qualname__}"


def check_finite(net: Any) -> None:
    """Refuse a network whose parameters or state hold NaN or infinity, naming the array."""
    for key, arr in net.state_dict().items():
        if not np.all(np.isfinite(arr)):
            bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
            raise ExportError(f"{type(net).__name__}'s {key} holds {bad} NaN or infinite "
                              f"value{'s' * (bad != 1)} (of {arr.size}); a network that "
                              "diverged cannot be exported: load a checkpoint from before, "
                              "or train again with a smaller learning rate")


def _steps(name: str, layer: Any, shape: tuple[int, ...], dt: np.dtype) -> list[Step]:
    cls = type(layer)
    if cls not in _KNOWN:
        known = ", ".join(k.__name__ for k in _KNOWN)
        raise ExportError(f"cannot export layer {name!r} ({_class_name(layer)}): the "
                          f"exporters know {known} (subclasses count as unknown: their "
                          "forward may differ)")

    def arr(a: np.ndarray) -> np.ndarray:
        return np.array(a, dtype=dt, copy=True)

    if cls in _ELEMENTWISE:
        return [Step(_ELEMENTWISE[cls], name, shape, shape)]
    if cls is Flatten:
        return [Step("flatten", name, shape, (math.prod(shape),))]
    if cls is Affine:
        W, b = layer.params["W"], layer.params["b"]
        steps = []
        if len(shape) != 1:
            steps.append(Step("flatten", f"{name}.flatten", shape, (math.prod(shape),)))
            shape = (math.prod(shape),)
        if shape[0] != W.shape[0]:
            raise ExportError(f"layer {name!r} (Affine) takes {W.shape[0]} features, but the "
                              f"layers before it give {shape[0]}")
        steps.append(Step("linear", name, shape, (W.shape[1],),
                          {"W": arr(W), "b": arr(b)}))
        return steps
    if cls is Convolution:
        W, b = layer.params["W"], layer.params["b"]
        fn, c, fh, fw = W.shape
        if len(shape) != 3 or shape[0] != c:
            raise ExportError(f"layer {name!r} (Convolution) takes images of {c} channel(s), "
                              f"(C, H, W) = ({c}, H, W), but the layers before it give "
                              f"samples of shape {shape}")
        where = f"layer {name!r} (Convolution): "
        out = (fn, *_windows(shape, (fh, fw), layer.stride, layer.pad, where))
        return [Step("conv", name, shape, out, {"W": arr(W), "b": arr(b)},
                     {"stride": layer.stride, "pad": layer.pad})]
    if cls is Pooling:
        if len(shape) != 3:
            raise ExportError(f"layer {name!r} (Pooling) takes images (C, H, W), but the "
                              f"layers before it give samples of shape {shape}")
        where = f"layer {name!r} (Pooling): "
        window = (layer.pool_h, layer.pool_w)
        out = (shape[0], *_windows(shape, window, layer.stride, layer.pad, where))
        return [Step("maxpool", name, shape, out, {},
                     {"pool_h": layer.pool_h, "pool_w": layer.pool_w,
                      "stride": layer.stride, "pad": layer.pad})]
    if cls is Dropout:
        return [Step("dropout", name, shape, shape, {},
                     {"ratio": layer.ratio, "inverted": layer.inverted})]
    # BatchNormalization: per feature of the flattened sample, as the layer computes it
    gamma, beta = layer.params["gamma"], layer.params["beta"]
    if gamma.size != math.prod(shape):
        raise ExportError(f"layer {name!r} (BatchNormalization) normalizes {gamma.size} "
                          f"features, but the layers before it give samples of shape {shape} "
                          f"({math.prod(shape)} features)")
    mean, var = layer.state["running_mean"], layer.state["running_var"]
    std = np.sqrt(var.astype(dt) + dt.type(layer.eps))  # as BatchNormalization.forward
    return [Step("batchnorm", name, shape, shape,
                 {"gamma": arr(gamma).reshape(shape), "beta": arr(beta).reshape(shape),
                  "mean": arr(mean).reshape(shape), "var": arr(var).reshape(shape),
                  "std": std.reshape(shape)},
                 {"eps": layer.eps, "momentum": layer.momentum})]


def _windows(shape: tuple[int, ...], window: tuple[int, int], stride: int, pad: int,
             where: str) -> tuple[int, int]:
    try:
        return (window_count(shape[1], window[0], stride, pad, "height", where),
                window_count(shape[2], window[1], stride, pad, "width", where))
    except ValueError as exc:
        raise ExportError(str(exc)) from None
