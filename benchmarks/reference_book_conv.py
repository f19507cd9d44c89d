"""The book's convolutional networks as shipped: the baseline of ``bench_conv.py``.

This is the code of *Deep Learning from Scratch* (ゼロから作るDeep Learning, Koki Saitoh,
O'Reilly Japan 2016; github.com/oreilly-japan/deep-learning-from-scratch, MIT License,
Copyright (c) 2016 Koki Saitoh), written out again the way the book writes it:
``common/util.py`` (``im2col``, ``col2im``), ``common/layers.py`` (``Convolution``,
``Pooling``, ``Affine``, ``Dropout``; ``Relu`` and ``SoftmaxWithLoss`` are the ones of
``reference_book.py``), ``common/optimizer.py`` (``Adam``), ``ch07/simple_convnet.py`` and
``ch08/deep_convnet.py``. It is deliberately not tuned, and not slowed down either.

As shipped, ``im2col`` builds its columns with ``np.zeros`` (float64) whatever the input's
dtype, so with float32 weights and images every convolution and pooling layer computes in
float64 from the first layer on; this is kept. Three departures, none of which changes the
arithmetic: the networks take their initial weights as a dict (to start from the same weights
as kobai and PyTorch) instead of drawing them; ``Dropout`` draws from a
``numpy.random.Generator`` instead of the global ``np.random.rand`` (the same work); and the
output sizes use ``//`` where the book writes ``int(... / ...)``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from reference_book import Relu, SoftmaxWithLoss  # a sibling file

__all__ = ["Adam", "Affine", "BookDeepConvNet", "BookSimpleConvNet", "Convolution", "Dropout",
           "Pooling", "Relu", "SoftmaxWithLoss", "col2im", "im2col", "train_step"]


# -- common/util.py -----------------------------------------------------------------------------
def im2col(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Unfold ``(N, C, H, W)`` into rows ``(N·out_h·out_w, C·filter_h·filter_w)`` (float64)."""
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1

    img = np.pad(input_data, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w))

    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]

    col = col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)
    return col


def col2im(col: np.ndarray, input_shape: tuple[int, int, int, int], filter_h: int,
           filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each row's window back into ``input_shape``."""
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)

    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]

    return img[:, :, pad:H + pad, pad:W + pad]


# -- common/layers.py ---------------------------------------------------------------------------
class Affine:
    """Affine layer for tensors (book 5.6.2 / 7.5): flattens the input, ``x @ W + b``."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        x = x.reshape(x.shape[0], -1)
        self.x = x
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class Dropout:
    """The book's (non-inverted) dropout (6.4.3): kept inputs unscaled in training, every input
    scaled by ``1 - ratio`` in evaluation."""

    def __init__(self, dropout_ratio: float = 0.5, rng: np.random.Generator | None = None):
        self.dropout_ratio = dropout_ratio
        self.rng = np.random.default_rng(rng)
        self.mask = None

    def forward(self, x: np.ndarray, train_flg: bool = True) -> np.ndarray:
        if train_flg:
            self.mask = self.rng.random(x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class Convolution:
    """Convolution by ``im2col`` and one matrix product (7.4.3)."""

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0) -> None:
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + (H + 2 * self.pad - FH) // self.stride
        out_w = 1 + (W + 2 * self.pad - FW) // self.stride

        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T

        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)

        self.x = x
        self.col = col
        self.col_W = col_W
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)

        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout)
        self.dW = self.dW.transpose(1, 0).reshape(FN, C, FH, FW)

        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling by ``im2col``, ``argmax`` per window and ``col2im`` (7.4.4)."""

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0) -> None:
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        N, C, H, W = x.shape
        out_h = 1 + (H - self.pool_h) // self.stride
        out_w = 1 + (W - self.pool_w) // self.stride

        col = im2col(x, self.pool_h, self.pool_w, self.stride, self.pad)
        col = col.reshape(-1, self.pool_h * self.pool_w)

        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)

        self.x = x
        self.arg_max = arg_max
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout = dout.transpose(0, 2, 3, 1)

        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dmax = dmax.reshape(dout.shape + (pool_size,))

        dcol = dmax.reshape(dmax.shape[0] * dmax.shape[1] * dmax.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


# -- common/optimizer.py ------------------------------------------------------------------------
class Adam:
    """The book's Adam (6.1.6), bias correction folded into the learning rate."""

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        if self.m is None:
            self.m, self.v = {}, {}
            for key, val in params.items():
                self.m[key] = np.zeros_like(val)
                self.v[key] = np.zeros_like(val)

        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2**self.iter) / (1.0 - self.beta1**self.iter)

        for key in params.keys():
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key]**2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)


