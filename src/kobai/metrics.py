"""Classification metrics for ``kobai evaluate``: confusion matrix, per-class precision/recall.

Rows of a confusion matrix are true classes and columns predicted classes, as in
scikit-learn: ``cm[i, j]`` counts samples of class ``i`` predicted as ``j``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ._validate import positive_int

__all__ = ["CHANCE_FACTOR", "ClassMetrics", "at_chance", "check_confusion_matrix",
           "confusion_matrix", "per_class_metrics", "format_confusion_matrix",
           "classification_report"]

#: an accuracy below this many times chance (1 / n_classes) is "at chance": nothing learned
CHANCE_FACTOR = 1.5

_CORNER = "true\\pred"


def _labels_array(y: object, name: str, n_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be a 1-D array of integer class labels, got "
                         f"{arr.dtype} of shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr.min() if arr.min() < 0 else arr.max()
        raise ValueError(f"{name} contains the label {bad}, outside [0, {n_classes})")
    return arr.astype(np.int64, copy=False)


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     n_classes: int) -> np.ndarray:
    """Count (true class, predicted class) pairs.

    Parameters
    ----------
    y_true, y_pred : ndarray of shape (n_samples,)
        Integer labels in ``[0, n_classes)``, e.g. ``t_test`` and
        ``net.predict(x_test).argmax(axis=1)``.
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes, n_classes), int64
        ``cm[i, j]`` = number of samples of class ``i`` predicted as ``j``; the diagonal holds
        the correct predictions.
    """
    n_classes = positive_int(n_classes, "n_classes")
    t = _labels_array(y_true, "y_true", n_classes)
    p = _labels_array(y_pred, "y_pred", n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size} (one prediction "
                         "per sample)")
    counts = np.bincount(t * n_classes + p, minlength=n_classes * n_classes)
    return counts.reshape(n_classes, n_classes).astype(np.int64)


def check_confusion_matrix(cm: object) -> np.ndarray:
    """``cm`` as an array, refused unless a square matrix of non-negative integer counts."""
    arr = np.asarray(cm)
    if arr.ndim != 2 or arr.shape[0] != arr.shape[1] or arr.shape[0] == 0:
        raise ValueError(f"confusion matrix must be a square 2-D array, got shape {arr.shape}")
    if arr.dtype.kind not in "iu" or (arr < 0).any():
        raise ValueError("confusion matrix must hold non-negative integer counts")
    return arr


class ClassMetrics(NamedTuple):
    """Per-class precision and recall; unpacks as ``precision, recall = ...``."""

    precision: np.ndarray
    recall: np.ndarray


def per_class_metrics(cm: np.ndarray) -> ClassMetrics:
    """Precision and recall of each class.

    Parameters
    ----------
    cm : ndarray of shape (n_classes, n_classes)
        From :func:`confusion_matrix` (rows true, columns predicted).

    Returns
    -------
    precision, recall : ndarray of shape (n_classes,), float64
        ``precision[c] = cm[c, c] / Σ_i cm[i, c]`` (of the samples predicted as ``c``, the
        share that are ``c``) and ``recall[c] = cm[c, c] / Σ_j cm[c, j]`` (of the samples of
        class ``c``, the share found); 0.0 where undefined (a class never predicted, or
        absent).
    """
    cm = check_confusion_matrix(cm)
    tp = np.diag(cm).astype(np.float64)
    predicted, support = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    return ClassMetrics(precision, recall)


def format_confusion_matrix(cm: np.ndarray, labels: Sequence[str] | None = None) -> str:
    """The matrix as a text table: one row per true class, one column per predicted class."""
    cm = check_confusion_matrix(cm)
    names = [str(v) for v in (range(len(cm)) if labels is None else labels)]
    if len(names) != len(cm):
        raise ValueError(f"{len(names)} labels for a {len(cm)}-class confusion matrix")
    width = max(len(str(int(cm.max()))), *(len(n) for n in names))
    head = max(len(_CORNER), *(len(n) for n in names))
    lines = [f"{_CORNER:>{head}} " + " ".join(f"{n:>{width}}" for n in names)]
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:>{head}} " + " ".join(f"{int(v):>{width}}" for v in row))
    return "\n".join(lines)


def classification_report(cm: np.ndarray, labels: Sequence[str] | None = None) -> str:
    """Per-class precision, recall, F1 and support, then the accuracy, as a text table."""
    cm = check_confusion_matrix(cm)
    precision, recall = per_class_metrics(cm)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    support = cm.sum(axis=1)
    names = [str(v) for v in (range(len(cm)) if labels is None else labels)]
    if len(names) != len(cm):
        raise ValueError(f"{len(names)} labels for a {len(cm)}-class confusion matrix")
    w = max(5, *(len(n) for n in names))
    lines = [f"{'class':>{w}}  precision  recall      f1  support"]
    for i, name in enumerate(names):
        lines.append(f"{name:>{w}}  {precision[i]:>9.4f}  {recall[i]:>6.4f}  {f1[i]:>6.4f}  "
                     f"{int(support[i]):>7d}")
    correct, total = int(np.trace(cm)), int(support.sum())
    lines.append(f"accuracy: {correct / max(total, 1):.4f} ({correct} of {total} samples)")
    return "\n".join(lines)


def at_chance(accuracy: float, n_classes: int) -> bool:
    """Whether ``accuracy`` is within reach of guessing: below ``CHANCE_FACTOR / n_classes``.

    A network that learned nothing scores about ``1 / n_classes`` (0.1 on MNIST, 0.1135 if it
    always answers MNIST's most frequent class), so below 0.15 on ten classes it learned
    nothing worth the name.

    Examples
    --------
    >>> at_chance(0.0974, 10), at_chance(0.5, 10)
    (True, False)
    """
    n = positive_int(n_classes, "n_classes")
    return bool(accuracy < CHANCE_FACTOR / n)
