"""``Network``: an ordered list of named layers and a loss layer, and everything generic about them.

``SimpleNet``, ``TwoLayerNet`` and ``MultiLayerNet`` only build their layers; prediction, the
loss, backprop, the training step, numerical gradients, state and dtype live here, once
(the numerical gradients in :mod:`kobai.nets.numerical`, state and parameter files in
:mod:`kobai.nets.state`, mixed into ``Network``). The Trainer, checkpoints, the gradient
checker and the CLI use nothing but this public API.

A training step is the plain layer loop (§5.7): ``forward`` through every layer, the loss
layer's ``backward``, ``backward`` through every layer in reverse, then the optimizer. Its
speed comes from the layers themselves: the network turns on their reusable buffers
(``reuse_buffers``), so after the first step of a batch shape nothing is allocated but a few
small temporaries, and tells the first layer that no gradient of the data is needed.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar

import numpy as np

from .._validate import (
    as_float_array,
    check_t,
    check_x,
    is_real,
    positive_int,
    resolve_dtype,
)
from ..functions import softmax
from ..layers import LAYERS, Layer, LossLayer, SoftmaxWithLoss
from .decay import add_decay, decay_loss
from .numerical import NumericalGradients
from .numgrad import UnsupportedNetwork
from .state import NetworkState

__all__ = ["Network", "UnsupportedNetwork"]

LayerSpec = Mapping[str, Any] | Sequence[Any]

# Images evaluated per forward pass at most: DeepConvNet's activations (and the buffers its
# layers keep) take about 0.4 MB per MNIST image, so 500 keep evaluation near 200 MB.
_IMAGE_EVAL_ROWS = 500


class Network(NumericalGradients, NetworkState):
    """A feed-forward network of layers ending in a loss layer.

    Parameters
    ----------
    layers : dict of name to layer, or sequence of layers or (name, layer) pairs
        In forward order. Unnamed layers are named by class and count (``Affine1``,
        ``Relu1``, ``Affine2``, ...), as in the book.
    loss_layer : LossLayer, optional
        Default :class:`~kobai.layers.SoftmaxWithLoss`.
    input_shape : int or tuple of int, optional
        Shape of one sample, e.g. ``784`` or ``(1, 28, 28)``; default: the first layer's
        ``input_size``.
    output_size : int, optional
        Number of classes; default: the ``output_size`` of the last layer that has one.
    weight_decay_lambda : float
        L2 penalty ``0.5 · λ · Σ W²`` over every layer's ``decay_keys`` (Affine's ``W``).

    Attributes
    ----------
    layers : dict of str to layer
        Read on every pass: replacing a layer (or a layer's method) changes every path.
    last_layer : LossLayer
    params : dict of str to ndarray
        ``W1, b1, [gamma1, beta1,] W2, ...`` (``p{k}`` from the ``k``-th layer with ``p``): the
        layers' own arrays; an array replaced here is wired into its layer.
    dtype : numpy.dtype
        Of the parameters (float32 or float64); inputs are converted to it.
    max_params : int
        Class attribute, 10**9: the most parameter elements the builders and
        :meth:`from_config` allocate; more raises ``ValueError`` before any allocation. Raise
        it per class (``MultiLayerNet.max_params = 10**10``) or for all.

    Examples
    --------
    >>> from kobai.layers import Affine, Relu
    >>> rng = np.random.default_rng(0)
    >>> net = Network([Affine(0.1 * rng.standard_normal((4, 8)), np.zeros(8)), Relu(),
    ...                Affine(0.1 * rng.standard_normal((8, 3)), np.zeros(3))])
    >>> list(net.params)
    ['W1', 'b1', 'W2', 'b2']
    """

    max_params: ClassVar[int] = 10**9

    def __init__(self, layers: LayerSpec, loss_layer: LossLayer | None = None, *,
                 input_shape: int | Sequence[int] | None = None,
                 output_size: int | None = None, weight_decay_lambda: float = 0.0):
        self.layers: dict[str, Any] = _named_layers(layers)
        if not self.layers:
            raise ValueError("a Network needs at least one layer")
        self.last_layer = SoftmaxWithLoss() if loss_layer is None else loss_layer
        if not (is_real(weight_decay_lambda) and weight_decay_lambda >= 0
                and math.isfinite(weight_decay_lambda)):
            raise ValueError(f"weight_decay_lambda must be a finite number >= 0, got "
                             f"{weight_decay_lambda!r}")
        self.weight_decay_lambda = float(weight_decay_lambda)
        self.params: dict[str, np.ndarray] = {}
        self._wired: tuple[Any, ...] = ()
        self._bind()
        dtypes = {arr.dtype for arr in self.params.values()}
        if len(dtypes) > 1:
            raise ValueError(f"the layers' parameters mix dtypes {sorted(map(str, dtypes))}; "
                             "expected one (float32 or float64)")
        self.dtype: np.dtype = resolve_dtype(dtypes.pop() if dtypes else np.float64)
        first = next(iter(self.layers.values()))
        if input_shape is None:
            if not hasattr(first, "input_size"):
                raise ValueError(f"give input_shape: the first layer ({type(first).__name__}) "
                                 "does not say what input it takes")
            input_shape = first.input_size
        shape = (input_shape,) if isinstance(input_shape, numbers.Integral) else input_shape
        self.input_shape: tuple[int, ...] = tuple(positive_int(s, "input_shape")
                                                  for s in shape)  # type: ignore[union-attr]
        takes = getattr(first, "input_size", None)
        if isinstance(takes, int) and takes != math.prod(self.input_shape):
            raise ValueError(f"input_shape {self.input_shape} has {math.prod(self.input_shape)} "
                             f"features but the first layer ({type(first).__name__}) takes "
                             f"{takes}")
        if output_size is None:
            sizes = [layer.output_size for layer in self.layers.values()
                     if hasattr(layer, "output_size")]
            if not sizes:
                raise ValueError("give output_size: no layer says how many classes it scores")
            output_size = sizes[-1]
        self.output_size = positive_int(output_size, "output_size")
        self._decay_out: dict[str, np.ndarray] = {}

    @classmethod
    def _check_param_count(cls, shapes: Mapping[str, Sequence[int]], dtype: np.dtype) -> None:
        """Refuse parameters of these shapes when they have more than ``cls.max_params``
        elements in all; builders call it before allocating any."""
        sizes = {key: math.prod(shape) for key, shape in shapes.items()}
        total = sum(sizes.values())
        if total > cls.max_params:
            big = max(sizes, key=sizes.__getitem__)
            raise ValueError(f"{cls.__name__} of these sizes would have {total:,} parameters "
                             f"({_nbytes(total * dtype.itemsize)} in {dtype}; the "
                             f"largest, {big}, of shape {tuple(shapes[big])}), more than "
                             f"{cls.__name__}.max_params = {cls.max_params:,}; check the sizes, "
                             f"or raise max_params to build it anyway")

    # -- wiring -----------------------------------------------------------------------------
    @property
    def input_size(self) -> int:
        """Features per sample: the product of ``input_shape``."""
        return math.prod(self.input_shape)

    def _bind(self) -> None:
        """Wire ``params`` and the layers together, before every pass.

        Replaced layers are taken in (their arrays become the params). An array replaced in
        ``params`` is put into its layer, and one replaced on the layer (the book's
        ``layer.W = ...``) into ``params``, after checking its shape and dtype.
        """
        layers = tuple(self.layers.values())
        if layers != self._wired:
            self._rewire(layers)
            return
        wired = self._wired_arrays
        for i, (key, layer, pkey) in enumerate(self._slots):
            arr, own, last = self.params[key], layer.params[pkey], wired[i]
            if arr is last and own is last:
                continue
            new, where = (arr, f"params[{key!r}]") if arr is not last else (
                own, f"{type(layer).__name__}.params[{pkey!r}] (layer.{pkey})")
            if (not isinstance(new, np.ndarray) or new.shape != last.shape
                    or new.dtype != last.dtype):
                what = (f"an array of dtype {new.dtype} and shape {new.shape}"
                        if isinstance(new, np.ndarray) else type(new).__name__)
                raise ValueError(f"{where} was replaced by {what}; expected an array of shape "
                                 f"{last.shape} and dtype {last.dtype} (this network's "
                                 f"{key})")
            layer.params[pkey] = self.params[key] = wired[i] = new

    def _rewire(self, layers: tuple[Any, ...]) -> None:
        seen: dict[int, str] = {}
        for name, layer in zip(self.layers, layers, strict=True):
            if id(layer) in seen:
                raise ValueError(f"layers {seen[id(layer)]!r} and {name!r} are the same object; "
                                 "a layer keeps what its backward needs from its forward, so "
                                 "each place in a network needs its own (e.g. two Relu())")
            seen[id(layer)] = name
        counts: dict[str, int] = {}
        self._slots: list[tuple[str, Any, str]] = []
        self._state_slots: list[tuple[str, Any, str]] = []
        self._decayed: list[tuple[str, Any, str]] = []
        params: dict[str, np.ndarray] = {}
        for layer in layers:
            for pkey, arr in getattr(layer, "params", {}).items():
                counts[pkey] = counts.get(pkey, 0) + 1
                key = f"{pkey}{counts[pkey]}"
                params[key] = arr
                self._slots.append((key, layer, pkey))
                if pkey in getattr(layer, "decay_keys", ()):
                    self._decayed.append((key, layer, pkey))
            for skey in getattr(layer, "state", {}):
                counts[skey] = counts.get(skey, 0) + 1
                self._state_slots.append((f"{skey}{counts[skey]}", layer, skey))
            if isinstance(layer, Layer):
                layer.reuse_buffers = True
        # In-place activations, granted for the duration of this network's calls only: a layer
        # may overwrite its input when the layer before owns it and does not need it (Affine),
        # and its dout, which the layer after (or the loss) made for it alone.
        kobai = [isinstance(layer, Layer) and layer.elementwise for layer in layers]
        own_input = [kobai[i] and i > 0 and isinstance(layers[i - 1], Layer)
                     and layers[i - 1].output_reusable for i in range(len(layers))]
        own_dout = [kobai[i] and (i == len(layers) - 1 or isinstance(layers[i + 1], Layer))
                    for i in range(len(layers))]
        if layers and hasattr(layers[0], "compute_dx"):
            layers[0].compute_dx = False  # nothing needs d(loss)/d(data)
        self.last_layer.reuse_buffers = True
        self.params.clear()
        self.params.update(params)
        self._wired_arrays = [arr for arr in params.values()]
        self._calls = [(layer, _train_keyword(layer), own_input[i])
                       for i, layer in enumerate(layers)]
        self._reversed = [(layer, own_dout[i]) for i, layer in enumerate(layers)][::-1]
        self._first = layers[0] if layers else None
        self._wired = layers

    # -- forward ----------------------------------------------------------------------------
    def _forward(self, x: np.ndarray, train: bool) -> np.ndarray:
        self._bind()
        for layer, keyword, own in self._calls:
            if keyword == "train" and "forward" not in layer.__dict__:
                if own:
                    layer.overwrite_input = True
                    try:
                        x = layer.forward(x, train=train)
                    finally:
                        layer.overwrite_input = False
                else:
                    x = layer.forward(x, train=train)
            else:  # a book-style layer, or a forward replaced on the instance
                keyword = _train_keyword(layer)
                x = layer.forward(x, **{keyword: train}) if keyword else layer.forward(x)
        return x

    def _decay(self) -> float:
        return decay_loss(self.weight_decay_lambda,
                          (layer.params[pkey] for _, layer, pkey in self._decayed))

    def _inputs(self, x: Any, t: Any) -> tuple[np.ndarray, np.ndarray]:
        x2 = self._x(x)
        return x2, check_t(t, x2.shape[0], self.output_size)

    def _x(self, x: Any) -> np.ndarray:
        if len(self.input_shape) > 1:
            shape = np.shape(x)
            if shape == self.input_shape:
                x = as_float_array(x)[None]  # one sample of shape input_shape, e.g. (1, 28, 28)
            elif len(shape) > 1 and shape[0] == 0 and math.prod(shape[1:]) == self.input_size:
                raise ValueError(f"x is an empty batch (shape {shape}); expected at least one "
                                 f"image of shape {self.input_shape}")
            elif len(shape) > 2 and shape[1:] != self.input_shape:
                # e.g. channels-last images, (N, 32, 32, 3) for (3, 32, 32): refused, not
                # silently reshaped into other images
                raise ValueError(f"x has shape {shape}; this network takes images of shape "
                                 f"{self.input_shape} (channels, height, width): a batch "
                                 f"(N, {', '.join(map(str, self.input_shape))}), one image "
                                 f"{self.input_shape}, or rows of {self.input_size} pixels in "
                                 f"that order")
        x2 = check_x(x, self.input_size, self.dtype)
        if len(self.input_shape) > 1:
            x2 = x2.reshape(x2.shape[0], *self.input_shape)
        return x2

    def predict(self, x: Any, train: bool = False) -> np.ndarray:
        """Scores before the loss layer (logits).

        Parameters
        ----------
        x : ndarray of shape input_shape or (batch_size, *input_shape)
            One sample or a batch; ``(batch_size, input_size)`` is reshaped to the input shape.

        Returns
        -------
        ndarray of shape (output_size,) or (batch_size, output_size)
        """
        out = self._forward(self._x(x), train).copy()
        single = np.ndim(x) == 1 or np.shape(x) == self.input_shape
        return out[0] if single else out

    def predict_proba(self, x: Any) -> np.ndarray:
        """Class probabilities ``softmax(predict(x))`` in evaluation mode."""
        return softmax(Network.predict(self, x, train=False))

    def loss(self, x: Any, t: Any, train: bool = True) -> float:
        """The loss layer's loss (mean cross-entropy, exact) plus ``0.5·λ·Σ W²``.

        Parameters
        ----------
        x : ndarray of shape (batch_size, *input_shape) or one sample
        t : ndarray of shape (batch_size,) or (batch_size, output_size)
            Integer labels or one-hot rows.
        train : bool
            Training mode (dropout active, batch statistics) as in the book.
        """
        return self._loss(*self._inputs(x, t), train)

    def _loss(self, x: np.ndarray, labels: np.ndarray, train: bool) -> float:
        out = self._forward(x, train)
        if out.ndim != 2:
            out = out.reshape(out.shape[0], -1)
        loss = self._loss_layer_call()(out, labels)
        return loss + self._decay() if self.weight_decay_lambda else loss

    def _loss_layer_call(self) -> Any:
        """The loss layer's ``forward_labels`` (labels already checked), or its ``forward`` when
        a subclass or the instance replaced that (so the replacement is what is computed)."""
        last = self.last_layer
        if "forward" not in vars(last) and type(last).forward is LossLayer.forward:
            return last.forward_labels
        return last.forward

    def accuracy(self, x: Any, t: Any, batch_size: int = 10000) -> float:
        """Fraction of samples whose highest-scoring class is the target (evaluation mode).

        ``batch_size`` (a positive integer) bounds the rows per forward pass, not the result.
        """
        return self.evaluate(x, t, batch_size=batch_size)[1]

    def evaluate(self, x: Any, t: Any, batch_size: int = 1000, *,
                 check_inputs: bool = True) -> tuple[float, float]:
        """``(loss, accuracy)`` in evaluation mode, ``batch_size`` samples at a time.

        ``batch_size`` must be a positive integer (it bounds memory, not the result).
        ``check_inputs=False`` skips validating data that was validated before, as the
        Trainer does (``x`` of the net's dtype and shape, ``t`` int64 labels in range).
        """
        batch_size = positive_int(batch_size, "batch_size")
        x2, labels = self._inputs(x, t) if check_inputs else (x, t)
        if len(self.input_shape) > 1:  # images: a conv net's activations are ~100× the input
            batch_size = min(batch_size, _IMAGE_EVAL_ROWS)
        n, total, correct = x2.shape[0], 0.0, 0
        for start in range(0, n, batch_size):
            xc, tc = x2[start:start + batch_size], labels[start:start + batch_size]
            scores = self._forward(xc, False)
            scores = scores.reshape(scores.shape[0], -1)
            correct += int(np.count_nonzero(scores.argmax(axis=1) == tc))
            total += self._loss_layer_call()(scores, tc) * xc.shape[0]
        return total / n + self._decay(), correct / n

    # -- gradients --------------------------------------------------------------------------
    def _backward(self) -> dict[str, np.ndarray]:
        dout: Any = self.last_layer.backward(1.0)
        for layer, own in self._reversed:
            if own:
                layer.overwrite_dout = True
                try:
                    dout = layer.backward(dout)
                finally:
                    layer.overwrite_dout = False
            else:
                dout = layer.backward(dout)
            if dout is None and layer is not self._first:
                raise TypeError(f"{type(layer).__name__}.backward returned None; expected the "
                                "gradient with respect to its input")
        grads = {key: layer.grads[pkey] for key, layer, pkey in self._slots}
        lam = self.weight_decay_lambda
        if lam:
            for key, layer, pkey in self._decayed:
                W = layer.params[pkey]
                out = self._decay_out.get(key)
                if out is None or out.shape != W.shape or out.dtype != grads[key].dtype:
                    out = self._decay_out[key] = np.empty_like(grads[key])
                grads[key] = add_decay(lam, W, grads[key], out=out)
        return grads

    def gradient(self, x: Any, t: Any) -> dict[str, np.ndarray]:
        """Gradient of ``loss(x, t, train=True)`` by backpropagation (§5.7).

        Returns
        -------
        dict of str to ndarray
            Same keys, order, shapes and dtype as ``params`` (new arrays).
        """
        self._loss(*self._inputs(x, t), True)
        return {key: g.copy() for key, g in self._backward().items()}

    def train_step(self, x: Any, t: Any, optimizer: Any, *, check_inputs: bool = True,
                   max_loss: float = math.inf) -> float:
        """One training step: forward, backprop, ``optimizer.update(params, grads)``.

        Returns the mini-batch loss computed in this step's forward pass (before the update),
        so no second forward pass is needed, unlike the book's ``train_neuralnet.py``. When the
        loss is not finite (NaN or inf) or above ``max_loss``, the update is skipped and that
        loss is returned.

        Parameters
        ----------
        x : ndarray of shape (batch_size, *input_shape)
        t : ndarray of shape (batch_size,) or (batch_size, output_size)
        optimizer : kobai optimizer
            Anything with ``update(params, grads)``.
        check_inputs : bool
            False skips validating ``x`` and ``t``, for data checked once beforehand (as
            :class:`kobai.trainer.Trainer` does): ``x`` must then be a
            C-contiguous array of the net's dtype and input shape, finite, and ``t`` int64
            labels in range.
        max_loss : float
            Skip the update when the loss exceeds this (the Trainer's divergence rule).
        """
        x2, labels = self._inputs(x, t) if check_inputs else (x, t)
        loss = self._loss(x2, labels, True)
        if loss <= max_loss and math.isfinite(loss):
            optimizer.update(self.params, self._backward())
        return loss

    # -- state ------------------------------------------------------------------------------
    @contextmanager
    def frozen(self) -> Iterator[Network]:
        """Hold dropout masks fixed and stop running-statistics updates inside the block."""
        layers = [layer for layer in self.layers.values() if hasattr(layer, "frozen")]
        before = [layer.frozen for layer in layers]
        # A mask drawn inside the block must not advance a layer's rng: training after a
        # gradient check continues exactly as it would have without it.
        rng_states = [(layer.rng, layer.rng.bit_generator.state) for layer in layers
                      if isinstance(getattr(layer, "rng", None), np.random.Generator)]
        for layer in layers:
            layer.frozen = True
        try:
            yield self
        finally:
            for layer, was in zip(layers, before, strict=True):
                layer.frozen = was
            for rng, state in rng_states:
                rng.bit_generator.state = state

    # -- configuration ------------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        """A JSON-able description: ``type(net).from_config(net.get_config())`` rebuilds the
        architecture (with parameters of the right shapes; load the values with
        :meth:`load_state_dict`). Every layer must be registered in ``kobai.layers.LAYERS``."""
        self._bind()
        specs = []
        for name, layer in [*self.layers.items(), ("loss", self.last_layer)]:
            cls = type(layer)
            if LAYERS.get(cls.__name__) is not cls:
                raise TypeError(f"layer {name!r} ({cls.__module__}.{cls.__qualname__}) is not "
                                "registered, so the network cannot be described for a "
                                "checkpoint; register it with kobai.layers.register")
            specs.append({"name": name, "type": cls.__name__, "config": layer.get_config(),
                          "params": {k: list(v.shape) for k, v in layer.params.items()}})
        return {"layers": specs[:-1], "loss": specs[-1], "input_shape": list(self.input_shape),
                "output_size": self.output_size,
                "weight_decay_lambda": self.weight_decay_lambda, "dtype": self.dtype.name}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Network:
        """Rebuild a network from :meth:`get_config` (parameters zero-filled)."""
        if cls is not Network:
            return cls(**config)
        dtype = resolve_dtype(config.get("dtype", "float64"))
        counted: dict[str, tuple[int, ...]] = {}  # every layer's parameters so far

        def build(spec: Any) -> tuple[str, Any]:
            name, kind, layer_cls, sizes, options = _layer_spec(spec)
            counted.update({f"{name}.{k}": shape for k, shape in sizes.items()})
            cls._check_param_count(counted, dtype)
            params = {k: np.zeros(shape, dtype) for k, shape in sizes.items()}
            try:
                return name, layer_cls.from_config(dict(options), params)
            except (TypeError, KeyError) as exc:
                raise ValueError(f"layer {name!r} ({kind}) cannot be built from config "
                                 f"{dict(options)} and params {sorted(params)}: {exc}") from None

        layers = [build(spec) for spec in config.get("layers", [])]
        _, loss = build(config.get("loss", {"type": "SoftmaxWithLoss"}))
        if not isinstance(loss, LossLayer):
            raise ValueError(f"the loss layer must be a LossLayer, got {type(loss).__name__}")
        return Network(layers, loss, input_shape=config.get("input_shape"),
                       output_size=config.get("output_size"),
                       weight_decay_lambda=config.get("weight_decay_lambda", 0.0))

    @classmethod
    def state_shapes(cls, config: Mapping[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of ``cls.from_config(config).state_dict()``, without building anything.

        A generic Network's come from its layer descriptions: the parameter shapes each one
        lists, named ``W1, b1, ...`` as the network names them, and each layer class's
        ``state_shapes(config, params)`` (batch norm's running statistics). The builders
        (``MultiLayerNet``, ...) compute theirs from their constructor arguments.

        Raises
        ------
        ValueError, TypeError
            For a description :meth:`from_config` would refuse for its sizes or names.
        """
        if cls is not Network:
            raise TypeError(f"{cls.__name__} does not say its state shapes; define "
                            f"{cls.__name__}.state_shapes(config)")
        counts: dict[str, int] = {}
        shapes: dict[str, tuple[int, ...]] = {}
        for spec in config.get("layers", []):
            _, _, layer_cls, sizes, options = _layer_spec(spec)
            state = layer_cls.state_shapes(dict(options), sizes)
            for key, shape in [*sizes.items(), *state.items()]:
                counts[key] = counts.get(key, 0) + 1
                shapes[f"{key}{counts[key]}"] = shape
        name, _, _, sizes, _ = _layer_spec(config.get("loss", {"type": "SoftmaxWithLoss"}))
        if sizes:
            raise ValueError(f"the loss layer ({name!r}) lists parameters {sorted(sizes)}; a "
                             "network keeps no parameters in its loss layer")
        return shapes

    @classmethod
    def _arguments(cls, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` as ``cls(**config)`` takes it, with the defaults of the arguments left
        out; a TypeError for an argument the constructor does not take (as ``cls(**config)``)."""
        bound = inspect.signature(cls).bind(**config)
        bound.apply_defaults()
        return dict(bound.arguments)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({' -> '.join(self.layers)}, {self.dtype.name}"
                + (f", weight_decay={self.weight_decay_lambda}" if self.weight_decay_lambda
                   else "") + ")")


def _nbytes(n: int) -> str:
    """``n`` bytes in GiB or TiB, e.g. ``5.7 TiB``."""
    return f"{n / 2**40:,.1f} TiB" if n >= 2**40 else f"{n / 2**30:,.1f} GiB"


def _layer_spec(spec: Any) -> tuple[str, str, type[Layer], dict[str, tuple[int, ...]],
                                    Mapping[str, Any]]:
    """One layer description of :meth:`Network.get_config`, checked: its name, type name,
    registered class, parameter shapes and config."""
    if not isinstance(spec, Mapping):
        raise ValueError(f"a layer description must be a dict, got {spec!r:.80}")
    kind, name = spec.get("type"), spec.get("name", "loss")
    layer_cls = LAYERS.get(kind) if isinstance(kind, str) else None
    if layer_cls is None:
        raise ValueError(f"unknown layer type {kind!r:.80}; known: "
                         f"{', '.join(sorted(LAYERS))}")
    shapes, options = spec.get("params", {}), spec.get("config", {})
    if not isinstance(name, str) or not isinstance(options, Mapping) or not (
            isinstance(shapes, Mapping) and all(
                isinstance(k, str) and isinstance(v, list) for k, v in shapes.items())):
        raise ValueError(f"layer {name!r:.40} ({kind}): expected a str name, a dict "
                         "config and params as a dict of name -> shape list")
    sizes = {str(k): tuple(positive_int(n, f"{k} size") for n in shape)
             for k, shape in shapes.items()}
    return name, str(kind), layer_cls, sizes, options


def _named_layers(layers: LayerSpec) -> dict[str, Any]:
    if isinstance(layers, Mapping):
        return dict(layers)
    if isinstance(layers, (str, bytes)) or not isinstance(layers, Sequence):
        raise TypeError(f"layers must be a dict of name -> layer or a list of layers, got "
                        f"{type(layers).__name__}")
    named: dict[str, Any] = {}
    counts: dict[str, int] = {}
    for item in layers:
        if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
            name, layer = item
        else:
            kind = type(item).__name__
            counts[kind] = counts.get(kind, 0) + 1
            name, layer = f"{kind}{counts[kind]}", item
        if name in named:
            raise ValueError(f"two layers are named {name!r}")
        if not (callable(getattr(layer, "forward", None))
                and callable(getattr(layer, "backward", None))):
            raise TypeError(f"layer {name!r} ({type(layer).__name__}) has no forward(x) and "
                            "backward(dout)")
        named[name] = layer
    return named


def _train_keyword(layer: Any) -> str | None:
    """How ``layer.forward`` takes the mode: ``train`` (kobai's protocol), ``train_flg`` (the
    book's Dropout and BatchNormalization), or not at all (a book-style activation)."""
    if isinstance(layer, Layer) and "forward" not in vars(layer):
        return "train"
    try:
        names = inspect.signature(layer.forward).parameters
    except (TypeError, ValueError):
        return "train"
    for name in ("train", "train_flg"):
        if name in names:
            return name
    return None
