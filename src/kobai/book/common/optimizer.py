"""The book's ``common/optimizer.py`` (§6.1): kobai's optimizers (:mod:`kobai.optimizers`).

Each class here is kobai's, with the book's constructor and defaults and the book's formula in
the book's order of floating-point operations, updating ``params`` in place, and with the
book's two behaviours beyond kobai's defaults:

* a gradient holding NaN or infinity is applied as it is (``refuse_non_finite = False``):
  in ``batch_norm_test.py`` the networks without batch norm overflow at the largest weight
  scales, and the book trains on beside them;
* like every kobai optimizer, ``update(params, grads)`` also takes numbers as values
  (``optimizer_compare_naive.py`` optimizes ``{'x': -7.0, 'y': 2.0}``): each is replaced by
  its updated value.
"""

from __future__ import annotations

import numpy as np

from ... import optimizers as _kobai

# ``np`` too: ch06's ``optimizer_compare_mnist.py`` uses the ``np`` that the book's
# ``from common.optimizer import *`` gives it.
__all__ = ["np", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


class SGD(_kobai.SGD):
    """``W <- W - lr * g`` (§6.1.2); kobai's, applying non-finite gradients as the book."""

    refuse_non_finite = False


class Momentum(_kobai.Momentum):
    """Momentum SGD (§6.1.4); kobai's, applying non-finite gradients as the book."""

    refuse_non_finite = False


class AdaGrad(_kobai.AdaGrad):
    """AdaGrad (§6.1.5); kobai's, applying non-finite gradients as the book."""

    refuse_non_finite = False


class RMSprop(_kobai.RMSprop):
    """RMSprop; kobai's, applying non-finite gradients as the book."""

    refuse_non_finite = False


class Adam(_kobai.Adam):
    """Adam (§6.1.6); kobai's, applying non-finite gradients as the book."""

    refuse_non_finite = False


class Nesterov(_kobai.Nesterov):
    """Nesterov's accelerated gradient (§6.1, Bengio et al. 2012); kobai's, applying
    non-finite gradients as the book."""

    refuse_non_finite = False
