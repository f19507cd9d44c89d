"""The book's ``ch05/layer_naive.py`` (§5.4): the multiplication and addition nodes of a
computational graph, on numbers, with ``backward`` returning both inputs' gradients."""

from __future__ import annotations

from typing import Any

__all__ = ["MulLayer", "AddLayer"]


class MulLayer:
    """``out = x · y``; ``backward(dout) -> (dout · y, dout · x)``."""

    def __init__(self) -> None:
        self.x: Any = None
        self.y: Any = None

    def forward(self, x: Any, y: Any) -> Any:
        self.x = x
        self.y = y
        return x * y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        dx = dout * self.y  # d(xy)/dx = y
        dy = dout * self.x
        return dx, dy


class AddLayer:
    """``out = x + y``; ``backward(dout) -> (dout, dout)``."""

    def forward(self, x: Any, y: Any) -> Any:
        return x + y

    def backward(self, dout: Any) -> tuple[Any, Any]:
        dx = dout * 1
        dy = dout * 1
        return dx, dy
