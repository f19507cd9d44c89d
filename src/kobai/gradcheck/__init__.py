"""Gradient checking: backprop against central differences, telling *which* gradient is wrong.

``check_gradients(net, x, t)`` checks a whole network, ``check_layer(layer, x)`` a single
layer (the book's §4.4 numerical gradient used as in §5.7, "gradient check"). Both return a
:class:`GradCheckReport`: ``print(report)`` shows one row per parameter with its worst element,
and ``report.raise_if_failed()`` turns a failure into an ``AssertionError`` that names it.

Example
-------
>>> import numpy as np
>>> from kobai.nets import TwoLayerNet
>>> net = TwoLayerNet(4, 3, 2, rng=0)
>>> x, t = np.ones((5, 4)), np.array([0, 1, 0, 1, 1])
>>> check_gradients(net, x, t).passed
True
"""

from .function import check_function
from .jax_check import check_jax
from .layer import check_layer
from .network import check_gradients
from .probe import DEFAULT_EPS
from .report import GradCheckReport, ParamResult
from .torch_check import check_torch

__all__ = ["check_gradients", "check_layer", "check_function", "check_torch", "check_jax",
           "GradCheckReport", "ParamResult", "DEFAULT_EPS"]
