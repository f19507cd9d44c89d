"""The book's convolution helpers (``common/util.py``, §7.4): ``conv_output_size``, ``im2col``
and ``col2im``, plus the window arithmetic :class:`~kobai.layers.Convolution` and
:class:`~kobai.layers.Pooling` share.

``im2col`` and ``col2im`` have the book's signatures and layouts (rows ``(n, y, x)``, columns
``(c, fy, fx)``); unlike the book's they keep the input's dtype (float32 stays float32) and
copy the windows with one strided copy, not a loop over filter positions. The layers use the
same windows in a channels-last layout, which makes every copy and product contiguous.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["conv_output_size", "im2col", "col2im"]


def conv_output_size(input_size: int, filter_size: int, stride: int = 1, pad: int = 0) -> int:
    """Output length of a window of ``filter_size`` sliding by ``stride`` over ``input_size``
    plus ``pad`` on both sides: ``(input_size + 2·pad - filter_size) // stride + 1``.

    The book returns the float ``(input_size + 2·pad - filter_size) / stride + 1``; kobai
    returns the number of whole windows (what ``im2col`` produces) and raises ValueError when
    not even one fits.
    """
    return window_count(input_size, filter_size, stride, pad, "input size")


def window_count(size: int, window: int, stride: int, pad: int, dim: str,
                 where: str = "") -> int:
    """Whole windows along one dimension; a ValueError naming ``dim`` when none fits."""
    for name, value, low in (("window", window, 1), ("stride", stride, 1), ("pad", pad, 0)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
            raise ValueError(f"{where}{name} must be an integer >= {low}, got {value!r}")
    if size + 2 * pad < window:
        raise ValueError(f"{where}the input's {dim} is {size}, so with pad {pad} the window of "
                         f"{window} does not fit ({size + 2 * pad} < {window}); an input "
                         f"{dim} of at least {window - 2 * pad} would")
    return (size + 2 * pad - window) // stride + 1


def check_images(x: Any, where: str, channels: int | None = None) -> np.ndarray:
    """``x`` as a float array of shape (N, C, H, W), with ``channels`` channels if given."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.dtype.kind != "f":
        what = (f"an array of dtype {x.dtype} and shape {x.shape}" if isinstance(x, np.ndarray)
                else type(x).__name__)
        raise ValueError(f"{where}expects images as a float array of shape (N, C, H, W) "
                         f"(batch, channels, height, width), got {what}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{where}expects {channels} input channels (the filters' second "
                         f"dimension, W.shape[1]) but x has {x.shape[1]} channels "
                         f"(x.shape[1]); x has shape {x.shape}")
    return x


def windows(xp: np.ndarray, fh: int, fw: int, stride: int, oh: int, ow: int) -> np.ndarray:
    """The ``fh × fw`` windows of a padded channels-last batch ``(N, Hp, Wp, C)`` as a view of
    shape ``(N, oh, ow, fh, fw, C)``."""
    v = sliding_window_view(xp, (fh, fw), axis=(1, 2))  # (N, Hp-fh+1, Wp-fw+1, C, fh, fw)
    v = v[:, : (oh - 1) * stride + 1: stride, : (ow - 1) * stride + 1: stride]
    return v.transpose(0, 1, 2, 4, 5, 3)


def row_windows(xp: np.ndarray, fw: int) -> np.ndarray:
    """The ``fw``-wide windows along the rows of a padded channels-last batch
    ``(N, Hp, Wp, C)``, stride 1, as a view of shape ``(N, Hp, Wp - fw + 1, fw, C)``: window
    ``(y, j)`` is the contiguous run ``xp[n, y, j:j + fw]`` of ``fw·C`` values."""
    return sliding_window_view(xp, fw, axis=2).transpose(0, 1, 2, 4, 3)