# -- ch07/simple_convnet.py, ch08/deep_convnet.py -----------------------------------------------
class BookSimpleConvNet:
    """The book's ``SimpleConvNet`` (7.5): conv - relu - pool - affine - relu - affine - softmax.

    ``params``: ``W1 (FN, C, FS, FS), b1, W2, b2, W3, b3`` (copied); ``conv_param`` as the
    book's (default 30 filters 5×5, pad 0, stride 1).
    """

    def __init__(self, params: dict[str, np.ndarray], conv_param: dict | None = None) -> None:
        conv_param = conv_param or {"filter_num": 30, "filter_size": 5, "pad": 0, "stride": 1}
        self.params = {key: value.copy() for key, value in params.items()}

        self.layers = OrderedDict()
        self.layers["Conv1"] = Convolution(self.params["W1"], self.params["b1"],
                                           conv_param["stride"], conv_param["pad"])
        self.layers["Relu1"] = Relu()
        self.layers["Pool1"] = Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers["Affine1"] = Affine(self.params["W2"], self.params["b2"])
        self.layers["Relu2"] = Relu()
        self.layers["Affine2"] = Affine(self.params["W3"], self.params["b3"])
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last_layer.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        grads = {}
        grads["W1"], grads["b1"] = self.layers["Conv1"].dW, self.layers["Conv1"].db
        grads["W2"], grads["b2"] = self.layers["Affine1"].dW, self.layers["Affine1"].db
        grads["W3"], grads["b3"] = self.layers["Affine2"].dW, self.layers["Affine2"].db
        return grads


class BookDeepConvNet:
    """The book's ``DeepConvNet`` (8.1)::

        conv - relu - conv - relu - pool - conv - relu - conv - relu - pool -
        conv - relu - conv - relu - pool - affine - relu - dropout - affine - dropout - softmax

    ``params``: ``W1 … W8, b1 … b8`` of the book's shapes (copied); 3×3 filters, pad 1 except
    the fourth convolution (pad 2), stride 1.
    """

    PADS = (1, 1, 1, 2, 1, 1)

    def __init__(self, params: dict[str, np.ndarray], dropout_ratio: float = 0.5,
                 rng: np.random.Generator | None = None) -> None:
        self.params = {key: value.copy() for key, value in params.items()}
        rng = np.random.default_rng(rng)
        p = self.params
        self.layers = []
        for i, pad in enumerate(self.PADS, start=1):
            self.layers.append(Convolution(p[f"W{i}"], p[f"b{i}"], 1, pad))
            self.layers.append(Relu())
            if i % 2 == 0:
                self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Affine(p["W7"], p["b7"]))
        self.layers.append(Relu())
        self.layers.append(Dropout(dropout_ratio, rng))
        self.layers.append(Affine(p["W8"], p["b8"]))
        self.layers.append(Dropout(dropout_ratio, rng))
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x: np.ndarray, train_flg: bool = False) -> np.ndarray:
        for layer in self.layers:
            if isinstance(layer, Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last_layer.forward(self.predict(x, train_flg=True), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        dout = self.last_layer.backward(1)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        grads = {}
        for i, layer_idx in enumerate((0, 2, 5, 7, 10, 12, 15, 18)):
            grads[f"W{i + 1}"] = self.layers[layer_idx].dW
            grads[f"b{i + 1}"] = self.layers[layer_idx].db
        return grads


def train_step(net, optimizer: Adam, x: np.ndarray, t: np.ndarray) -> None:
    """One book-style training step: backprop gradient, then the optimizer update."""
    grads = net.gradient(x, t)
    optimizer.update(net.params, grads)
