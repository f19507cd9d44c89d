"""Layers with ``forward`` and ``backward`` side by side (chapters 5–6, ``common/layers.py``).

Every layer follows one protocol (:mod:`kobai.layers.base`): ``params``/``grads`` dicts with the
same keys, ``forward(x, *, train=True)``, ``backward(dout) -> dx`` that never writes into
``dout``. The book's attribute interface (``layer.W``, ``layer.dW``, ``layer.gamma``, ...) reads
and writes those dicts.

Registries: :data:`LAYERS` (by class name: what a checkpoint can rebuild) and
:data:`ACTIVATIONS` (by the name ``MultiLayerNet(activation=...)`` and ``--activation`` take).
Add your own with :func:`register`.
"""

from __future__ import annotations

from .activations import Activation, Relu, Sigmoid, Tanh
from .affine import Affine, Flatten
from .base import Layer, LossLayer
from .convolution import Convolution
from .loss import SoftmaxWithLoss
from .pooling import Pooling
from .regularization import BatchNormalization, Dropout

__all__ = ["Layer", "LossLayer", "Activation", "Affine", "Flatten", "Convolution", "Pooling",
           "Relu", "Sigmoid", "Tanh",
           "SoftmaxWithLoss", "Dropout", "BatchNormalization", "LAYERS", "ACTIVATIONS",
           "register"]

#: class name -> layer class, for checkpoints of networks built from layers
LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls for cls in (Affine, Flatten, Convolution, Pooling, Relu, Sigmoid, Tanh,
                                  Dropout, BatchNormalization, SoftmaxWithLoss)
}

#: activation name -> class (``MultiLayerNet(activation="relu")``, ``kobai train --activation``)
ACTIVATIONS: dict[str, type[Activation]] = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}


def register(cls: type[Layer], *, activation: str | None = None) -> type[Layer]:
    """Make a layer class known to checkpoints (and, with ``activation=name``, to
    ``MultiLayerNet`` and the CLI). Usable as a decorator; returns ``cls``."""
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise TypeError(f"register expects a subclass of kobai.layers.Layer, got {cls!r}")
    known = LAYERS.get(cls.__name__)
    if known is not None and known is not cls:
        raise ValueError(f"another layer class is already registered as {cls.__name__!r} "
                         f"({known.__module__}.{known.__qualname__})")
    LAYERS[cls.__name__] = cls
    if activation is not None:
        if not issubclass(cls, Activation):
            raise TypeError(f"{cls.__name__} is not an Activation, so it cannot be registered "
                            f"as activation {activation!r}")
        ACTIVATIONS[activation] = cls
    return cls
