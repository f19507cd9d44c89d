"""The book's ``common/util.py``: ``smooth_curve``, ``shuffle_dataset`` and the convolution
helpers ``im2col``, ``col2im`` (kobai's: the book's layouts, the input's dtype kept) and
``conv_output_size`` (the book's float, where kobai's :func:`kobai.util.conv_output_size` counts
whole windows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...util import col2im, im2col

__all__ = ["np", "smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]


def smooth_curve(x: Any) -> np.ndarray:
    """A loss curve smoothed for plotting (ch06's comparisons): a normalized Kaiser window of 11
    points (beta 2), with the ends reflected; the same length as ``x``, which needs 10 or more
    points.

    Reference: http://glowingpython.blogspot.jp/2012/02/convolution-with-numpy.html
    """
    window_len = 11
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` and ``t`` in one random order, from NumPy's global stream
    (``np.random.permutation``, as the book: ``np.random.seed`` makes it repeatable).

    Parameters
    ----------
    x : ndarray of shape (N, ...)
    t : ndarray of shape (N,) or (N, n_classes)
    """
    permutation = np.random.permutation(x.shape[0])
    return x[permutation], t[permutation]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> float:
    """``(input_size + 2·pad - filter_size) / stride + 1``, a float as in the book (a fraction
    when the windows do not tile the input; :func:`kobai.util.conv_output_size` gives the
    number of whole windows)."""
    return (input_size + 2 * pad - filter_size) / stride + 1
