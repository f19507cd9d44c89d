"""A plain book-style multi-layer network: the baseline kobai's training step is timed against.

This is the code of *Deep Learning from Scratch* (ゼロから作るDeep Learning), chapter 5
(``common/layers.py``, ``common/functions.py``) and chapter 6 (``common/multi_layer_net.py``,
``common/optimizer.py``), written out again the way the book writes it: layers in an
``OrderedDict``, every forward and backward allocating its result, the book's ``SGD`` update
``params[key] -= lr * grads[key]``. It is parameterised by layer sizes and activation and kept
in one dtype (float32 for the benchmarks). It is deliberately *not* tuned, and deliberately
not slowed down either: it is the honest baseline a reader of the book would write.

Like the book, ``Relu.backward`` zeroes ``dout`` in place; kobai's own layers do not.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function ``1 / (1 + exp(-x))`` (book 3.2.4)."""
    return 1 / (1 + np.exp(-x))


def softmax(x: np.ndarray) -> np.ndarray:
    """Softmax over the last axis with the max subtracted (book 3.5.2)."""
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y: np.ndarray, t: np.ndarray) -> float:
    """Mean cross-entropy of probabilities ``y`` (B, C), integer labels ``t`` (B,) (book 4.2.4)."""
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class Relu:
    """ReLU layer (book 5.5.1)."""

    def __init__(self) -> None:
        self.mask = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dout[self.mask] = 0
        return dout


class Sigmoid:
    """Sigmoid layer (book 5.5.2): ``dx = dout * (1 - y) * y``."""

    def __init__(self) -> None:
        self.out = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = sigmoid(x)
        self.out = out
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out) * self.out


class Affine:
    """Affine layer ``x @ W + b`` (book 5.6.2)."""

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.dot(x, self.W) + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx


class SoftmaxWithLoss:
    """Softmax followed by cross-entropy, integer labels (book 5.6.3)."""

    def __init__(self) -> None:
        self.y = None
        self.t = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, self.t)

    def backward(self, dout: float = 1) -> np.ndarray:
        batch_size = self.t.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class BookMultiLayerNet:
    """The book's ``MultiLayerNet`` (6.1), without weight decay, dropout or batch norm.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``[input_size, *hidden_sizes, output_size]``, e.g. ``[784, 50, 10]``.
    activation : {"relu", "sigmoid"}
        Hidden-layer activation.
    params : dict of str -> ndarray
        Initial ``W1, b1, W2, b2, ...``; ``W{i}`` of shape ``(sizes[i-1], sizes[i])``. Copied.
    """

    def __init__(self, sizes, activation: str, params: dict[str, np.ndarray]) -> None:
        activations = {"relu": Relu, "sigmoid": Sigmoid}
        if activation not in activations:
            raise ValueError(f"activation {activation!r} is not one of {sorted(activations)}")
        n = len(sizes) - 1
        self.params = {key: value.copy() for key, value in params.items()}
        self.layers = OrderedDict()
        for i in range(1, n + 1):
            self.layers[f"Affine{i}"] = Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i < n:
                self.layers[f"Activation_function{i}"] = activations[activation]()
        self.last_layer = SoftmaxWithLoss()
        self.n_affine = n

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
        for i in range(1, self.n_affine + 1):
            grads[f"W{i}"] = self.layers[f"Affine{i}"].dW
            grads[f"b{i}"] = self.layers[f"Affine{i}"].db
        return grads


class SGD:
    """The book's stochastic gradient descent (6.1.2)."""

    def __init__(self, lr: float = 0.01) -> None:
        self.lr = lr

    def update(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        for key in params.keys():
            params[key] -= self.lr * grads[key]


def init_params(sizes, activation: str, rng, dtype=np.float32,
                weight_init_std: float | None = None) -> dict[str, np.ndarray]:
    """Initial weights as the book draws them: He (relu) / Xavier (sigmoid) scale, zero biases.

    ``weight_init_std`` overrides the scale with one fixed standard deviation
    (the book's ``TwoLayerNet`` uses 0.01).
    """
    rng = np.random.default_rng(rng)
    params = {}
    for i in range(1, len(sizes)):
        n_in, n_out = sizes[i - 1], sizes[i]
        if weight_init_std is not None:
            scale = weight_init_std
        else:
            scale = np.sqrt((2.0 if activation == "relu" else 1.0) / n_in)
        params[f"W{i}"] = (scale * rng.standard_normal((n_in, n_out))).astype(dtype)
        params[f"b{i}"] = np.zeros(n_out, dtype=dtype)
    return params


def train_step(net: BookMultiLayerNet, optimizer: SGD, x: np.ndarray, t: np.ndarray) -> None:
    """One book-style training step: backprop gradient, then the optimizer update."""
    grads = net.gradient(x, t)
    optimizer.update(net.params, grads)
