"""Parameter updates of the book's section 6.1: SGD, Momentum, Nesterov, AdaGrad, RMSprop, Adam.

The book's ``common/optimizer.py`` formulas, in the same order of operations; each optimizer
updates ``params`` **in place** (no allocation after the first step), keeps its state by
parameter name in the parameter's dtype, and saves it with :meth:`Optimizer.state_dict`.

Examples
--------
>>> import numpy as np
>>> from kobai.optimizers import get_optimizer
>>> opt = get_optimizer("adam", lr=1e-3)
>>> params = {"W1": np.ones((2, 3)), "b1": np.zeros(3)}
>>> grads = {"W1": np.full((2, 3), 0.5), "b1": np.ones(3)}
>>> opt.update(params, grads)  # params["W1"] and params["b1"] change in place
"""

from __future__ import annotations

from .adaptive import AdaGrad, Adam, RMSprop
from .base import Optimizer, listed
from .sgd import SGD, Momentum, Nesterov

__all__ = [
    "OPTIMIZERS",
    "SGD",
    "AdaGrad",
    "Adam",
    "Momentum",
    "Nesterov",
    "Optimizer",
    "RMSprop",
    "get_optimizer",
]

OPTIMIZERS: dict[str, type[Optimizer]] = {
    "sgd": SGD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": AdaGrad,
    "rmsprop": RMSprop,
    "adam": Adam,
}


def get_optimizer(name: str, **hyper: float) -> Optimizer:
    """Build an optimizer by case-insensitive name, e.g. ``get_optimizer("Adam", lr=1e-3)``.

    Parameters
    ----------
    name : str
        One of ``"sgd"``, ``"momentum"``, ``"nesterov"``, ``"adagrad"``, ``"rmsprop"``,
        ``"adam"`` (any case).
    **hyper : float
        Hyperparameters of that optimizer; unspecified ones take the book's defaults.

    Returns
    -------
    Optimizer

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the valid names) or a hyperparameter is out
        of range.
    TypeError
        If a hyperparameter does not belong to that optimizer.
    """
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a str, got {type(name).__name__}")
    cls = OPTIMIZERS.get(name.lower())
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {', '.join(OPTIMIZERS)}")
    unknown = [k for k in hyper if k not in cls._hyper]
    if unknown:
        raise TypeError(
            f"{cls.name} has no hyperparameter {listed(unknown)}; "
            f"expected some of {listed(cls._hyper)}"
        )
    return cls(**hyper)
