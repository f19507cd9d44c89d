"""Layers with ``forward`` and ``backward`` side by side (chapters 5–6, ``common/layers.py``).

Each layer caches in ``forward`` exactly what ``backward`` needs. ``backward(dout)`` returns the
gradient with respect to the layer's input and stores parameter gradients on the layer
(``dW``, ``db``, ``dgamma``, ``dbeta``). No layer modifies its ``dout`` argument.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_t, resolve_rng

__all__ = ["Affine", "Relu", "Sigmoid", "Tanh", "SoftmaxWithLoss", "Dropout",
           "BatchNormalization"]


class Affine:
    """Fully connected layer ``out = x · W + b`` (§5.6.2).

    Parameters
    ----------
    W : ndarray of shape (input_size, output_size)
    b : ndarray of shape (output_size,)

    ``forward`` flattens n-d input to ``(batch_size, input_size)`` and ``backward`` returns
    ``dx`` in the input's original shape. Set ``compute_dx = False`` on a network's first layer:
    nothing needs the gradient with respect to the data, and it is a whole matrix product.
    """

    def __init__(self, W: np.ndarray, b: np.ndarray):
        self.W, self.b = W, b
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None
        self.compute_dx = True
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1) if x.ndim != 2 else x
        out = self.x @ self.W
        out += self.b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        # out = x·W + b  =>  dW = xᵀ·dout,  db = Σ_batch dout,  dx = dout·Wᵀ
        self.dW = self.x.T @ dout
        self.db = dout.sum(axis=0)
        if not self.compute_dx:
            return None
        return (dout @ self.W.T).reshape(self.original_x_shape)


class Relu:
    """``max(0, x)`` (§5.5.1); the derivative at exactly 0 is taken as 0, as in the book."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None  # True where x > 0

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask  # a new array: the book's dout[mask] = 0 modified the caller's

    def kink_state(self) -> np.ndarray:
        """Which inputs of the last forward were on the positive side of the kink at 0."""
        return self.mask.copy()


class Sigmoid:
    """``1 / (1 + exp(-x))`` (§5.5.2); backward uses the cached output: ``y(1 - y)``."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            out = np.exp(-x)
        out += 1.0
        self.out = np.reciprocal(out, out=out)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # dy/dx = y (1 - y)
        return dout * (1.0 - self.out) * self.out


class Tanh:
    """``tanh(x)``; backward uses the cached output: ``1 - y²``."""

    def __init__(self) -> None:
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * (1.0 - self.out * self.out)


class SoftmaxWithLoss:
    """Softmax followed by the mean cross-entropy loss (§5.6.3), exact via log-sum-exp.

    ``forward(x, t)`` accepts integer labels or one-hot rows; ``backward(dout=1.0)`` returns
    ``dout · (softmax(x) - onehot(t)) / batch_size`` (the book ignores ``dout``).
    """

    def __init__(self) -> None:
        self.loss: float | None = None
        self.y: np.ndarray | None = None  # softmax output
        self.labels: np.ndarray | None = None

    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        if x.ndim == 1:
            x = x.reshape(1, -1)
        return self.forward_labels(x, check_t(t, x.shape[0], x.shape[1]))

    def forward_labels(self, x: np.ndarray, labels: np.ndarray) -> float:
        """``forward`` for a 2-D ``x`` and already validated int labels (the nets' path)."""
        rows = np.arange(x.shape[0])
        shifted = x - x.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        s = e.sum(axis=1, keepdims=True)
        # -log softmax(x)[t] = log Σ exp(x - max) - (x[t] - max)
        self.loss = float(np.mean(np.log(s[:, 0]) - shifted[rows, labels]))
        e /= s
        self.y, self.labels = e, labels
        return self.loss

    def backward(self, dout: float = 1.0) -> np.ndarray:
        batch_size = self.y.shape[0]
        dx = self.y.copy()
        dx[np.arange(batch_size), self.labels] -= 1.0
        dx *= dout / batch_size
        return dx


class Dropout:
    """Inverted dropout (§6.4.3): in training, zero each input with probability ``ratio`` and
    scale the rest by ``1 / (1 - ratio)``, so evaluation is the identity and needs no rescaling.

    Set ``frozen = True`` to reuse the last mask (gradient checks need the same mask in every
    forward pass).
    """

    def __init__(self, ratio: float = 0.5, rng: np.random.Generator | int | None = None):
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"dropout ratio must be in [0, 1), got {ratio}")
        self.ratio = float(ratio)
        self.rng = resolve_rng(rng)
        self.frozen = False
        self.mask: np.ndarray | None = None  # 0 or 1/(1-ratio), in x's dtype

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        if not train:
            return x
        if not (self.frozen and self.mask is not None and self.mask.shape == x.shape):
            keep = self.rng.random(x.shape) >= self.ratio
            self.mask = keep.astype(x.dtype)
            self.mask *= 1.0 / (1.0 - self.ratio)
        return x * self.mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return dout * self.mask


class BatchNormalization:
    """Batch normalization (§6.3; Ioffe & Szegedy 2015) over the batch axis.

    ``out = gamma · (x - μ) / sqrt(σ² + eps) + beta`` with the batch mean and (biased) variance in
    training, and the running averages ``running = momentum · running + (1 - momentum) · batch``
    in evaluation. ``frozen = True`` stops the running statistics from being updated.

    Parameters
    ----------
    gamma, beta : ndarray of shape (n_features,)
    """

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 eps: float = 1e-5):
        self.gamma, self.beta = gamma, beta
        self.momentum, self.eps = float(momentum), float(eps)
        self.running_mean = np.zeros_like(gamma)
        self.running_var = np.ones_like(gamma)
        self.frozen = False
        self.dgamma: np.ndarray | None = None
        self.dbeta: np.ndarray | None = None
        self.xn: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.train = True
        self.input_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, train: bool = True) -> np.ndarray:
        self.input_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        self.train = train
        if train:
            mu = x2.mean(axis=0)
            xc = x2 - mu
            var = np.mean(xc * xc, axis=0)
            if not self.frozen:
                m = self.momentum
                self.running_mean *= m
                self.running_mean += (1 - m) * mu
                self.running_var *= m
                self.running_var += (1 - m) * var
        else:
            xc = x2 - self.running_mean
            var = self.running_var
        self.std = np.sqrt(var + self.eps)
        self.xn = xc / self.std
        return (self.gamma * self.xn + self.beta).reshape(self.input_shape)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        d2 = dout.reshape(dout.shape[0], -1)
        self.dbeta = d2.sum(axis=0)
        self.dgamma = np.sum(self.xn * d2, axis=0)
        dxn = self.gamma * d2
        if not self.train:  # μ and σ are constants in evaluation mode
            return (dxn / self.std).reshape(self.input_shape)
        # With xn = (x - μ)/σ over a batch of N:
        # dx = (N·dxn - Σ dxn - xn · Σ(dxn·xn)) / (N·σ)
        n = d2.shape[0]
        dx = n * dxn - dxn.sum(axis=0) - self.xn * np.sum(dxn * self.xn, axis=0)
        dx /= n * self.std
        return dx.reshape(self.input_shape)
