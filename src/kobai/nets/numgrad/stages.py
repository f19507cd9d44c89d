"""The unperturbed forward pass of a network, cached for the structured numerical gradient.

The network is read as a list of stages, one per ``Affine`` layer::

    z = a_in · W + b  →  [BatchNorm]  →  activation  →  [Dropout]  →  h   (hidden stages)
    z = a_in · W + b                                                      (last stage: logits)

Every value is float64 (a float32 net is evaluated in float64 at its float32 parameters). The
arithmetic is the layers' own: the activation's ``apply``, batch norm's ``normalize``, the loss
layer's ``cross_entropy_rows``; only which values they are applied to is decided here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...layers import Affine, BatchNormalization, Dropout, Layer, SoftmaxWithLoss
from ...layers.regularization import normalize

__all__ = ["UnsupportedNetwork", "Stage", "read_stages", "trusted", "batch_norm", "cached",
           "PREFIX"]


class UnsupportedNetwork(ValueError):
    """The structured numerical gradient does not apply (a layer without its hooks); the
    element-by-element loop still does."""


#: the stage index of parameters in layers before the first Affine (left to the element loop)
PREFIX = -1

_HOOKS = ("forward", "forward_labels", "apply", "derivatives")


def trusted(layer: Any) -> bool:
    """Whether ``layer``'s hooks describe its ``forward``: a kobai layer whose ``forward``,
    ``apply`` and ``derivatives`` were not replaced on the instance or patched on the class
    since it was defined, and whose ``forward`` is not overridden below the class that
    defines ``apply`` (a subclass that changes ``forward`` but not ``apply``)."""
    cls = type(layer)
    if any(name in getattr(layer, "__dict__", {}) for name in _HOOKS):
        return False
    owners = {}
    for name in _HOOKS:
        owner = next((c for c in cls.__mro__ if name in vars(c)), None)
        if owner is None:
            continue
        if vars(owner)[name] is not vars(owner).get("_defined", {}).get(name):
            return False
        owners[name] = owner
    if "apply" in owners and not issubclass(owners["apply"], owners["forward"]):
        return False
    return True


def batch_norm(z: np.ndarray, eps: float, axis: int) -> np.ndarray:
    """``(z - μ) / sqrt(σ² + ε)`` along ``axis``: the batch norm layer's own ``normalize``."""
    return normalize(z, eps, axis=axis)[0]


@dataclass(eq=False)
class Stage:
    """One ``Affine → [BatchNorm] → activation → [Dropout]`` block and its cached forward values.

    Arrays are float64; ``N`` is the batch size, ``n_in``/``n_out`` the layer's widths.
    """

    W: np.ndarray                     # (n_in, n_out)
    b: np.ndarray                     # (n_out,)
    gamma: np.ndarray | None = None   # (n_out,) with batch norm
    beta: np.ndarray | None = None
    eps: float = 0.0                  # batch norm's ε
    act: Any = None                   # the activation layer; None on the last stage
    mask: np.ndarray | None = None    # (N, n_out) frozen dropout mask: 0 or 1/(1-ratio)
    a_in: np.ndarray | None = None    # (N, n_in) input of the affine layer
    xw: np.ndarray | None = None      # (N, n_out) a_in · W, before the bias
    z: np.ndarray | None = None       # (N, n_out) a_in · W + b
    xn: np.ndarray | None = None      # (N, n_out) batch-normalized z
    h: np.ndarray | None = None       # (N, n_out) output: after dropout, or the logits

    @property
    def kinks(self) -> bool:
        """A piecewise-linear activation (kink at 0), such as Relu."""
        return self.act is not None and bool(self.act.kinks)

    def activate(self, z: np.ndarray) -> np.ndarray:
        """The activation layer's function, as a new float64 array."""
        return self.act.apply(z)

    def forward(self, a_in: np.ndarray) -> np.ndarray:
        """Run the stage on the unperturbed input, caching what perturbations start from."""
        self.a_in = a_in
        self.xw = a_in @ self.W
        z = self.z = self.xw + self.b  # Affine: out = x·W; out += b
        if self.act is None:
            self.h = z
            return z
        if self.gamma is not None:
            assert self.beta is not None
            self.xn = batch_norm(z, self.eps, axis=0)
            z = self.gamma * self.xn + self.beta
        h = self.activate(z)
        self.h = h * self.mask if self.mask is not None else h
        return self.h


