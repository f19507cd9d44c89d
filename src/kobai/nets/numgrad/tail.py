"""Forward passes of many perturbed networks at once: the layers after a perturbation.

Two layouts. A *stack* holds ``P`` perturbed copies of a layer's values, shape
``(P, N, width)``; batch norm then normalizes each copy over its own batch (axis 1). Without
batch norm the samples do not interact, so only the *rows* ``(perturbation, sample)`` whose
values changed need a forward pass at all: shape ``(M, width)``, every other sample keeps its
unperturbed loss bit for bit, as it does in the loop. The arithmetic is the
layers' own ``apply`` (``kobai.layers``); each Affine is one matrix product for all rows.
"""

from __future__ import annotations

import numpy as np

from ...layers.loss import cross_entropy_rows
from .stages import Stage

__all__ = ["stack_logits", "row_logits", "sample_losses", "mean_losses"]


def stack_logits(stages: list[Stage], k: int, z: np.ndarray,
                 signs: list[np.ndarray] | None = None) -> np.ndarray:
    """Logits (P, N, n_classes) of a stack whose stage-``k`` affine outputs are ``z`` (P, N, width).

    ``z`` may be overwritten. If ``signs`` is a list, each relu layer's mask ``input > 0``
    (P, N, width) is appended to it.
    """
    for st, nxt in zip(stages[k:-1], stages[k + 1:], strict=True):
        if st.norm is not None:
            z = st.normalized(z)
        if signs is not None and st.kinks:
            signs.append(z > 0)
        z = nxt.product(st.dropped(st.activate(z)))
    return z


def row_logits(stages: list[Stage], k: int, z: np.ndarray, samples: np.ndarray,
               signs: list[np.ndarray] | None = None) -> np.ndarray:
    """Logits (M, n_classes) of rows whose stage-``k`` affine outputs are ``z`` (M, width).

    ``samples`` (M,) gives each row's sample, for the dropout masks. No stage from ``k`` on may
    use batch norm. ``z`` may be overwritten. If ``signs`` is a list, each relu layer's mask
    ``z > 0`` (M, width) is appended to it.
    """
    for st, nxt in zip(stages[k:-1], stages[k + 1:], strict=True):
        if signs is not None and st.kinks:
            signs.append(z > 0)
        z = nxt.product(st.dropped(st.activate(z), samples))
    return z


def sample_losses(z: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy of each row of logits ``z`` (..., n_classes): ``SoftmaxWithLoss``'s own
    ``cross_entropy_rows``. ``z`` is overwritten."""
    return cross_entropy_rows(z, labels)


def mean_losses(per_sample: np.ndarray) -> np.ndarray:
    """Mean over each row of (P, N) per-sample losses, summed as NumPy sums one sample axis.

    The loop takes ``np.mean`` of a 1-D array (pairwise summation); a contiguous row of a 2-D
    array is summed the same way.
    """
    return np.ascontiguousarray(per_sample).mean(axis=1)
