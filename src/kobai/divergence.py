"""When a training run has diverged, and what a stopped epoch goes back to.

**The rule.** A mini-batch loss that is NaN or infinite has diverged; so has a finite loss
above ``EXPLODED_FACTOR`` (1000) times the reference loss in one mini-batch, or above
``SUSTAINED_FACTOR`` (100) times it in ``SUSTAINED_BATCHES`` (10) consecutive mini-batches,
where

    L_ref = max(the run's first mini-batch loss, log(n_classes))

is the loss at the start (``history.train_loss_list[0]``, also for a resumed run), at least a
uniform guess's cross-entropy (100·log(n) means probability ``n**-100`` for the right class).

**The snapshot.** :class:`EpochSnapshot`: the state a diverged or interrupted epoch goes back to.

Examples
--------
>>> rule = DivergenceRule(n_classes=10)
>>> rule.check(2.3) is None        # the first loss sets L_ref = max(2.3, log(10))
True
>>> rule.check(float("nan"))
''
>>> "exploded" in rule.check(5000.0)
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["EXPLODED_FACTOR", "SUSTAINED_BATCHES", "SUSTAINED_FACTOR", "DivergenceRule",
           "EpochSnapshot", "TrainingDivergedError"]

# On the bundled MNIST sample (MultiLayerNet 784-100-100-10 with and without batch norm; SGD,
# Momentum, AdaGrad, RMSprop and Adam from their usual learning rates to 50 times them), runs
# that recovered to a useful accuracy stayed below 300 L_ref, and above 100 L_ref for at most 4
# mini-batches in a row; every run that passed 1000 L_ref ended between chance and 72% test
# accuracy.
EXPLODED_FACTOR = 1000.0
SUSTAINED_FACTOR = 100.0
SUSTAINED_BATCHES = 10


class TrainingDivergedError(RuntimeError):
    """The training loss became NaN or infinite, or exploded (see :mod:`kobai.divergence`).

    Attributes
    ----------
    epoch : int
        1-based epoch in which it happened.
    iteration : int or None
        1-based iteration within that epoch (None if found at the epoch-end evaluation).
    loss : float
    """

    def __init__(self, message: str, *, epoch: int, iteration: int | None, loss: float):
        super().__init__(message)
        self.epoch, self.iteration, self.loss = epoch, iteration, loss


class DivergenceRule:
    """The module's rule, applied to the mini-batch losses of one run in order.

    Parameters
    ----------
    n_classes : int
        For the uniform guess's loss ``log(n_classes)`` (at least ``log(2)``).
    """

    def __init__(self, n_classes: int):
        self.uniform_loss = math.log(max(n_classes, 2))
        self.ref_loss: float | None = None
        self.streak = 0  # consecutive mini-batch losses above SUSTAINED_FACTOR * L_ref

    def resume(self, losses: Sequence[float]) -> None:
        """Take up the reference and the streak of the losses a resumed run has already."""
        if not losses:
            return
        self.ref_loss = max(losses[0], self.uniform_loss)
        self.streak = 0
        for loss in reversed(losses[-SUSTAINED_BATCHES:]):
            if not loss > SUSTAINED_FACTOR * self.ref_loss:
                break
            self.streak += 1

    def max_loss(self) -> float:
        """The largest mini-batch loss the rule lets through in the next step."""
        if self.ref_loss is None:
            return math.inf
        factor = (SUSTAINED_FACTOR if self.streak >= SUSTAINED_BATCHES - 1
                  else EXPLODED_FACTOR)
        return factor * self.ref_loss

    def check(self, loss: float) -> str | None:
        """None while the run is sound; else why it diverged: ``""`` for a NaN or infinite
        loss, the end of a sentence for an exploded one."""
        if not math.isfinite(loss):
            return ""
        ref = self.ref_loss
        if ref is None:  # the run's first mini-batch
            self.ref_loss = max(loss, self.uniform_loss)
            return None
        self.streak = self.streak + 1 if loss > SUSTAINED_FACTOR * ref else 0
        basis = (f"its reference {ref:.4g} (the larger of the run's first mini-batch loss and "
                 f"log(n_classes) = {self.uniform_loss:.4g}, the loss of a uniform guess)")
        if loss > EXPLODED_FACTOR * ref:
            return f", more than {EXPLODED_FACTOR:g} times {basis}: the loss exploded"
        if self.streak >= SUSTAINED_BATCHES:
            return (f", and the last {SUSTAINED_BATCHES} mini-batch losses were all above "
                    f"{SUSTAINED_FACTOR:g} times {basis}: the loss exploded")
        return None


class EpochSnapshot:
    """Copies of a network's and an optimizer's state, and the length of a loss list.

    Parameters
    ----------
    network : Network or a book-style network
        A kobai net (``state_dict``/``load_state_dict``) when ``kobai`` is true, else only
        its ``params`` are copied.
    optimizer : optimizer
        Its ``state_dict()`` is copied if it has one.
    losses : list of float
        The history's mini-batch losses; :meth:`restore` cuts it back to its length now.
    kobai : bool
    """

    def __init__(self, network: Any, optimizer: Any, losses: list[float], *, kobai: bool):
        self.network, self.optimizer, self.losses, self.kobai = network, optimizer, losses, kobai
        self.n_losses = len(losses)
        if kobai:
            self.net_state = network.state_dict()
        else:
            self.net_state = {k: np.array(v, copy=True)
                              for k, v in getattr(network, "params", {}).items()}
        self.opt_state = (optimizer.state_dict()
                          if callable(getattr(optimizer, "state_dict", None)) else None)

    def restore(self) -> None:
        """Put the network, the optimizer and the losses back to when the snapshot was taken."""
        del self.losses[self.n_losses:]
        if self.kobai:
            self.network.load_state_dict(self.net_state)
        else:
            for key, saved in self.net_state.items():
                self.network.params[key][...] = saved
        if self.opt_state is not None and callable(getattr(self.optimizer, "load_state_dict",
                                                           None)):
            self.optimizer.load_state_dict(self.opt_state)
