"""A fully connected network of any depth built from layers (§6.1–6.4).

The book's ``MultiLayerNet`` and ``MultiLayerNetExtend`` in one class: He/Xavier initialisation,
weight decay, dropout and batch normalization, with exact gradients by backpropagation.
"""

from __future__ import annotations

import copy
import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from .._validate import check_t, check_x, positive_int, resolve_dtype, resolve_rng
from ..functions import softmax
from ..gradient import numerical_gradient as _numerical_gradient
from ..layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from ._fast_step import FastStep
from ._fast_step import supports as supports_fast_step

__all__ = ["MultiLayerNet"]

ACTIVATIONS = {"relu": Relu, "sigmoid": Sigmoid, "tanh": Tanh}
_INIT_SCALE = {"relu": 2.0, "he": 2.0, "sigmoid": 1.0, "tanh": 1.0, "xavier": 1.0}


class MultiLayerNet:
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
        "relu"/"he": ``sqrt(2 / n_in)`` (He); "sigmoid"/"tanh"/"xavier": ``sqrt(1 / n_in)``
        (Xavier);
        a number: that standard deviation for every layer.
    weight_decay_lambda : float
        L2 penalty: the loss gains ``0.5 · λ · Σ W²`` over all weight matrices.
    use_dropout, dropout_ratio : bool, float
        Inverted dropout after each hidden activation.
    use_batchnorm : bool
        Batch normalization before each hidden activation (adds ``gamma{i}``, ``beta{i}``).
    rng : numpy.random.Generator or int, optional
        Source of randomness (weights and dropout masks); the same seed gives the same net.
    dtype : float32 or float64
        Of the parameters and computations. Use float64 for gradient checks.

    Attributes
    ----------
    params : dict of str to ndarray
        ``W1, b1, [gamma1, beta1,] W2, b2, …`` in that order; the layers use these very arrays,
        so updating them in place updates the network.
    layers : dict of str to layer
        ``Affine1, [BatchNorm1,] Relu1, [Dropout1,] …, Affine{n+1}`` in forward order.
    last_layer : SoftmaxWithLoss
    """

    def __init__(self, input_size: int, hidden_size_list: Sequence[int], output_size: int,
                 activation: str = "relu", weight_init_std: str | float = "relu",
                 weight_decay_lambda: float = 0.0, use_dropout: bool = False,
                 dropout_ratio: float = 0.5, use_batchnorm: bool = False,
                 rng: np.random.Generator | int | None = None,
                 dtype: type | np.dtype | str = np.float64):
        self.input_size = positive_int(input_size, "input_size")
        if isinstance(hidden_size_list, (str, bytes)) or not isinstance(hidden_size_list,
                                                                          Sequence):
            raise TypeError(f"hidden_size_list must be a list of layer widths such as [100, 100],"
                            f" got {hidden_size_list!r}")
        self.hidden_size_list = [positive_int(h, "each hidden size") for h in hidden_size_list]
        self.output_size = positive_int(output_size, "output_size")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got "
                             f"{activation!r}")
        self.activation = activation
        if isinstance(weight_init_std, str):
            if weight_init_std.lower() not in _INIT_SCALE:
                raise ValueError(f"weight_init_std must be a number or one of "
                                 f"{sorted(_INIT_SCALE)}, got {weight_init_std!r}")
            weight_init_std = weight_init_std.lower()
        elif not (isinstance(weight_init_std, numbers.Real) and weight_init_std > 0
                  and math.isfinite(weight_init_std)):
            raise ValueError(f"weight_init_std must be a positive number or one of "
                             f"{sorted(_INIT_SCALE)}, got {weight_init_std!r}")
        self.weight_init_std = weight_init_std
        if not (isinstance(weight_decay_lambda, numbers.Real) and weight_decay_lambda >= 0
                and math.isfinite(weight_decay_lambda)):
            raise ValueError(f"weight_decay_lambda must be a finite number >= 0, got "
                             f"{weight_decay_lambda!r}")
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.use_dropout = bool(use_dropout)
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"dropout_ratio must be in [0, 1), got {dropout_ratio!r}")
        self.dropout_ratio = float(dropout_ratio)
        self.use_batchnorm = bool(use_batchnorm)
        self.dtype = resolve_dtype(dtype)
        rng = resolve_rng(rng)

        sizes = [self.input_size, *self.hidden_size_list, self.output_size]
        self.n_affine = len(sizes) - 1
        self.params: dict[str, np.ndarray] = {}
        for i in range(1, self.n_affine + 1):
            n_in, n_out = sizes[i - 1], sizes[i]
            if isinstance(weight_init_std, str):
                scale = math.sqrt(_INIT_SCALE[weight_init_std] / n_in)
            else:
                scale = float(weight_init_std)
            self.params[f"W{i}"] = (scale * rng.standard_normal((n_in, n_out))).astype(self.dtype)
            self.params[f"b{i}"] = np.zeros(n_out, dtype=self.dtype)
            if self.use_batchnorm and i < self.n_affine:
                self.params[f"gamma{i}"] = np.ones(n_out, dtype=self.dtype)
                self.params[f"beta{i}"] = np.zeros(n_out, dtype=self.dtype)
        self._build_layers(rng)
        self._fast_engines: dict[int, FastStep] = {}

    # -- construction -----------------------------------------------------------------------
    def _build_layers(self, rng: np.random.Generator) -> None:
        p = self.params
        self.layers: dict[str, object] = {}
        # (params key, layer, attribute): how each parameter array is wired into a layer.
        self._slots: list[tuple[str, object, str]] = []
        act_cls = ACTIVATIONS[self.activation]
        for i in range(1, self.n_affine + 1):
            affine = Affine(p[f"W{i}"], p[f"b{i}"])
            self.layers[f"Affine{i}"] = affine
            self._slots += [(f"W{i}", affine, "W"), (f"b{i}", affine, "b")]
            if i == self.n_affine:
                break
            if self.use_batchnorm:
                bn = BatchNormalization(p[f"gamma{i}"], p[f"beta{i}"])
                self.layers[f"BatchNorm{i}"] = bn
                self._slots += [(f"gamma{i}", bn, "gamma"), (f"beta{i}", bn, "beta")]
            self.layers[f"{act_cls.__name__}{i}"] = act_cls()
            if self.use_dropout:
                self.layers[f"Dropout{i}"] = Dropout(self.dropout_ratio, rng=rng)
        self.layers["Affine1"].compute_dx = False  # nothing needs d(loss)/d(data)
        self.last_layer = SoftmaxWithLoss()

    def _bind(self) -> None:
        """Re-wire the layers to ``self.params`` if a caller replaced an array in the dict."""
        for key, layer, attr in self._slots:
            arr = self.params[key]
            if getattr(layer, attr) is not arr:
                old = getattr(layer, attr)
                if not isinstance(arr, np.ndarray) or arr.shape != old.shape:
                    raise ValueError(f"params[{key!r}] was replaced by "
                                     f"{getattr(arr, 'shape', type(arr).__name__)}; expected an "
                                     f"array of shape {old.shape}")
                setattr(layer, attr, arr)

    def get_config(self) -> dict:
        """Constructor arguments as a JSON-able dict: ``type(net)(**net.get_config())``."""
        return {
            "input_size": self.input_size, "hidden_size_list": list(self.hidden_size_list),
            "output_size": self.output_size, "activation": self.activation,
            "weight_init_std": self.weight_init_std,
            "weight_decay_lambda": self.weight_decay_lambda, "use_dropout": self.use_dropout,
            "dropout_ratio": self.dropout_ratio, "use_batchnorm": self.use_batchnorm,
            "dtype": self.dtype.name,
        }

    # -- forward ------------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._bind()
        for layer in self.layers.values():  # (read each time: a user may replace a layer)
            if isinstance(layer, (Dropout, BatchNormalization)):
                x = layer.forward(x, train)
            else:
                x = layer.forward(x)
        return x

    def _decay(self) -> float:
        lam = self.weight_decay_lambda
        if lam == 0.0:
            return 0.0
        return 0.5 * lam * sum(float(np.sum(self.params[f"W{i}"] ** 2))
                               for i in range(1, self.n_affine + 1))

    def _loss(self, x: np.ndarray, labels: np.ndarray, train: bool) -> float:
        return self.last_layer.forward_labels(self._forward(x, train), labels) + self._decay()

    def _inputs(self, x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x2 = check_x(x, self.input_size, self.dtype)
        return x2, check_t(t, x2.shape[0], self.output_size)

    def predict(self, x: np.ndarray, train: bool = False) -> np.ndarray:
        """Logits (scores before softmax).

        Parameters
        ----------
        x : ndarray of shape (input_size,) or (batch_size, input_size)

        Returns
        -------
        ndarray of shape (output_size,) or (batch_size, output_size)
        """
        out = self._forward(check_x(x, self.input_size, self.dtype), train)
        return out[0] if np.ndim(x) == 1 else out

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities ``softmax(predict(x))`` in evaluation mode."""
        return softmax(self.predict(x, train=False))

    def loss(self, x: np.ndarray, t: np.ndarray, train: bool = True) -> float:
        """Mean cross-entropy from the logits (exact, log-sum-exp) plus ``0.5·λ·Σ W²``.

        Parameters
        ----------
        x : ndarray of shape (input_size,) or (batch_size, input_size)
        t : ndarray of shape (batch_size,) or (batch_size, output_size)
            Integer labels or one-hot rows.
        train : bool
            Training mode (dropout active, batch statistics) as in the book.
        """
        return self._loss(*self._inputs(x, t), train)

    def accuracy(self, x: np.ndarray, t: np.ndarray, batch_size: int = 10000) -> float:
        """Fraction of samples whose highest-scoring class is the target (evaluation mode)."""
        x2, labels = self._inputs(x, t)
        correct = 0
        for start in range(0, x2.shape[0], batch_size):
            scores = self._forward(x2[start:start + batch_size], train=False)
            correct += int(np.sum(scores.argmax(axis=1) == labels[start:start + batch_size]))
        return correct / x2.shape[0]

    # -- gradients ----------------------------------------------------------------------------
    def _backward(self) -> dict[str, np.ndarray]:
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        lam = self.weight_decay_lambda
        grads: dict[str, np.ndarray] = {}
        for i in range(1, self.n_affine + 1):
            affine = self.layers[f"Affine{i}"]
            # d/dW (0.5·λ·W²) = λ·W
            grads[f"W{i}"] = affine.dW + lam * affine.W if lam else affine.dW
            grads[f"b{i}"] = affine.db
            if self.use_batchnorm and i < self.n_affine:
                bn = self.layers[f"BatchNorm{i}"]
                grads[f"gamma{i}"], grads[f"beta{i}"] = bn.dgamma, bn.dbeta
        return grads

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        """Gradient of ``loss(x, t, train=True)`` by backpropagation (§5.7).

        Returns
        -------
        dict of str to ndarray
            Same keys, order, shapes and dtype as ``params``.
        """
        self._loss(*self._inputs(x, t), True)
        return self._backward()

    def train_step(self, x: np.ndarray, t: np.ndarray, optimizer, *,
                   check_inputs: bool = True) -> float:
        """One training step: forward, backprop, ``optimizer.update(params, grads)``.

        Returns the mini-batch loss computed in this step's forward pass (before the update),
        so no second forward pass is needed, unlike the book's ``train_neuralnet.py``. When the
        loss is not finite (NaN or inf) the update is skipped and that loss is returned.
        Without dropout and batch normalization, the step runs on preallocated buffers
        (``kobai.nets._fast_step``), with the same gradients as :meth:`gradient`.

        Parameters
        ----------
        x : ndarray of shape (batch_size, input_size)
        t : ndarray of shape (batch_size,) or (batch_size, output_size)
        optimizer : kobai optimizer
            Anything with ``update(params, grads)``.
        check_inputs : bool
            False skips validating ``x`` and ``t`` (about 30 µs at batch 100), for data checked
            once beforehand, as :class:`kobai.trainer.Trainer` does: ``x`` must then be a
            C-contiguous 2-D array of the net's dtype, finite, and ``t`` int64 labels in range.
        """
        if not check_inputs:
            return self._step(x, t, optimizer)
        return self._step(*self._inputs(x, t), optimizer)

    def _step(self, x: np.ndarray, labels: np.ndarray, optimizer) -> float:
        """:meth:`train_step` for validated input (the Trainer validates its data once)."""
        if supports_fast_step(self):
            engine = self._fast_engines.get(x.shape[0])
            if engine is None:
                if len(self._fast_engines) >= 4:  # e.g. a last, smaller batch per epoch
                    self._fast_engines.clear()
                engine = self._fast_engines[x.shape[0]] = FastStep(self, x.shape[0])
            loss, grads = engine.loss_and_grads(x, labels), engine.grads
        else:
            loss = self._loss(x, labels, True)
            grads = self._backward()
        if math.isfinite(loss):
            optimizer.update(self.params, grads)
        return loss

    def numerical_gradient(self, x: np.ndarray, t: np.ndarray, h: float = 1e-4,
                           method: str = "fast") -> dict[str, np.ndarray]:
        """Gradient of ``loss(x, t, train=True)`` by central differences (§4.4).

        Dropout masks are held fixed and running statistics are left untouched meanwhile.

        Parameters
        ----------
        method : {"fast", "loop"}
            "fast": the same central differences, each perturbation followed only through the
            part of the network it changes (``kobai.nets._numgrad_fast``, which states the
            accuracy); "loop": the book's algorithm, perturbing one element at a time.
        """
        if method not in ("fast", "loop"):
            raise ValueError(f"method must be one of 'fast', 'loop'; got {method!r}")
        x2, labels = self._inputs(x, t)
        if method == "fast":
            from ._numgrad_fast import numerical_gradient as fast
            from ._numgrad_forward import UnsupportedNetwork

            try:
                return fast(self, x2, labels, h)
            except UnsupportedNetwork:  # e.g. a layer replaced by the user: the plain loop
                pass
        with self.frozen():
            def f(_: np.ndarray) -> float:
                return self._loss(x2, labels, True)
            return {key: _numerical_gradient(f, arr, h) for key, arr in self.params.items()}

    # -- state --------------------------------------------------------------------------------
    @contextmanager
    def frozen(self) -> Iterator[MultiLayerNet]:
        """Hold dropout masks fixed and stop running-statistics updates inside the block."""
        layers = [layer for layer in self.layers.values() if hasattr(layer, "frozen")]
        before = [layer.frozen for layer in layers]
        # A mask drawn inside the block must not advance the dropout rng: training after a
        # gradient check continues exactly as it would have without it.
        rng_states = [(layer.rng, layer.rng.bit_generator.state) for layer in layers
                      if isinstance(layer, Dropout)]
        for layer in layers:
            layer.frozen = True
        try:
            yield self
        finally:
            for layer, was in zip(layers, before, strict=True):
                layer.frozen = was
            for rng, state in rng_states:
                rng.bit_generator.state = state

    def _buffers(self) -> dict[str, np.ndarray]:
        out = {}
        for key, layer in self.layers.items():
            if isinstance(layer, BatchNormalization):
                i = key.removeprefix("BatchNorm")
                out[f"running_mean{i}"] = layer.running_mean
                out[f"running_var{i}"] = layer.running_var
        return out

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters and the batch-norm running statistics, by name."""
        return {key: arr.copy() for key, arr in {**self.params, **self._buffers()}.items()}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy ``state`` (as from :meth:`state_dict`) into this net's arrays, in place."""
        self._bind()
        own = {**self.params, **self._buffers()}
        missing, extra = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"state does not match this {type(self).__name__}: missing "
                             f"{missing or 'nothing'}, unexpected {extra or 'nothing'}")
        for key, arr in own.items():
            new = np.asarray(state[key])
            if new.shape != arr.shape:
                raise ValueError(f"state[{key!r}] has shape {new.shape}; this network's "
                                 f"{key} has shape {arr.shape}")
            if new.dtype.kind != "f" or not np.all(np.isfinite(new)):
                raise ValueError(f"state[{key!r}] must hold finite floats")
        for key, arr in own.items():
            arr[...] = state[key]

    def astype(self, dtype: type | np.dtype | str) -> MultiLayerNet:
        """A deep copy of this network with parameters and buffers cast to ``dtype``."""
        dt = resolve_dtype(dtype)
        engines, self._fast_engines = self._fast_engines, {}
        try:
            clone = copy.deepcopy(self)
        finally:
            self._fast_engines = engines
        clone.dtype = dt
        clone.params = {key: arr.astype(dt) for key, arr in clone.params.items()}
        clone._bind()
        for layer in clone.layers.values():
            if isinstance(layer, BatchNormalization):
                layer.running_mean = layer.running_mean.astype(dt)
                layer.running_var = layer.running_var.astype(dt)
        return clone

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
