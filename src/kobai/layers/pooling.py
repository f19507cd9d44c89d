"""``Pooling`` (§7.3, §7.4.4): max pooling over windows, as elementwise maxima of strided views.

The book unfolds every window with ``im2col`` and takes ``argmax`` per row. kobai compares
the ``pool_h · pool_w`` strided views of the input one after another (each the size of the
output), keeping the first maximum as the book's ``argmax`` does; backward sends each
gradient to the position that won. Both work on the channels-last memory the convolution
produces, without a copy of the input.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..util import check_images, pad_hw, window_count
from .base import Layer, buffer, filled_buffer

__all__ = ["Pooling"]


class Pooling(Layer):
    """Max pooling (§7.3): ``out[n, c, i, j] = max_{p,q} xpad[n, c, i·stride + p, j·stride + q]``.

    Parameters
    ----------
    pool_h, pool_w : int
        Window height and width.
    stride : int
        Default 2 (the book's).
    pad : int
        Padding on each side; padded positions count as -inf, so they are never the maximum
        (PyTorch's rule; the book's ``Pooling`` pads with zeros and does not support ``pad``
        in its output size).

    ``forward`` takes ``(N, C, H, W)`` and returns ``(N, C, OH, OW)`` with
    ``OH = (H + 2·pad - pool_h) // stride + 1``. Where a window holds its maximum twice, the
    gradient goes to the first in row-major order (the book's ``argmax``); overlapping windows
    (``stride < pool``) add up.
    """

    def __init__(self, pool_h: int, pool_w: int, stride: int = 2, pad: int = 0):
        super().__init__()
        for name, value in (("pool_h", pool_h), ("pool_w", pool_w)):
            window_count(value, value, stride, pad, name, "Pooling: ")  # checks the integers
        if pad >= min(pool_h, pool_w):  # a window of padding only would give -inf
            raise ValueError(f"Pooling: pad {pad} is as wide as the {pool_h}×{pool_w} window, "
                             f"so some windows would hold nothing but padding; use pad <= "
                             f"{min(pool_h, pool_w) - 1}")
        self.pool_h, self.pool_w, self.stride, self.pad = (int(pool_h), int(pool_w),
                                                           int(stride), int(pad))
        self.x_shape: tuple[int, ...] | None = None
        self.arg_max: np.ndarray | None = None  # (N, OH, OW, C): index p·pool_w + q of the max

    def _views(self, xp: np.ndarray, oh: int, ow: int) -> list[np.ndarray]:
        """The strided view of window position (p, q) for every output pixel, row-major."""
        s = self.stride
        return [xp[:, p:p + s * (oh - 1) + 1:s, q:q + s * (ow - 1) + 1:s]
                for p in range(self.pool_h) for q in range(self.pool_w)]

    def forward(self, x: np.ndarray, *, train: bool = True) -> np.ndarray:
        check_images(x, "Pooling ")
        where = f"Pooling ({self.pool_h}×{self.pool_w}, stride {self.stride}, pad {self.pad}): "
        n, c, h, w = x.shape
        oh = window_count(h, self.pool_h, self.stride, self.pad, "height", where)
        ow = window_count(w, self.pool_w, self.stride, self.pad, "width", where)
        ws = self._workspace((x.shape, x.dtype))
        p = self.pad
        xp = pad_hw(x.transpose(0, 2, 3, 1), p, fill=-np.inf, out=filled_buffer(
            ws, "xp", (n, h + 2 * p, w + 2 * p, c), x.dtype, -np.inf) if p else None)
        views = self._views(xp, oh, ow)
        out = buffer(ws, "out", (n, oh, ow, c), x.dtype)
        # Branch-free updates: a masked copy (np.copyto(where=)) mispredicts on random data.
        arg = buffer(ws, "arg", out.shape, _index_dtype(len(views)))
        better = buffer(ws, "better", out.shape, np.dtype(bool))
        worse = buffer(ws, "worse", out.shape, np.dtype(bool))
        step = buffer(ws, "step", out.shape, arg.dtype)
        out[...] = views[0]
        arg[...] = 0
        for k, v in enumerate(views[1:], start=1):
            np.greater(v, out, out=better)  # strictly greater: the first maximum stays
            np.maximum(out, v, out=out)
            np.logical_not(better, out=worse)
            np.multiply(arg, worse, out=arg)  # arg = k where better, else unchanged
            np.multiply(better, arg.dtype.type(k), out=step)
            np.add(arg, step, out=arg)
        self.arg_max, self.x_shape = arg, x.shape
        return out.transpose(0, 3, 1, 2)

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        arg, x_shape = self.arg_max, self.x_shape
        if arg is None or x_shape is None:
            raise self._before_forward()
        if not self.compute_dx:
            return None
        n, c, h, w = x_shape
        oh, ow = arg.shape[1:3]
        p = self.pad
        ws = self._workspace((x_shape, dout.dtype))
        dout_h = dout.transpose(0, 2, 3, 1)
        if not dout_h.flags.c_contiguous:  # one copy: the strided passes below then run along C
            copy = buffer(ws, "dout", dout_h.shape, dout.dtype)
            copy[...] = dout_h
            dout_h = copy
        dxp = buffer(ws, "dxp", (n, h + 2 * p, w + 2 * p, c), dout.dtype)
        dxp[...] = 0
        hit = buffer(ws, "hit", arg.shape, np.dtype(bool))
        if self.stride < max(self.pool_h, self.pool_w):  # overlapping windows add up
            part = buffer(ws, "part", dout_h.shape, dout.dtype)
            for k, v in enumerate(self._views(dxp, oh, ow)):
                np.equal(arg, k, out=hit)
                v += np.multiply(dout_h, hit, out=part)
        else:  # each input position is in one window at most
            for k, v in enumerate(self._views(dxp, oh, ow)):
                np.equal(arg, k, out=hit)
                np.multiply(dout_h, hit, out=v)
        return dxp[:, p:p + h, p:p + w].transpose(0, 3, 1, 2)

    def kink_state(self) -> np.ndarray:
        """Which position of each window was the maximum in the last forward: a gradient
        check flags an element whose ±eps changed it as a kink, not a failure."""
        if self.arg_max is None:
            raise self._before_forward("kink_state")
        return self.arg_max.copy()

    def get_config(self) -> dict[str, Any]:
        return {"pool_h": self.pool_h, "pool_w": self.pool_w, "stride": self.stride,
                "pad": self.pad}

    @classmethod
    def from_config(cls, config: dict[str, Any], params: dict[str, np.ndarray]) -> Pooling:
        return cls(**config)

    def __repr__(self) -> str:
        return f"Pooling({self.pool_h}×{self.pool_w}, stride {self.stride}, pad {self.pad})"



def _index_dtype(size: int) -> np.dtype:
    """The smallest unsigned integer type for window positions 0 … size - 1."""
    return np.dtype(np.uint8 if size <= 256 else np.uint16 if size <= 65536 else np.uint32)
