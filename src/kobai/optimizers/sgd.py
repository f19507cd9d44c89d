"""SGD, Momentum and Nesterov (§6.1.2–6.1.4), with the book's formulas."""

from __future__ import annotations

import numpy as np

from .base import Optimizer, check_lr, check_unit


class SGD(Optimizer):
    """Stochastic gradient descent (book section 6.1.2).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, finite and > 0.

    Notes
    -----
    With learning rate ``lr`` and gradient ``g = dL/dW``::

        W <- W - lr * g
    """

    name = "SGD"
    _hyper = {"lr": check_lr}
    _n_scratch = 1
    lr: float  # set by Optimizer.__init__ from _hyper

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr=lr)

    def _coefficients(self) -> tuple[float, ...]:
        return (self.lr,)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        (s,) = bufs
        (lr,) = coef
        np.multiply(grad, lr, out=s)
        param -= s


class Momentum(Optimizer):
    """Momentum SGD (book section 6.1.4).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, finite and > 0.
    momentum : float, default 0.9
        Decay of the velocity, in [0, 1).

    Notes
    -----
    Slot ``v`` (velocity, starts at 0), with ``g = dL/dW``::

        v <- momentum * v - lr * g
        W <- W + v
    """

    name = "Momentum"
    slot_names = ("v",)
    _hyper = {"lr": check_lr, "momentum": check_unit}
    _n_scratch = 1
    lr: float  # set by Optimizer.__init__ from _hyper
    momentum: float

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr=lr, momentum=momentum)

    def _coefficients(self) -> tuple[float, ...]:
        return (self.momentum, self.lr)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        v, s = bufs
        momentum, lr = coef
        v *= momentum
        np.multiply(grad, lr, out=s)
        v -= s
        param += v


class Nesterov(Optimizer):
    """Nesterov's accelerated gradient, the book's ``common/optimizer.py`` variant.

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, finite and > 0.
    momentum : float, default 0.9
        Decay of the velocity, in [0, 1).

    Notes
    -----
    The reformulation of Bengio et al. (arXiv:1212.0901, eq. 7) used by the book's code,
    which looks ahead without evaluating the gradient elsewhere. Slot ``v`` starts at 0; the
    ``v`` in the first line is the velocity before this step::

        W <- W + momentum**2 * v - (1 + momentum) * lr * g
        v <- momentum * v - lr * g
    """

    name = "Nesterov"
    slot_names = ("v",)
    _hyper = {"lr": check_lr, "momentum": check_unit}
    _n_scratch = 1
    lr: float  # set by Optimizer.__init__ from _hyper
    momentum: float

    def __init__(self, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(lr=lr, momentum=momentum)

    def _coefficients(self) -> tuple[float, ...]:
        m, lr = self.momentum, self.lr
        return (m, lr, m * m, (1 + m) * lr)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        v, s = bufs
        momentum, lr, momentum2, lookahead_lr = coef
        # W <- W + momentum² · v_old - (1 + momentum) · lr · g, then v <- momentum · v - lr · g
        np.multiply(v, momentum2, out=s)
        param += s
        np.multiply(grad, lookahead_lr, out=s)
        param -= s
        v *= momentum
        np.multiply(grad, lr, out=s)
        v -= s
