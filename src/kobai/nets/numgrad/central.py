"""Structured numerical gradient of a :class:`~kobai.nets.Network`: the book's central
differences (§4.4), computed for all elements at once by following each perturbation.

For every parameter element ``θ_i`` the result is ``(L(θ + h·e_i) - L(θ - h·e_i)) / 2h``, where
``L`` is ``net.loss(x, t, train=True)`` with the dropout masks held fixed and ``θ_i ± h`` is
rounded to the parameter's dtype. Every value is float64 (float32 nets are evaluated in
float64 at their float32 parameters); elements agree with the element loop to its rounding
noise, ``ε·max(|L|, 1)/h`` (ε = 2^-52).

* Perturbing ``W_k[i, j]`` by ``δ`` changes only column ``j`` of layer ``k``'s product,
  ``z'[:, j] = z[:, j] + δ·a_in[:, i]`` (likewise ``b_k[j]``, ``gamma_k[j]``, ``beta_k[j]``);
  batch norm, the activation and the frozen dropout mask keep it in column ``j``.
* The next product changes by a rank-1 term, ``a_in'·W = a_in·W + u ⊗ W[j, :]``; ``tail``
  recomputes the forward from there for many perturbations at once, in bounded chunks.
* Accelerations: ``rank1`` (last hidden layer: softmax moments), ``linear`` (later relu
  layers, no input crossing 0) and ``smooth`` (later sigmoid/tanh layers: a bounded
  polynomial from the layers' ``derivatives``); what falls outside is recomputed.
* ``stages`` computes with the layers' own ``apply`` and raises ``UnsupportedNetwork`` when it
  cannot; the caller then uses the element loop (:func:`kobai.gradient.perturb_each`).
* Weight decay ``0.5·λ·Σ W²`` changes by ``0.5·λ·((w ± h)² - w²)``; ``kinks`` compares the
  relu masks at ``θ ± h·e_i`` (``numerical_gradient_and_kinks``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ...gradient import perturb_each
from ..decay import decay_loss, perturbed_decay, square_sums
from .kinks import column_crossings, row_crossings, stack_crossings
from .linear import relu_directions
from .rank1 import RankOneLogits
from .smooth import PolynomialLogits, smooth_directions
from .stages import PREFIX, Stage, UnsupportedNetwork, cached, read_stages
from .tail import mean_losses, row_logits, sample_losses, stack_logits

__all__ = ["numerical_gradient", "numerical_gradient_and_kinks"]

#: Bytes of the widest stack (P, N, width) one chunk of perturbations may allocate; the chunk's
# temporaries stay within a few times this. 1 MB keeps a chunk in the CPU caches (about twice as
# fast as 8 MB for the layer-by-layer passes).
CHUNK_BYTES = 2**20


def numerical_gradient(net, x: np.ndarray, labels: np.ndarray,
                       h: float = 1e-4) -> dict[str, np.ndarray]:
    """Central-difference gradient of ``net.loss(x, labels, train=True)`` for every parameter.

    Parameters
    ----------
    net : Network
    x : ndarray of shape (N, input_size), the net's dtype
    labels : ndarray of shape (N,), int
    h : float

    Returns
    -------
    dict of str to ndarray
        Same keys, order, shapes and dtype as ``net.params``.
    """
    return _central_differences(net, x, labels, h, kinks=False)[0]


def numerical_gradient_and_kinks(net, x: np.ndarray, labels: np.ndarray, h: float = 1e-4
                                 ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``numerical_gradient``, and per parameter which elements' differences cross a relu kink.

    Returns
    -------
    grads : dict of str to ndarray
        As ``numerical_gradient`` returns it.
    kinks : dict of str to bool ndarray
        Same keys and shapes: True where some relu input is ``> 0`` at ``θ + h·e_i`` but not at
        ``θ - h·e_i`` or the other way round (``kobai.gradcheck``'s KINK elements).
    """
    return _central_differences(net, x, labels, h, kinks=True)


