"""The book's ``common/multi_layer_net_extend.py`` (§6.3–6.4): ``MultiLayerNet`` with weight
decay, dropout and batch normalization, as a :class:`kobai.nets.Network` of the book's layers
(:mod:`kobai.book.common.layers`: non-inverted dropout from NumPy's global stream, batch norm
with ``eps=1e-6`` and running statistics from 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .multi_layer_net import _BookNet

__all__ = ["MultiLayerNetExtend"]


class MultiLayerNetExtend(_BookNet):
    """The book's extended fully connected network:
    ``(Affine → [BatchNorm] → activation → [Dropout]) × n → Affine``.

    Parameters
    ----------
    input_size, hidden_size_list, output_size, activation, weight_init_std, weight_decay_lambda
        As :class:`~kobai.book.common.multi_layer_net.MultiLayerNet`.
    use_dropout, dropout_ration : bool, float
        A ``Dropout`` after each hidden activation, and its ratio (the book's spelling).
    use_batchnorm : bool
        A ``BatchNormalization`` before each hidden activation (``gamma{i}`` 1, ``beta{i}`` 0).

    Attributes
    ----------
    params : dict
        ``W1, b1, [gamma1, beta1,] W2, …``, the very arrays the layers use.
    layers : OrderedDict
        ``Affine1, [BatchNorm1,] Activation_function1, [Dropout1,] …, Affine{n+1}``.
    last_layer : SoftmaxWithLoss
    hidden_size_list, hidden_layer_num, use_dropout, use_batchnorm, weight_decay_lambda

    Notes
    -----
    ``predict`` and ``loss`` take the book's ``train_flg`` (default False); ``gradient`` and
    ``numerical_gradient`` differentiate the training-mode loss, the latter with the dropout
    masks and running statistics held fixed (the book's draws new masks each evaluation).
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: Any = "relu",
                 weight_decay_lambda: float = 0, use_dropout: bool = False,
                 dropout_ration: float = 0.5, use_batchnorm: bool = False):
        super().__init__(input_size, hidden_size_list, output_size, activation,
                         weight_init_std, weight_decay_lambda, use_dropout=use_dropout,
                         dropout_ratio=dropout_ration, use_batchnorm=use_batchnorm)

    def predict(self, x: Any, train_flg: bool = False, *,  # type: ignore[override]
                train: bool | None = None) -> np.ndarray:
        """Scores before the loss layer; ``train_flg`` (or ``train=``) selects training mode."""
        return super().predict(x, train=bool(train_flg) if train is None else train)

    def loss(self, x: Any, t: Any, train_flg: bool = False, *,  # type: ignore[override]
             train: bool | None = None) -> float:
        """The book's loss plus ``0.5·λ·Σ W²``, in evaluation mode unless ``train_flg``."""
        return super().loss(x, t, train=bool(train_flg) if train is None else train)
