"""Which central differences straddle a ReLU kink, for the fast numerical gradient.

An element's two perturbations ``θ ± h·e_i`` *cross a kink* when some relu input lies on
different sides of 0 after the forward at ``θ + h·e_i`` and at ``θ - h·e_i``: ``Relu``'s mask
``z > 0`` differs (an input of exactly 0 counts as the negative side). This is the rule of
``kobai.gradcheck``'s element loop, which compares ``kink_state()`` after both forwards.

The fast path knows each relu input it changes only where it recomputes it: the perturbed
stage's own column, every row of a recomputed stack, the recomputed (perturbation, sample) rows.
Everywhere else the input keeps its unperturbed value (a row with no change) or provably its
sign (a row inside the bound of ``linear``), so its mask is the unperturbed one.
"""

from __future__ import annotations

import numpy as np

__all__ = ["column_crossings", "row_crossings", "stack_crossings"]


def column_crossings(z: np.ndarray) -> np.ndarray:
    """Crossings in the perturbed stage's own relu inputs ``z`` (N, 2P): columns ``p`` (at
    ``+h``) and ``P + p`` (at ``-h``) belong to element ``p``. Returns (P,) bool."""
    pos = z > 0
    half = pos.shape[1] // 2
    return np.any(pos[:, :half] != pos[:, half:], axis=0)


def row_crossings(n_elems: int, p: np.ndarray, samples: np.ndarray, pos: np.ndarray,
                  base: np.ndarray) -> np.ndarray:
    """Crossings in later relu layers when only the rows (perturbation ``p``, sample
    ``samples``) (M,) were recomputed, with masks ``pos`` (M, width).

    Perturbation ``e`` is element ``e``'s ``+h`` and ``n_elems + e`` its ``-h``; a row not
    recomputed has the unperturbed masks ``base`` (N, width). Returns (n_elems,) bool.
    """
    out = np.zeros(n_elems, dtype=bool)
    if p.size == 0:
        return out
    where = np.full((2 * n_elems, base.shape[0]), -1)
    where[p, samples] = np.arange(p.size)
    e, n = np.nonzero((where[:n_elems] >= 0) | (where[n_elems:] >= 0))
    up, down = where[e, n], where[n_elems + e, n]
    pos_up = np.where((up >= 0)[:, None], pos[up], base[n])
    pos_down = np.where((down >= 0)[:, None], pos[down], base[n])
    out[e[np.any(pos_up != pos_down, axis=1)]] = True
    return out


def stack_crossings(packed: np.ndarray) -> np.ndarray:
    """Crossings from the bit-packed masks (2P, bytes) of a fully recomputed stack."""
    half = packed.shape[0] // 2
    return np.any(packed[:half] != packed[half:], axis=1)
