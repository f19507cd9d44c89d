"""Layers that regularize training (§6.3–6.4): ``Dropout`` and ``BatchNormalization``."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from .._validate import is_real, resolve_rng
from .base import Layer, grad_property, param_property, state_property

__all__ = ["Dropout", "BatchNormalization", "normalize"]


class Dropout(Layer):
    """Dropout (§6.4.3): in training, zero each input with probability ``ratio``.

    Parameters
    ----------
    ratio : float in [0, 1)
    rng : numpy.random.Generator or int, optional
    inverted : bool
        True (kobai's default, as in PyTorch): the kept inputs are scaled by
        ``1 / (1 - ratio)`` in training, so evaluation is the identity. False: the book's
        convention, kept inputs unscaled in training and every input scaled by ``1 - ratio``
        in evaluation. The two compute the same function of differently scaled weights
        (``Network.load_params`` converts the book's trained weights).

    Set ``frozen = True`` to reuse the last mask (gradient checks need the same mask in every
    forward pass).
    """

    def __init__(self, ratio: float = 0.5, rng: np.random.Generator | int | None = None,
                 inverted: bool = True):
        super().__init__()
        if isinstance(ratio, bool) or not (is_real(ratio) and 0.0 <= ratio < 1.0):
            raise ValueError(f"dropout ratio must be in [0, 1) (a number: the fraction of inputs "
                             f"dropped, e.g. 0.5), got {ratio!r}")
        self.ratio = float(ratio)
        self.rng = resolve_rng(rng)
        self.inverted = bool(inverted)
        self.frozen = False
        self.mask: np.ndarray | None = None  # 0 or the kept inputs' scale, in x's dtype

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        if not train:
            return x if self.inverted else x * (1.0 - self.ratio)
        if not (self.frozen and self.mask is not None and self.mask.shape == x.shape):
            keep = self.rng.random(x.shape) >= self.ratio
            self.mask = keep.astype(x.dtype)
            if self.inverted:
                self.mask *= 1.0 / (1.0 - self.ratio)
        return self.apply(x)

    def apply(self, x: np.ndarray, where: Any = ..., out: np.ndarray | None = None
              ) -> np.ndarray:
        """``x · mask[where]`` with the last mask, for a batch or a stack of batches
        (…, N, F), into ``out`` (new when None). ``where`` selects part of the mask: e.g. the
        samples of some rows, or some columns (``(slice(None), columns)``)."""
        if self.mask is None:
            raise self._before_forward("apply")
        return np.multiply(x, self.mask[where], out=out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            raise self._before_forward()
        return dout * self.mask

    def get_config(self) -> dict[str, Any]:
        return {"ratio": self.ratio, "inverted": self.inverted}


def normalize(x: np.ndarray, eps: float, axis: int = -2
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(xn, μ, σ², σ)``: ``xn = (x - μ) / σ``, ``σ = sqrt(σ² + eps)``, with the mean and
    biased variance along ``axis`` (kept as a length-1 axis).

    The batch axis must not be the contiguous one, so that NumPy sums along it row after row
    for a batch ``(N, F)`` and for a stack of batches ``(P, N, F)`` alike (not pairwise).
    """
    mu = x.mean(axis=axis, keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=axis, keepdims=True)
    std = np.sqrt(var + eps)
    xc /= std
    return xc, mu, var, std


def _start(value: np.ndarray | None, default: float, gamma: np.ndarray,
           name: str) -> np.ndarray:
    """A running statistic's initial array: ``default`` everywhere, or a copy of ``value`` in
    ``gamma``'s dtype, which must have ``gamma``'s shape."""
    if value is None:
        return np.full_like(gamma, default)
    arr = np.array(value, dtype=np.asarray(gamma).dtype)  # a copy: updated in place
    if arr.shape != np.shape(gamma):
        raise ValueError(f"{name} has shape {arr.shape} but gamma has shape {np.shape(gamma)} "
                         "(one running statistic per feature)")
    return arr


class BatchNormalization(Layer):
    """Batch normalization (§6.3; Ioffe & Szegedy 2015) over the batch axis.

    ``out = gamma · (x - μ) / sqrt(σ² + eps) + beta`` with the batch mean and (biased) variance in
    training, and the running averages ``running = momentum · running + (1 - momentum) · batch``
    in evaluation. ``frozen = True`` stops the running statistics from being updated.

    Parameters
    ----------
    gamma, beta : ndarray of shape (n_features,)
    momentum : float in [0, 1]
        Weight of the old running statistics in each update.
    eps : float > 0
        Added to the variance before the square root (1e-5 as in PyTorch; the book: 1e-6).
    running_mean, running_var : ndarray of shape (n_features,), optional
        Initial running statistics (copied); default 0 and 1, so evaluation before training
        is the identity (the book starts both at 0: ``running_var=np.zeros_like(gamma)``).

    Attributes
    ----------
    min_train_batch : int
        2: training mode refuses a one-sample batch unless ``frozen`` (as PyTorch does).
    """

    min_train_batch: ClassVar[int] = 2

    gamma = param_property("gamma")
    beta = param_property("beta")
    dgamma = grad_property("gamma")
    dbeta = grad_property("beta")

    def __init__(self, gamma: np.ndarray, beta: np.ndarray, momentum: float = 0.9,
                 eps: float = 1e-5, running_mean: np.ndarray | None = None,
                 running_var: np.ndarray | None = None):
        super().__init__()
        if isinstance(momentum, bool) or not (is_real(momentum) and 0.0 <= momentum <= 1.0):
            raise ValueError(f"momentum must be in [0, 1] (a number), got {momentum!r}")
        if isinstance(eps, bool) or not (is_real(eps) and eps > 0 and math.isfinite(eps)):
            raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
        self.params["gamma"], self.params["beta"] = gamma, beta
        self.momentum, self.eps = float(momentum), float(eps)
        self.state["running_mean"] = _start(running_mean, 0.0, gamma, "running_mean")
        self.state["running_var"] = _start(running_var, 1.0, gamma, "running_var")
        self.frozen = False
        self.xn: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.train = True
        self.input_shape: tuple[int, ...] | None = None

    running_mean = state_property("running_mean")
    running_var = state_property("running_var")

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        self.input_shape = x.shape
        x2 = x.reshape(x.shape[0], -1)
        if train and not self.frozen and x2.shape[0] < self.min_train_batch:
            # One sample is its own batch mean: the output is beta, every gradient but beta's
            # is 0, and running_var would shrink toward 0. (Frozen, as in a gradient check,
            # nothing is updated and that degenerate function is what gets differentiated.)
            raise ValueError(f"BatchNormalization expected more than 1 value per channel when "
                             f"training, got input of shape {x.shape}: the statistics of one "
                             "sample are degenerate (zero variance); train on batches of 2 or "
                             "more, or evaluate with train=False")
        self.train = train
        if train:
            self.xn, mu, var, std = normalize(x2, self.eps, axis=0)
            self.std = std[0]
            if not self.frozen:
                m, state = self.momentum, self.state
                state["running_mean"] *= m
                state["running_mean"] += (1 - m) * mu[0]
                state["running_var"] *= m
                state["running_var"] += (1 - m) * var[0]
        else:
            xc = x2 - self.running_mean
            self.std = np.sqrt(self.running_var + self.eps)
            self.xn = xc / self.std
        return (self.params["gamma"] * self.xn + self.params["beta"]).reshape(self.input_shape)

    def apply(self, x: np.ndarray | None, gamma: np.ndarray | None = None,
              beta: np.ndarray | None = None, xn: np.ndarray | None = None) -> np.ndarray:
        """The training-mode forward ``gamma · xn + beta`` of a batch or a stack of batches
        (…, N, F), each normalized over its own batch axis, without touching the running
        statistics.

        ``gamma`` and ``beta`` default to the layer's own (give others of shape (…, F) to
        evaluate other values, e.g. some columns' perturbed ones); ``xn``, when given, is
        ``x`` already normalized (then ``x`` is not read).
        """
        gamma = self.params["gamma"] if gamma is None else gamma
        beta = self.params["beta"] if beta is None else beta
        if xn is None:
            assert x is not None, "BatchNormalization.apply needs x or xn"
            out = normalize(x, self.eps, axis=-2)[0]  # a new array: scaled in place
            if out.shape == np.broadcast_shapes(out.shape, np.shape(gamma), np.shape(beta)):
                out *= gamma
                out += beta
                return out
            xn = out
        out = gamma * xn
        out += beta
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.xn is None or self.std is None or self.input_shape is None:
            raise self._before_forward()
        d2 = dout.reshape(dout.shape[0], -1)
        self.grads["beta"] = d2.sum(axis=0)
        self.grads["gamma"] = np.sum(self.xn * d2, axis=0)
        dxn = self.params["gamma"] * d2
        if not self.train:  # μ and σ are constants in evaluation mode
            return (dxn / self.std).reshape(self.input_shape)
        # With xn = (x - μ)/σ over a batch of N:
        # dx = (N·dxn - Σ dxn - xn · Σ(dxn·xn)) / (N·σ)
        n = d2.shape[0]
        dx = n * dxn - dxn.sum(axis=0) - self.xn * np.sum(dxn * self.xn, axis=0)
        dx /= n * self.std
        return dx.reshape(self.input_shape)

    def get_config(self) -> dict[str, Any]:
        return {"momentum": self.momentum, "eps": self.eps}

    @classmethod
    def state_shapes(cls, config: dict[str, Any], params: dict[str, tuple[int, ...]]
                     ) -> dict[str, tuple[int, ...]]:
        """One running mean and variance per feature: ``gamma``'s shape."""
        return {"running_mean": params["gamma"], "running_var": params["gamma"]}
