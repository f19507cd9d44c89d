"""Activation layers (§3.2, §5.5): elementwise functions with their derivatives.

Each class keeps the function (``apply``), its backward and the derivatives that the
structured numerical gradient carries a series through (``derivatives``) side by side. To add
an activation, add a class here and a line in ``kobai.layers.ACTIVATIONS``.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np

from .base import Layer, buffer

__all__ = ["Activation", "Relu", "Sigmoid", "Tanh"]

_SERIES_ORDER = 6  # derivatives offered to the structured numerical gradient (and bounded)


def output_polynomials(dydx: list[float], order: int) -> list[np.polynomial.Polynomial]:
    """``f', f'', …`` as polynomials in ``y = f(x)``, for an ``f`` whose derivative is a
    polynomial in its own value (``dy/dx = y - y²`` for sigmoid, ``1 - y²`` for tanh):
    ``f^(k+1) = (d f^(k) / dy) · dy/dx``."""
    first = np.polynomial.Polynomial(dydx)
    out = [first]
    for _ in range(order - 1):
        out.append(out[-1].deriv() * first)
    return out


def sup_on(poly: np.polynomial.Polynomial, lo: float, hi: float) -> float:
    """``max |poly(y)|`` for ``y`` in ``[lo, hi]`` (at the ends or a critical point), rounded
    up by 1e-9 relative."""
    points = [lo, hi] + [float(r.real) for r in poly.deriv().roots()
                         if abs(r.imag) < 1e-12 and lo <= r.real <= hi]
    return float(np.max(np.abs(poly(np.array(points))))) * (1 + 1e-9)


class Activation(Layer):
    """An elementwise layer ``y = f(x)`` whose backward uses the cached output ``y``.

    Subclasses define ``apply(x, out)`` (the function, into ``out``) and ``derivatives``.
    ``init_gain``: the weight initialisation that suits it, ``std = sqrt(init_gain / n_in)``
    (2 for relu, He et al.; 1 for sigmoid and tanh, Xavier). ``derivative_bounds[k]`` is an
    upper bound of ``|f^(k+1)|`` over all inputs, used to bound a series' remainder.
    """

    elementwise = True
    init_gain: ClassVar[float] = 1.0
    derivative_bounds: ClassVar[tuple[float, ...]] = ()

    def __init__(self) -> None:
        super().__init__()
        self.out: np.ndarray | None = None

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        out = x if self.overwrite_input else buffer(self._workspace((x.shape, x.dtype)), "out",
                                                    x.shape, x.dtype, like=x)
        self.out = self.apply(x, out=out)
        return self.out

    def _dx(self, dout: np.ndarray, name: str = "dx") -> np.ndarray:
        """Where backward writes: into ``dout`` when the network allows it, else a buffer."""
        if self.overwrite_dout and name == "dx":
            return dout
        return buffer(self._workspace((dout.shape, dout.dtype)), name, dout.shape, dout.dtype,
                      like=dout)

    def apply(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """``f(x)`` for an array of any shape, into ``out`` (new when None); no state.

        Every activation defines it (``forward`` calls it). The optional hook
        ``derivatives(x, y, order) -> [f'(x), f''(x), …]`` (given ``y = f(x)``) lets the
        structured numerical gradient carry a series through the layer; without it, that
        part of the network is recomputed instead.
        """
        raise NotImplementedError(f"{type(self).__name__} must define apply(x, out=None), "
                                  "the activation function")


class Relu(Activation):
    """``max(0, x)`` (§5.5.1); the derivative at exactly 0 is taken as 0, as in the book."""

    kinks = True
    init_gain = 2.0
    derivative_bounds = (1.0,) + (0.0,) * (_SERIES_ORDER - 1)

    def __init__(self) -> None:
        super().__init__()
        self.mask: np.ndarray | None = None  # True where x > 0

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        ws = self._workspace((x.shape, x.dtype))
        self.mask = np.greater(x, 0, out=buffer(ws, "mask", x.shape, np.dtype(bool), like=x))
        out = x if self.overwrite_input else buffer(ws, "out", x.shape, x.dtype, like=x)
        self.out = np.maximum(x, 0, out=out)
        return self.out

    def apply(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.maximum(x, 0, out=out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        if self.mask is None:
            raise self._before_forward()
        # a new array: the book's dout[mask] = 0 modified the caller's
        return np.multiply(dout, self.mask, out=self._dx(dout))

    def derivatives(self, x: np.ndarray, y: np.ndarray, order: int) -> list[np.ndarray]:
        slope = (x > 0).astype(np.float64)
        return [slope] + [np.zeros_like(slope) for _ in range(order - 1)]

    def kink_state(self) -> np.ndarray:
        """Which inputs of the last forward were on the positive side of the kink at 0."""
        if self.mask is None:
            raise self._before_forward("kink_state")
        return self.mask.copy()


class Sigmoid(Activation):
    """``1 / (1 + exp(-x))`` (§5.5.2); backward uses the cached output: ``y(1 - y)``."""

    init_gain = 1.0
    _polys = output_polynomials([0.0, 1.0, -1.0], _SERIES_ORDER)  # σ' = y - y²
    derivative_bounds = tuple(sup_on(p, 0.0, 1.0) for p in _polys)  # y in [0, 1]

    def apply(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.negative(x, out=out)
        with np.errstate(over="ignore"):  # exp(-x) overflows to inf for x < -709: y = 0
            np.exp(out, out=out)
        out += 1.0
        return np.reciprocal(out, out=out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        # dy/dx = y (1 - y)
        y = self.out
        if y is None:
            raise self._before_forward()
        slope = np.subtract(1.0, y, out=self._dx(dout, "tmp"))
        dx = np.multiply(dout, slope, out=self._dx(dout))  # the book's order: dout·(1 - y)·y
        dx *= y
        return dx

    def derivatives(self, x: np.ndarray, y: np.ndarray, order: int) -> list[np.ndarray]:
        # σ' = y(1 - y),  σ'' = σ'(1 - 2y),  σ''' = σ'(1 - 6σ'), … : polynomials in y
        return [p(y) for p in self._polys[:order]]


class Tanh(Activation):
    """``tanh(x)``; backward uses the cached output: ``1 - y²``."""

    init_gain = 1.0
    _polys = output_polynomials([1.0, 0.0, -1.0], _SERIES_ORDER)  # tanh' = 1 - y²
    derivative_bounds = tuple(sup_on(p, -1.0, 1.0) for p in _polys)  # y in [-1, 1]

    def apply(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.tanh(x, out=out)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self.out
        if y is None:
            raise self._before_forward()
        slope = np.multiply(y, y, out=self._dx(dout, "tmp"))
        np.subtract(1.0, slope, out=slope)
        return np.multiply(dout, slope, out=self._dx(dout))

    def derivatives(self, x: np.ndarray, y: np.ndarray, order: int) -> list[np.ndarray]:
        # t' = 1 - y²,  t'' = -2y t',  t''' = -2t'(1 - 3y²), … : polynomials in y
        return [p(y) for p in self._polys[:order]]
