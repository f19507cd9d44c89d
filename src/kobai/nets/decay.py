"""L2 weight decay (§6.4.1), in one place: the loss term, its gradient, and its change when one
weight is perturbed (for the structured numerical gradient).

The loss gains ``0.5 · λ · Σ_k Σ W_k²`` over the decayed arrays (the ``W`` of each ``Affine``,
a layer's ``decay_keys``); its gradient adds ``λ · W`` to ``dW``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["decay_loss", "add_decay", "perturbed_decay"]


def square_sums(arrays: Iterable[np.ndarray]) -> list[float]:
    """``Σ W²`` of each array, in its own dtype."""
    return [float(np.sum(w ** 2)) for w in arrays]


def decay_loss(lam: float, arrays: Iterable[np.ndarray]) -> float:
    """``0.5 · λ · Σ_k Σ W_k²`` (0 without computing anything when λ is 0)."""
    if lam == 0.0:
        return 0.0
    return 0.5 * lam * sum(square_sums(arrays))


def add_decay(lam: float, W: np.ndarray, grad: np.ndarray,
              out: np.ndarray | None = None) -> np.ndarray:
    """``grad + λ·W`` (d/dW of ``0.5·λ·W²`` is ``λ·W``), into ``out`` when given."""
    decayed = np.multiply(W, lam, out=out)
    decayed += grad
    return decayed


def perturbed_decay(lam: float, sums: list[float], k: int, old: np.ndarray,
                    new: np.ndarray) -> np.ndarray | float:
    """The decay term when elements ``old`` of array ``k`` become ``new`` (one each), summed in
    :func:`decay_loss`'s order: ``Σ W_k²`` changes by ``(w')² - w² = (w' - w)(w' + w)``."""
    if lam == 0.0:
        return 0.0
    total: np.ndarray | float = 0
    for i, sq in enumerate(sums):
        total = total + (sq + (new - old) * (new + old) if i == k else sq)
    return 0.5 * lam * total