def _central_differences(net, x: np.ndarray, labels: np.ndarray, h: float, kinks: bool
                         ) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    if not (np.isfinite(h) and h != 0):
        raise ValueError(f"h must be a finite, nonzero step, got {h!r}")
    with net.frozen():
        # The loop's first pass draws the dropout masks if none fits; so does this one.
        loss = net.loss(x, labels, train=True)
        model = _PerturbedLosses(net, x, labels, kinks)
        # What a perturbation does not change is computed by the loop's operations in the
        # loop's order, so the samples it does not reach keep bit-identical losses.
        model.check_loss(net, loss)
        results = {key: (_element_loop(net, x, labels, arr, h, kinks)
                         if model.slots[key][0] == PREFIX else model.gradient(key, arr, h))
                   for key, arr in net.params.items()}
    return ({key: grad for key, (grad, _) in results.items()},
            {key: crossed for key, (_, crossed) in results.items()})


def _element_loop(net, x: np.ndarray, labels: np.ndarray, arr: np.ndarray, h: float,
                  kinks: bool) -> tuple[np.ndarray, np.ndarray]:
    """The book's loop for a parameter of the prefix (the layers before the first Affine):
    ``arr[i] ± h`` in place, the whole loss each time, and whether any layer's
    ``kink_state()`` (ReLU signs, pooling maxima) differs between the two."""
    probes = [layer.kink_state for layer in net.layers.values()
              if kinks and callable(getattr(layer, "kink_state", None))]
    grad, crossed = np.empty(arr.shape), np.zeros(arr.shape, dtype=bool)

    def evaluate(_i: tuple[int, ...], _side: str) -> tuple[float, list[np.ndarray]]:
        return net.loss(x, labels, train=True), [probe() for probe in probes]

    for i, (up, up_state), (down, down_state), _, _ in perturb_each(arr, h, evaluate):
        grad[i] = (up - down) / (2 * h)
        crossed[i] = any(not np.array_equal(a, b) for a, b in zip(up_state, down_state,
                                                                  strict=True))
    return grad.astype(arr.dtype, copy=False), crossed


