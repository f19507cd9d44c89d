"""The unperturbed forward pass of a network, cached for the structured numerical gradient.

The network is read as a list of stages, one per ``Affine`` layer::

    z = a_in · W + b  →  [BatchNorm]  →  activation  →  [Dropout]  →  h   (hidden stages)
    z = a_in · W + b                                                      (last stage: logits)

Every value is float64 (a float32 net is evaluated in float64 at its float32 parameters). The
arithmetic is the layers' own: each stage keeps its layers and computes with their ``apply``
(``Affine``'s, batch norm's, the activation's, dropout's) and the loss layer's
``cross_entropy_rows``; only which values they are applied to is decided here. A patched
``apply`` is therefore what this path computes, as ``forward`` does where it calls ``apply``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ...layers import Affine, BatchNormalization, Dropout, SoftmaxWithLoss
from ...layers.regularization import normalize

__all__ = ["UnsupportedNetwork", "Stage", "read_stages", "cached", "PREFIX"]


class UnsupportedNetwork(ValueError):
    """The structured numerical gradient does not apply (a layer without its hooks); the
    element-by-element loop still does."""


#: the stage index of parameters in layers before the first Affine (left to the element loop)
PREFIX = -1


@dataclass(eq=False)
class Stage:
    """One ``Affine → [BatchNorm] → activation → [Dropout]`` block: its layers, float64 copies
    of their parameters, and its cached forward values.

    Arrays are float64; ``N`` is the batch size, ``n_in``/``n_out`` the layer's widths.
    """

    affine: Affine
    W: np.ndarray                     # (n_in, n_out)
    b: np.ndarray                     # (n_out,)
    norm: BatchNormalization | None = None
    gamma: np.ndarray | None = None   # (n_out,) with batch norm
    beta: np.ndarray | None = None
    act: Any = None                   # the activation layer; None on the last stage
    drop: Dropout | None = None
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

    def product(self, a: np.ndarray | None, xw: np.ndarray | None = None,
                b: np.ndarray | None = None) -> np.ndarray:
        """Affine's ``apply``: ``a · W + b`` for a batch, rows or a stack of them (``xw``:
        ``a · W`` when already known, e.g. some columns of it; ``b``: other biases)."""
        return self.affine.apply(a, self.W, self.b if b is None else b, product=xw)

    def normalized(self, z: np.ndarray | None, gamma: np.ndarray | None = None,
                   beta: np.ndarray | None = None, xn: np.ndarray | None = None) -> np.ndarray:
        """Batch norm's training-mode ``apply`` over axis -2 (each stack entry's batch), with
        these (columns of) ``gamma``/``beta`` or the stage's; ``xn``: ``z`` normalized."""
        assert self.norm is not None and self.gamma is not None and self.beta is not None
        return self.norm.apply(z, self.gamma if gamma is None else gamma,
                               self.beta if beta is None else beta, xn=xn)

    def activate(self, z: np.ndarray) -> np.ndarray:
        """The activation layer's ``apply``, as a new float64 array."""
        return self.act.apply(z)

    def dropped(self, h: np.ndarray, where: Any = ...) -> np.ndarray:
        """Dropout's ``apply`` with the frozen mask (part ``where`` of it), in place on ``h``."""
        return h if self.drop is None else self.drop.apply(h, where, out=h)

    def forward(self, a_in: np.ndarray) -> np.ndarray:
        """Run the stage on the unperturbed input, caching what perturbations start from."""
        self.a_in = a_in
        self.xw = self.affine.apply(a_in, self.W, bias=False)
        z = self.z = self.product(None, self.xw)
        if self.act is None:
            self.h = z
            return z
        if self.norm is not None:
            self.xn = normalize(z, self.norm.eps, axis=0)[0]
            z = self.normalized(None, xn=self.xn)
        self.h = self.dropped(self.activate(z))
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
    prefix: they do not depend on the parameters of the stages, so their output in that
    forward pass (the first Affine's input) is the stages' input. Their own parameters have the slot
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
    if type(loss) is not SoftmaxWithLoss or loss.guard:
        raise UnsupportedNetwork(f"the structured numerical gradient follows SoftmaxWithLoss "
                                 f"without guard, not {type(loss).__name__}")
    items = list(net.layers.items())
    a = x
    first = next((i for i, (_, layer) in enumerate(items) if type(layer) is Affine), len(items))
    for name, layer in items[:first]:
        for arr in getattr(layer, "params", {}).values():
            owner[id(arr)] = (PREFIX, name)
    if first < len(items):  # the first Affine's input in the forward pass just made
        a_prefix = items[first][1].x
        if a_prefix is None or a_prefix.shape[0] != x.shape[0]:
            raise ValueError("read_stages needs the forward pass on x to have been made")
        a = np.array(a_prefix, f64)  # a copy: the layers reuse their buffers
    for name, layer in items[first:]:
        if type(layer) is Affine and "b" in layer.params:
            stages.append(Stage(layer, np.asarray(layer.W, f64), np.asarray(layer.b, f64)))
            owner[id(layer.W)], owner[id(layer.b)] = (len(stages) - 1, "W"), (len(stages) - 1, "b")
        elif type(layer) is BatchNormalization and stages:
            st = stages[-1]
            st.norm, st.gamma, st.beta = (layer, np.asarray(layer.gamma, f64),
                                          np.asarray(layer.beta, f64))
            owner[id(layer.gamma)] = (len(stages) - 1, "gamma")
            owner[id(layer.beta)] = (len(stages) - 1, "beta")
        elif getattr(layer, "elementwise", False) and hasattr(layer, "apply") and stages:
            stages[-1].act = layer
        elif type(layer) is Dropout and stages:
            if stages[-1].act is None:  # on the logits (DeepConvNet's last layer): the series
                # of the last stage do not follow a mask there, so the loop must
                raise UnsupportedNetwork(f"layer {name!r} (Dropout) comes right after an "
                                         "Affine, not after an activation")
            if layer.mask is None:
                raise ValueError(f"layer {name!r} (Dropout) has no mask: read_stages needs the "
                                 "forward pass on x to have been made")
            stages[-1].drop, stages[-1].mask = layer, np.asarray(layer.mask, f64)
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
    _check_derivatives(stages)
    slots = {}
    for key, arr in net.params.items():
        if id(arr) not in owner:
            raise ValueError(f"params[{key!r}] is not used by any layer of the network")
        slots[key] = owner[id(arr)]
    return stages, slots


def _check_derivatives(stages: list[Stage]) -> None:
    """Refuse activations whose ``derivatives`` do not describe their ``apply`` (a patched
    ``apply``, say): the series through a layer follow its derivatives, the rest its apply.

    Checked where the series use them (stages without batch norm), against central
    differences of ``apply`` at the stage's own inputs, away from 0 (where a kink would be).
    """
    for st in stages[:-1]:
        derivatives = getattr(st.act, "derivatives", None)
        if st.norm is not None or not callable(derivatives):
            continue
        z = cached(st.z)
        step = 1e-5 * (1.0 + np.abs(z))
        slope = np.asarray(derivatives(z, st.activate(z), 1)[0])
        central = (st.activate(z + step) - st.activate(z - step)) / (2 * step)
        away = np.abs(z) > 2 * step  # a kink at 0 (Relu's) is no disagreement
        if not np.allclose(slope[away], central[away], rtol=1e-4, atol=1e-6):
            raise UnsupportedNetwork(f"{type(st.act).__name__}.derivatives does not match the "
                                     "slope of its apply (was one of them changed after its "
                                     "class was defined?), so the series that follow it "
                                     "would not compute this network's loss")
