"""``TwoLayerNet`` of §4.5 and §5.7, with the backprop ``gradient`` the seed left unimplemented."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..functions import softmax
from .multi_layer_net import MultiLayerNet

__all__ = ["TwoLayerNet"]


class TwoLayerNet(MultiLayerNet):
    """Affine → sigmoid (or relu) → Affine → softmax, as in the book's ``two_layer_net.py``.

    A :class:`MultiLayerNet` with one hidden layer, built on the same layers, so there is one
    copy of the backprop maths. As in the seed, ``predict`` returns probabilities; ``loss`` is
    the exact cross-entropy from the logits (log-sum-exp), so ``gradient`` (backprop) agrees
    with ``numerical_gradient`` to about 1e-10.

    Parameters
    ----------
    input_size, hidden_size, output_size : int
    weight_init_std : float
        Standard deviation of the Gaussian initial weights (the book's 0.01).
    activation : {"sigmoid", "relu", "tanh"}
    rng : numpy.random.Generator or int, optional
    dtype : float32 or float64
    """

    def __init__(self, input_size: int, hidden_size: int, output_size: int,
                 weight_init_std: float = 0.01, activation: str = "sigmoid",
                 rng: np.random.Generator | int | None = None,
                 dtype: type | np.dtype | str = np.float64):
        super().__init__(input_size, [hidden_size], output_size, activation=activation,
                         weight_init_std=weight_init_std, rng=rng, dtype=dtype)
        self.hidden_size = self.hidden_size_list[0]

    def get_config(self) -> dict:
        return {"input_size": self.input_size, "hidden_size": self.hidden_size,
                "output_size": self.output_size, "weight_init_std": self.weight_init_std,
                "activation": self.activation, "dtype": self.dtype.name}

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of ``cls(**config).state_dict()``: ``W1, b1, W2, b2``."""
        args = cls._arguments(config)
        return MultiLayerNet.state_shapes({"input_size": args["input_size"],
                                           "hidden_size_list": [args["hidden_size"]],
                                           "output_size": args["output_size"]})

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Class probabilities (softmax of the scores), as in the seed's ``predict``."""
        return softmax(super().predict(x, train))

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.predict(x, train=False)
