"""The book's ``common/trainer.py`` (§6.5): its training loop, step by step.

:class:`kobai.trainer.Trainer` trains by whole shuffled epochs, evaluates after each, detects
divergence and can resume; the book's loop is another one: mini-batches drawn *with
replacement* from NumPy's global stream (``np.random.choice(train_size, batch_size)``), an
evaluation at iteration 0 and whenever ``iteration % iter_per_epoch == 0`` for the float
``iter_per_epoch = max(train_size / mini_batch_size, 1)``, ``int(epochs · iter_per_epoch)``
iterations in all, and a line printed per iteration. Options on kobai's Trainer for every one
of these would turn it into two loops in one class, so this :class:`Trainer` is the book's
control flow, on its own, driving the network and optimizer through their public API
(``network.gradient``, ``optimizer.update``, ``network.loss``, ``network.accuracy``): there
is no arithmetic of its own here. The optimizers are :mod:`kobai.book.common.optimizer`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop

__all__ = ["Trainer"]

#: ``optimizer=`` names (any case) -> class, as the book's ``optimizer_class_dict``
OPTIMIZERS: dict[str, type[Any]] = {"sgd": SGD, "momentum": Momentum, "nesterov": Nesterov,
                                    "adagrad": AdaGrad, "rmsprop": RMSprop, "adam": Adam}


class Trainer:
    """Train a network the book's way (``common/trainer.py``).

    Parameters
    ----------
    network
        Anything with ``params``, ``gradient(x, t)``, ``loss(x, t)`` and ``accuracy(x, t)``.
    x_train, t_train, x_test, t_test : ndarray
    epochs : int or float
    mini_batch_size : int
    optimizer : str
        ``"SGD"``, ``"Momentum"``, ``"Nesterov"``, ``"AdaGrad"``, ``"RMSprop"``, ``"Adam"``.
    optimizer_param : dict
        Its keyword arguments; default ``{"lr": 0.01}``.
    evaluate_sample_num_per_epoch : int, optional
        Evaluate the per-epoch accuracies on the first this many training and test samples.
    verbose : bool
        Print the loss every iteration and the accuracies every epoch, as the book does.

    Attributes
    ----------
    train_loss_list : list of float
        The mini-batch loss after each update (a second forward pass, default mode).
    train_acc_list, test_acc_list : list of float
        The accuracies at each evaluation: iteration 0, then every ``iter_per_epoch``.
    current_iter, current_epoch : int
        Iterations done, evaluations done.
    iter_per_epoch : float
    max_iter : int
    optimizer
    """

    def __init__(self, network: Any, x_train: np.ndarray, t_train: np.ndarray,
                 x_test: np.ndarray, t_test: np.ndarray, epochs: float = 20,
                 mini_batch_size: int = 100, optimizer: str = "SGD",
                 optimizer_param: Mapping[str, float] | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, verbose: bool = True):
        self.network = network
        self.verbose = verbose
        self.x_train, self.t_train = x_train, t_train
        self.x_test, self.t_test = x_test, t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        cls = OPTIMIZERS.get(optimizer.lower()) if isinstance(optimizer, str) else None
        if cls is None:
            raise ValueError(f"unknown optimizer {optimizer!r}; expected one of "
                             f"{', '.join(OPTIMIZERS)} (any case)")
        self.optimizer = cls(**dict({"lr": 0.01} if optimizer_param is None
                                    else optimizer_param))

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list: list[Any] = []
        self.train_acc_list: list[Any] = []
        self.test_acc_list: list[Any] = []

    def train_step(self) -> None:
        """One iteration: a mini-batch drawn with replacement, ``gradient``, ``update``, the
        loss after the update; and, when ``current_iter % iter_per_epoch == 0``, the
        accuracies on (the first ``evaluate_sample_num_per_epoch`` samples of) both sets."""
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            x_train_sample, t_train_sample = self.x_train, self.t_train
            x_test_sample, t_test_sample = self.x_test, self.t_test
            n = self.evaluate_sample_num_per_epoch
            if n is not None:
                x_train_sample, t_train_sample = self.x_train[:n], self.t_train[:n]
                x_test_sample, t_test_sample = self.x_test[:n], self.t_test[:n]
            train_acc = self.network.accuracy(x_train_sample, t_train_sample)
            test_acc = self.network.accuracy(x_test_sample, t_test_sample)
            self.train_acc_list.append(train_acc)
            self.test_acc_list.append(test_acc)
            if self.verbose:
                print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                      + ", test acc:" + str(test_acc) + " ===")
        self.current_iter += 1

    def train(self) -> None:
        """``max_iter`` iterations of :meth:`train_step`, then the accuracy on the whole test
        set (printed when ``verbose``)."""
        for _ in range(self.max_iter):
            self.train_step()
        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))
