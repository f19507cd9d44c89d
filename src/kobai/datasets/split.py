"""A validation split carved from the training data: stratified by class, seeded.

Hyperparameters are chosen on data the final model is not tested on: ``kobai tune`` scores
each trial on a validation split of the *training* set (the book's ch. 6.5 takes 20% of it),
and the test set is used once, for the chosen configuration.
"""

from __future__ import annotations

import numbers

import numpy as np

__all__ = ["validation_split"]


def validation_split(t: np.ndarray, fraction: float = 0.2, *,
                     rng: np.random.Generator | int | None = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(train, validation)`` that split labels ``t`` class by class.

    The validation part holds ``round(fraction · N)`` samples, each class its share of them
    (``fraction · n_class``, rounded down, and one more for the classes with the largest
    remainders), chosen at random by ``rng``; so it has the class proportions of the whole,
    and the same ``rng`` gives the same split. Both index arrays are sorted, so the parts
    keep the data's order.

    Parameters
    ----------
    t : array_like of shape (N,) or (N, n_classes)
        Integer labels or one-hot rows.
    fraction : float
        The share of the samples that goes to validation, in (0, 1).
    rng : numpy.random.Generator or int seed

    Raises
    ------
    ValueError
        For a fraction outside (0, 1), or one that leaves either part empty.
    """
    if not (isinstance(fraction, numbers.Real) and 0 < float(fraction) < 1):
        raise ValueError(f"the validation fraction must be a number in (0, 1), got {fraction!r}")
    labels = np.asarray(t)
    if labels.ndim == 2:
        labels = labels.argmax(axis=1)
    if labels.ndim != 1 or len(labels) < 2:
        raise ValueError(f"expected labels of shape (N,) or (N, n_classes) with N >= 2, got "
                         f"shape {np.shape(t)}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    classes, counts = np.unique(labels, return_counts=True)
    total = int(round(float(fraction) * len(labels)))
    # each class its share of ``total``, rounded down, then one more to the classes with the
    # largest remainders (ties: the first classes), so that exactly ``total`` are taken
    shares = float(fraction) * counts
    quota = np.floor(shares).astype(int)
    extra = np.argsort(-(shares - quota), kind="stable")[:max(total - quota.sum(), 0)]
    quota[extra] += 1
    validation = [gen.permutation(np.flatnonzero(labels == label))[:k]
                  for label, k in zip(classes, quota, strict=True)]
    val = np.sort(np.concatenate(validation))
    if len(val) == 0 or len(val) == len(labels):
        raise ValueError(f"a validation fraction of {fraction} of {len(labels)} samples leaves "
                         "one part empty; give more samples or another fraction")
    train = np.setdiff1d(np.arange(len(labels)), val, assume_unique=True)
    return train, val
