"""Losses when one hidden unit changes and the logits move along a fixed direction.

If a perturbation changes only ``h[:, j]`` of the last hidden layer, by ``u_n`` for sample
``n``, every logit row moves along that unit's outgoing weights, ``z'_n = z_n + u_n · V[j, :]``
with ``V = W`` of the last layer. (For an earlier hidden layer followed only by relu layers,
the same holds with a direction per sample, ``V[n, j, :]``, as long as no relu input crosses 0;
see ``linear``.) With
``E_c = exp(z_c - max z)`` and ``w_c = V[j, c] - V[j, t]`` (relative to the target's logit, so
the target's own change cancels)::

    loss_n(u) = log Σ_c E_c exp(u·w_c) - (z_t - max z)
              = log Σ_k μ_k u^k / k!  - (z_t - max z),      μ_k = Σ_c E_c w_c^k

a power series in ``u`` whose coefficients (moments) depend only on ``n`` and ``j``. It is cut
after the term ``k = K``; with ``r = |u| · max_c |w_c|`` the remainder is at most
``r^(K+1) e^r / (K+1)! · Σ E_c`` (Taylor with Lagrange remainder, term by term) and the sum
itself at least ``e^(-r) · Σ E_c``, so ``K`` is chosen per chunk with
``r^(K+1) e^(2r) / (K+1)! ≤ 2^-60``: the cut changes the sum by less than 2^-60 relative, 1/128
of one rounding. Per perturbation and sample this costs ``K`` multiply-adds and one log instead
of ``n_classes`` exponentials. When ``r`` is too large for a short series (``K`` would exceed
24) the caller evaluates the logits directly.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["RankOneLogits"]

_LOG_TOL = -60 * math.log(2.0)
_MAX_TERMS = 24
_BLOCK_BYTES = 16 * 2**20


def series_terms(r: float) -> int | None:
    """Smallest ``K`` with ``r^(K+1) e^(2r) / (K+1)! ≤ 2^-60``, or None if more than 24."""
    if r == 0.0:
        return 0
    for k in range(_MAX_TERMS + 1):
        if (k + 1) * math.log(r) + 2.0 * r - math.lgamma(k + 2) <= _LOG_TOL:
            return k
    return None


def softmax_parts(z: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E, c)`` with ``E = exp(z - max z)`` per row and ``c = z_t - max z``, so that the
    cross-entropy of row ``n`` is ``log Σ_c E[n, c] - c[n]`` (as SoftmaxWithLoss computes it)."""
    shifted = z - z.max(axis=1, keepdims=True)
    return np.exp(shifted), shifted[np.arange(z.shape[0]), labels]


def series_losses(nu: list[np.ndarray], cols: slice | np.ndarray, u: np.ndarray, K: int,
                  c: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``log Σ_{k≤K} ν_k[:, cols] u^k - c`` (N, P) by Horner's rule:
    ``ν_0 + u (ν_1 + u (ν_2 + … + u ν_K))``. ``out`` (N, P) may be given to write into."""
    s = np.empty_like(u) if out is None else out
    s[...] = nu[K][:, cols]
    for k in range(K - 1, -1, -1):
        s *= u
        s += nu[k][:, cols]
    np.log(s, out=s)
    s -= c[:, None]
    return s


class RankOneLogits:
    """Per-sample cross-entropy after a change of one hidden unit, from cached moments.

    Parameters
    ----------
    z : ndarray of shape (N, n_classes)
        The unperturbed logits.
    labels : ndarray of shape (N,)
    V : ndarray of shape (n_hidden, n_classes) or (N, n_hidden, n_classes)
        Change of the logits per unit change of each hidden unit (of each sample).
    """

    def __init__(self, z: np.ndarray, labels: np.ndarray, V: np.ndarray):
        self.E, self.c = softmax_parts(z, labels)  # loss_n = log Σ_c E_c - c_n
        s0 = self.E.sum(axis=1)
        self.V, self.labels = V, labels
        n_hidden = V.shape[-2]
        # samples per block of the (block, n_hidden, n_classes) arrays w[n, j, c]
        self._block = max(1, _BLOCK_BYTES // (8 * n_hidden * V.shape[-1]))
        self.rmax = np.concatenate([np.abs(self._w(b)).max(axis=2) for b in self._blocks()])
        self.nu = [np.repeat(s0[:, None], n_hidden, axis=1)]  # ν_k = μ_k / k!, (N, n_hidden)

    def _blocks(self) -> list[slice]:
        n = self.E.shape[0]
        return [slice(i, min(n, i + self._block)) for i in range(0, n, self._block)]

    def _w(self, block: slice) -> np.ndarray:
        """w[n, j, c] = V[(n,) j, c] - V[(n,) j, t_n] for the samples of ``block``."""
        if self.V.ndim == 2:
            return self.V[None, :, :] - self.V[:, self.labels[block]].T[:, :, None]
        v = self.V[block]
        return v - np.take_along_axis(v, self.labels[block][:, None, None], axis=2)

    def _extend(self, K: int) -> None:
        k0 = len(self.nu)
        if K < k0:
            return
        new = [np.empty_like(self.nu[0]) for _ in range(k0, K + 1)]
        for b in self._blocks():
            w = self._w(b)
            power = w ** k0 if k0 > 1 else w.copy()
            for k in range(k0, K + 1):
                if k > k0:
                    power *= w
                new[k - k0][b] = np.einsum("njc,nc->nj", power, self.E[b]) / math.factorial(k)
        self.nu += new

    def losses(self, u: np.ndarray, cols: slice | np.ndarray) -> np.ndarray | None:
        """Per-sample losses after hidden unit(s) ``cols`` change by ``u``.

        Parameters
        ----------
        u : ndarray of shape (N, P)
            Change of the unit's output for each sample (rows) and perturbation (columns).
        cols : slice of one unit, or ndarray of shape (P,)
            The unit each perturbation changes.

        Returns
        -------
        ndarray of shape (N, P), or None when ``u`` is too large for the series.
        """
        au = np.abs(u)
        au *= self.rmax[:, cols]
        K = series_terms(float(au.max()) if au.size else 0.0)
        if K is None:
            return None
        self._extend(K)
        return series_losses(self.nu, cols, u, K, self.c, out=au)
