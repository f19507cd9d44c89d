"""``Network``'s numerical gradients (§4.4): the book's element loop and the structured central
differences of :mod:`kobai.nets.numgrad`, behind ``Network.numerical_gradient`` and
``Network.numerical_gradient_and_kinks``."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import numpy as np

from .._validate import check_step
from ..gradient import numerical_gradient as loop_gradient
from .numgrad import UnsupportedNetwork
from .numgrad import numerical_gradient as structured_gradient
from .numgrad import numerical_gradient_and_kinks as structured_gradient_and_kinks

__all__ = ["NumericalGradients"]


class NumericalGradients:
    """The numerical-gradient methods of :class:`~kobai.nets.Network` (a mixin)."""

    params: dict[str, np.ndarray]
    if TYPE_CHECKING:
        _bind: Callable[[], None]
        _inputs: Callable[[Any, Any], tuple[np.ndarray, np.ndarray]]
        _loss: Callable[[np.ndarray, np.ndarray, bool], float]
        frozen: Callable[[], AbstractContextManager[Any]]

    def numerical_gradient(self, x: Any, t: Any, h: float = 1e-4,
                           method: str = "fast") -> dict[str, np.ndarray]:
        """Gradient of ``loss(x, t, train=True)`` by central differences (§4.4).

        Dropout masks are held fixed and running statistics are left untouched meanwhile.

        Parameters
        ----------
        method : {"fast", "loop"}
            "fast": the same central differences, each perturbation followed only through the
            part of the network it changes (:mod:`kobai.nets.numgrad`, which states the
            accuracy), falling back to the loop for layers without the hooks it needs;
            "loop": the book's algorithm, perturbing one element at a time.
        """
        if method not in ("fast", "loop"):
            raise ValueError(f"method must be one of 'fast', 'loop'; got {method!r}")
        self._check_step(h)
        x2, labels = self._inputs(x, t)
        if method == "fast":
            try:
                return structured_gradient(self, x2, labels, h)
            except UnsupportedNetwork:
                pass
        with self.frozen():
            def f(_: np.ndarray) -> float:
                return self._loss(x2, labels, True)
            return {key: loop_gradient(f, arr, h) for key, arr in self.params.items()}

    def numerical_gradient_and_kinks(self, x: Any, t: Any, h: float = 1e-4
                                     ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """The structured central differences and, per element, whether its ``±h`` moved a
        ReLU input across 0 (what ``kobai.gradcheck`` reports as KINK).

        Raises
        ------
        UnsupportedNetwork
            When a layer lacks the hooks of the structured path (use the loop).
        """
        self._check_step(h)
        return structured_gradient_and_kinks(self, *self._inputs(x, t), h)

    def _check_step(self, h: float) -> None:
        """Refuse a step ``h`` that central differences of these parameters cannot use."""
        self._bind()
        for key, arr in self.params.items():
            check_step(h, arr, x_name=key)
