"""A change of one hidden unit carried through later smooth hidden layers by a short series.

Let stage ``s``'s output change by ``u`` (one number per sample) in unit ``j``, and let every
later hidden stage have a smooth activation ``f`` (sigmoid, tanh: the layer's ``derivatives``
hook) and no batch norm. Then, exactly, ``Δz_{s+1}[n, h] = u · W_{s+1}[j, h]``, and by
Taylor's theorem with ``d_k = f^(k)(z)/k!`` (times the frozen dropout mask) each later layer
turns a change ``P(u)`` of its input into ``Σ_{k=1..5} d_k P(u)^k`` up to a remainder of order
``u⁶`` (:class:`ErrorBound` bounds it, layer after layer). Cut after ``u⁵``, the logits move
along a quintic, ``Δz_L = Σ_k u^k V_k[n, j, :]``. The loss of sample ``n`` is
then ``log Σ_c E_c exp(Σ_k u^k w_{k,c}) - (z_t - max z)`` (``w`` relative to the target's
logit), and ``exp`` of a polynomial is a power series ``Σ_m g_m u^m`` with
``g_m = (1/m) Σ_k k w_k g_{m-k}``: its moments ``ν_m = Σ_c E_c g_m`` are cached per sample and
unit, and each perturbation costs a Horner evaluation, as in ``rank1``.

Truncations, bounded per chunk so that each changes a per-sample loss by less than ``2^-60``
(1/128 of one rounding of a loss near 1): the activations' remainders (twice the largest logit
error bounds the loss error), and the series after ``g_M`` — with ``ρ = |u|`` and
``Q(ρ) = Σ_k max|w_k| ρ^k`` majorizing every exponent, Cauchy's estimate on the circle of
radius ``Tρ`` gives a tail ``≤ exp(Q(Tρ)) T^-(M+1) / (1 - 1/T)`` against a sum of at least
``exp(-Q(ρ)) Σ E``; ``M`` is the smallest for some ``T = 2, 4, …, 2^60``. When a chunk's ``u``
is too large for either bound, the caller recomputes the rows layer by layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .rank1 import series_losses, softmax_parts

__all__ = ["smooth_directions", "PolynomialLogits", "ErrorBound"]

_ORDER = 5  # Taylor terms through each smooth layer (the layer's derivatives 1..5)
_LOG_TOL = -60 * math.log(2.0)
_MAX_TERMS = 24
_BLOCK_BYTES = 16 * 2**20
# Largest total of the (N, n_s, width) arrays one smooth layer needs (its series' terms and
# the powers of the change entering it, 2K + 1 of them); beyond it rows are recomputed.
_MAX_BYTES = 256 * 2**20
_T = 2.0 ** np.arange(1, 61)

Coefficients = list["np.ndarray | None"]  # of u^1 … u^K; None for a zero coefficient


def _times(a: Coefficients, b: Coefficients) -> Coefficients:
    """The product of two series without constant term, cut after ``u^K``."""
    out: Coefficients = [None] * _ORDER
    for i, ai in enumerate(a):
        if ai is None:
            continue
        for j, bj in enumerate(b[:_ORDER - i - 1]):
            if bj is not None:
                term = ai * bj  # degree (i + 1) + (j + 1)
                k = i + j + 1
                out[k] = term if out[k] is None else out[k] + term
    return out


def _majorant_high(pbar: np.ndarray, dbar: list[float]) -> np.ndarray:
    """Coefficients of ``u^(K+1) … u^(K²)`` of ``Σ_m dbar_m · (Σ_k pbar_k u^k)^m``, per unit
    (nonnegative: what the cut drops, at most), shape (K² - K, n_units)."""
    full = np.zeros((_ORDER * _ORDER + 1, pbar.shape[1]))
    power = np.zeros_like(full)
    power[1:_ORDER + 1] = pbar
    base = power.copy()
    for m in range(1, _ORDER + 1):
        if m > 1:
            nxt = np.zeros_like(full)
            for k in range(1, _ORDER + 1):
                nxt[k:] += base[k] * power[:full.shape[0] - k]
            power = nxt
        full += dbar[m - 1] * power
    return full[_ORDER + 1:]


class _Layer:
    """What the error bound needs of one smooth layer: per unit ``j`` of the perturbed stage,
    the largest ``|P_k|`` (k = 1..K) of the change entering it and the majorant of what the cut
    after ``u^K`` drops; the largest ``|D_m|`` (the series' coefficients ``f^(m)/m!`` times the
    mask); the bound of ``|f^(K+1)|`` times the mask; and the row-sum norm of the next W."""

    def __init__(self, pbar: np.ndarray, dbar: list[float], bound: float, norm: float):
        self.pbar, self.dbar, self.bound, self.norm = pbar, dbar, bound, norm
        self.high = _majorant_high(pbar, dbar)


class ErrorBound:
    """Bound on how much the directions can move a per-sample loss, for ``|u| ≤ ρ``.

    At each smooth layer the exact change of its input is ``P(u) + e`` with
    ``|P| ≤ Pm = Σ_k pbar_k ρ^k`` and ``|e| ≤ ε``. Its output then differs from the series that
    is carried on by at most: ``B / (K+1)! · (Pm + ε)^(K+1)`` (Taylor's remainder, ``B``
    bounding the derivative of order K+1), ``Σ_m dbar_m ((Pm + ε)^m - Pm^m)`` (the error ``e``
    through the series) and the majorant of the terms of ``Σ_m D_m P^m`` above ``u^K``; the
    next product multiplies this by its row-sum norm. A loss moves by at most twice the
    largest logit error.
    """

    def __init__(self, layers: list[_Layer]):
        self.layers = layers

    def __call__(self, rho: float, cols: slice | np.ndarray) -> float:
        e: np.ndarray | float = 0.0
        for lay in self.layers:
            pm = sum(lay.pbar[k][cols] * rho ** (k + 1) for k in range(_ORDER))
            pe = pm + e
            taylor = lay.bound / math.factorial(_ORDER + 1) * pe ** (_ORDER + 1)
            through = sum(d * (pe ** m - pm ** m) for m, d in enumerate(lay.dbar, start=1))
            high = sum(c[cols] * rho ** k for k, c in enumerate(lay.high, start=_ORDER + 1))
            e = (taylor + through + high) * lay.norm
        return 2.0 * float(np.max(e))


def smooth_directions(stages: list[Any], s: int
                      ) -> tuple[list[np.ndarray], ErrorBound] | None:
    """``([V_1, …, V_K], bound)`` for a change of stage ``s``'s units, or None unless every
    later hidden stage has a smooth activation with derivative hooks (and bounds) and no batch
    norm, and the coefficient arrays fit in memory. ``V_k``: (N, n_s, n_classes)."""
    later = stages[s + 1:-1]
    if not later:
        return None
    for st in later:
        act = st.act
        if (st.gamma is not None or act is None or getattr(act, "kinks", True)
                or not callable(getattr(act, "derivatives", None))
                or len(getattr(act, "derivative_bounds", ())) <= _ORDER):
            return None
    n, n_s = stages[s].h.shape
    widest = max(st.W.shape[1] for st in stages[s + 1:])
    if 8 * (2 * _ORDER + 1) * n * n_s * widest > _MAX_BYTES:
        return None
    first = later[0].W  # (n_s, width): P_1 = W[j, :] for every sample
    P: Coefficients = [np.broadcast_to(first, (n, *first.shape))] + [None] * (_ORDER - 1)
    pbar = np.zeros((_ORDER, n_s))
    pbar[0] = np.abs(first).max(axis=1)
    layers = []
    for st, nxt in zip(later, stages[s + 2:], strict=True):
        act = st.act
        mask = st.mask if st.mask is not None else 1.0
        m_max = float(np.max(mask)) if st.mask is not None else 1.0
        d = act.derivatives(st.z, act.apply(st.z), _ORDER)
        D = [(d[m] / math.factorial(m + 1) * mask)[:, None, :] for m in range(_ORDER)]
        # H(u) = Σ_m D_m P(u)^m, cut after u^K
        H: Coefficients = [None] * _ORDER
        power = P
        for m in range(_ORDER):
            if m:
                power = _times(power, P)
            for k, c in enumerate(power):
                if c is not None:
                    term = D[m] * c
                    H[k] = term if H[k] is None else H[k] + term
        layers.append(_Layer(pbar, [float(np.max(np.abs(Dm))) for Dm in D],
                             act.derivative_bounds[_ORDER] * m_max,
                             float(np.abs(nxt.W).sum(axis=0).max())))
        P = [None if h is None else h @ nxt.W for h in H]
        pbar = np.stack([np.zeros(n_s) if p is None else np.abs(p).max(axis=(0, 2))
                         for p in P])
    zero = np.zeros((n, n_s, stages[-1].W.shape[1]))
    return [zero if p is None else p for p in P], ErrorBound(layers)


def _terms(a: np.ndarray) -> int | None:
    """Smallest ``M`` whose Cauchy tail bound (module docstring) is below ``2^-60``, for the
    majorant coefficients ``a[k-1] = max |w_k| ρ^k``; None if more than 24."""
    total = float(np.sum(a))
    if total == 0.0:
        return 0
    with np.errstate(over="ignore"):
        q = np.polyval(np.append(a[::-1], 0.0), _T)  # Q(Tρ) = Σ_k a_k T^k
    log_t = np.log(_T)
    need = (q + total - np.log1p(-1.0 / _T) - _LOG_TOL) / log_t - 1.0
    best = float(np.min(np.where(np.isfinite(need), need, np.inf)))
    m = max(0, math.ceil(best))
    return m if m <= _MAX_TERMS else None


class PolynomialLogits:
    """Per-sample cross-entropy when the logits move along ``Σ_k u^k V_k[n, j, :]``.

    Parameters
    ----------
    z : ndarray of shape (N, n_classes)
        The unperturbed logits.
    labels : ndarray of shape (N,)
    V : list of ndarray of shape (N, n_hidden, n_classes)
        The polynomial's coefficients (``u^1``, ``u^2``, …).
    bound : ErrorBound
        How far the directions may move a loss, for a given ``|u|``.
    """

    def __init__(self, z: np.ndarray, labels: np.ndarray, V: list[np.ndarray],
                 bound: ErrorBound):
        self.E, self.c = softmax_parts(z, labels)  # loss_n = log Σ_c E_c - c_n
        # w_k[n, j, c] = V_k[n, j, c] - V_k[n, j, t_n]
        self.w = [v - np.take_along_axis(v, labels[:, None, None], axis=2) for v in V]
        self.wmax = [np.abs(w).max(axis=2) for w in self.w]  # (N, n_hidden)
        self.bound = bound
        n_hidden = V[0].shape[1]
        self._block = max(1, _BLOCK_BYTES // (8 * n_hidden * V[0].shape[2]))
        self.nu: list[np.ndarray] = []  # ν_m (N, n_hidden)

    def _extend(self, M: int) -> None:
        if M < len(self.nu):
            return
        n, n_hidden = self.E.shape[0], self.w[0].shape[1]
        nu = [np.empty((n, n_hidden)) for _ in range(M + 1)]
        for start in range(0, n, self._block):
            b = slice(start, min(n, start + self._block))
            w = [wk[b] for wk in self.w]
            g = [np.ones_like(w[0])]
            for m in range(1, M + 1):  # g_m = (1/m) Σ_k k w_k g_{m-k}
                acc = np.zeros_like(w[0])
                for k in range(1, min(m, len(w)) + 1):
                    acc += k * w[k - 1] * g[m - k]
                acc /= m
                g.append(acc)
            E = self.E[b]
            for m in range(M + 1):
                nu[m][b] = np.einsum("njc,nc->nj", g[m], E)
        self.nu = nu

    def losses(self, u: np.ndarray, cols: slice | np.ndarray) -> np.ndarray | None:
        """Per-sample losses (N, P) after hidden unit(s) ``cols`` change by ``u`` (N, P), or
        None when ``u`` is too large for the bounds."""
        au = np.abs(u)
        if au.size == 0:
            return np.empty(u.shape)
        if self.bound(float(np.max(au)), cols) > 2.0 ** -61:
            return None
        # a_k = max over (n, p) of wmax_k[n, unit p] |u[n, p]|^k. With one unit for the chunk
        # (a weight's column) the largest |u| of each sample gives it: the same number,
        # P times fewer powers.
        if isinstance(cols, slice):
            au = au.max(axis=1, keepdims=True)
        a = np.array([float(np.max(wm[:, cols] * au ** k))
                      for k, wm in enumerate(self.wmax, start=1)])
        M = _terms(a)
        if M is None:
            return None
        self._extend(M)
        return series_losses(self.nu, cols, u, M, self.c)
