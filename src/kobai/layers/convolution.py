"""``Convolution`` (§7.2, §7.4.3): one matrix product per pass over the unfolded windows.

The book unfolds the windows with ``im2col`` into rows ``(c, fy, fx)`` and multiplies them by
the reshaped filters; kobai does the same with the channels last, ``(fy, fx, c)``: copying the
windows is then a copy of contiguous runs of ``C`` values, and the product ``col · W`` comes
out as ``(N, OH, OW, FN)``, which *is* the ``(N, FN, OH, OW)`` output in channels-last memory
(returned as a transposed view, no copy). A layer that receives such a view (the next
convolution, a pooling layer, ReLU) reads it without a copy too; any other array works the
same, with one copy more.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..util import check_images, pad_hw, scatter_windows, window_count, windows
from .base import Layer, buffer, filled_buffer, grad_property, param_property

__all__ = ["Convolution"]

# Evaluation unfolds at most this many bytes of windows at a time (training keeps them all
# for backward: a batch of 100 MNIST images through DeepConvNet keeps about 110 MB).
_CHUNK_BYTES = 32 << 20
# Below this many input channels the windows are copied filter position by filter position.
_FEW_CHANNELS = 8


class Convolution(Layer):
    """2-D convolution (cross-correlation, as in the book and every framework), §7.2.

    ``out[n, f, i, j] = b[f] + Σ_{c,p,q} W[f, c, p, q] · xpad[n, c, i·stride + p, j·stride + q]``
    with ``xpad`` the input padded with ``pad`` zeros on each side.

    Parameters
    ----------
    W : ndarray of shape (FN, C, FH, FW)
        ``FN`` filters of ``C`` channels, ``FH × FW`` (the book's layout).
    b : ndarray of shape (FN,)
    stride, pad : int

    ``forward`` takes ``(N, C, H, W)`` and returns ``(N, FN, OH, OW)`` with
    ``OH = (H + 2·pad - FH) // stride + 1`` (likewise ``OW``).
    """

    decay_keys = ("W",)
    output_reusable = True  # backward needs the windows of x, not the output
    W = param_property("W")
    b = param_property("b")
    dW = grad_property("W")
    db = grad_property("b")

    def __init__(self, W: np.ndarray, b: np.ndarray, stride: int = 1, pad: int = 0):
        super().__init__()
        if not isinstance(W, np.ndarray) or W.ndim != 4:
            raise ValueError(f"Convolution: W must be an array of shape (FN, C, FH, FW) "
                             f"(filters, channels, height, width), got shape {np.shape(W)}")
        if not isinstance(b, np.ndarray) or b.shape != W.shape[:1]:
            raise ValueError(f"Convolution: b must have shape ({W.shape[0]},), one bias per "
                             f"filter, got shape {np.shape(b)}")
        window_count(W.shape[2], 1, stride, pad, "height", "Convolution: ")  # checks the ints
        self.params["W"], self.params["b"] = W, b
        self.stride, self.pad = int(stride), int(pad)
        self.x_shape: tuple[int, ...] | None = None
        self.col: np.ndarray | None = None  # (N·OH·OW, FH·FW·C), the windows of the input

    def _sizes(self, x: np.ndarray) -> tuple[int, int]:
        fn, c, fh, fw = self.params["W"].shape
        check_images(x, "Convolution ", c)
        where = f"Convolution ({fh}×{fw} filters, stride {self.stride}, pad {self.pad}): "
        return (window_count(x.shape[2], fh, self.stride, self.pad, "height", where),
                window_count(x.shape[3], fw, self.stride, self.pad, "width", where))

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        oh, ow = self._sizes(x)
        n = x.shape[0]
        dt = np.result_type(x.dtype, W.dtype)
        if train:  # keep the windows for backward
            ws = self._workspace((x.shape, dt))
            self.col, out = self._product(x, (oh, ow), dt, ws)
            self.x_shape = x.shape
        else:  # nothing to keep: unfold a bounded number of samples at a time
            rows = max(1, _CHUNK_BYTES // (oh * ow * fh * fw * c * dt.itemsize))
            if n <= rows:
                out = self._product(x, (oh, ow), dt, None)[1]
            else:
                out = np.empty((n, oh, ow, fn), dt)
                for i in range(0, n, rows):
                    part = self._product(x[i:i + rows], (oh, ow), dt, None)[1]
                    out[i:i + rows] = part.reshape(-1, oh, ow, fn)
        return out.reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)

    def _product(self, x: np.ndarray, out_hw: tuple[int, int], dt: np.dtype,
                 ws: dict[str, np.ndarray] | None) -> tuple[np.ndarray, np.ndarray]:
        """``(col, col·Wt + b)``: the windows (N·OH·OW, FH·FW·C) and the output as
        (N·OH·OW, FN)."""
        W, b = self.params["W"], self.params["b"]
        fn, c, fh, fw = W.shape
        (oh, ow), (n, _, h, w), p = out_hw, x.shape, self.pad
        xp = pad_hw(x.transpose(0, 2, 3, 1), p,
                    out=filled_buffer(ws, "xp", (n, h + 2 * p, w + 2 * p, c), dt) if p else None)
        view = windows(xp, fh, fw, self.stride, oh, ow)  # (N, OH, OW, FH, FW, C)
        if c >= _FEW_CHANNELS:  # rows of windows: a copy of runs of C values
            col6 = buffer(ws, "col", (n, oh, ow, fh, fw, c), dt)
            col6[...] = view
            col = col6.reshape(n * oh * ow, -1)
        else:  # columns of windows, one filter position at a time: runs of OW·C values
            colT = buffer(ws, "colT", (fh, fw, c, n, oh, ow), dt)
            for p_ in range(fh):
                for q in range(fw):
                    colT[p_, q] = view[:, :, :, p_, q].transpose(3, 0, 1, 2)
            col = colT.reshape(-1, n * oh * ow).T  # the same matrix, column-major
        Wt = W.transpose(2, 3, 1, 0).reshape(-1, fn)  # the filters ordered like the windows
        out = np.matmul(col, Wt, out=buffer(ws, "out", (n * oh * ow, fn), dt))
        out += b
        return col, out

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        col, x_shape = self.col, self.x_shape
        assert col is not None and x_shape is not None, "backward before forward"
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        n, _, h, w = x_shape
        oh, ow = dout.shape[2:]
        dt = np.result_type(dout.dtype, col.dtype)
        # the forward's buffers, unless dout brings a wider dtype
        ws = self._workspace((x_shape, dt)) if dt == col.dtype else None
        dout_h = dout.transpose(0, 2, 3, 1)  # (N, OH, OW, FN), contiguous for our own output
        if not dout_h.flags.c_contiguous:
            dout_h = _copy(ws, "dout", dout_h)
        d2 = dout_h.reshape(-1, fn)
        # out = col·Wt + b  =>  dWt = colᵀ·dout,  db = Σ_rows dout,  dcol = dout·Wtᵀ
        dWt = col.T @ d2  # (FH·FW·C, FN)
        dW = buffer(ws, "dW", W.shape, dt)
        dW[...] = dWt.reshape(fh, fw, c, fn).transpose(3, 2, 0, 1)
        self.grads["W"] = dW
        # Σ over rows as a product with ones: ten times faster than sum(axis=0) on (N·OH·OW, FN)
        ones = filled_buffer(ws, "ones", (d2.shape[0],), dt, 1.0)
        self.grads["b"] = np.matmul(ones, d2, out=buffer(ws, "db", (fn,), dt))
        if not self.compute_dx:
            return None
        if self.stride == 1 and self.pad <= min(fh, fw) - 1:
            dx_h = self._dx_by_convolution(dout_h, ws, (n, h, w, c))
        else:
            dcol = (d2 @ W.transpose(2, 3, 1, 0).reshape(-1, fn).T).reshape(
                n, oh, ow, fh, fw, c)
            dxp = buffer(ws, "dxp", (n, h + 2 * self.pad, w + 2 * self.pad, c), dt)
            scatter_windows(dcol, dxp, self.stride)
            dx_h = dxp[:, self.pad:self.pad + h, self.pad:self.pad + w]
        return dx_h.transpose(0, 3, 1, 2)

    def _dx_by_convolution(self, dout_h: np.ndarray, ws: dict[str, np.ndarray] | None,
                           x_shape_h: tuple[int, int, int, int]) -> np.ndarray:
        """Stride 1: ``dx`` is the "full" correlation of ``dout`` with the filters rotated by
        180° and their channel axes swapped, i.e. one more unfolding and one product, instead
        of a product into every window followed by an add per filter position."""
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        n, h, w, _ = x_shape_h
        ph, pw = fh - 1 - self.pad, fw - 1 - self.pad
        oh, ow = dout_h.shape[1:3]
        dp = filled_buffer(ws, "dpad", (n, oh + 2 * ph, ow + 2 * pw, fn), dout_h.dtype)
        dp[:, ph:ph + oh, pw:pw + ow] = dout_h
        dcol = buffer(ws, "dcol", (n, h, w, fh, fw, fn), dout_h.dtype)
        dcol[...] = windows(dp, fh, fw, 1, h, w)
        Wr = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, c)  # (FH·FW·FN, C)
        dx = np.matmul(dcol.reshape(n * h * w, -1), Wr,
                       out=buffer(ws, "dx", (n * h * w, c), dout_h.dtype))
        return dx.reshape(n, h, w, c)

    def get_config(self) -> dict[str, Any]:
        return {"stride": self.stride, "pad": self.pad}

    def __repr__(self) -> str:
        fn, c, fh, fw = self.params["W"].shape
        return (f"Convolution({fn} filters {c}×{fh}×{fw}, stride {self.stride}, "
                f"pad {self.pad})")


def _copy(ws: dict[str, np.ndarray] | None, name: str, x: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``x`` in the buffer ``name``."""
    out = buffer(ws, name, x.shape, x.dtype)
    out[...] = x
    return out

