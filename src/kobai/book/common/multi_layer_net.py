"""The book's ``common/multi_layer_net.py`` (§6.1–6.4): a fully connected net of any depth,
as a :class:`kobai.nets.Network` of the book's layers.

The book's constructor, attributes and layer names (``Affine1``, ``Activation_function1``,
…, ``last_layer``), weights drawn from NumPy's global stream exactly as the book draws them
(``scale * np.random.randn(n_in, n_out)``, layer by layer), the book's loss (with its
``1e-7``) and gradient; prediction, loss, backprop and numerical gradients are
:class:`~kobai.nets.Network`'s.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...layers import ACTIVATIONS
from ...nets import Network
from .._random import global_stream
from .layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss

__all__ = ["MultiLayerNet"]


def weight_scale(weight_init_std: Any, n_in: int) -> Any:
    """The book's standard deviation of a layer's initial weights: He's ``sqrt(2 / n_in)`` for
    ``"relu"``/``"he"``, Xavier's ``sqrt(1 / n_in)`` for ``"sigmoid"``/``"xavier"`` (any
    case), else ``weight_init_std`` itself."""
    name = str(weight_init_std).lower()
    if name in ("relu", "he"):
        return np.sqrt(2.0 / n_in)
    if name in ("sigmoid", "xavier"):
        return np.sqrt(1.0 / n_in)
    return weight_init_std


class _BookNet(Network):
    """``(Affine → [BatchNorm] → activation → [Dropout]) × n → Affine`` with the book's layer
    names, parameters and initialization (shared by ``MultiLayerNet`` and
    ``MultiLayerNetExtend``)."""

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str, weight_init_std: Any, weight_decay_lambda: float,
                 use_dropout: bool, dropout_ratio: float, use_batchnorm: bool):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{activation!r}")
        self.hidden_size_list = list(hidden_size_list)
        self.hidden_layer_num = len(self.hidden_size_list)
        self.use_dropout, self.use_batchnorm = use_dropout, use_batchnorm
        sizes = [input_size, *self.hidden_size_list, output_size]
        rng = global_stream()
        params: dict[str, np.ndarray] = {}
        for i in range(1, len(sizes)):  # all weights first, in the book's order of draws
            scale = weight_scale(weight_init_std, sizes[i - 1])
            params[f"W{i}"] = scale * rng.standard_normal((sizes[i - 1], sizes[i]))
            params[f"b{i}"] = np.zeros(sizes[i])
        layers: OrderedDict[str, Any] = OrderedDict()
        for i in range(1, self.hidden_layer_num + 1):
            layers[f"Affine{i}"] = Affine(params[f"W{i}"], params[f"b{i}"])
            if use_batchnorm:
                width = self.hidden_size_list[i - 1]
                layers[f"BatchNorm{i}"] = BatchNormalization(np.ones(width), np.zeros(width))
            layers[f"Activation_function{i}"] = ACTIVATIONS[activation]()
            if use_dropout:
                layers[f"Dropout{i}"] = Dropout(dropout_ratio)
        last = self.hidden_layer_num + 1
        layers[f"Affine{last}"] = Affine(params[f"W{last}"], params[f"b{last}"])
        super().__init__(layers, SoftmaxWithLoss(), input_shape=input_size,
                         output_size=output_size, weight_decay_lambda=weight_decay_lambda)
        self.layers = layers  # the book's OrderedDict (Network keeps a plain dict)


class MultiLayerNet(_BookNet):
    """The book's fully connected network: ``(Affine → activation) × n → Affine`` and
    softmax with the book's cross-entropy.

    Parameters
    ----------
    input_size : int
        784 for MNIST.
    hidden_size_list : list of int
        The hidden layers' widths, e.g. ``[100, 100, 100]``.
    output_size : int
        10 for MNIST.
    activation : {"relu", "sigmoid", "tanh"}
    weight_init_std : float or {"relu", "he", "sigmoid", "xavier"}
        A standard deviation, He's ``sqrt(2 / n_in)`` or Xavier's ``sqrt(1 / n_in)``.
    weight_decay_lambda : float
        L2 weight decay: the loss gains ``0.5 · λ · Σ W²``.

    Attributes
    ----------
    params : dict
        ``W1, b1, W2, b2, …``, the very arrays the layers use.
    layers : OrderedDict
        ``Affine1, Activation_function1, …, Affine{n+1}``.
    last_layer : SoftmaxWithLoss
    hidden_size_list, hidden_layer_num, input_size, output_size, weight_decay_lambda

    Notes
    -----
    The methods are :class:`kobai.nets.Network`'s (they also accept one 1-D sample);
    ``numerical_gradient`` is the book's loop over every element.
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: Any = "relu",
                 weight_decay_lambda: float = 0):
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda, use_dropout=False,
                         dropout_ratio=0.5, use_batchnorm=False)
