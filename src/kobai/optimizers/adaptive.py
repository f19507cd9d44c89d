"""AdaGrad, RMSprop and Adam (§6.1.5–6.1.6), with the book's formulas."""

from __future__ import annotations

import math

import numpy as np

from .base import EPS, Optimizer, check_lr, check_unit


def _scaled_step(param: np.ndarray, grad: np.ndarray, h: np.ndarray, s: np.ndarray,
                 t: np.ndarray, lr: float) -> None:
    """W <- W - lr * g / (sqrt(h) + 1e-7), with (lr * g) rounded before the division."""
    np.multiply(grad, lr, out=s)
    np.sqrt(h, out=t)
    t += EPS
    s /= t
    param -= s


class AdaGrad(Optimizer):
    """AdaGrad: per-entry learning rates shrinking with the squared-gradient sum (section 6.1.5).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, finite and > 0.

    Notes
    -----
    Slot ``h`` (sum of squared gradients, starts at 0); ``*`` and ``/`` are entrywise::

        h <- h + g * g
        W <- W - lr * g / (sqrt(h) + 1e-7)
    """

    name = "AdaGrad"
    slot_names = ("h",)
    _hyper = {"lr": check_lr}
    _n_scratch = 2
    lr: float  # set by Optimizer.__init__ from _hyper

    def __init__(self, lr: float = 0.01) -> None:
        super().__init__(lr=lr)

    def _coefficients(self) -> tuple[float, ...]:
        return (self.lr,)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        h, s, t = bufs
        (lr,) = coef
        np.multiply(grad, grad, out=s)
        h += s
        _scaled_step(param, grad, h, s, t, lr)


class RMSprop(Optimizer):
    """RMSprop: AdaGrad with an exponential moving average of squared gradients (section 6.1.5).

    Parameters
    ----------
    lr : float, default 0.01
        Learning rate, finite and > 0.
    decay_rate : float, default 0.99
        Weight of the old average, in [0, 1).

    Notes
    -----
    Slot ``h`` (starts at 0); ``*`` and ``/`` are entrywise::

        h <- decay_rate * h + (1 - decay_rate) * g * g
        W <- W - lr * g / (sqrt(h) + 1e-7)
    """

    name = "RMSprop"
    slot_names = ("h",)
    _hyper = {"lr": check_lr, "decay_rate": check_unit}
    _n_scratch = 2
    lr: float  # set by Optimizer.__init__ from _hyper
    decay_rate: float

    def __init__(self, lr: float = 0.01, decay_rate: float = 0.99) -> None:
        super().__init__(lr=lr, decay_rate=decay_rate)

    def _coefficients(self) -> tuple[float, ...]:
        return (self.decay_rate, 1 - self.decay_rate, self.lr)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        h, s, t = bufs
        decay, one_minus_decay, lr = coef
        h *= decay
        np.multiply(grad, one_minus_decay, out=s)
        s *= grad
        h += s
        _scaled_step(param, grad, h, s, t, lr)


class Adam(Optimizer):
    """Adam: momentum plus RMSprop-style scaling, with bias correction (section 6.1.6).

    Parameters
    ----------
    lr : float, default 0.001
        Learning rate, finite and > 0.
    beta1 : float, default 0.9
        Decay of the first-moment average ``m``, in [0, 1).
    beta2 : float, default 0.999
        Decay of the second-moment average ``v``, in [0, 1).

    Notes
    -----
    Slots ``m``, ``v`` start at 0 and ``t`` counts updates (``state_dict()["step"]``); as in
    the book, the bias correction is folded into the learning rate (entrywise)::

        t    <- t + 1
        lr_t  = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        m    <- m + (1 - beta1) * (g - m)          # = beta1 * m + (1 - beta1) * g
        v    <- v + (1 - beta2) * (g**2 - v)       # = beta2 * v + (1 - beta2) * g**2
        W    <- W - lr_t * m / (sqrt(v) + 1e-7)

    ``lr_t`` is a Python float, so float32 parameters are updated in float32 throughout.
    """

    name = "Adam"
    slot_names = ("m", "v")
    _hyper = {"lr": check_lr, "beta1": check_unit, "beta2": check_unit}
    _n_scratch = 2
    lr: float  # set by Optimizer.__init__ from _hyper
    beta1: float
    beta2: float

    def __init__(self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999) -> None:
        super().__init__(lr=lr, beta1=beta1, beta2=beta2)

    def _coefficients(self) -> tuple[float, ...]:
        t = self.iter
        lr_t = self.lr * math.sqrt(1.0 - self.beta2**t) / (1.0 - self.beta1**t)
        return (1.0 - self.beta1, 1.0 - self.beta2, lr_t)

    def _step(self, param: np.ndarray, grad: np.ndarray, bufs: tuple[np.ndarray, ...],
              coef: tuple[float, ...]) -> None:
        m, v, s, t = bufs
        one_minus_beta1, one_minus_beta2, lr_t = coef
        np.subtract(grad, m, out=s)
        s *= one_minus_beta1
        m += s
        np.square(grad, out=s)
        s -= v
        s *= one_minus_beta2
        v += s
        np.multiply(m, lr_t, out=s)
        np.sqrt(v, out=t)
        t += EPS
        s /= t
        param -= s
