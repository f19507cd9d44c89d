"""The layer protocol: what every layer provides, and what the rest of kobai relies on.

The book's ``common/layers.py`` (§5–6); networks, the Trainer, checkpoints and the gradient
checker use layers only through this protocol.

Required
--------
``params``, ``grads`` : dict of str to ndarray
    Parameters (``"W"``, ``"b"``, ``"gamma"``, ``"beta"``) and, after ``backward``, their
    gradients under the same keys; a network holds the very same arrays as ``W1``, ``b1``, ...
``forward(x, *, train=True) -> ndarray``
    ``train`` switches dropout and batch statistics; loss layers take ``forward(x, t)``.
``backward(dout) -> ndarray or None``
    ``d loss / d x``, storing the parameter gradients; never writes into ``dout``; None when
    ``compute_dx`` is False.

Optional (defaults here)
------------------------
``compute_dx``
    False on a network's first layer: no gradient for the data.
``reuse_buffers``, ``overwrite_input``, ``overwrite_dout``
    Set by a network: reuse arrays allocated once per input shape (:meth:`Layer._workspace`);
    work in place on arrays nothing reads again.
``decay_keys``, ``min_train_batch``, ``state``, ``frozen``, ``rng``
    L2-decayed keys; smallest training batch; non-parameter checkpoint arrays; a fixed
    dropout mask / running statistics; the generator the Trainer reseeds every epoch.
``get_config()`` / ``from_config(config, params)``
    JSON constructor arguments and back (``cls(**params, **config)``); with ``state``, the
    classmethod ``state_shapes(config, params)`` gives its shapes.
``kink_state()``
    For piecewise-linear layers: which inputs were on the positive side of the kink.
``elementwise``, ``apply(x)``, ``derivatives(x, y, order)``, ``kinks``
    Hooks of the structured numerical gradient (``kobai.nets.numgrad``): the forward as a pure
    function of any shape and its first ``order`` derivatives at ``x`` with ``y = apply(x)``;
    ``Affine``, ``Dropout`` and ``BatchNormalization`` apply to stacks ``(..., N, features)``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from .._validate import check_t

__all__ = ["Layer", "LossLayer", "param_property", "grad_property"]


class Layer:
    """Base class of kobai's layers (see the module docstring for the protocol)."""

    compute_dx: bool = True
    reuse_buffers: bool = False
    overwrite_input: bool = False
    overwrite_dout: bool = False
    output_reusable: ClassVar[bool] = False
    decay_keys: ClassVar[tuple[str, ...]] = ()
    elementwise: ClassVar[bool] = False
    kinks: ClassVar[bool] = False

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.state: dict[str, np.ndarray] = {}

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        """The layer's output for ``x`` (required of every layer)."""
        raise NotImplementedError(f"{type(self).__name__} must define forward(x, *, train)")

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """``d loss / d x`` from ``dout``, storing ``grads`` (required of every layer)."""
        raise NotImplementedError(f"{type(self).__name__} must define backward(dout)")

    def _before_forward(self, method: str = "backward", hint: str = "") -> RuntimeError:
        """The error for ``method`` called while nothing is kept from a forward pass."""
        return RuntimeError(f"{type(self).__name__}.{method} called before forward: it uses what "
                            f"the last forward(x) kept, and nothing is kept yet{hint}; call "
                            "forward first")

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments other than the parameter arrays, JSON-able."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any], params: dict[str, np.ndarray]) -> Layer:
        """Rebuild a layer from :meth:`get_config` and arrays of the parameters' shapes."""
        return cls(**params, **config)

    @classmethod
    def state_shapes(cls, config: dict[str, Any], params: dict[str, tuple[int, ...]]
                     ) -> dict[str, tuple[int, ...]]:
        """The shapes of ``state`` of the layer :meth:`from_config` builds from ``config``
        and parameters of the shapes ``params``, without building it (none by default)."""
        return {}

    def _workspace(self, key: tuple[object, ...]) -> dict[str, np.ndarray] | None:
        """The buffers for inputs described by ``key`` (shape, dtype), or None when buffers
        are not reused. Allocated arrays stay until the key changes."""
        if not self.reuse_buffers:
            return None
        cache = self.__dict__.get("_ws")
        if cache is None or cache[0] != key:
            cache = self.__dict__["_ws"] = (key, {})
        return cache[1]

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self.params.items())
        return f"{type(self).__name__}({shapes})"



def buffer(ws: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...],
           dtype: np.dtype, like: np.ndarray | None = None) -> np.ndarray:
    """``ws[name]`` (allocated on first use) or, without a workspace, a new array; with
    ``like`` (an array of ``shape``), laid out in memory as ``like`` is (a channels-last view
    stays channels-last, so elementwise work on the two runs contiguously)."""
    arr = None if ws is None else ws.get(name)
    if arr is None:
        arr = np.empty(shape, dtype) if like is None else np.empty_like(like, dtype)
        if ws is not None:
            ws[name] = arr
    return arr


def filled_buffer(ws: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...],
                  dtype: np.dtype, fill: float = 0.0) -> np.ndarray:
    """``ws[name]`` filled with ``fill`` when first allocated (a padded input whose border
    stays ``fill`` because only its interior is ever written), or a new filled array."""
    if ws is None:
        return np.full(shape, fill, dtype)
    arr = ws.get(name)
    if arr is None:
        arr = ws[name] = np.full(shape, fill, dtype)
    return arr


def param_property(key: str, doc: str = "") -> Any:
    """``layer.W`` for ``layer.params["W"]`` (the book's attribute interface); assignable."""
    def get(self: Layer) -> np.ndarray:
        return self.params[key]

    def set_(self: Layer, value: np.ndarray) -> None:
        self.params[key] = value
    return property(get, set_, doc=doc or f'``params["{key}"]``')


def grad_property(key: str) -> Any:
    """``layer.dW`` for ``layer.grads["W"]``: None before the first backward; assignable."""
    def get(self: Layer) -> np.ndarray | None:
        return self.grads.get(key)

    def set_(self: Layer, value: np.ndarray) -> None:
        self.grads[key] = value
    return property(get, set_, doc=f'``grads["{key}"]`` (None before backward)')


def state_property(key: str) -> Any:
    """``layer.running_mean`` for ``layer.state["running_mean"]``; assignable."""
    def get(self: Layer) -> np.ndarray:
        return self.state[key]

    def set_(self: Layer, value: np.ndarray) -> None:
        self.state[key] = value
    return property(get, set_, doc=f'``state["{key}"]``')


class LossLayer(Layer):
    """A layer that ends a network: ``forward(x, t)`` returns a scalar loss.

    Subclasses implement :meth:`forward_labels` for validated integer labels (what a
    network passes) and ``backward(dout=1.0)``; :meth:`forward` validates ``t`` first.
    """

    def forward(self, x: np.ndarray, t: Any, *, train: bool = True  # type: ignore[override]
                ) -> float:
        x2 = x.reshape(1, -1) if x.ndim == 1 else x
        return self.forward_labels(x2, check_t(t, x2.shape[0], x2.shape[-1]))

    def forward_labels(self, x: np.ndarray, labels: np.ndarray) -> float:
        """The mean loss of 2-D scores ``x`` for int64 labels already checked to be in range."""
        raise NotImplementedError(f"{type(self).__name__} must define forward_labels(x, labels)")

    def backward(self, dout: float = 1.0) -> np.ndarray:  # type: ignore[override]
        """``dout · d loss / d x`` for the last ``forward`` (required of every loss layer)."""
        raise NotImplementedError(f"{type(self).__name__} must define backward(dout=1.0)")
