"""``SimpleConvNet`` (§7.5): ``Conv → ReLU → Pool → Affine → ReLU → Affine``, the book's
chapter 7 network, as a builder of the generic :class:`~kobai.nets.Network`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import is_real, positive_int, resolve_dtype, resolve_rng
from ..layers import Affine, Convolution, Pooling, Relu, SoftmaxWithLoss
from ..util import conv_output_size, window_count
from .network import Network

__all__ = ["SimpleConvNet", "conv_options"]

_CONV_KEYS = ("filter_num", "filter_size", "pad", "stride")
_BOOK_CONV = {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}


def conv_options(conv_param: Mapping[str, Any], name: str = "conv_param") -> dict[str, int]:
    """The book's ``conv_param`` dict, checked: ``filter_num``, ``filter_size``, ``pad``,
    ``stride`` as integers (filter_num, filter_size, stride >= 1; pad >= 0)."""
    if not isinstance(conv_param, Mapping):
        raise TypeError(f"{name} must be a dict like {{'filter_num': 30, 'filter_size': 5, "
                        f"'pad': 0, 'stride': 1}}, got {type(conv_param).__name__}")
    unknown = sorted(set(conv_param) - set(_CONV_KEYS))
    missing = [k for k in _CONV_KEYS if k not in conv_param]
    if unknown or missing:
        raise ValueError(f"{name} needs exactly the keys {list(_CONV_KEYS)}; missing "
                         f"{missing or 'nothing'}, unknown {unknown or 'nothing'}")
    out = {}
    for key in _CONV_KEYS:
        value = conv_param[key]
        if key == "pad":
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ValueError(f"{name}['pad'] must be an integer >= 0, got {value!r}")
            out[key] = int(value)
        else:
            out[key] = positive_int(value, f"{name}[{key!r}]")
    return out


def input_dims(input_dim: Sequence[int]) -> tuple[int, int, int]:
    """``(C, H, W)``, checked."""
    if isinstance(input_dim, (str, bytes)) or not isinstance(input_dim, Sequence) or len(
            input_dim) != 3:
        raise ValueError(f"input_dim must be (channels, height, width) such as (1, 28, 28), "
                         f"got {input_dim!r}")
    c, h, w = (positive_int(d, "each of input_dim") for d in input_dim)
    return c, h, w


class SimpleConvNet(Network):
    """The book's ``SimpleConvNet`` (§7.5): conv - relu - pool - affine - relu - affine - softmax.

    Parameters
    ----------
    input_dim : (C, H, W)
        Shape of one image; default (1, 28, 28), MNIST.
    conv_param : dict
        ``filter_num``, ``filter_size``, ``pad``, ``stride`` of the convolution (followed by
        2×2 max pooling, stride 2); default the book's ``30, 5, 0, 1``.
    hidden_size, output_size : int
    weight_init_std : float
        Standard deviation of every initial weight (the book's 0.01).
    rng : numpy.random.Generator or int, optional
    dtype : float32 or float64

    Attributes
    ----------
    params : dict
        ``W1 (FN, C, FS, FS)``, ``b1``, ``W2 (FN·PH·PW, hidden_size)``, ``b2``,
        ``W3 (hidden_size, output_size)``, ``b3``: the book's names and shapes.
    layers : dict
        ``Conv1, Relu1, Pool1, Affine1, Relu2, Affine2`` (the book's names).
    """

    def __init__(self, input_dim: Sequence[int] = (1, 28, 28),
                 conv_param: Mapping[str, Any] | None = None, hidden_size: int = 100,
                 output_size: int = 10, weight_init_std: float = 0.01, *,
                 rng: np.random.Generator | int | None = None,
                 dtype: type | np.dtype | str = np.float64):
        c, h, w = self.input_dim = input_dims(input_dim)
        self.conv_param = conv_options(conv_param if conv_param is not None else _BOOK_CONV)
        self.hidden_size = positive_int(hidden_size, "hidden_size")
        output_size = positive_int(output_size, "output_size")
        if not (is_real(weight_init_std) and weight_init_std > 0
                and math.isfinite(weight_init_std)):
            raise ValueError(f"weight_init_std must be a positive number (the book's 0.01), "
                             f"got {weight_init_std!r}")
        self.weight_init_std = float(weight_init_std)
        dt = resolve_dtype(dtype)
        rng = resolve_rng(rng)
        fn, fs, pad, stride = (self.conv_param[k] for k in _CONV_KEYS)
        shapes = _shapes(self.input_dim, self.conv_param, self.hidden_size, output_size)
        self._check_param_count(shapes, dt)
        pooled = shapes["W2"][0]

        def weights(*shape: int) -> np.ndarray:
            return (self.weight_init_std * rng.standard_normal(shape)).astype(dt)

        layers = {
            "Conv1": Convolution(weights(fn, c, fs, fs), np.zeros(fn, dt), stride, pad),
            "Relu1": Relu(),
            "Pool1": Pooling(2, 2, stride=2),
            "Affine1": Affine(weights(pooled, self.hidden_size), np.zeros(self.hidden_size, dt)),
            "Relu2": Relu(),
            "Affine2": Affine(weights(self.hidden_size, output_size), np.zeros(output_size, dt)),
        }
        super().__init__(layers, SoftmaxWithLoss(), input_shape=(c, h, w),
                         output_size=output_size)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-able dict: ``type(net)(**net.get_config())``."""
        return {"input_dim": list(self.input_dim), "conv_param": dict(self.conv_param),
                "hidden_size": self.hidden_size, "output_size": self.output_size,
                "weight_init_std": self.weight_init_std, "dtype": self.dtype.name}

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of ``cls(**config).state_dict()``, without building the network."""
        args = cls._arguments(config)
        conv_param = args["conv_param"]
        return _shapes(input_dims(args["input_dim"]),
                       conv_options(conv_param if conv_param is not None else _BOOK_CONV),
                       positive_int(args["hidden_size"], "hidden_size"),
                       positive_int(args["output_size"], "output_size"))

    def __repr__(self) -> str:
        p = self.conv_param
        return (f"SimpleConvNet({'×'.join(map(str, self.input_dim))}, {p['filter_num']} "
                f"filters {p['filter_size']}×{p['filter_size']}, hidden {self.hidden_size}, "
                f"{self.dtype.name})")


def _shapes(input_dim: tuple[int, int, int], conv_param: Mapping[str, int], hidden_size: int,
            output_size: int) -> dict[str, tuple[int, ...]]:
    """SimpleConvNet's parameter shapes (checked sizes): ``W1, b1, W2, b2, W3, b3``."""
    c, h, w = input_dim
    fn, fs, pad, stride = (conv_param[k] for k in _CONV_KEYS)
    where = f"SimpleConvNet: input_dim {input_dim} and conv_param {dict(conv_param)}: "
    oh = window_count(h, fs, stride, pad, "height", where)
    ow = window_count(w, fs, stride, pad, "width", where)
    pooled = fn * conv_output_size(oh, 2, 2) * conv_output_size(ow, 2, 2)
    return {"W1": (fn, c, fs, fs), "b1": (fn,), "W2": (pooled, hidden_size),
            "b2": (hidden_size,), "W3": (hidden_size, output_size), "b3": (output_size,)}
