"""A change of one hidden unit carried through later smooth hidden layers by a short series.

Let stage ``s``'s output change by ``u`` (one number per sample) in unit ``j``, and let every
later hidden stage have a smooth activation ``f`` (sigmoid, tanh: the layer's ``derivatives``
hook) and no batch norm. Then, exactly, ``Δz_{s+1}[n, h] = u · W_{s+1}[j, h]``, and by
Taylor's theorem with ``d_k = f^(k)(z)/k!`` (times the frozen dropout mask) each later layer
turns a change ``P(u)`` of its input into ``Σ_{k=1..3} d_k P(u)^k`` up to a remainder of order
``u⁴`` (:class:`ErrorBound` bounds it, layer after layer). Cut after ``u³``, the logits move
along a cubic, ``Δz_L = Σ_k u^k V_k[n, j, :]``. The loss of sample ``n`` is
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

__all__ = ["smooth_directions", "PolynomialLogits", "ErrorBound"]

_ORDER = 3  # Taylor terms through each smooth layer
_LOG_TOL = -60 * math.log(2.0)
_MAX_TERMS = 24
_BLOCK_BYTES = 16 * 2**20
_MAX_BYTES = 64 * 2**20  # the coefficient arrays (N, n_s, width) of one stage, all three
_T = 2.0 ** np.arange(1, 61)


class _Layer:
    """What the error bound needs of one smooth layer: per unit ``j`` of the perturbed stage,
    the largest ``|P_k|`` (k = 1..3) of the change entering it; the largest ``|D_m|`` (the
    series' coefficients, m = 1..3); the bound of the fourth derivative times the mask; and
    the row-sum norm of the next weight matrix."""

    def __init__(self, pbar: np.ndarray, dbar: list[float], b4: float, norm: float):
        self.pbar, self.dbar, self.b4, self.norm = pbar, dbar, b4, norm


class ErrorBound:
    """Bound on how much the cubic directions can move a per-sample loss, for ``|u| ≤ ρ``.

    At each smooth layer the exact change of its input is ``P(u) + e`` with
    ``|P| ≤ Pm = Σ_k pbar_k ρ^k`` and ``|e| ≤ ε``. Its output then differs from the cubic that
    is carried on by at most: ``B4 / 4! · (Pm + ε)^4`` (Taylor's remainder, ``B4`` bounding the
    fourth derivative), ``Σ_m dbar_m ((Pm + ε)^m - Pm^m)`` (the error ``e`` through the
    series) and ``Σ_m dbar_m · (the terms of P^m above u³ at ρ)``. The next product multiplies
    this by its row-sum norm. A loss moves by at most twice the largest logit error.
    """

    def __init__(self, layers: list[_Layer]):
        self.layers = layers

    def __call__(self, rho: float, cols: slice | np.ndarray) -> float:
        e: np.ndarray | float = 0.0
        for lay in self.layers:
            a1, a2, a3 = (lay.pbar[k][cols] for k in range(3))
            pm = ((a3 * rho + a2) * rho + a1) * rho
            pe = pm + e
            d1, d2, d3 = lay.dbar
            taylor = lay.b4 / 24.0 * pe ** 4
            through = d1 * (pe - pm) + d2 * (pe ** 2 - pm ** 2) + d3 * (pe ** 3 - pm ** 3)
            # P² = a1²ρ² + 2a1a2ρ³ + (above u³);  P³ = a1³ρ³ + (above u³)
            high = (d2 * (pm ** 2 - (a1 * a1 + 2.0 * a1 * a2 * rho) * rho ** 2)
                    + d3 * (pm ** 3 - (a1 * rho) ** 3))
            e = (taylor + through + high) * lay.norm
        return 2.0 * float(np.max(e))


def smooth_directions(stages: list[Any], s: int
                      ) -> tuple[list[np.ndarray], ErrorBound] | None:
    """``([V_1, V_2, V_3], bound)`` for a change of stage ``s``'s units, or None unless every
    later hidden stage has a smooth activation with derivative hooks and no batch norm (and
    the coefficient arrays fit in memory). ``V_k``: (N, n_s, n_classes)."""
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
    if 8 * _ORDER * n * n_s * widest > _MAX_BYTES:
        return None
    first = later[0].W  # (n_s, width): P_1 = W[j, :] for every sample
    P: list[np.ndarray | None] = [np.broadcast_to(first, (n, *first.shape)), None, None]
    pbar = np.stack([np.abs(first).max(axis=1), np.zeros(n_s), np.zeros(n_s)])
    layers = []
    for st, nxt in zip(later, stages[s + 2:], strict=True):
        act = st.act
        mask = st.mask if st.mask is not None else 1.0
        m_max = float(np.max(mask)) if st.mask is not None else 1.0
        d = act.derivatives(st.z, act.apply(st.z), _ORDER)
        D = [(d[m] / math.factorial(m + 1) * mask)[:, None, :] for m in range(_ORDER)]
        # H(u) = Σ_m D_m P(u)^m through u³:
        # H_1 = D_1 P_1,  H_2 = D_1 P_2 + D_2 P_1²,  H_3 = D_1 P_3 + 2 D_2 P_1 P_2 + D_3 P_1³
        p1, p2, p3 = P
        assert p1 is not None
        H = [D[0] * p1, D[1] * p1 * p1, D[2] * p1 ** 3]
        if p2 is not None:
            H[1] = H[1] + D[0] * p2
            H[2] = H[2] + 2.0 * D[1] * p1 * p2
        if p3 is not None:
            H[2] = H[2] + D[0] * p3
        layers.append(_Layer(pbar, [float(np.max(np.abs(Dm))) for Dm in D],
                             act.derivative_bounds[_ORDER] * m_max,
                             float(np.abs(nxt.W).sum(axis=0).max())))
        P = [h @ nxt.W for h in H]
        pbar = np.stack([np.abs(p).max(axis=(0, 2)) for p in P if p is not None])
    return [p for p in P if p is not None], ErrorBound(layers)


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
        rows = np.arange(z.shape[0])
        shifted = z - z.max(axis=1, keepdims=True)  # as SoftmaxWithLoss.forward
        self.E = np.exp(shifted)
        self.c = shifted[rows, labels]  # loss_n = log Σ_c E_c - c_n
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
        a = np.array([float(np.max(wm[:, cols] * au ** k))
                      for k, wm in enumerate(self.wmax, start=1)])
        M = _terms(a)
        if M is None:
            return None
        self._extend(M)
        # Horner: Σ_m ν_m u^m = ν_0 + u (ν_1 + u (ν_2 + … + u ν_M))
        s = np.empty_like(au)
        s[...] = self.nu[M][:, cols]
        for m in range(M - 1, -1, -1):
            s *= u
            s += self.nu[m][:, cols]
        np.log(s, out=s)
        s -= self.c[:, None]
        return s
