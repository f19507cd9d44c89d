"""The unperturbed forward pass of a :class:`MultiLayerNet`, cached for the fast numerical gradient.

The net is read as a list of stages, one per ``Affine`` layer::

    z = a_in · W + b  →  [BatchNorm]  →  activation  →  [Dropout]  →  h   (hidden stages)
    z = a_in · W + b                                                      (last stage: logits)

Every value is float64 (a float32 net is evaluated in float64 at its float32 parameters) and
every operation repeats the arithmetic of ``kobai.layers`` in the same order, so that for a
float64 net the values the loop recomputes from unchanged inputs come out bit for bit the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, Tanh

__all__ = ["Stage", "read_stages", "activate", "batch_norm"]

_ACTIVATIONS = {Relu: "relu", Sigmoid: "sigmoid", Tanh: "tanh"}


class UnsupportedNetwork(ValueError):
    """The network's layers are not the structure the fast path follows (the loop still works)."""


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
    act: str | None = None            # "relu", "sigmoid", "tanh"; None on the last stage
    mask: np.ndarray | None = None    # (N, n_out) frozen dropout mask: 0 or 1/(1-ratio)
    a_in: np.ndarray | None = None    # (N, n_in) input of the affine layer
    xw: np.ndarray | None = None      # (N, n_out) a_in · W, before the bias
    z: np.ndarray | None = None       # (N, n_out) a_in · W + b
    xn: np.ndarray | None = None      # (N, n_out) batch-normalized z
    h: np.ndarray | None = None       # (N, n_out) output: after dropout, or the logits

    def forward(self, a_in: np.ndarray) -> np.ndarray:
        """Run the stage on the unperturbed input, caching what perturbations start from."""
        self.a_in = a_in
        self.xw = a_in @ self.W
        z = self.z = self.xw + self.b  # Affine: out = x·W; out += b
        if self.act is None:
            self.h = z
            return z
        if self.gamma is not None:
            self.xn = batch_norm(z, self.eps, axis=0)
            z = self.gamma * self.xn + self.beta
        h = activate(self.act, z)
        self.h = h * self.mask if self.mask is not None else h
        return self.h


def activate(name: str, z: np.ndarray) -> np.ndarray:
    """The activation layer's forward, as a new array."""
    if name == "relu":
        return np.maximum(z, 0)
    if name == "tanh":
        return np.tanh(z)
    with np.errstate(over="ignore"):  # Sigmoid: 1 / (1 + exp(-z)), exp may overflow to inf
        out = np.exp(-z)
    out += 1.0
    return np.reciprocal(out, out=out)


def batch_norm(z: np.ndarray, eps: float, axis: int) -> np.ndarray:
    """``(z - μ) / sqrt(σ² + ε)`` with the batch mean and biased variance along ``axis``.

    The batch axis must not be the contiguous one: NumPy then sums along it row after row, as
    the layer does for its ``(N, n_out)`` input (and not pairwise).
    """
    xc = z - z.mean(axis=axis, keepdims=True)
    var = np.mean(xc * xc, axis=axis, keepdims=True)
    xc /= np.sqrt(var + eps)
    return xc


def read_stages(net, x: np.ndarray) -> tuple[list[Stage], dict[str, tuple[int, str]]]:
    """The net's stages after one forward pass on ``x``, and where each parameter lives.

    Call inside ``net.frozen()`` after a forward pass in training mode, so the dropout masks
    are the ones every perturbed pass of the loop uses.

    Returns
    -------
    stages : list of Stage
    slots : dict
        ``params`` key → (stage index, "W" | "b" | "gamma" | "beta").
    """
    stages: list[Stage] = []
    owner: dict[int, tuple[int, str]] = {}
    f64 = np.float64
    for name, layer in net.layers.items():
        if isinstance(layer, Affine):
            stages.append(Stage(np.asarray(layer.W, f64), np.asarray(layer.b, f64)))
            owner[id(layer.W)], owner[id(layer.b)] = (len(stages) - 1, "W"), (len(stages) - 1, "b")
        elif isinstance(layer, BatchNormalization) and stages:
            st = stages[-1]
            st.gamma, st.beta, st.eps = (np.asarray(layer.gamma, f64),
                                         np.asarray(layer.beta, f64), layer.eps)
            owner[id(layer.gamma)] = (len(stages) - 1, "gamma")
            owner[id(layer.beta)] = (len(stages) - 1, "beta")
        elif type(layer) in _ACTIVATIONS and stages:
            stages[-1].act = _ACTIVATIONS[type(layer)]
        elif isinstance(layer, Dropout) and stages:
            stages[-1].mask = np.asarray(layer.mask, f64)
        else:
            raise UnsupportedNetwork(f"the fast numerical gradient does not know layer "
                                     f"{name!r} ({type(layer).__name__})")
    if stages[-1].act is not None or any(st.act is None for st in stages[:-1]):
        raise UnsupportedNetwork("the fast numerical gradient expects (Affine → [BatchNorm] → "
                                 "activation → [Dropout]) × n → Affine")
    a = np.asarray(x, f64)
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
