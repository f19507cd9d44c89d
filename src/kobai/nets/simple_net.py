"""``simpleNet`` of §4.4.2: one 2×3 weight matrix, softmax and the book's cross-entropy."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validate import as_float_array, check_finite, resolve_rng
from ..layers import Affine, SoftmaxWithLoss
from .network import Network

__all__ = ["SimpleNet", "simpleNet"]


class SimpleNet(Network):
    """The seed notebook's ``simpleNet``: ``predict(x) = x · W``, loss = cross-entropy of softmax.

    A :class:`Network` of one bias-free ``Affine`` and a ``SoftmaxWithLoss`` that keeps the
    book's ``1e-7`` guard (``guard=1e-7``), so the seed's printed losses come out the same.
    Its one parameter is ``W`` (``params["W1"]``).

    Parameters
    ----------
    W : array_like of shape (2, 3), optional
        The weights; drawn from ``rng.standard_normal((2, 3))`` when not given.
    rng : numpy.random.Generator or int, optional
        Source of randomness (or a seed): the same seed gives the same ``W``.
    """

    def __init__(self, W: Any = None, rng: np.random.Generator | int | None = None):
        if W is None:
            W_arr = resolve_rng(rng).standard_normal((2, 3))
        else:
            W_arr = as_float_array(W, "W")
            if W_arr.shape != (2, 3):
                raise ValueError(f"W has shape {W_arr.shape}; simpleNet expects shape (2, 3)")
            check_finite(W_arr, "W")
            W_arr = np.array(W_arr, dtype=np.float64)
        super().__init__({"Affine": Affine(W_arr)}, SoftmaxWithLoss(guard=1e-7))

    @property
    def W(self) -> np.ndarray:
        """The 2×3 weights (``params["W1"]``); perturbing them in place changes the loss."""
        return self.params["W1"]

    @W.setter
    def W(self, value: np.ndarray) -> None:
        self.params["W1"] = value

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """``W1``: 2×3, whatever the (checked) arguments."""
        cls._arguments(config)
        return {"W1": (2, 3)}

    def __repr__(self) -> str:
        return "SimpleNet(2-3)"


simpleNet = SimpleNet
