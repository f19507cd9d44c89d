"""``DeepConvNet`` (§8.1): six 3×3 convolutions in three blocks, then two affine layers with
dropout, the book's chapter 8 network (99.35% on MNIST), as a builder of the generic
:class:`~kobai.nets.Network`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import is_real, positive_int, resolve_dtype, resolve_rng
from ..layers import Affine, Convolution, Dropout, Pooling, Relu, SoftmaxWithLoss
from ..util import window_count
from .network import Network
from .simple_conv_net import conv_options, input_dims

__all__ = ["DeepConvNet"]

_BOOK_CONV = ((16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1))  # (filter_num, pad)


def _book_conv(i: int) -> dict[str, int]:
    fn, pad = _BOOK_CONV[i]
    return {"filter_num": fn, "filter_size": 3, "pad": pad, "stride": 1}


class DeepConvNet(Network):
    """The book's ``DeepConvNet`` (§8.1): ``(conv - relu - conv - relu - pool) × 3 -
    affine - relu - dropout - affine - dropout - softmax``.

    Weights start as He's, ``sqrt(2 / fan_in)``. Dropout is inverted; ``load_params``
    converts the book's trained (non-inverted) weights to give the book's predictions.

    Parameters
    ----------
    input_dim : (C, H, W)
    conv_param_1, …, conv_param_6 : dict, optional
        The book's: 16, 16, 32, 32, 64, 64 3×3 filters, pad 1 (``conv_param_4``: 2), stride 1.
    hidden_size, output_size : int
    dropout_ratio : float
        Of both dropout layers (the book's 0.5).
    rng : numpy.random.Generator or int, optional
    dtype : float32 or float64

    Attributes
    ----------
    params : dict
        ``W1 (16, 1, 3, 3)`` … ``W6 (64, 64, 3, 3)``, ``W7 (1024, 50)``, ``W8 (50, 10)`` and
        ``b1`` … ``b8``: the book's names and shapes.
    """

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28),
                 conv_param_1: Mapping[str, Any] | None = None,
                 conv_param_2: Mapping[str, Any] | None = None,
                 conv_param_3: Mapping[str, Any] | None = None,
                 conv_param_4: Mapping[str, Any] | None = None,
                 conv_param_5: Mapping[str, Any] | None = None,
                 conv_param_6: Mapping[str, Any] | None = None,
                 hidden_size: int = 50, output_size: int = 10, *,
                 dropout_ratio: float = 0.5,
                 rng: np.random.Generator | int | None = None,
                 dtype: type | np.dtype | str = np.float64):
        c, h, w = self.input_dim = input_dims(input_dim)
        given = (conv_param_1, conv_param_2, conv_param_3, conv_param_4, conv_param_5,
                 conv_param_6)
        self.conv_params = [conv_options(p if p is not None else _book_conv(i),
                                         f"conv_param_{i + 1}") for i, p in enumerate(given)]
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        output_size = positive_int(output_size, "output_size")
        if isinstance(dropout_ratio, bool) or not (is_real(dropout_ratio)
                                                   and 0.0 <= dropout_ratio < 1.0):
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = float(dropout_ratio)
        dt = resolve_dtype(dtype)
        rng = resolve_rng(rng)

        def he(fan_in: int, *shape: int) -> np.ndarray:
            return (math.sqrt(2.0 / fan_in) * rng.standard_normal(shape)).astype(dt)

        # The shapes first, so that sizes too large are refused before anything is allocated.
        shapes = _shapes(self.input_dim, self.conv_params, self.hidden_size, output_size)
        self._check_param_count(shapes, dt)
        flat = shapes["W7"][0]

        layers: dict[str, Any] = {}
        for i, p in enumerate(self.conv_params, start=1):
            fn, channels, fs, _ = shapes[f"W{i}"]
            layers[f"Conv{i}"] = Convolution(he(channels * fs * fs, fn, channels, fs, fs),
                                             np.zeros(fn, dt), p["stride"], p["pad"])
            layers[f"Relu{i}"] = Relu()
            if i % 2 == 0:
                layers[f"Pool{i // 2}"] = Pooling(2, 2, stride=2)
        layers["Affine1"] = Affine(he(flat, flat, self.hidden_size),
                                   np.zeros(self.hidden_size, dt))
        layers["Relu7"] = Relu()
        layers["Dropout1"] = Dropout(self.dropout_ratio, rng=rng)
        layers["Affine2"] = Affine(he(self.hidden_size, self.hidden_size, output_size),
                                   np.zeros(output_size, dt))
        layers["Dropout2"] = Dropout(self.dropout_ratio, rng=rng)
        super().__init__(layers, SoftmaxWithLoss(), input_shape=self.input_dim,
                         output_size=output_size)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-able dict: ``type(net)(**net.get_config())``."""
        config: dict[str, Any] = {"input_dim": list(self.input_dim)}
        for i, p in enumerate(self.conv_params, start=1):
            config[f"conv_param_{i}"] = dict(p)
        config.update(hidden_size=self.hidden_size, output_size=self.output_size,
                      dropout_ratio=self.dropout_ratio, dtype=self.dtype.name)
        return config

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of ``cls(**config).state_dict()``, without building the network."""
        args = cls._arguments(config)
        conv_params = [conv_options(p if p is not None else _book_conv(i), f"conv_param_{i + 1}")
                       for i, p in enumerate(args[f"conv_param_{i}"] for i in range(1, 7))]
        return _shapes(input_dims(args["input_dim"]), conv_params,
                       positive_int(args["hidden_size"], "hidden_size"),
                       positive_int(args["output_size"], "output_size"))

    def __repr__(self) -> str:
        filters = "-".join(str(p["filter_num"]) for p in self.conv_params)
        return (f"DeepConvNet({'×'.join(map(str, self.input_dim))}, filters {filters}, "
                f"hidden {self.hidden_size}, {self.dtype.name})")


def _shapes(input_dim: tuple[int, int, int], conv_params: Sequence[Mapping[str, int]],
            hidden_size: int, output_size: int) -> dict[str, tuple[int, ...]]:
    """DeepConvNet's parameter shapes (checked sizes): ``W1, b1, ..., W8, b8``."""
    c, h, w = input_dim
    shapes: dict[str, tuple[int, ...]] = {}
    channels = c
    for i, p in enumerate(conv_params, start=1):
        fn, fs = p["filter_num"], p["filter_size"]
        shapes[f"W{i}"], shapes[f"b{i}"] = (fn, channels, fs, fs), (fn,)
        where = f"DeepConvNet: conv_param_{i} {p} on {channels}×{h}×{w} inputs: "
        h = window_count(h, fs, p["stride"], p["pad"], "height", where)
        w = window_count(w, fs, p["stride"], p["pad"], "width", where)
        channels = fn
        if i % 2 == 0:
            where = f"DeepConvNet: the 2×2 pooling after conv_param_{i} on {h}×{w}: "
            h = window_count(h, 2, 2, 0, "height", where)
            w = window_count(w, 2, 2, 0, "width", where)
    flat = channels * h * w
    shapes.update(W7=(flat, hidden_size), b7=(hidden_size,),
                  W8=(hidden_size, output_size), b8=(output_size,))
    return shapes
