"""The training loop of the book's ``common/trainer.py`` (chapter 6): whole epochs in a seeded
order, evaluation after each, a :class:`~kobai.history.History`, and a stop with
:class:`~kobai.divergence.TrainingDivergedError` when the loss diverges.

Epoch ``e`` visits every training sample once, in ``ceil(N / mini_batch_size)`` mini-batches in
the order of ``SeedSequence(seed, spawn_key=(e, 0))`` (dropout layer ``i`` draws from stream
``i``), so a run resumed after epoch ``k`` continues exactly as the uninterrupted run.
"""

from __future__ import annotations

import inspect
import math
import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, cast

import numpy as np

from ._progress import progress_bar
from ._threads import auto_blas_threads, blas_threads
from ._validate import check_t, check_x, is_number, positive_int
from .divergence import (
    EXPLODED_FACTOR,
    SUSTAINED_BATCHES,
    SUSTAINED_FACTOR,
    DivergenceRule,
    EpochSnapshot,
    TrainingDivergedError,
)
from .history import EpochRecord, History
from .nets import Network
from .optimizers import get_optimizer

__all__ = ["EVAL_BATCH_SIZE", "EXPLODED_FACTOR", "EpochRecord", "History", "INPUT_RMS_LIMIT",
           "SUSTAINED_BATCHES", "SUSTAINED_FACTOR", "Trainer", "TrainingDivergedError"]

EVAL_BATCH_SIZE = 1000
# Training inputs whose root mean square exceeds this get a warning (raw 0-255 pixels: ~80).
INPUT_RMS_LIMIT = 10.0
_STREAM_ORDER = 0  # spawn_key stream of the batch order; dropout layer i uses stream i


