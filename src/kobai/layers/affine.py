"""Fully connected layers: ``Affine`` (§5.6.2) and ``Flatten``."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import Layer, grad_property, param_property

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
        if not (isinstance(W, np.ndarray) and W.ndim == 2 and W.dtype.kind == "f"):
            what = (f"an array of dtype {W.dtype} and shape {W.shape}"
                    if isinstance(W, np.ndarray) else type(W).__name__)
            raise ValueError(f"Affine: W must be a float array of shape (input_size, "
                             f"output_size), got {what}; e.g. np.asarray(W, dtype=np.float64)")
        if b is not None and not (isinstance(b, np.ndarray) and b.shape == (W.shape[1],)
                                  and b.dtype.kind == "f"):
            what = (f"an array of dtype {b.dtype} and shape {b.shape}"
                    if isinstance(b, np.ndarray) else type(b).__name__)
            raise ValueError(f"Affine: b must be a float array of shape ({W.shape[1]},), one "
                             f"bias per output (W has shape {W.shape}), got {what}")
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
        ws = self._workspace((x2.shape, W.shape, dt))
        if ws is not None and not ws:
            self._allocate(ws, x2.shape, W.shape, dt)
        out = np.matmul(x2, W, out=None if ws is None else ws["out"])
        if b is not None:
            out += b
        return out

    def apply(self, x: np.ndarray | None, W: np.ndarray | None = None,
              b: np.ndarray | None = None, *, product: np.ndarray | None = None,
              bias: bool = True) -> np.ndarray:
        """``x · W + b`` as a new array, for a batch ``(N, input_size)`` or a stack of them
        ``(..., N, input_size)``; no state.

        ``W`` and ``b`` default to the layer's own; give them to evaluate other values, e.g.
        float64 copies, a stack of perturbed weights ``(..., input_size, output_size)`` or
        biases ``(..., output_size)`` (broadcast against ``x``'s leading axes). With one ``W``
        the product over all rows is one matrix product. ``product``: ``x · W`` when already
        known (e.g. some of its columns, updated by a rank-1 term), so only the bias is added
        and ``x`` is not read; ``bias=False``: ``x · W`` alone.
        """
        new = product is None
        if product is None:
            assert x is not None, "Affine.apply needs x or its product with W"
            W = self.params["W"] if W is None else W
            if W.ndim == 2:  # one matrix product over every row of every stack entry
                product = (x.reshape(-1, x.shape[-1]) @ W).reshape(*x.shape[:-1], W.shape[1])
            else:
                product = np.matmul(x, W)
        b = self.params.get("b") if b is None else b
        if not bias or b is None:
            return product if new else product.copy()
        if new:
            product += b  # Affine.forward's order: out = x·W; out += b
            return product
        return product + b

    @staticmethod
    def _allocate(ws: dict[str, np.ndarray], x_shape: tuple[int, ...],
                  w_shape: tuple[int, ...], dt: np.dtype) -> None:
        """Fill a new workspace with all the layer's buffers at once: ``out``, ``dW``, ``db``,
        ``dx`` and ``ones`` (the sum over the batch as a product)."""
        (n, n_in), (_, n_out) = x_shape, w_shape
        ws.update(out=np.empty((n, n_out), dt), dW=np.empty((n_in, n_out), dt),
                  db=np.empty(n_out, dt), dx=np.empty((n, n_in), dt), ones=np.ones(n, dt))

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        # out = x·W + b  =>  dW = xᵀ·dout,  db = Σ_batch dout,  dx = dout·Wᵀ
        x = self.x
        if x is None:
            raise self._before_forward()
        W = self.params["W"]
        ws = (self._workspace((x.shape, W.shape, x.dtype))
              if dout.dtype == x.dtype == W.dtype else None)
        if ws is None:
            dW = db = dx = ones = None
        else:
            if not ws:
                self._allocate(ws, x.shape, W.shape, x.dtype)
            dW, db, dx, ones = ws["dW"], ws["db"], ws["dx"], ws["ones"]
        self.grads["W"] = np.matmul(x.T, dout, out=dW)
        if "b" in self.params:
            # Σ over the batch as a dot product with ones: at small sizes much faster than sum
            self.grads["b"] = (dout.sum(axis=0) if ones is None
                               else np.dot(ones, dout, out=db))
        if not self.compute_dx:
            return None
        out = np.matmul(dout, W.T, out=dx)
        assert self.original_x_shape is not None
        return out if out.shape == self.original_x_shape else out.reshape(self.original_x_shape)

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
        if self.input_shape is None:
            raise self._before_forward()
        if not self.compute_dx:
            return None
        return dout.reshape(self.input_shape)