def cached(value: np.ndarray | None) -> np.ndarray:
    """One of a stage's forward values (``a_in``, ``xw``, ``z``, ``xn``, ``h``): ``read_stages``
    runs ``forward`` on every stage it returns, so they are set (``xn`` with batch norm)."""
    assert value is not None, "a Stage's forward values are read before its forward pass"
    return value


def read_stages(net: Any, x: np.ndarray) -> tuple[list[Stage], dict[str, tuple[int, str]]]:
    """The net's stages after one forward pass on ``x``, and where each parameter lives.

    Call inside ``net.frozen()`` after a forward pass in training mode, so the dropout masks
    are the ones every perturbed pass of the loop uses.

    Layers before the first ``Affine`` (the convolutions and pooling of a ConvNet) are a
    prefix: they do not depend on the parameters of the stages, so their output, computed
    once by their own ``forward``, is the stages' input. Their own parameters have the slot
    ``(PREFIX, key)``: the caller differentiates them with the element loop.

    Raises
    ------
    UnsupportedNetwork
        When a layer is not one whose hooks this path follows, or the structure differs.

    Returns
    -------
    stages : list of Stage
    slots : dict
        ``params`` key → (stage index, "W" | "b" | "gamma" | "beta"), or ``(PREFIX, name)``.
    """
    stages: list[Stage] = []
    owner: dict[int, tuple[int, str]] = {}
    f64 = np.float64
    loss = net.last_layer
    if type(loss) is not SoftmaxWithLoss or loss.guard or not trusted(loss):
        raise UnsupportedNetwork(f"the structured numerical gradient follows SoftmaxWithLoss "
                                 f"without guard, not {type(loss).__name__}")
    items = list(net.layers.items())
    first = next((i for i, (_, layer) in enumerate(items) if type(layer) is Affine), len(items))
    a = x
    for name, layer in items[:first]:
        if not isinstance(layer, Layer) or "forward" in vars(layer):
            raise UnsupportedNetwork(f"layer {name!r} ({type(layer).__name__}) before the first "
                                     "Affine is not a kobai layer with its own forward")
        a = layer.forward(a, train=True)
        for arr in layer.params.values():
            owner[id(arr)] = (PREFIX, name)
    a = np.array(a, f64).reshape(a.shape[0], -1)  # a copy: the layers reuse their buffers
    for name, layer in items[first:]:
        if not trusted(layer):
            raise UnsupportedNetwork(f"layer {name!r} ({type(layer).__name__}) was changed "
                                     "after its class was defined, so its hooks may not "
                                     "describe its forward")
        if type(layer) is Affine and "b" in layer.params:
            stages.append(Stage(np.asarray(layer.W, f64), np.asarray(layer.b, f64)))
            owner[id(layer.W)], owner[id(layer.b)] = (len(stages) - 1, "W"), (len(stages) - 1, "b")
        elif type(layer) is BatchNormalization and stages:
            st = stages[-1]
            st.gamma, st.beta, st.eps = (np.asarray(layer.gamma, f64),
                                         np.asarray(layer.beta, f64), layer.eps)
            owner[id(layer.gamma)] = (len(stages) - 1, "gamma")
            owner[id(layer.beta)] = (len(stages) - 1, "beta")
        elif getattr(layer, "elementwise", False) and hasattr(layer, "apply") and stages:
            stages[-1].act = layer
        elif type(layer) is Dropout and stages:
            if stages[-1].act is None:  # on the logits (DeepConvNet's last layer): the series
                # of the last stage do not follow a mask there, so the loop must
                raise UnsupportedNetwork(f"layer {name!r} (Dropout) comes right after an "
                                         "Affine, not after an activation")
            stages[-1].mask = np.asarray(layer.mask, f64)
        else:
            raise UnsupportedNetwork(f"the structured numerical gradient has no hooks for "
                                     f"layer {name!r} ({type(layer).__name__})")
    if not stages or stages[-1].act is not None or any(st.act is None for st in stages[:-1]):
        raise UnsupportedNetwork("the structured numerical gradient expects (Affine → "
                                 "[BatchNorm] → activation → [Dropout]) × n → Affine")
    for st in stages:
        if st.mask is not None and st.mask.shape != (a.shape[0], st.W.shape[1]):
            raise ValueError(f"a dropout mask has shape {st.mask.shape}; expected "
                             f"{(a.shape[0], st.W.shape[1])} from the forward pass on x")
        a = st.forward(a)
    slots = {}
    for key, arr in net.params.items():
        if id(arr) not in owner:
            raise ValueError(f"params[{key!r}] is not used by any layer of the network")
        slots[key] = owner[id(arr)]
    return stages, slots