class Trainer:
    """Train a network with mini-batch gradient descent (the book's ``common/trainer.py``).

    Parameters
    ----------
    network : Network or a book-style network
        A kobai net, or any object with ``params`` (dict of arrays), ``loss(x, t)``,
        ``accuracy(x, t)`` and either ``gradient(x, t)`` or ``train_step(x, t, optimizer)``.
    x_train, x_test : array_like of shape (N, input_size) or (N, ...)
        Inputs of order 1 (an ``x_train`` RMS above :data:`INPUT_RMS_LIMIT` warns).
    t_train, t_test : array_like of shape (N,) or (N, n_classes)
        Integer labels or one-hot rows.
    epochs, mini_batch_size : int
        The total number of epochs (a resumed run continues until it), the batch size.
    optimizer, optimizer_param : str or optimizer, dict
        A :func:`kobai.optimizers.get_optimizer` name and its hyperparameters (default
        ``{"lr": 0.01}``), or an optimizer instance.
    evaluate_sample_num_per_epoch : int, optional
        Evaluate on the first this many samples of each set (default all).
    verbose, progress : bool
        Print a per-epoch table; show a progress bar (default ``verbose``).
    rng : numpy.random.Generator or int, optional
        Seeds the batch order and every layer's ``rng``; None: ``history``'s seed or a new one.
    callbacks : iterable
        ``cb.on_epoch_end(trainer, record)`` or ``cb(trainer, record)`` after each epoch,
        e.g. :class:`kobai.io.SaveCheckpoint`; optionally ``cb.on_epoch_begin(trainer,
        epoch)`` and ``cb.on_train_end(trainer)``. Setting ``trainer.stop_training = True``
        ends training after the epoch.
    history : History, optional
        To resume: training starts at epoch ``history.epoch + 1`` and appends to it.
    blas_threads : "auto", int or None
        "auto": one thread for small matrix products; None: the BLAS default.
    validation : float, optional
        Hold out this fraction of the training data as a validation set, stratified by class
        and seeded by ``rng`` (:func:`kobai.datasets.split.validation_split` with
        ``SeedSequence(seed, spawn_key=(0, 0))``, so a resumed run holds out the same rows).
    x_val, t_val : array_like, optional
        A validation set of your own instead. With a validation set each epoch is evaluated
        on it (``val_loss``, ``val_acc``), the best epoch's weights (lowest ``monitor``) are
        put back at the end (``restore_best``), and the test set is scored once, at the end,
        on them (:attr:`History.test`).
    test_each_epoch : bool, optional
        Also evaluate the test set after every epoch, as the book does (default: only
        without a validation set).
    patience, min_delta : int, float, optional
        Early stopping (:class:`kobai.stopping.EarlyStopping`): stop once ``monitor`` has
        not improved by more than ``min_delta`` for ``patience`` epochs; needs a validation
        set.
    monitor : {"val_loss", "val_acc"}
        What early stopping and the best epoch are judged by.
    restore_best : bool
        With a validation set, end with the best epoch's weights (Keras's
        ``restore_best_weights``).
    lr_schedule : str or schedule, optional
        A :data:`kobai.schedules.SCHEDULES` name (with its defaults, from the optimizer's
        ``lr`` over ``epochs``) or an object with ``lr_at(epoch, history)``; sets
        ``optimizer.lr`` before each epoch.

    Attributes
    ----------
    network, optimizer, history, seed, epochs, batch_size, iter_per_epoch

    Notes
    -----
    :meth:`train` raises :class:`TrainingDivergedError` on a diverging loss, before that
    batch's update; NumPy's floating-point warnings are silenced while training.

    Examples
    --------
    >>> from kobai.datasets import load_mnist
    >>> from kobai.nets import TwoLayerNet
    >>> (x, t), (xt, tt) = load_mnist(source="sample")
    >>> net = TwoLayerNet(784, 50, 10, rng=0)
    >>> history = Trainer(net, x, t, xt, tt, epochs=2, optimizer_param={"lr": 0.1},
    ...                   rng=0, verbose=False).train()
    >>> history.epoch, len(history.test_acc_list)
    (2, 2)

    Hold out 10% for validation, stop early, decay the learning rate:

    >>> net = TwoLayerNet(784, 50, 10, rng=0)
    >>> h = Trainer(net, x, t, xt, tt, epochs=3, optimizer_param={"lr": 0.1}, rng=0,
    ...             verbose=False, validation=0.1, patience=2, lr_schedule="cosine").train()
    >>> len(h.val_acc_list), sorted(h.test)
    (3, ['acc', 'epoch', 'loss'])
    """

    def __init__(self, network: Any, x_train: Any, t_train: Any, x_test: Any, t_test: Any,
                 epochs: int = 20, mini_batch_size: int = 100, optimizer: Any = "SGD",
                 optimizer_param: Mapping[str, float] | None = None,
                 evaluate_sample_num_per_epoch: int | None = None, verbose: bool = True,
                 rng: np.random.Generator | int | None = None,
                 callbacks: Iterable[Any] = (), *, history: History | None = None,
                 progress: bool | None = None, blas_threads: int | str | None = "auto",
                 validation: float | None = None, x_val: Any = None, t_val: Any = None,
                 test_each_epoch: bool | None = None, patience: int | None = None,
                 min_delta: float = 0.0, monitor: str = "val_loss", restore_best: bool = True,
                 lr_schedule: Any = None):
        self.network = network
        self._kobai = isinstance(network, Network)
        if not self._kobai:
            needed = ["params", "loss", "accuracy"]
            missing = [a for a in needed if not hasattr(network, a)]
            if missing or not (hasattr(network, "train_step") or hasattr(network, "gradient")):
                raise TypeError(f"network must be a kobai net or have params, loss(x, t), "
                                f"accuracy(x, t) and gradient(x, t) or train_step(x, t, "
                                f"optimizer); {type(network).__name__} lacks "
                                f"{missing or ['gradient/train_step']}")
        self.epochs = positive_int(epochs, "epochs")
        self.batch_size = positive_int(mini_batch_size, "mini_batch_size")
        self.evaluate_sample_num = (None if evaluate_sample_num_per_epoch is None else
                                    positive_int(evaluate_sample_num_per_epoch,
                                                  "evaluate_sample_num_per_epoch"))
        self.verbose = bool(verbose)
        self.progress = self.verbose if progress is None else bool(progress)
        if not (blas_threads in ("auto", None) or (isinstance(blas_threads, int)
                                                    and not isinstance(blas_threads, bool)
                                                    and blas_threads >= 1)):
            raise ValueError(f"blas_threads must be 'auto', None or a positive integer, got "
                             f"{blas_threads!r}")
        self.blas_threads = cast("int | Literal['auto'] | None", blas_threads)  # checked above
        self.optimizer = self._make_optimizer(optimizer, optimizer_param)
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not (callable(cb) or callable(getattr(cb, "on_epoch_end", None))):
                raise TypeError(f"each callback must be callable as cb(trainer, record) or "
                                f"have on_epoch_end(trainer, record), got {cb!r}")

        self.x_train, self.t_train, n_classes = self._data(x_train, t_train, "x_train",
                                                           "t_train")
        self.x_test, self.t_test, _ = self._data(x_test, t_test, "x_test", "t_test",
                                                 n_features=self.x_train[0].size)
        _warn_if_unnormalized(self.x_train)
        self._rule = DivergenceRule(n_classes)

        if history is not None and not isinstance(history, History):
            raise TypeError(f"history must be a kobai.trainer.History (History.from_dict "
                            f"turns a saved dict into one), got {type(history).__name__}")
        self.history = history if history is not None else History()
        if self.history.epoch >= self.epochs:
            raise ValueError(f"the history already has {self.history.epoch} completed epochs "
                             f"but epochs={self.epochs}; epochs is the total to reach, so "
                             f"give more than {self.history.epoch} to continue")
        self.seed = self._resolve_seed(rng)
        self.history.seed = self.seed
        self._fit_options(validation, x_val, t_val, test_each_epoch, patience, min_delta,
                          monitor, restore_best, lr_schedule)
        n = self.x_train.shape[0]
        self.iter_per_epoch = -(-n // self.batch_size)
        self._check_last_batch(n)

    def _fit_options(self, validation: Any, x_val: Any, t_val: Any, test_each_epoch: Any,
                     patience: Any, min_delta: Any, monitor: str, restore_best: bool,
                     lr_schedule: Any) -> None:
        """The validation set, and the callbacks of early stopping, the best epoch and the
        learning-rate schedule (:mod:`kobai.stopping`, :mod:`kobai.schedules`)."""
        from .schedules import ScheduleCallback, get_schedule
        from .stopping import EarlyStopping, KeepBest

        self.stop_training = False
        self.x_val: np.ndarray | None = None
        self.t_val: np.ndarray | None = None
        if validation is not None and (x_val is not None or t_val is not None):
            raise TypeError("give either validation (a fraction of the training data) or "
                            "x_val and t_val, not both")
        if (x_val is None) != (t_val is None):
            raise TypeError("x_val and t_val go together (the validation inputs and labels)")
        if validation is not None:
            from .datasets.split import validation_split

            keep, held = validation_split(self.t_train, validation, rng=self._epoch_rng(0, 0))
            self.x_val, self.t_val = self.x_train[held], self.t_train[held]
            self.x_train, self.t_train = self.x_train[keep], self.t_train[keep]
        elif x_val is not None:
            self.x_val, self.t_val, _ = self._data(x_val, t_val, "x_val", "t_val",
                                                   n_features=self.x_train[0].size)
        validating = self.x_val is not None
        self.test_each_epoch = not validating if test_each_epoch is None else bool(
            test_each_epoch)
        internal: list[Any] = []
        if lr_schedule is not None:
            if isinstance(lr_schedule, str):
                lr = getattr(self.optimizer, "lr", None)
                if not is_number(lr):
                    raise TypeError(f"lr_schedule={lr_schedule!r} needs an optimizer with an "
                                    f"lr, got {self.optimizer!r}")
                lr_schedule = get_schedule(lr_schedule, lr=float(lr), epochs=self.epochs)
            internal.append(ScheduleCallback(lr_schedule))
        self.lr_schedule = lr_schedule
        self.keep_best: Any = None
        if patience is not None:
            if not validating:
                raise ValueError("patience needs a validation set (validation=0.1, or x_val "
                                 "and t_val): stopping on the test set would choose the epoch "
                                 "by the data it then reports")
            internal.append(EarlyStopping(patience, monitor, min_delta))
        if validating:  # a KeepBest among the callbacks (one writing best.npz) is the one
            self.keep_best = next((cb for cb in self.callbacks if isinstance(cb, KeepBest)),
                                  None)
            if self.keep_best is None:
                self.keep_best = KeepBest(monitor, min_delta, restore=restore_best)
                internal.append(self.keep_best)
        self.callbacks = internal + self.callbacks

    # -- construction helpers -----------------------------------------------------------------
    @staticmethod
    def _make_optimizer(optimizer: Any, optimizer_param: Mapping[str, float] | None) -> Any:
        if isinstance(optimizer, str):
            return get_optimizer(optimizer, **dict(optimizer_param or {"lr": 0.01}))
        if not callable(getattr(optimizer, "update", None)):
            raise TypeError(f"optimizer must be a name such as 'SGD' or 'Adam' or an object "
                            f"with update(params, grads), got {optimizer!r}")
        if optimizer_param is not None:
            raise TypeError("optimizer_param is for an optimizer given by name; this "
                            f"optimizer instance ({optimizer!r}) already has its parameters")
        return optimizer

    def _data(self, x: Any, t: Any, x_name: str, t_name: str,
              n_features: int | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Validate one data set once: 2-D finite x in the net's dtype, int64 labels; and the
        number of classes."""
        net = self.network
        shape = np.shape(x)
        if len(shape) < 2:
            raise ValueError(f"{x_name} has shape {shape}; expected a data set of shape "
                             "(n_samples, n_features) or (n_samples, ...)")
        dtype = np.dtype(getattr(net, "dtype", np.float64))
        if n_features is None:
            n_features = getattr(net, "input_size", None) or int(np.prod(shape[1:]))
        x2 = np.ascontiguousarray(check_x(x, n_features, dtype, name=x_name))
        if isinstance(net, Network) and len(net.input_shape) > 1:
            x2 = x2.reshape(x2.shape[0], *net.input_shape)  # e.g. (1, 28, 28): a convolutional net
        n_classes = getattr(net, "output_size", None)
        if n_classes is None:  # a book-style net: take the number of classes from the targets
            t_arr = np.asarray(t)
            if t_arr.ndim == 2:
                n_classes = t_arr.shape[1]
            elif t_arr.size and t_arr.dtype.kind in "iuf" and np.isfinite(t_arr).all():
                n_classes = max(int(t_arr.max()) + 1, 1)
            else:
                n_classes = 1
        return x2, check_t(t, x2.shape[0], n_classes, name=t_name), n_classes

    def _check_last_batch(self, n: int) -> None:
        """Refuse a last mini-batch smaller than a layer can train on (batch norm: 2)."""
        if not self._kobai:
            return

        def last_batch(size: int) -> int:
            return n - (-(-n // size) - 1) * size

        bs = self.batch_size
        last = last_batch(bs)
        for name, layer in self.network.layers.items():
            need = getattr(layer, "min_train_batch", 1)
            if last >= need:
                continue
            near = (b for d in range(1, n) for b in (bs - d, bs + d) if need <= b <= n)
            ok = next((b for b in near if last_batch(b) >= need), None)
            hint = f" (e.g. {ok})" if ok is not None else ""
            raise ValueError(f"x_train has {n} samples, so with mini_batch_size="
                             f"{self.batch_size} each epoch's last mini-batch holds {last}, but "
                             f"layer {name!r} ({type(layer).__name__}) needs at least {need} "
                             f"samples per batch in training; choose a mini_batch_size that "
                             f"leaves no such remainder{hint}, or leave out {last} sample(s)")

    def _resolve_seed(self, rng: Any) -> int:
        if rng is None:
            if self.history.seed is not None:
                return self.history.seed
            return int(np.random.default_rng().integers(2**63))
        if isinstance(rng, np.random.Generator):
            return int(rng.integers(2**63))
        if isinstance(rng, numbers.Integral) and not isinstance(rng, bool) and int(rng) >= 0:
            return int(rng)
        raise TypeError(f"rng must be a numpy.random.Generator, an int seed >= 0 or None, "
                        f"got {rng!r}")

    def _epoch_rng(self, epoch: int, stream: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed,
                                                            spawn_key=(epoch, stream)))

    # -- training -----------------------------------------------------------------------------
    def train(self) -> History:
        """Train from epoch ``history.epoch + 1`` to ``epochs``; return the history.

        A diverged or interrupted epoch is rolled back (network, optimizer state, history;
        its callbacks do not run), so ``train()`` may be called again and resumes exactly.

        Raises
        ------
        TrainingDivergedError
            When a mini-batch loss is NaN, infinite or exploding, or the end-of-epoch
            evaluation or parameters are not finite.
        KeyboardInterrupt
            Or any other exception in the middle of an epoch, after putting it back.
        """
        start = self.history.epoch
        if start >= self.epochs:
            return self.history
        bar = progress_bar(total=(self.epochs - start) * self.iter_per_epoch,
                           disable=not self.progress, unit="batch", dynamic_ncols=True,
                           desc=f"epoch {start + 1}/{self.epochs}")
        with blas_threads(self._blas_threads()):
            self._train_epochs(start, bar)
        return self.history

    def _blas_threads(self) -> int | None:
        if self.blas_threads != "auto":
            return self.blas_threads
        if not self._kobai:
            return None
        return auto_blas_threads(self.network.params.values(), self.batch_size)

    def _train_epochs(self, start: int, bar: Any) -> None:
        # a resumed run: the same reference and streak as the uninterrupted one
        self._rule.resume(self.history.train_loss_list)
        self.stop_training = False
        try:
            if self.verbose:
                bar.write(_TABLE_HEADER if self.x_val is None else _VAL_HEADER)
            for epoch in range(start + 1, self.epochs + 1):
                bar.set_description(f"epoch {epoch}/{self.epochs}", refresh=False)
                record = self._train_epoch(epoch, bar)
                self.history.epochs.append(record)
                if self.verbose:
                    bar.write(_table_row(record))
                for cb in self.callbacks:
                    hook = getattr(cb, "on_epoch_end", None)
                    (hook if callable(hook) else cb)(self, record)
                if self.stop_training:
                    if self.verbose:
                        bar.write(f"stopped early after epoch {epoch}")
                    break
        finally:
            bar.close()
        self._end()

    def _end(self) -> None:
        """With a validation set: the best weights back, the test set scored once."""
        if self.keep_best is not None:
            self.keep_best.on_train_end(self)
        if self.x_val is not None:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                loss, acc = self._evaluate(self.x_test, self.t_test)
            tested = (self.keep_best.epoch if self.keep_best is not None
                      and self.keep_best.restore and self.keep_best.epoch is not None
                      else self.history.epoch)
            self.history.test = {"epoch": tested, "loss": loss, "acc": acc}
            if self.keep_best is not None:
                self.keep_best.on_test_end(self)
        for cb in self.callbacks:
            hook = getattr(cb, "on_train_end", None)
            if callable(hook) and cb is not self.keep_best:
                hook(self)

    def _train_epoch(self, epoch: int, bar: Any) -> EpochRecord:
        snapshot = EpochSnapshot(self.network, self.optimizer, self.history.train_loss_list,
                                 kobai=self._kobai)
        try:
            # overflow is caught by the divergence checks, which say what happened
            for cb in self.callbacks:
                begin = getattr(cb, "on_epoch_begin", None)
                if callable(begin):
                    begin(self, epoch)
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                return self._train_epoch_body(epoch, bar)
        except BaseException:
            # Diverged, interrupted (Ctrl-C) or failed mid-epoch: discard the partial epoch, so
            # the network is what the last checkpoint holds and train() called again resumes
            # at the epoch's start exactly as if it had not begun.
            snapshot.restore()
            raise

    def _train_epoch_body(self, epoch: int, bar: Any) -> EpochRecord:
        t0 = time.perf_counter()
        x, t, bs = self.x_train, self.t_train, self.batch_size
        order = self._epoch_rng(epoch, _STREAM_ORDER).permutation(x.shape[0])
        self._reseed_dropout(epoch)
        losses = self.history.train_loss_list
        shown = t0
        for i, begin in enumerate(range(0, x.shape[0], bs), start=1):
            idx = order[begin:begin + bs]
            losses.append(self._step(x[idx], t[idx], epoch, i))
            bar.update()
            now = time.perf_counter()
            if now - shown > 0.2:
                bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
                shown = now
        bar.set_postfix(loss=f"{losses[-1]:.4f}", refresh=False)
        self._check_params(epoch)
        n_tr = n_te = self.evaluate_sample_num
        train_loss, train_acc = self._evaluate(self.x_train[:n_tr], self.t_train[:n_tr])
        test_loss = test_acc = val_loss = val_acc = None
        if self.test_each_epoch:
            test_loss, test_acc = self._evaluate(self.x_test[:n_te], self.t_test[:n_te])
        if self.x_val is not None and self.t_val is not None:
            val_loss, val_acc = self._evaluate(self.x_val[:n_te], self.t_val[:n_te])
        for name, value in (("training", train_loss), ("test", test_loss),
                            ("validation", val_loss)):
            if value is not None and not math.isfinite(value):
                raise self._diverged(epoch, None, value, f"the {name} loss after the epoch")
        lr = getattr(self.optimizer, "lr", None)
        return EpochRecord(epoch=epoch, iteration=len(losses), train_loss=train_loss,
                           train_acc=train_acc, test_loss=test_loss, test_acc=test_acc,
                           seconds=time.perf_counter() - t0,
                           lr=float(lr) if is_number(lr) else None, val_loss=val_loss,
                           val_acc=val_acc)

    def _reseed_dropout(self, epoch: int) -> None:
        if not self._kobai:
            return
        # every layer that draws random numbers (the layer protocol's ``rng``)
        drawing = [layer for layer in self.network.layers.values()
                   if isinstance(getattr(layer, "rng", None), np.random.Generator)]
        for i, layer in enumerate(drawing, start=1):
            layer.rng = self._epoch_rng(epoch, _STREAM_ORDER + i)

    def _step(self, xb: np.ndarray, tb: np.ndarray, epoch: int, i: int) -> float:
        """One update; the loss is checked before the update is applied."""
        net = self.network
        if self._kobai:
            # Validated once in __init__, so skip the per-call checks; train_step applies no
            # update when the loss is not finite or above max_loss.
            loss = net.train_step(xb, tb, self.optimizer, check_inputs=False,
                                  max_loss=self._rule.max_loss())
            self._check_loss(loss, epoch, i, "the mini-batch loss")
            return loss
        if hasattr(net, "train_step"):
            loss = float(net.train_step(xb, tb, self.optimizer))
            # train_step has applied the update already
            self._check_loss(loss, epoch, i, "the mini-batch loss (returned by train_step, "
                             "which has applied the update)")
            return loss
        loss = float(net.loss(xb, tb))
        self._check_loss(loss, epoch, i, "the mini-batch loss")
        self.optimizer.update(net.params, net.gradient(xb, tb))
        return loss

    def _check_loss(self, loss: float, epoch: int, i: int, what: str) -> None:
        """Raise TrainingDivergedError for a NaN, infinite or exploding mini-batch loss."""
        why = self._rule.check(loss)
        if why is not None:
            raise self._diverged(epoch, i, loss, what, why)

    def _check_params(self, epoch: int) -> None:
        """Parameters can overflow in the epoch's last update, after the last loss check."""
        params = getattr(self.network, "params", {})
        for key, arr in params.items():
            if not np.isfinite(arr).all():
                raise self._diverged(epoch, None, math.nan, f"parameter {key} (after the "
                                     "epoch's last update)")

    def _evaluate(self, x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
        """Mean loss and accuracy in evaluation mode, EVAL_BATCH_SIZE rows at a time."""
        net, n = self.network, x.shape[0]
        total, correct = 0.0, 0.0
        if self._kobai:  # checked once in __init__
            return net.evaluate(x, t, EVAL_BATCH_SIZE, check_inputs=False)
        loss_kw = _eval_kwargs(net.loss)
        for s in range(0, n, EVAL_BATCH_SIZE):
            xc, tc = x[s:s + EVAL_BATCH_SIZE], t[s:s + EVAL_BATCH_SIZE]
            total += float(net.loss(xc, tc, **loss_kw)) * xc.shape[0]
            correct += float(net.accuracy(xc, tc)) * xc.shape[0]
        return total / n, correct / n

    def _diverged(self, epoch: int, i: int | None, loss: float, what: str,
                  why: str = "") -> TrainingDivergedError:
        where = (f"epoch {epoch}, iteration {i} of {self.iter_per_epoch} (iteration "
                 f"{len(self.history.train_loss_list) + 1} overall)" if i is not None else
                 f"the end of epoch {epoch}")
        lr = getattr(self.optimizer, "lr", None)
        hint = (f"try a smaller learning rate than lr={lr:g} (e.g. {lr / 10:g})" if is_number(lr)
                else "try a smaller learning rate")
        kept = (f"; the history and callbacks stop at epoch {epoch - 1}" if epoch > 1 else "")
        value = f"{loss:.4g}" if math.isfinite(loss) else str(loss)
        back = (f"; the network, the optimizer's state and the history are back at the start "
                f"of epoch {epoch}" + (f" (what a checkpoint saved after epoch {epoch - 1} holds)"
                                       if epoch > 1 else "")
                + ", so train() may be called again")
        return TrainingDivergedError(f"training diverged at {where}: {what} is {value}{why}"
                                     f"{kept}{back}; {hint}", epoch=epoch, iteration=i,
                                     loss=loss)


def _warn_if_unnormalized(x: np.ndarray) -> None:
    """Warn when the training inputs are far larger than the order-1 scale (He/Xavier
    initialization, pixels in [0, 1]) the networks are built for: raw 0-255 pixels train to
    chance accuracy."""
    flat = x.reshape(-1)
    # one BLAS pass; its rounding does not matter for a threshold
    rms = math.sqrt(float(np.vdot(flat, flat)) / max(flat.size, 1))
    if not rms > INPUT_RMS_LIMIT:
        return
    warnings.warn(f"x_train has a root mean square of {rms:.3g} (values from {flat.min():g} to "
                  f"{flat.max():g}), but kobai's networks are initialized for inputs of order 1, "
                  "such as pixels in [0, 1]; on inputs this large training stalls or diverges. "
                  "Divide images of 0-255 pixels by 255 (load_mnist(normalize=True), the "
                  "default, does so), or standardize other features (subtract the mean, "
                  "divide by the standard deviation)", UserWarning, stacklevel=3)


def _eval_kwargs(fn: Callable) -> dict[str, bool]:
    """Evaluation-mode keyword of a book-style ``loss`` (``train`` or ``train_flg``), if any."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    for name in ("train", "train_flg"):
        if name in params:
            return {name: False}
    return {}


_TABLE_HEADER = (f"{'epoch':>5}  {'train loss':>10}  {'test loss':>10}  {'train acc':>9}  "
                 f"{'test acc':>8}  {'seconds':>7}")


def _table_row(r: EpochRecord) -> str:
    loss, acc = ((r.test_loss, r.test_acc) if r.val_loss is None or r.val_acc is None
                 else (r.val_loss, r.val_acc))
    return (f"{r.epoch:>5}  {r.train_loss:>10.4f}  {_cell(loss, 10)}  {r.train_acc:>9.4f}  "
            f"{_cell(acc, 8)}  {r.seconds:>7.2f}")


def _cell(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.4f}"


_VAL_HEADER = (f"{'epoch':>5}  {'train loss':>10}  {'val loss':>10}  {'train acc':>9}  "
               f"{'val acc':>8}  {'seconds':>7}")
