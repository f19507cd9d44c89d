"""``Convolution`` (§7.2, §7.4.3): matrix products over unfolded windows, a tile at a time.

As the book's ``im2col``, with the channels last, ``(fy, fx, c)``: windows are contiguous runs,
and ``col · W`` of shape ``(N, OH, OW, FN)`` is returned as the ``(N, FN, OH, OW)`` output by a
transposed view (no copy), which the next convolution, pooling or ReLU reads without a copy.

* **Tiles.** The windows are unfolded and multiplied a few samples at a time (about
  ``_CHUNK_BYTES`` of them), so the product reads them from the cache they were just written
  to. Training keeps the padded input (``FH·FW`` times smaller than its windows) and unfolds
  it again, tile by tile, for the weight gradient; evaluation keeps one tile. Layers not
  unfolded by rows (stride > 1, or fewer than ``_FEW_CHANNELS`` channels as in a first layer)
  keep their windows instead, as the book's does.
* **Rows of windows (stride 1).** The ``FW`` columns of a window are one contiguous run of
  ``FW·C`` values of the padded input, and the window ``FY`` rows down is the same run
  ``FY·OW`` rows further. So only the ``FW`` positions along a row are copied, and
  ``out = Σ_fy rows[fy·OW:] · W[fy]`` is ``FH`` products on shifted row ranges (views);
  ``dx`` is the same correlation of the padded ``dout`` with the rotated filters. The weight
  gradient is one product per tile of whole windows.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import numpy as np

from ..util import check_images, row_windows, scatter_windows, window_count, windows
from .base import Layer, buffer, filled_buffer, grad_property, param_property

__all__ = ["Convolution"]

# Windows unfolded per matrix product (a tile); a sample whose windows are larger is a tile
# of its own. In evaluation, and for the weight gradient of stride-1 layers, the tile is all
# the memory an unfolding takes. Measured on DeepConvNet's step (1 MB L2, 32 MB L3): 512 KB
# 79 ms, 1 MB 77 ms, 2 MB 76 ms, 4 MB 77 ms, 8 MB 84 ms.
_CHUNK_BYTES = 1 << 21
# Below this many channels the windows are copied filter position by filter position, as
# columns (runs of OW·C values instead of C).
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

    Attributes
    ----------
    max_elements : int
        Class attribute, 10**9: the most elements ``forward`` allocates for the padded input
        or the output; more raises ``ValueError`` before any allocation (raise the limit to
        run them: ``Convolution.max_elements = 10**10``).
    """

    max_elements: ClassVar[int] = 10**9

    decay_keys = ("W",)
    output_reusable = True  # backward needs the input, not the output
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
        # What backward reads: the padded input (N, H + 2·pad, W + 2·pad, C), and the windows
        # when forward did not unfold by rows (see _unfold for their layout), else None.
        self.xp: np.ndarray | None = None
        self.col: np.ndarray | None = None

    def _sizes(self, x: np.ndarray) -> tuple[int, int]:
        fn, c, fh, fw = self.params["W"].shape
        check_images(x, "Convolution ", c)
        where = f"Convolution ({fh}×{fw} filters, stride {self.stride}, pad {self.pad}): "
        return (window_count(x.shape[2], fh, self.stride, self.pad, "height", where),
                window_count(x.shape[3], fw, self.stride, self.pad, "width", where))

    def _check_size(self, what: str, shape: tuple[int, ...], x_shape: tuple[int, ...]) -> None:
        """Refuse to allocate an array of ``shape`` over ``max_elements`` elements."""
        size = math.prod(shape)
        if size > self.max_elements:
            fn, c, fh, fw = self.params["W"].shape
            raise ValueError(f"Convolution ({fn} filters {c}×{fh}×{fw}, stride {self.stride}, "
                             f"pad {self.pad}) on input of shape {x_shape}: its {what} would "
                             f"have {size:,} elements (shape {shape}), more than "
                             f"Convolution.max_elements = {self.max_elements:,}; check the "
                             "sizes, or raise max_elements to run it anyway")

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        W, b = self.params["W"], self.params["b"]
        fn, c, fh, fw = W.shape
        oh, ow = self._sizes(x)
        (n, _, h, w), p = x.shape, self.pad
        hp, wp = h + 2 * p, w + 2 * p
        dt = np.result_type(x.dtype, W.dtype)
        by_rows = self.stride == 1 and c >= _FEW_CHANNELS
        step = _tile(n, (hp * ow * fw if by_rows else oh * ow * fh * fw) * c * dt.itemsize)
        self._check_size("padded input", (n if train else step, c, hp, wp), x.shape)
        self._check_size("output", (n, fn, oh, ow), x.shape)
        ws = self._workspace((x.shape, dt)) if train else None
        # Training pads the whole input and keeps it for backward; evaluation pads one tile
        # at a time. Only the interior is ever written: the border stays 0.
        xh = x.transpose(0, 2, 3, 1)
        xp = filled_buffer(ws, "xp", (n if train else step, hp, wp, c), dt)
        if train:
            xp[:, p:p + h, p:p + w] = xh
        Wq = W.transpose(2, 3, 1, 0).reshape(fh, fw * c, fn).astype(dt, copy=False)
        bias = np.tile(b.astype(dt, copy=False), oh * ow)  # one sample's (OH, OW, FN) biases
        out = buffer(ws, "out", (n, oh, ow, fn), dt)
        if by_rows:
            view = row_windows(xp, fw)  # (·, Hp, OW, FW, C)
            col = buffer(ws, "rows", (step, hp, ow, fw, c), dt)
            tmp = buffer(ws, "tmp", (step, oh * ow, fn), dt)
        else:  # training keeps these windows for the weight gradient
            view = windows(xp, fh, fw, self.stride, oh, ow)  # (·, OH, OW, FH, FW, C)
            col = _col_buffer(ws, "col", view.shape[1:], n if train else step, dt)
        for i in range(0, n, step):
            j = min(n, i + step)
            at = slice(i, j) if train else slice(0, j - i)
            if not train:
                xp[at, p:p + h, p:p + w] = xh[i:j]
            part = out[i:j].reshape(j - i, oh * ow, fn)
            if by_rows:
                _correlate_rows(view[at], col, Wq, part, tmp)
            else:
                np.matmul(_unfold(view[at], col, at), Wq.reshape(-1, fn),
                          out=part.reshape(-1, fn))
            # the bias along whole samples: a broadcast over rows of FN values is 4× slower
            part.reshape(j - i, -1)[...] += bias
        if train:
            self.x_shape, self.xp, self.col = x.shape, xp, None if by_rows else col
        else:  # nothing kept: a backward now would use an earlier training input
            self.x_shape = self.xp = self.col = None
        return out.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        xp, x_shape = self.xp, self.x_shape
        if xp is None or x_shape is None:
            raise self._before_forward(hint=" (forward(x, train=False), evaluation, keeps "
                                            "nothing for a backward)")
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        n, _, h, w = x_shape
        oh, ow = dout.shape[2:]
        dt = np.result_type(dout.dtype, xp.dtype)
        # the forward's buffers, unless dout brings a wider dtype
        ws = self._workspace((x_shape, dt)) if dt == xp.dtype else None
        dout_h = dout.transpose(0, 2, 3, 1)  # (N, OH, OW, FN), contiguous for our own output
        if not dout_h.flags.c_contiguous or dout_h.dtype != dt:
            dout_h = _copy(ws, "dout", dout_h, dt)
        d2 = dout_h.reshape(-1, fn)
        self.grads["W"] = self._dW(d2, ws, (oh, ow))
        # Σ over rows as a product with ones: ten times faster than sum(axis=0) on (N·OH·OW, FN)
        ones = filled_buffer(ws, "ones", (d2.shape[0],), dt, 1.0)
        self.grads["b"] = np.matmul(ones, d2, out=buffer(ws, "db", (fn,), dt))
        if not self.compute_dx:
            return None
        if self.stride == 1 and self.pad <= min(fh, fw) - 1:
            dx_h = self._dx_by_correlation(dout_h, ws, (n, h, w, c))
        else:
            dx_h = self._dx_by_scatter(d2, ws, (n, h, w, c), (oh, ow))
        return dx_h.transpose(0, 3, 1, 2)

    def _dW(self, d2: np.ndarray, ws: dict[str, np.ndarray] | None,
            out_hw: tuple[int, int]) -> np.ndarray:
        """``dW`` from ``dWt = colᵀ · dout``: from the windows forward kept, or from the kept
        input unfolded again tile by tile, adding up the tiles' products."""
        xp = self.xp
        assert xp is not None
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        (oh, ow), n, dt, k = out_hw, xp.shape[0], d2.dtype, fh * fw * c
        few = c < _FEW_CHANNELS
        # (FH·FW·C, FN) from column-major windows, else (FN, FH·FW·C): 10% faster for a
        # narrow dout than colᵀ·dout

        def product(mat: np.ndarray, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
            return np.matmul(mat.T, rows, out=out) if few else np.matmul(rows.T, mat, out=out)

        acc = buffer(ws, "dWt", (k, fn) if few else (fn, k), dt)
        if self.col is not None:
            product(_matrix(self.col, few), d2, acc)
        else:
            step = _tile(n, oh * ow * k * dt.itemsize)
            view = windows(xp, fh, fw, self.stride, oh, ow)
            col = _col_buffer(ws, "col", view.shape[1:], step, xp.dtype)
            tmp = buffer(ws, "dWtile", acc.shape, dt)
            for i in range(0, n, step):
                j = min(n, i + step)
                mat = _unfold(view[i:j], col, slice(0, j - i))
                prod = product(mat, d2[i * oh * ow:j * oh * ow], tmp)
                if i:
                    acc += prod
                else:
                    acc[...] = prod
        dW = buffer(ws, "dW", W.shape, dt)
        dW[...] = (acc.reshape(fh, fw, c, fn).transpose(3, 2, 0, 1) if few
                   else acc.reshape(fn, fh, fw, c).transpose(0, 3, 1, 2))
        return dW

    def _dx_by_correlation(self, dout_h: np.ndarray, ws: dict[str, np.ndarray] | None,
                           x_shape_h: tuple[int, int, int, int]) -> np.ndarray:
        """Stride 1: ``dx`` is the "full" correlation of ``dout`` with the filters rotated by
        180° and their channel axes swapped, by rows of windows as in forward, instead of a
        product into every window followed by an add per filter position."""
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        n, h, w, _ = x_shape_h
        dt = dout_h.dtype
        ph, pw = fh - 1 - self.pad, fw - 1 - self.pad
        oh, ow = dout_h.shape[1:3]
        hd = h + fh - 1  # = oh + 2·ph
        step = _tile(n, hd * w * fw * fn * dt.itemsize)
        dp = filled_buffer(ws, "dpad", (step, hd, ow + 2 * pw, fn), dt)  # the border stays 0
        view = row_windows(dp, fw)  # (step, hd, W, FW, FN)
        col = buffer(ws, "drows", (step, hd, w, fw, fn), dt)
        tmp = buffer(ws, "dtmp", (step, h * w, c), dt)
        # Wr[p, q, f, c] = W[f, c, FH-1-p, FW-1-q]
        Wr = W[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(fh, fw * fn, c).astype(dt)
        dx = buffer(ws, "dx", (n, h, w, c), dt)
        for i in range(0, n, step):
            j = min(n, i + step)
            dp[:j - i, ph:ph + oh, pw:pw + ow] = dout_h[i:j]
            _correlate_rows(view[:j - i], col, Wr, dx[i:j].reshape(j - i, h * w, c), tmp)
        return dx

    def _dx_by_scatter(self, d2: np.ndarray, ws: dict[str, np.ndarray] | None,
                       x_shape_h: tuple[int, int, int, int], out_hw: tuple[int, int]
                       ) -> np.ndarray:
        """Any stride and pad: the gradient of every window, ``dcol = dout · Wtᵀ``, added back
        into the (padded) input tile by tile (``col2im``)."""
        W = self.params["W"]
        fn, c, fh, fw = W.shape
        (n, h, w, _), (oh, ow), p, dt = x_shape_h, out_hw, self.pad, d2.dtype
        step = _tile(n, oh * ow * fh * fw * c * dt.itemsize)
        dcol = buffer(ws, "dcol", (step * oh * ow, fh * fw * c), dt)
        WtT = W.transpose(0, 2, 3, 1).reshape(fn, -1).astype(dt)  # (FN, FH·FW·C)
        dx = buffer(ws, "dx", (n, h, w, c), dt)
        dxp = buffer(ws, "dxp", (step, h + 2 * p, w + 2 * p, c), dt) if p else None
        for i in range(0, n, step):
            j = min(n, i + step)
            part = np.matmul(d2[i * oh * ow:j * oh * ow], WtT, out=dcol[:(j - i) * oh * ow])
            part6 = part.reshape(j - i, oh, ow, fh, fw, c)
            if dxp is None:
                scatter_windows(part6, dx[i:j], self.stride)
            else:
                scatter_windows(part6, dxp[:j - i], self.stride)
                dx[i:j] = dxp[:j - i, p:p + h, p:p + w]
        return dx

    def get_config(self) -> dict[str, Any]:
        return {"stride": self.stride, "pad": self.pad}

    def __repr__(self) -> str:
        fn, c, fh, fw = self.params["W"].shape
        return (f"Convolution({fn} filters {c}×{fh}×{fw}, stride {self.stride}, "
                f"pad {self.pad})")


def _tile(n: int, sample_bytes: int) -> int:
    """Samples per tile: as many as fit in ``_CHUNK_BYTES``, at least one."""
    return max(1, min(n, _CHUNK_BYTES // max(sample_bytes, 1)))


def _correlate_rows(view: np.ndarray, col: np.ndarray, Wq: np.ndarray, out: np.ndarray,
                    tmp: np.ndarray) -> np.ndarray:
    """``out`` (m, OH·OW, FN) ``= Σ_p rows[:, p·OW:(p + OH)·OW] · Wq[p]``: the stride-1
    correlation of a tile from :func:`~kobai.util.row_windows` (m, Hp, OW, FW, C), copied
    into ``col``, with filters ``Wq`` (FH, FW·C, FN); ``tmp`` holds one term."""
    m, hp, ow = view.shape[:3]
    oh = hp - Wq.shape[0] + 1
    rows = col[:m]
    rows[...] = view
    r = rows.reshape(m, hp * ow, -1)
    np.matmul(r[:, :oh * ow], Wq[0], out=out)
    for p in range(1, Wq.shape[0]):
        out += np.matmul(r[:, p * ow:(p + oh) * ow], Wq[p], out=tmp[:m])
    return out


def _col_buffer(ws: dict[str, np.ndarray] | None, name: str, window_shape: tuple[int, ...],
                samples: int, dtype: np.dtype) -> np.ndarray:
    """Room for the windows (OH, OW, FH, FW, C) of ``samples`` samples: rows
    ``(samples, OH, OW, FH, FW, C)``, or for fewer than ``_FEW_CHANNELS`` channels columns
    ``(FH, FW, C, samples, OH, OW)``."""
    oh, ow, fh, fw, c = window_shape
    shape = (fh, fw, c, samples, oh, ow) if c < _FEW_CHANNELS else (samples, oh, ow, fh, fw, c)
    return buffer(ws, name, shape, dtype)


def _unfold(view: np.ndarray, col: np.ndarray, at: slice) -> np.ndarray:
    """Copy the windows ``view`` (m, OH, OW, FH, FW, C) into samples ``at`` of ``col`` (from
    :func:`_col_buffer`) and return them as the matrix (m·OH·OW, FH·FW·C).

    Rows of windows copy runs of ``FW·C`` values; with fewer channels, the windows are copied
    as columns, one filter position at a time (runs of ``OW·C`` values), and the matrix is a
    column-major view.
    """
    if view.shape[5] >= _FEW_CHANNELS:
        col[at] = view
        return _matrix(col[at], False)
    cols = col[:, :, :, at]
    for p in range(view.shape[3]):
        for q in range(view.shape[4]):
            cols[p, q] = view[:, :, :, p, q].transpose(3, 0, 1, 2)
    return _matrix(cols, True)


def _matrix(col: np.ndarray, few: bool) -> np.ndarray:
    """Windows in a layout of :func:`_col_buffer` as the matrix (samples·OH·OW, FH·FW·C), a
    view: of the rows (samples, OH, OW, FH, FW, C), or column-major of the columns
    (FH, FW, C, samples, OH, OW) when ``few``."""
    if few:
        return col.reshape(col.shape[0] * col.shape[1] * col.shape[2], -1).T
    return col.reshape(-1, col.shape[3] * col.shape[4] * col.shape[5])


def _copy(ws: dict[str, np.ndarray] | None, name: str, x: np.ndarray,
          dtype: np.dtype) -> np.ndarray:
    """A C-contiguous copy of ``x`` in the buffer ``name``, of ``dtype``."""
    out = buffer(ws, name, x.shape, dtype)
    out[...] = x
    return out
