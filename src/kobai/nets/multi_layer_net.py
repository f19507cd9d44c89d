"""A fully connected network of any depth built from layers (§6.1–6.4).

The book's ``MultiLayerNet`` and ``MultiLayerNetExtend`` in one class: He/Xavier initialisation,
weight decay, dropout and batch normalization. It only builds its layers; everything else is
:class:`~kobai.nets.Network`'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .._validate import is_real, positive_int, resolve_dtype, resolve_rng
from ..layers import ACTIVATIONS, Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from .network import Network

__all__ = ["MultiLayerNet"]

_INIT_NAMES = {"he": 2.0, "xavier": 1.0}


def _init_names() -> list[str]:
    """What ``weight_init_std`` may name: "he", "xavier" or an activation (its init_gain)."""
    return sorted({*_INIT_NAMES, *ACTIVATIONS})


class MultiLayerNet(Network):
    """Fully connected net: ``(Affine → [BatchNorm] → activation → [Dropout]) × n → Affine``.

    Parameters
    ----------
    input_size : int
        Features per sample (784 for MNIST).
    hidden_size_list : sequence of int
        Width of each hidden layer, e.g. ``[100, 100]``; empty for softmax regression.
    output_size : int
        Number of classes.
    activation : {"relu", "sigmoid", "tanh"}
    weight_init_std : {"relu", "he", "sigmoid", "tanh", "xavier"} or float
        Standard deviation: "relu"/"he" ``sqrt(2 / n_in)``; "sigmoid"/"tanh"/"xavier"
        ``sqrt(1 / n_in)``; another activation's name: its ``init_gain``; or a number.
    weight_decay_lambda : float
        L2 penalty: the loss gains ``0.5 · λ · Σ W²`` over all weight matrices.
    use_dropout, dropout_ratio : bool, float
        Inverted dropout after each hidden activation.
    use_batchnorm : bool
        Batch normalization before each hidden activation (adds ``gamma{i}``, ``beta{i}``).
    rng : numpy.random.Generator or int, optional
        Seeds the weights and dropout masks.
    dtype : float32 or float64
        Of the parameters and computations (float64 for gradient checks).

    Attributes
    ----------
    params : dict of str to ndarray
        ``W1, b1, [gamma1, beta1,] W2, b2, …``, the layers' own arrays.
    layers : dict of str to layer
        ``Affine1, [BatchNorm1,] Relu1, [Dropout1,] …, Affine{n+1}`` in forward order.
    last_layer : SoftmaxWithLoss
    """

    # Network's attributes, set here already before Network.__init__ runs
    output_size: int
    weight_decay_lambda: float

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0.0, use_dropout: bool = False,
                 dropout_ratio: float = 0.5, use_batchnorm: bool = False,
                 rng: np.random.Generator | int | None = None,
                 dtype: type | np.dtype | str = np.float64):
        input_size = positive_int(input_size, "input_size")
        if isinstance(hidden_size_list, (str, bytes)) or not isinstance(hidden_size_list,
                                                                          Sequence):
            raise TypeError(f"hidden_size_list must be a list of layer widths such as [100, 100],"
                            f" got {hidden_size_list!r}")
        self.hidden_size_list = [positive_int(h, "each hidden size") for h in hidden_size_list]
        self.output_size = positive_int(output_size, "output_size")
        if not isinstance(activation, str):
            raise TypeError(f"activation must be a name, one of {sorted(ACTIVATIONS)} (one "
                            f"activation for every hidden layer), got "
                            f"{type(activation).__name__} {activation!r:.60}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{activation!r}")
        self.activation = activation
        if isinstance(weight_init_std, str):
            if weight_init_std.lower() not in _init_names():
                raise ValueError(f"weight_init_std must be a number or one of "
                                 f"{sorted(_init_names())}, got {weight_init_std!r}")
            weight_init_std = weight_init_std.lower()
        elif not (is_real(weight_init_std) and weight_init_std > 0
                  and math.isfinite(weight_init_std)):
            raise ValueError(f"weight_init_std must be a positive number or one of "
                             f"{sorted(_init_names())}, got {weight_init_std!r}")
        self.weight_init_std = weight_init_std
        if not (is_real(weight_decay_lambda) and weight_decay_lambda >= 0
                and math.isfinite(weight_decay_lambda)):
            raise ValueError(f"weight_decay_lambda must be a finite number >= 0, got "
                             f"{weight_decay_lambda!r}")
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.use_dropout = bool(use_dropout)
        if isinstance(dropout_ratio, bool) or not (is_real(dropout_ratio)
                                                   and 0.0 <= dropout_ratio < 1.0):
            raise ValueError(f"dropout_ratio must be in [0, 1) (a number: the fraction of "
                             f"hidden units dropped, e.g. 0.5), got {dropout_ratio!r}")
        self.dropout_ratio = float(dropout_ratio)
        self.use_batchnorm = bool(use_batchnorm)
        self.dtype: np.dtype = resolve_dtype(dtype)
        rng = resolve_rng(rng)

        sizes = [input_size, *self.hidden_size_list, self.output_size]
        self.n_affine = len(sizes) - 1
        self._check_param_count(_param_shapes(sizes, self.use_batchnorm), self.dtype)
        layers: dict[str, Any] = {}
        act_cls = ACTIVATIONS[self.activation]
        for i in range(1, self.n_affine + 1):
            n_in, n_out = sizes[i - 1], sizes[i]
            if isinstance(weight_init_std, str):
                gain = _INIT_NAMES.get(weight_init_std) or ACTIVATIONS[weight_init_std].init_gain
                scale = math.sqrt(gain / n_in)
            else:
                scale = float(weight_init_std)
            W = (scale * rng.standard_normal((n_in, n_out))).astype(self.dtype)
            layers[f"Affine{i}"] = Affine(W, np.zeros(n_out, dtype=self.dtype))
            if i == self.n_affine:
                break
            if self.use_batchnorm:
                layers[f"BatchNorm{i}"] = BatchNormalization(np.ones(n_out, dtype=self.dtype),
                                                             np.zeros(n_out, dtype=self.dtype))
            layers[f"{act_cls.__name__}{i}"] = act_cls()
            if self.use_dropout:
                layers[f"Dropout{i}"] = Dropout(self.dropout_ratio, rng=rng)
        super().__init__(layers, SoftmaxWithLoss(), input_shape=input_size,
                         output_size=self.output_size,
                         weight_decay_lambda=self.weight_decay_lambda)

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments as a JSON-able dict: ``type(net)(**net.get_config())``."""
        return {
            "input_size": self.input_size, "hidden_size_list": list(self.hidden_size_list),
            "output_size": self.output_size, "activation": self.activation,
            "weight_init_std": self.weight_init_std,
            "weight_decay_lambda": self.weight_decay_lambda, "use_dropout": self.use_dropout,
            "dropout_ratio": self.dropout_ratio, "use_batchnorm": self.use_batchnorm,
            "dtype": self.dtype.name,
        }

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of ``cls(**config).state_dict()``, without building the network."""
        args = cls._arguments(config)
        hidden = args["hidden_size_list"]
        if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
            raise TypeError(f"hidden_size_list must be a list of layer widths such as "
                            f"[100, 100], got {hidden!r}")
        sizes = [positive_int(args["input_size"], "input_size"),
                 *(positive_int(h, "each hidden size") for h in hidden),
                 positive_int(args["output_size"], "output_size")]
        return _state_shapes(sizes, bool(args["use_batchnorm"]))

    def __repr__(self) -> str:
        sizes = "-".join(str(s) for s in
                         [self.input_size, *self.hidden_size_list, self.output_size])
        extras = [self.activation, self.dtype.name]
        if self.use_batchnorm:
            extras.append("batchnorm")
        if self.use_dropout:
            extras.append(f"dropout={self.dropout_ratio}")
        if self.weight_decay_lambda:
            extras.append(f"weight_decay={self.weight_decay_lambda}")
        return f"{type(self).__name__}({sizes}, {', '.join(extras)})"


def _param_shapes(sizes: Sequence[int], batchnorm: bool) -> dict[str, tuple[int, ...]]:
    """``W1, b1, [gamma1, beta1,] W2, ...`` of the layer widths ``sizes`` (input first)."""
    shapes: dict[str, tuple[int, ...]] = {}
    n_affine = len(sizes) - 1
    for i in range(1, n_affine + 1):
        shapes.update({f"W{i}": (sizes[i - 1], sizes[i]), f"b{i}": (sizes[i],)})
        if batchnorm and i < n_affine:
            shapes.update({f"gamma{i}": (sizes[i],), f"beta{i}": (sizes[i],)})
    return shapes


def _state_shapes(sizes: Sequence[int], batchnorm: bool) -> dict[str, tuple[int, ...]]:
    """:func:`_param_shapes` and the running statistics of each batch norm layer."""
    shapes = _param_shapes(sizes, batchnorm)
    for i in range(1, len(sizes) - 1) if batchnorm else ():
        shapes.update({f"running_mean{i}": (sizes[i],), f"running_var{i}": (sizes[i],)})
    return shapes