def pad_hw(x: np.ndarray, pad: int, fill: float = 0.0,
           out: np.ndarray | None = None) -> np.ndarray:
    """A channels-last batch ``(N, H, W, C)`` with ``pad`` rows and columns of ``fill`` around
    it, written into ``out`` when given (whose border must already hold ``fill``)."""
    if pad == 0:
        return x
    n, h, w, c = x.shape
    if out is None:
        out = np.full((n, h + 2 * pad, w + 2 * pad, c), fill, x.dtype)
    out[:, pad:pad + h, pad:pad + w] = x
    return out


def scatter_windows(dcol: np.ndarray, dxp: np.ndarray, stride: int) -> np.ndarray:
    """Add windows ``(N, oh, ow, fh, fw, C)`` back into a padded batch ``dxp`` (N, Hp, Wp, C),
    summing where they overlap (the adjoint of :func:`windows`); ``dxp`` is zeroed first."""
    _, oh, ow, fh, fw, _ = dcol.shape
    dxp[...] = 0
    for p in range(fh):  # fh·fw strided adds, each over the whole batch
        for q in range(fw):
            dxp[:, p:p + stride * (oh - 1) + 1:stride,
                q:q + stride * (ow - 1) + 1:stride] += dcol[:, :, :, p, q]
    return dxp


def im2col(input_data: np.ndarray, filter_h: int, filter_w: int, stride: int = 1,
           pad: int = 0) -> np.ndarray:
    """Unfold the ``filter_h × filter_w`` windows of a batch of images into rows (§7.4.3).

    Parameters
    ----------
    input_data : ndarray of shape (N, C, H, W)
    filter_h, filter_w, stride, pad : int

    Returns
    -------
    ndarray of shape (N·out_h·out_w, C·filter_h·filter_w)
        Row ``(n, y, x)`` holds the window at output pixel ``(y, x)`` of image ``n``, ordered
        ``(c, fy, fx)``, as the book's; zero padding; the input's dtype.
    """
    x = check_images(np.asarray(input_data), "im2col ")
    n, c, h, w = x.shape
    oh = window_count(h, filter_h, stride, pad, "height", "im2col: ")
    ow = window_count(w, filter_w, stride, pad, "width", "im2col: ")
    xp = pad_hw(x.transpose(0, 2, 3, 1), pad)
    view = windows(xp, filter_h, filter_w, stride, oh, ow)  # (N, oh, ow, fh, fw, C)
    return np.ascontiguousarray(view.transpose(0, 1, 2, 5, 3, 4)).reshape(n * oh * ow, -1)


def col2im(col: np.ndarray, input_shape: tuple[int, int, int, int], filter_h: int,
           filter_w: int, stride: int = 1, pad: int = 0) -> np.ndarray:
    """The adjoint of :func:`im2col`: add each row's window back into its images (§7.4.3).

    Parameters
    ----------
    col : ndarray of shape (N·out_h·out_w, C·filter_h·filter_w)
    input_shape : (N, C, H, W)

    Returns
    -------
    ndarray of shape (N, C, H, W)
        Overlapping windows are summed; the padding is cut off; ``col``'s dtype.
    """
    n, c, h, w = (int(s) for s in input_shape)
    oh = window_count(h, filter_h, stride, pad, "height", "col2im: ")
    ow = window_count(w, filter_w, stride, pad, "width", "col2im: ")
    col = np.asarray(col)
    if col.shape != (n * oh * ow, c * filter_h * filter_w):
        raise ValueError(f"col2im: col has shape {col.shape}; for input_shape {input_shape} "
                         f"and {filter_h}×{filter_w} windows (stride {stride}, pad {pad}) "
                         f"expected {(n * oh * ow, c * filter_h * filter_w)}")
    dcol = col.reshape(n, oh, ow, c, filter_h, filter_w).transpose(0, 1, 2, 4, 5, 3)
    dt = col.dtype if col.dtype.kind == "f" else np.dtype(np.float64)
    dxp = np.empty((n, h + 2 * pad, w + 2 * pad, c), dt)
    scatter_windows(dcol, dxp, stride)
    return np.ascontiguousarray(dxp[:, pad:pad + h, pad:pad + w].transpose(0, 3, 1, 2))
