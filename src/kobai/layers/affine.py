"""Fully connected layers: ``Affine`` (§5.6.2) and ``Flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, buffer, grad_property, param_property

__all__ = ["Affine", "Flatten"]


class Affine(Layer):
    """Fully connected layer ``out = x · W + b`` (§5.6.2).

    Parameters
    ----------
    W : ndarray of shape (input_size, output_size)
    b : ndarray of shape (output_size,), optional
        None for a layer without bias (the seed's ``simpleNet``).

    ``forward`` flattens n-d input to ``(batch_size, input_size)`` and ``backward`` returns
    ``dx`` in the input's original shape. With ``compute_dx = False`` (a network's first
    layer) ``backward`` skips the product ``dout · Wᵀ`` and returns None.
    """

    decay_keys = ("W",)
    output_reusable = True  # backward needs x, not the output: the next layer may overwrite it
    W = param_property("W")
    b = param_property("b")
    dW = grad_property("W")
    db = grad_property("b")

    def __init__(self, W: np.ndarray, b: np.ndarray | None = None):
        super().__init__()
        self.params["W"] = W
        if b is not None:
            self.params["b"] = b
        self.x: np.ndarray | None = None
        self.original_x_shape: tuple[int, ...] | None = None

    @property
    def input_size(self) -> int:
        return int(self.params["W"].shape[0])

    @property
    def output_size(self) -> int:
        return int(self.params["W"].shape[1])

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        W, b = self.params["W"], self.params.get("b")
        self.original_x_shape = x.shape
        x2 = self.x = x.reshape(x.shape[0], -1) if x.ndim != 2 else x
        dt = x2.dtype if x2.dtype == W.dtype else np.result_type(x2, W)
        self._ws_key = (x2.shape, W.shape, dt)
        ws = self._workspace(self._ws_key)
        out = np.matmul(x2, W, out=buffer(ws, "out", (x2.shape[0], W.shape[1]), dt))
        if b is not None:
            out += b
        return out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        # out = x·W + b  =>  dW = xᵀ·dout,  db = Σ_batch dout,  dx = dout·Wᵀ
        assert self.x is not None, "backward before forward"
        W = self.params["W"]
        ws = self._workspace(self._ws_key)
        dt = dout.dtype if dout.dtype == self.x.dtype else np.result_type(self.x, dout)
        self.grads["W"] = np.matmul(self.x.T, dout, out=buffer(ws, "dW", W.shape, dt))
        if "b" in self.params:
            if ws is None:
                self.grads["b"] = dout.sum(axis=0)
            else:  # a dot product with ones: at small sizes much faster than sum(axis=0)
                ones = ws.get("ones")
                if ones is None:
                    ones = ws["ones"] = np.ones(dout.shape[0], dt)
                self.grads["b"] = np.dot(ones, dout, out=buffer(ws, "db", (W.shape[1],), dt))
        if not self.compute_dx:
            return None
        dx = np.matmul(dout, W.T, out=buffer(ws, "dx", self.x.shape, dt))
        assert self.original_x_shape is not None
        return dx.reshape(self.original_x_shape)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], params: dict[str, np.ndarray]) -> Affine:
        return cls(params["W"], params.get("b"))


class Flatten(Layer):
    """``(N, d1, d2, …) → (N, d1·d2·…)``; backward restores the shape (a view, no copy)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_shape: tuple[int, ...] | None = None

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        self.input_shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        if not self.compute_dx:
            return None
        assert self.input_shape is not None, "backward before forward"
        return dout.reshape(self.input_shape)