class _PerturbedLosses:
    """The losses ``L(θ ± h·e_i)`` of one net, one chunk of elements of one parameter at a time."""

    def __init__(self, net, x: np.ndarray, labels: np.ndarray, kinks: bool = False):
        self.stages, self.slots = read_stages(net, x)
        self.labels = labels
        self.lam = net.weight_decay_lambda
        # Σ W² of each weight matrix, in its own dtype, as the network's decay sums it.
        w_key = {s: key for key, (s, kind) in self.slots.items() if kind == "W"}
        self.sq = square_sums(net.params[w_key[s]] for s in range(len(self.stages)))
        # independent[k]: no batch norm from stage k on, so samples do not interact there
        self.independent = [all(st.gamma is None for st in self.stages[k:])
                            for k in range(len(self.stages))]
        self.base_losses = sample_losses(cached(self.stages[-1].h).copy(), labels)
        # relu_after[s]: kinks are asked for and a relu layer follows stage s
        self.kinks = kinks
        self.relu_after = [kinks and any(st.kinks for st in self.stages[s + 1:])
                           for s in range(len(self.stages))]
        # base_signs[k]: the unperturbed masks z > 0 (N, Σ width) of the relu stages from k on,
        # which recomputed rows are compared with (no batch norm there, so z is their input)
        self.base_signs = {k: np.concatenate([cached(st.z) > 0 for st in self.stages[k:]
                                              if st.kinks], axis=1)
                           for k in range(1, len(self.stages))
                           if self.relu_after[k - 1] and self.independent[k]}
        # stage → (power series of the logits, bound on |du| or None); see rank1
        last = len(self.stages) - 1
        self.series: dict[int, tuple[RankOneLogits | PolynomialLogits, np.ndarray | None]] = {}
        for s in range(last):
            directions, tau = ((self.stages[-1].W, None) if s == last - 1
                               else relu_directions(self.stages, s) or (None, None))
            if directions is not None:
                self.series[s] = (RankOneLogits(cached(self.stages[-1].h), labels,
                                                directions), tau)
                continue
            polynomial = smooth_directions(self.stages, s)
            if polynomial is not None:  # one smooth hidden layer (sigmoid, tanh) follows
                self.series[s] = (PolynomialLogits(cached(self.stages[-1].h), labels,
                                                   *polynomial), None)

    def check_loss(self, net, loss: float) -> None:
        """Refuse a network whose loss at θ is not what the layers' hooks give: a layer's
        ``forward`` (or the loss layer's) that does not compute what its ``apply`` does,
        e.g. one replaced on the instance or patched on the class."""
        decayed = [layer.params[k] for layer in net.layers.values()
                   for k in getattr(layer, "decay_keys", ()) if k in layer.params]
        model = float(mean_losses(self.base_losses[None])[0]) + decay_loss(self.lam, decayed)
        tol = 1e3 * float(np.finfo(net.dtype).eps) * max(1.0, abs(loss))
        if not abs(model - loss) <= tol:
            raise UnsupportedNetwork(f"the layers' apply hooks give the loss {model!r} at these "
                                     f"parameters, but the network's forward gives {loss!r}: a "
                                     "layer was changed after its class was defined (its "
                                     "forward no longer computes what its apply does)")

    # -- chunks ---------------------------------------------------------------------------------
    def gradient(self, key: str, arr: np.ndarray, h: float) -> tuple[np.ndarray, np.ndarray]:
        """Central differences of ``arr``'s elements, and which of them cross a relu kink
        (all False unless kinks were asked for)."""
        s, kind = self.slots[key]
        flat = arr.reshape(-1)
        # θ_i ± h rounded to the parameter's dtype, as the loop writes them into the array
        plus, minus = (flat + h).astype(np.float64), (flat - h).astype(np.float64)
        grad, kinks = np.empty(flat.size), np.zeros(flat.size, dtype=bool)
        for idx, j, rows in self._chunks(s, kind, arr.shape):
            n = idx.size
            crossed = np.zeros(n, dtype=bool)
            losses = self._losses(s, kind, j, rows, np.concatenate([plus[idx], minus[idx]]),
                                  crossed)
            grad[idx] = (losses[:n] - losses[n:]) / (2 * h)
            kinks[idx] = crossed
        return (grad.reshape(arr.shape).astype(arr.dtype, copy=False),
                kinks.reshape(arr.shape))

    def _chunks(self, s: int, kind: str, shape: tuple[int, ...]
                ) -> Iterator[tuple[np.ndarray, int | np.ndarray, slice | None]]:
        """Yield (flat indices, column(s), rows of W or None) per chunk of elements."""
        n_out = self.stages[s].W.shape[1]
        size = self._chunk_size(s)
        if kind == "W":  # one column j at a time: every perturbation moves the same unit
            # in pieces of equal length near ``size`` (up to 1.5 × it): a short last piece
            # would cost about as much as a full one
            pieces = max(1, round(shape[0] / size))
            for j in range(n_out):
                for r in range(pieces):
                    rows = slice(r * shape[0] // pieces, (r + 1) * shape[0] // pieces)
                    yield np.arange(rows.start, rows.stop) * n_out + j, j, rows
        else:
            for j0 in range(0, n_out, size):
                idx = np.arange(j0, min(n_out, j0 + size))
                yield idx, idx, None

    def _chunk_size(self, s: int) -> int:
        """Elements per chunk: the power series works on (N, P) arrays, the rest on stacks."""
        width = 4 if s in self.series else self._width(s)
        return max(1, CHUNK_BYTES // (2 * 8 * self.labels.size * width))

    def _width(self, s: int) -> int:
        """Widest layer a perturbation of stage ``s`` has to recompute."""
        return max(st.W.shape[1] for st in self.stages[s + 1:] or self.stages[-1:])

    # -- losses ---------------------------------------------------------------------------------
    def _losses(self, s: int, kind: str, j, rows, vals: np.ndarray,
                crossed: np.ndarray) -> np.ndarray:
        """``L`` for each perturbed value in ``vals`` (P,) of the chunk's elements: first the
        values ``+h``, then ``-h``. Elements whose two perturbations cross a relu kink are set
        True in ``crossed`` (P/2,) when kinks are asked for."""
        if s == len(self.stages) - 1:
            z = self._perturbed_logits(kind, j, rows, vals)
            per_sample = sample_losses(z, self.labels[None, :])
        else:
            st = self.stages[s]
            u, cols, z = self._column_change(st, kind, j, rows, vals)
            if self.kinks and st.kinks:
                crossed |= column_crossings(z)
            later = crossed if self.relu_after[s] else None  # kinks of later relu layers
            series = self._series_losses(s, kind, j, cols, u, later)
            per_sample = (series if series is not None
                          else self._tail_losses(s, kind, j, cols, u.T, later))
        return mean_losses(per_sample) + self._decay(s, kind, j, rows, vals)

    def _series_losses(self, s: int, kind: str, j, cols, u: np.ndarray,
                       crossed: np.ndarray | None) -> np.ndarray | None:
        """Per-sample losses (P, N) by the logits' power series, where it applies."""
        if s not in self.series:
            return None
        model, tau = self.series[s]
        per_sample = model.losses(u, cols)
        if per_sample is None:
            return None
        per_sample = per_sample.T
        if tau is not None:  # rows where a later relu input would cross 0: layer by layer
            # Every other row keeps each later relu input's sign, hence its unperturbed mask.
            n, p = np.nonzero((np.abs(u) >= tau[:, cols]) & (u != 0))
            if n.size:
                per_sample[p, n] = self._row_losses(s, kind, j, cols, u[n, p], p, n, crossed)
        return per_sample

    def _tail_losses(self, s: int, kind: str, j, cols, du: np.ndarray,
                     crossed: np.ndarray | None) -> np.ndarray:
        """Per-sample losses (P, N) when stage ``s``'s output changes by ``du[p, n]`` in column
        ``j`` (or ``cols[p]``): the next affine output becomes ``z + du ⊗ W[j, :]``."""
        if self.independent[s + 1]:  # only the changed (perturbation, sample) rows
            p, n = np.nonzero(du)
            per_sample = np.repeat(self.base_losses[None, :], du.shape[0], axis=0)
            per_sample[p, n] = self._row_losses(s, kind, j, cols, du[p, n], p, n, crossed)
            return per_sample
        nxt, n_samples, du = self.stages[s + 1], du.shape[1], np.ascontiguousarray(du)
        w = nxt.W[j][None, :] if kind == "W" else nxt.W[cols]  # (1 or P, width)
        per_sample = np.empty(du.shape)
        packed = []  # bit-packed relu masks of each perturbation, when kinks are asked for
        step = max(1, CHUNK_BYTES // (8 * n_samples * self._width(s)))
        for start in range(0, du.shape[0], step):
            piece = slice(start, start + step)
            z = du[piece, :, None] * w[piece if w.shape[0] > 1 else slice(None), None, :]
            z += cached(nxt.z)  # (pieces of P, N, width)
            signs: list[np.ndarray] | None = None if crossed is None else []
            per_sample[piece] = sample_losses(stack_logits(self.stages, s + 1, z, signs),
                                              self.labels[None, :])
            if signs:
                pos = np.concatenate([m.reshape(m.shape[0], -1) for m in signs], axis=1)
                packed.append(np.packbits(pos, axis=1))
        if crossed is not None and packed:  # packed only with crossed
            crossed |= stack_crossings(np.concatenate(packed))
        return per_sample

    def _row_losses(self, s: int, kind: str, j, cols, du: np.ndarray, p: np.ndarray,
                    n: np.ndarray, crossed: np.ndarray | None = None) -> np.ndarray:
        """Losses of the rows (perturbation ``p``, sample ``n``) whose stage-``s`` output
        changes by ``du`` (M,), recomputed layer by layer (no batch norm after stage ``s``);
        with ``crossed``, their relu masks are compared too."""
        nxt, out = self.stages[s + 1], np.empty(du.size)
        # relu masks (M, Σ width), piece by piece
        pos: list[np.ndarray] | None = [] if crossed is not None else None
        step = max(1, CHUNK_BYTES // (8 * self._width(s)))
        for m in range(0, du.size, step):
            rows = slice(m, m + step)
            z = du[rows, None] * (nxt.W[j] if kind == "W" else nxt.W[cols[p[rows]]])
            z += cached(nxt.z)[n[rows]]
            signs: list[np.ndarray] | None = None if pos is None else []
            out[rows] = sample_losses(row_logits(self.stages, s + 1, z, n[rows], signs),
                                      self.labels[n[rows]])
            if pos is not None and signs:  # signs is a list only with pos
                pos.append(np.concatenate(signs, axis=1))
        if crossed is not None and pos:  # pos is a list only with crossed
            crossed |= row_crossings(crossed.size, p, n, np.concatenate(pos),
                                     self.base_signs[s + 1])
        return out

    def _perturbed_logits(self, kind: str, j, rows, vals: np.ndarray) -> np.ndarray:
        """Logit stack (P, N, n_classes) when the last layer's ``W[rows, j]`` or ``b[j]`` moves."""
        st = self.stages[-1]
        col = self._column_product(st, kind, j, rows, vals)  # (N, P)
        z = np.repeat(cached(st.h)[None], vals.size, axis=0)
        if kind == "W":
            z[:, :, j] = col.T
        else:
            z[np.arange(vals.size), :, np.tile(j, 2)] = col.T
        return z

    @staticmethod
    def _column_product(st: Stage, kind: str, j, rows, vals: np.ndarray) -> np.ndarray:
        """Column(s) ``j`` of ``a_in·W' + b'`` for each perturbed value, shape (N, P)."""
        if kind == "W":
            # column j of a_in·W' = a_in·W + δ·a_in[:, i]   (δ = W'[i, j] - W[i, j]): Affine is
            # linear in W, so the product moves along its derivative a_in[:, i]
            src = np.tile(cached(st.a_in)[:, rows], 2)
            src *= vals - np.tile(st.W[rows, j], 2)
            src += cached(st.xw)[:, j:j + 1]
            return st.product(None, src, st.b[j])
        return st.product(None, cached(st.xw)[:, np.tile(j, 2)], vals)  # b'[j]

    def _column_change(self, st: Stage, kind: str, j, rows, vals: np.ndarray
                       ) -> tuple[np.ndarray, slice | np.ndarray, np.ndarray]:
        """``u = h'[:, j] - h[:, j]`` (N, P) of a hidden stage, the column selector, and the
        activation's input (N, P)."""
        cols = slice(j, j + 1) if kind == "W" else np.tile(j, 2)
        if kind in ("W", "b"):
            z = self._column_product(st, kind, j, rows, vals)
            if st.norm is not None:  # batch norm over the batch, column by column
                z = st.normalized(z, cached(st.gamma)[cols], cached(st.beta)[cols])
        else:  # gamma or beta: the stage has batch norm; its normalized input is unchanged
            xn = cached(st.xn)[:, cols]
            z = (st.normalized(None, vals, cached(st.beta)[cols], xn) if kind == "gamma"
                 else st.normalized(None, cached(st.gamma)[cols], vals, xn))
        out = st.dropped(st.activate(z), (slice(None), cols))
        out -= cached(st.h)[:, cols]
        return out, cols, z

    def _decay(self, s: int, kind: str, j, rows, vals: np.ndarray) -> np.ndarray | float:
        """``0.5·λ·Σ_k Σ W_k²`` for each perturbed value, summed in the loop's order."""
        if kind != "W":
            return perturbed_decay(self.lam, self.sq, -1, vals, vals)
        return perturbed_decay(self.lam, self.sq, s, np.tile(self.stages[s].W[rows, j], 2), vals)
