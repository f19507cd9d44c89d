"""Convolution, max pooling, im2col and col2im (chapter 7, §7.4) against loop oracles.

The oracles below are the definitions written out with one Python loop per index (n, f, i, j,
c, p, q), in float64, sharing no code with kobai:

    out[n, f, i, j] = b[f] + Σ_{c,p,q} W[f, c, p, q] · xpad[n, c, i·s + p, j·s + q]
    dW[f, c, p, q]  = Σ_{n,i,j} dout[n, f, i, j] · xpad[n, c, i·s + p, j·s + q]
    db[f]           = Σ_{n,i,j} dout[n, f, i, j]
    dxpad[n, c, i·s + p, j·s + q] += dout[n, f, i, j] · W[f, c, p, q]

and max pooling: the first maximum of each window in row-major order (padding is -inf, never
chosen) takes the window's whole dout. kobai must equal them to rounding (1e-12), equal the
book's own ``common/layers.py`` when ``../shared/dlfs`` is there, and pass a gradient check.
"""

import sys

import numpy as np
import pytest
from conftest import DLFS, require_shared
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kobai.gradcheck import check_layer
from kobai.layers import Convolution, Pooling
from kobai.util import col2im, conv_output_size, im2col

EXACT = {"rtol": 1e-12, "atol": 1e-12}


# -- loop oracles -------------------------------------------------------------------------------

def out_size(size, window, stride, pad):
    return (size + 2 * pad - window) // stride + 1


def padded(x, pad, fill):
    N, C, H, W = x.shape
    xp = np.full((N, C, H + 2 * pad, W + 2 * pad), fill, dtype=np.float64)
    for n in range(N):
        for c in range(C):
            for y in range(H):
                for z in range(W):
                    xp[n, c, y + pad, z + pad] = x[n, c, y, z]
    return xp


def conv_forward_loops(x, W, b, stride, pad):
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    OH, OW = out_size(H, FH, stride, pad), out_size(Wd, FW, stride, pad)
    xp = padded(x, pad, 0.0)
    out = np.zeros((N, FN, OH, OW))
    for n in range(N):
        for f in range(FN):
            for i in range(OH):
                for j in range(OW):
                    s = float(b[f])
                    for c in range(C):
                        for p in range(FH):
                            for q in range(FW):
                                s += W[f, c, p, q] * xp[n, c, i * stride + p, j * stride + q]
                    out[n, f, i, j] = s
    return out


def conv_backward_loops(x, W, dout, stride, pad):
    """(dx, dW, db) from the definition of the forward pass."""
    N, C, H, Wd = x.shape
    FN, _, FH, FW = W.shape
    xp = padded(x, pad, 0.0)
    dxp, dW, db = np.zeros_like(xp), np.zeros(W.shape), np.zeros(FN)
    for n in range(N):
        for f in range(FN):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    g = dout[n, f, i, j]
                    db[f] += g
                    for c in range(C):
                        for p in range(FH):
                            for q in range(FW):
                                y, z = i * stride + p, j * stride + q
                                dW[f, c, p, q] += g * xp[n, c, y, z]
                                dxp[n, c, y, z] += g * W[f, c, p, q]
    return dxp[:, :, pad:pad + H, pad:pad + Wd], dW, db


def pool_loops(x, ph, pw, stride, pad, dout=None):
    """Max pooling's output, and with ``dout`` also dx (each dout to the window's first max)."""
    N, C, H, W = x.shape
    OH, OW = out_size(H, ph, stride, pad), out_size(W, pw, stride, pad)
    xp = padded(x, pad, -np.inf)
    out, dxp = np.zeros((N, C, OH, OW)), np.zeros_like(xp)
    for n in range(N):
        for c in range(C):
            for i in range(OH):
                for j in range(OW):
                    best, at = -np.inf, None
                    for p in range(ph):
                        for q in range(pw):
                            v = xp[n, c, i * stride + p, j * stride + q]
                            if v > best:  # strict: a later equal value is not taken
                                best, at = v, (i * stride + p, j * stride + q)
                    out[n, c, i, j] = best
                    if dout is not None:
                        dxp[n, c, at[0], at[1]] += dout[n, c, i, j]
    return out, dxp[:, :, pad:pad + H, pad:pad + W]


def im2col_loops(x, fh, fw, stride, pad):
    N, C, H, W = x.shape
    OH, OW = out_size(H, fh, stride, pad), out_size(W, fw, stride, pad)
    xp = padded(x, pad, 0.0)
    col = np.zeros((N * OH * OW, C * fh * fw))
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    for p in range(fh):
                        for q in range(fw):
                            col[(n * OH + i) * OW + j, (c * fh + p) * fw + q] = \
                                xp[n, c, i * stride + p, j * stride + q]
    return col


def col2im_loops(col, shape, fh, fw, stride, pad):
    N, C, H, W = shape
    OH, OW = out_size(H, fh, stride, pad), out_size(W, fw, stride, pad)
    img = np.zeros((N, C, H + 2 * pad, W + 2 * pad))
    for n in range(N):
        for i in range(OH):
            for j in range(OW):
                for c in range(C):
                    for p in range(fh):
                        for q in range(fw):
                            img[n, c, i * stride + p, j * stride + q] += \
                                col[(n * OH + i) * OW + j, (c * fh + p) * fw + q]
    return img[:, :, pad:pad + H, pad:pad + W]


def conv_case(seed, N, C, H, W, FN, FH, FW, dtype=np.float64):
    """x, W, b and a dout-shaped random generator for one convolution case."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    Wt = rng.standard_normal((FN, C, FH, FW)).astype(dtype)
    b = rng.standard_normal(FN).astype(dtype)
    return rng, x, Wt, b


def run_conv(x, W, b, stride, pad, rng):
    """kobai's forward and backward on copies; returns (out, dout, dx, dW, db)."""
    layer = Convolution(W.copy(), b.copy(), stride=stride, pad=pad)
    out = layer.forward(x.copy())
    dout = rng.standard_normal(out.shape).astype(x.dtype)
    dx = layer.backward(dout.copy())
    return out, dout, dx, layer.grads["W"], layer.grads["b"]


def assert_conv_matches_oracle(x, W, b, stride, pad, rng):
    out, dout, dx, dW, db = run_conv(x, W, b, stride, pad, rng)
    np.testing.assert_allclose(out, conv_forward_loops(x, W, b, stride, pad), **EXACT)
    want_dx, want_dW, want_db = conv_backward_loops(x, W, dout, stride, pad)
    np.testing.assert_allclose(dx, want_dx, err_msg="dx", **EXACT)
    np.testing.assert_allclose(dW, want_dW, err_msg="dW", **EXACT)
    np.testing.assert_allclose(db, want_db, err_msg="db", **EXACT)


def assert_pool_matches_oracle(x, ph, pw, stride, pad, rng):
    layer = Pooling(ph, pw, stride=stride, pad=pad)
    out = layer.forward(x.copy())
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout.copy())
    want_out, want_dx = pool_loops(x, ph, pw, stride, pad, dout)
    np.testing.assert_allclose(out, want_out, **EXACT)
    np.testing.assert_allclose(dx, want_dx, err_msg="dx", **EXACT)


# -- the oracles themselves, on hand-worked numbers ---------------------------------------------

HAND_X = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)     # [[1 2 3] [4 5 6] [7 8 9]]
HAND_W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
HAND_B = np.array([0.5])
HAND_OUT = np.array([[[[37.5, 47.5],                     # 1·1 + 2·2 + 3·4 + 4·5 + 0.5, ...
                       [67.5, 77.5]]]])                  # 4·1 + 5·2 + 7·3 + 8·4 + 0.5, ...
# with dout = 1 everywhere: db = 4 windows; dW[p, q] = Σ of x over the 2×2 windows' (p, q)
HAND_DW = np.array([[[[12.0, 16.0], [24.0, 28.0]]]])  # 1+2+4+5, 2+3+5+6, 4+5+7+8, 5+6+8+9
HAND_DB = np.array([4.0])
# dx[y, z] = Σ of W over the windows covering (y, z): the centre is covered by all four
HAND_DX = np.array([[[[1.0, 3.0, 2.0],
                      [4.0, 10.0, 6.0],
                      [3.0, 7.0, 4.0]]]])


def test_oracles_reproduce_hand_worked_convolution():
    np.testing.assert_array_equal(conv_forward_loops(HAND_X, HAND_W, HAND_B, 1, 0), HAND_OUT)
    dx, dW, db = conv_backward_loops(HAND_X, HAND_W, np.ones((1, 1, 2, 2)), 1, 0)
    np.testing.assert_array_equal(dx, HAND_DX)
    np.testing.assert_array_equal(dW, HAND_DW)
    np.testing.assert_array_equal(db, HAND_DB)
    # the same numbers through im2col: out = col · W.ravel() + b
    col = im2col_loops(HAND_X, 2, 2, 1, 0)
    np.testing.assert_array_equal(col, [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]])
    np.testing.assert_array_equal(col @ HAND_W.ravel() + 0.5, HAND_OUT.ravel())
    np.testing.assert_array_equal(col2im_loops(np.ones((4, 4)) * HAND_W.ravel(), (1, 1, 3, 3),
                                               2, 2, 1, 0), HAND_DX)


def test_oracle_pooling_hand_worked_first_maximum_and_padding():
    x = np.array([[[[1.0, 3.0, 0.0],
                    [3.0, 2.0, -1.0],
                    [-5.0, -2.0, -2.0]]]])
    out, dx = pool_loops(x, 2, 2, 2, 1, dout=np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    # padded windows: [-inf -inf; -inf 1], [-inf -inf; 3 0], [-inf 3; -inf -5], [2 -1; -2 -2]
    np.testing.assert_array_equal(out, [[[[1.0, 3.0], [3.0, 2.0]]]])
    np.testing.assert_array_equal(dx, [[[[10.0, 20.0, 0.0],
                                         [30.0, 40.0, 0.0],
                                         [0.0, 0.0, 0.0]]]])
    _, dx_tie = pool_loops(np.zeros((1, 1, 2, 2)), 2, 2, 2, 0, dout=np.full((1, 1, 1, 1), 7.0))
    np.testing.assert_array_equal(dx_tie, [[[[7.0, 0.0], [0.0, 0.0]]]])


def test_oracle_col2im_is_adjoint_of_oracle_im2col():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 2, 5, 4))
    col = rng.standard_normal(im2col_loops(x, 3, 2, 2, 1).shape)
    np.testing.assert_allclose(np.vdot(im2col_loops(x, 3, 2, 2, 1), col),
                               np.vdot(x, col2im_loops(col, x.shape, 3, 2, 2, 1)), rtol=1e-12)


# -- conv_output_size, im2col, col2im ------------------------------------------------------------

@pytest.mark.parametrize(("args", "expected"), [
    ((28, 5), 24), ((7, 3, 2, 1), 4), ((8, 3, 3, 2), 4), ((5, 5), 1), ((1, 3, 1, 1), 1),
    ((6, 2, 2), 3), ((7, 2, 2), 3)])
def test_conv_output_size_is_floor_formula_as_int(args, expected):
    size = conv_output_size(*args)
    assert size == expected
    assert isinstance(size, int)


@pytest.mark.parametrize("args", [(2, 3), (4, 7, 1, 1), (1, 4, 3, 1)])
def test_conv_output_size_rejects_window_larger_than_padded_input(args):
    with pytest.raises(ValueError):
        conv_output_size(*args)


IM2COL_CASES = [  # (N, C, H, W, fh, fw, stride, pad)
    (1, 1, 3, 3, 2, 2, 1, 0), (2, 3, 7, 5, 3, 2, 2, 1), (1, 2, 8, 6, 3, 3, 3, 2),
    (2, 1, 5, 5, 1, 1, 2, 0), (1, 3, 4, 6, 4, 6, 1, 0), (3, 2, 6, 7, 2, 3, 3, 1)]


@pytest.mark.parametrize(("N", "C", "H", "W", "fh", "fw", "stride", "pad"), IM2COL_CASES)
def test_im2col_and_col2im_equal_loop_oracles(N, C, H, W, fh, fw, stride, pad):
    rng = np.random.default_rng(N + 10 * C + 100 * H)
    x = rng.standard_normal((N, C, H, W))
    want = im2col_loops(x, fh, fw, stride, pad)
    np.testing.assert_allclose(im2col(x, fh, fw, stride, pad), want, **EXACT)
    col = rng.standard_normal(want.shape)
    np.testing.assert_allclose(col2im(col, x.shape, fh, fw, stride, pad),
                               col2im_loops(col, x.shape, fh, fw, stride, pad), **EXACT)
    # adjoint: <im2col(x), col> = <x, col2im(col)>
    np.testing.assert_allclose(np.vdot(im2col(x, fh, fw, stride, pad), col),
                               np.vdot(x, col2im(col, x.shape, fh, fw, stride, pad)), rtol=1e-12)


def test_im2col_and_col2im_keep_float32_and_float64():
    x = np.random.default_rng(1).standard_normal((2, 3, 5, 4))
    for dtype in (np.float32, np.float64):
        col = im2col(x.astype(dtype), 3, 2, 2, 1)
        assert col.dtype == dtype
        img = col2im(col, x.shape, 3, 2, 2, 1)
        assert img.dtype == dtype
        assert img.shape == x.shape
    np.testing.assert_allclose(im2col(x.astype(np.float32), 3, 2, 2, 1),
                               im2col_loops(x.astype(np.float32), 3, 2, 2, 1), rtol=0, atol=0)


def test_im2col_and_col2im_leave_their_arguments_unchanged():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 5, 5))
    x0 = x.copy()
    col = im2col(x, 3, 3, 2, 1)
    col[...] = rng.standard_normal(col.shape)  # the result must not alias x either
    col0 = col.copy()
    col2im(col, x.shape, 3, 3, 2, 1)
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(col, col0)


# -- Convolution ---------------------------------------------------------------------------------

def test_convolution_hand_worked_3x3_input_2x2_filter():
    layer = Convolution(HAND_W.copy(), HAND_B.copy())
    np.testing.assert_allclose(layer.forward(HAND_X.copy()), HAND_OUT, rtol=1e-15)
    dx = layer.backward(np.ones((1, 1, 2, 2)))
    np.testing.assert_allclose(dx, HAND_DX, rtol=1e-15)
    np.testing.assert_allclose(layer.dW, HAND_DW, rtol=1e-15)
    np.testing.assert_allclose(layer.db, HAND_DB, rtol=1e-15)


@pytest.mark.parametrize("pad", [0, 1, 2])
@pytest.mark.parametrize("stride", [1, 2, 3])
def test_convolution_equals_loops_over_strides_and_pads(stride, pad):
    rng, x, W, b = conv_case(stride * 3 + pad, 2, 3, 7, 6, 2, 3, 2)
    assert_conv_matches_oracle(x, W, b, stride, pad, rng)


CONV_CASES = {  # id: (N, C, H, W, FN, FH, FW, stride, pad)
    "1x1-channel-3x3-filter": (1, 1, 5, 5, 1, 3, 3, 1, 0),
    "H!=W-FH!=FW-stride2-pad1": (2, 3, 7, 5, 2, 3, 2, 2, 1),
    "H-not-divisible-stride3-pad2": (1, 3, 8, 6, 4, 3, 3, 3, 2),
    "C1-stride2-wide-filter": (2, 1, 6, 7, 3, 2, 3, 2, 0),
    "filter-covers-input": (1, 1, 4, 4, 1, 4, 4, 1, 0),
    "1x1-filter-stride2-pad1": (2, 2, 5, 3, 1, 1, 1, 2, 1),
    "tall-filter-stride3": (1, 3, 7, 7, 2, 5, 3, 3, 2),
    "filter-wider-than-input-pad": (1, 2, 3, 2, 2, 2, 4, 1, 1),
    "batch3-pad2-stride1": (3, 2, 6, 6, 2, 3, 3, 1, 2),
}


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_convolution_equals_loops_on_odd_shapes(case):
    *dims, stride, pad = case
    rng, x, W, b = conv_case(len(str(case)), *dims)
    assert_conv_matches_oracle(x, W, b, stride, pad, rng)


@settings(max_examples=100, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 6), W=st.integers(1, 6),
       FN=st.integers(1, 3), FH=st.integers(1, 4), FW=st.integers(1, 4),
       stride=st.integers(1, 3), pad=st.integers(0, 2), seed=st.integers(0, 2**32 - 1))
def test_convolution_equals_loops_on_random_shapes(N, C, H, W, FN, FH, FW, stride, pad, seed):
    assume(H + 2 * pad >= FH and W + 2 * pad >= FW)
    rng, x, Wt, b = conv_case(seed, N, C, H, W, FN, FH, FW)
    assert_conv_matches_oracle(x, Wt, b, stride, pad, rng)


def test_convolution_params_grads_and_book_attributes():
    rng, x, W, b = conv_case(3, 2, 3, 5, 5, 4, 3, 3)
    layer = Convolution(W, b, stride=2, pad=1)
    assert (layer.stride, layer.pad) == (2, 1)
    assert list(layer.params) == ["W", "b"]
    assert layer.W is layer.params["W"] and layer.b is layer.params["b"]
    layer.backward(rng.standard_normal(layer.forward(x).shape))
    assert list(layer.grads) == ["W", "b"]
    assert layer.dW is layer.grads["W"] and layer.db is layer.grads["b"]
    assert layer.dW.shape == W.shape and layer.db.shape == b.shape


def test_convolution_forward_sees_in_place_parameter_updates():
    rng, x, W, b = conv_case(4, 2, 2, 5, 4, 3, 2, 3)
    layer = Convolution(W, b, pad=1)
    layer.forward(x)
    layer.params["W"] -= 0.5            # what an optimizer does
    layer.params["b"] += 1.0
    np.testing.assert_allclose(layer.forward(x), conv_forward_loops(x, W, b, 1, 1), **EXACT)
    layer.W = rng.standard_normal(W.shape)  # the book's attribute interface
    np.testing.assert_allclose(layer.forward(x), conv_forward_loops(x, layer.W, b, 1, 1),
                               **EXACT)


def test_convolution_compute_dx_false_returns_none_and_fills_grads():
    rng, x, W, b = conv_case(5, 2, 3, 6, 5, 2, 3, 2)
    layer = Convolution(W, b, stride=2, pad=1)
    layer.compute_dx = False
    dout = rng.standard_normal(layer.forward(x).shape)
    assert layer.backward(dout) is None
    _, want_dW, want_db = conv_backward_loops(x, W, dout, 2, 1)
    np.testing.assert_allclose(layer.grads["W"], want_dW, **EXACT)
    np.testing.assert_allclose(layer.grads["b"], want_db, **EXACT)


def test_convolution_float32_stays_float32_and_agrees_with_float64():
    rng, x, W, b = conv_case(6, 2, 3, 7, 6, 4, 3, 3)
    out32, dout32, dx32, dW32, db32 = run_conv(x.astype(np.float32), W.astype(np.float32),
                                               b.astype(np.float32), 2, 1, rng)
    for name, arr in {"out": out32, "dx": dx32, "dW": dW32, "db": db32}.items():
        assert arr.dtype == np.float32, name
    dout = dout32.astype(np.float64)
    want_dx, want_dW, want_db = conv_backward_loops(x, W, dout, 2, 1)
    for name, got, want in [("out", out32, conv_forward_loops(x, W, b, 2, 1)),
                            ("dx", dx32, want_dx), ("dW", dW32, want_dW), ("db", db32, want_db)]:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5 * np.abs(want).max(),
                                   err_msg=name)


def test_convolution_leaves_x_and_dout_unchanged():
    rng, x, W, b = conv_case(7, 2, 2, 5, 5, 3, 3, 3)
    for dtype in (np.float64, np.float32):
        xd, Wd, bd = x.astype(dtype), W.astype(dtype), b.astype(dtype)
        x0, W0, b0 = xd.copy(), Wd.copy(), bd.copy()
        layer = Convolution(Wd, bd, stride=2, pad=1)
        dout = rng.standard_normal(layer.forward(xd).shape).astype(dtype)
        dout0 = dout.copy()
        layer.backward(dout)
        np.testing.assert_array_equal(xd, x0)
        np.testing.assert_array_equal(dout, dout0)
        np.testing.assert_array_equal(Wd, W0)
        np.testing.assert_array_equal(bd, b0)


def channels_last(a):
    """``a`` (N, C, H, W) as a view of channels-last memory, like a convolution's output."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize(("stride", "pad"), [(1, 1), (2, 1)])  # dx by convolution / scatter
def test_convolution_non_contiguous_arrays_and_changing_batch_shape(stride, pad):
    rng, x, W, b = conv_case(8, 3, 2, 6, 7, 2, 3, 2)
    layer = Convolution(W, b, stride=stride, pad=pad)
    for xi in (x[:, :, ::-1, :], np.asfortranarray(x), channels_last(x), x[:1],
               x[1:, :, 1:, :-1]):
        out = layer.forward(xi)
        np.testing.assert_allclose(out, conv_forward_loops(xi, W, b, stride, pad), **EXACT)
        for dout in (rng.standard_normal(out.shape), channels_last(rng.standard_normal(out.shape)),
                     rng.standard_normal(out.shape[::-1]).T):
            want_dx, want_dW, want_db = conv_backward_loops(xi, W, dout, stride, pad)
            np.testing.assert_allclose(layer.backward(dout), want_dx, **EXACT)
            np.testing.assert_allclose(layer.dW, want_dW, **EXACT)
            np.testing.assert_allclose(layer.db, want_db, **EXACT)


def test_convolution_evaluation_forward_equals_training_forward():
    rng, x, W, b = conv_case(14, 2, 3, 6, 5, 2, 3, 3)
    layer = Convolution(W, b, stride=2, pad=1)
    np.testing.assert_allclose(layer.forward(x, train=False), conv_forward_loops(x, W, b, 2, 1),
                               **EXACT)
    # the windows take 9 MB per sample (33·33 windows of 32·32): evaluation may unfold a
    # batch of 4 in chunks, the last one shorter
    x = rng.standard_normal((4, 1, 64, 64))
    layer = Convolution(rng.standard_normal((2, 1, 32, 32)), rng.standard_normal(2))
    np.testing.assert_allclose(layer.forward(x, train=False), layer.forward(x, train=True),
                               **EXACT)


def test_layers_used_alone_return_new_arrays_every_call():
    rng, x, W, b = conv_case(15, 2, 2, 6, 5, 3, 3, 2)
    for layer in (Convolution(W, b, stride=2, pad=1), Convolution(W, b, pad=1),
                  Pooling(2, 2), Pooling(3, 3, stride=1, pad=1)):
        x2 = rng.standard_normal(x.shape)
        out1 = layer.forward(x)
        first = [out1.copy()]
        dout1 = rng.standard_normal(out1.shape)
        dx1 = layer.backward(dout1)
        grads1 = dict(layer.grads)
        first += [dx1.copy()] + [g.copy() for g in grads1.values()]
        layer.backward(rng.standard_normal(layer.forward(x2).shape))
        for got, want in zip([out1, dx1, *grads1.values()], first, strict=True):
            np.testing.assert_array_equal(got, want, err_msg=repr(layer))


def test_layers_reusing_buffers_match_loops_across_calls_shapes_and_dtypes():
    rng = np.random.default_rng(16)
    W, b = rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    shapes = [(2, 2, 7, 6), (2, 2, 7, 6), (1, 2, 5, 8), (2, 2, 7, 6)]
    for stride, pad in [(1, 0), (1, 1), (2, 1), (3, 2)]:
        for dtype in (np.float64, np.float32, np.float64):
            conv = Convolution(W.astype(dtype), b.astype(dtype), stride=stride, pad=pad)
            pool = Pooling(3, 2, stride=stride, pad=min(pad, 1))
            conv.reuse_buffers = pool.reuse_buffers = True
            tol = EXACT if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-4}
            for shape in shapes:
                x = rng.standard_normal(shape).astype(dtype)
                out = conv.forward(x)
                dout = rng.standard_normal(out.shape).astype(dtype)
                np.testing.assert_allclose(out, conv_forward_loops(x, W, b, stride, pad), **tol)
                dx = conv.backward(dout)
                want_dx, want_dW, want_db = conv_backward_loops(x, W, dout, stride, pad)
                np.testing.assert_allclose(dx, want_dx, **tol)
                np.testing.assert_allclose(conv.dW, want_dW, **tol)
                np.testing.assert_allclose(conv.db, want_db, **tol)
                out = pool.forward(x)
                dout = rng.standard_normal(out.shape).astype(dtype)
                want_out, want_dx = pool_loops(x, 3, 2, stride, min(pad, 1), dout)
                np.testing.assert_array_equal(out, want_out)
                np.testing.assert_allclose(pool.backward(dout), want_dx, **tol)


@pytest.mark.parametrize(("stride", "pad"), [(1, 0), (2, 1), (3, 2)])
def test_convolution_gradient_check(stride, pad):
    _, x, W, b = conv_case(9, 2, 2, 6, 5, 3, 3, 2)
    check_layer(Convolution(W, b, stride=stride, pad=pad), x, rng=0).raise_if_failed()


# -- Pooling -------------------------------------------------------------------------------------

POOL_CASES = {  # id: (N, C, H, W, pool_h, pool_w, stride, pad)
    "stride==window": (2, 3, 6, 6, 2, 2, 2, 0),
    "stride==window-3": (1, 2, 9, 9, 3, 3, 3, 0),
    "stride==window-not-divisible": (2, 2, 7, 5, 2, 2, 2, 0),
    "stride==window-rectangular": (1, 2, 6, 9, 2, 3, 3, 0),
    "overlap-stride1": (1, 1, 6, 6, 3, 3, 1, 0),
    "overlap-pad1": (2, 2, 7, 7, 3, 3, 2, 1),
    "stride>window": (1, 3, 8, 8, 2, 2, 3, 0),
    "stride>window-not-divisible": (2, 1, 7, 6, 2, 1, 3, 0),
    "pad1-rectangular": (1, 1, 5, 7, 2, 3, 2, 1),
    "stride==window-pad1": (2, 1, 4, 4, 2, 2, 2, 1),
    "1x1-window-stride2": (1, 1, 5, 6, 1, 1, 2, 0),
    "window-covers-input": (1, 2, 3, 4, 3, 4, 1, 0),
    "pad2-window3": (1, 1, 4, 5, 3, 3, 2, 2),
}


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pooling_equals_loops(case):
    N, C, H, W, ph, pw, stride, pad = case
    rng = np.random.default_rng(len(str(case)))
    assert_pool_matches_oracle(rng.standard_normal((N, C, H, W)), ph, pw, stride, pad, rng)


@pytest.mark.parametrize("case", POOL_CASES.values(), ids=POOL_CASES.keys())
def test_pooling_ties_send_gradient_to_first_maximum(case):
    N, C, H, W, ph, pw, stride, pad = case
    rng = np.random.default_rng(len(str(case)))
    x = rng.integers(-1, 2, (N, C, H, W)).astype(np.float64)  # many equal values per window
    assert_pool_matches_oracle(x, ph, pw, stride, pad, rng)


@settings(max_examples=100, deadline=None)
@given(N=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(1, 7), W=st.integers(1, 7),
       ph=st.integers(1, 4), pw=st.integers(1, 4), stride=st.integers(1, 4),
       pad=st.integers(0, 2), ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_pooling_equals_loops_on_random_shapes(N, C, H, W, ph, pw, stride, pad, ties, seed):
    # pad < window: no window lies wholly in the padding
    assume(pad < ph and pad < pw and H + 2 * pad >= ph and W + 2 * pad >= pw)
    rng = np.random.default_rng(seed)
    x = (rng.integers(-1, 2, (N, C, H, W)).astype(np.float64) if ties
         else rng.standard_normal((N, C, H, W)))
    assert_pool_matches_oracle(x, ph, pw, stride, pad, rng)


def test_pooling_hand_worked_ties_and_negative_inputs_with_padding():
    layer = Pooling(2, 2, stride=2)
    np.testing.assert_array_equal(layer.forward(np.zeros((1, 1, 2, 2))), [[[[0.0]]]])
    np.testing.assert_array_equal(layer.backward(np.full((1, 1, 1, 1), 7.0)),
                                  [[[[7.0, 0.0], [0.0, 0.0]]]])
    x = np.array([[[[1.0, 3.0], [3.0, 2.0]]]])  # the 3 at (0, 1) comes first
    layer.forward(x)
    np.testing.assert_array_equal(layer.backward(np.ones((1, 1, 1, 1))),
                                  [[[[0.0, 1.0], [0.0, 0.0]]]])
    # overlapping windows (stride 1) share the maximum: its gradients add up
    layer = Pooling(2, 2, stride=1)
    np.testing.assert_array_equal(layer.forward(np.array([[[[0.0, 0.0, 0.0],
                                                            [0.0, 5.0, 0.0],
                                                            [0.0, 0.0, 0.0]]]])),
                                  np.full((1, 1, 2, 2), 5.0))
    np.testing.assert_array_equal(layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])),
                                  [[[[0.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 0.0]]]])
    # padding is -inf: with negative inputs each padded window picks its one real element
    layer = Pooling(2, 2, stride=2, pad=1)
    x = -np.arange(1.0, 5.0).reshape(1, 1, 2, 2)
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])),
                                  [[[[1.0, 2.0], [3.0, 4.0]]]])


def test_pooling_has_no_params_and_compute_dx_false_returns_none():
    layer = Pooling(2, 2)
    out = layer.forward(np.random.default_rng(10).standard_normal((2, 2, 4, 4)))
    assert out.shape == (2, 2, 2, 2)
    layer.compute_dx = False
    assert layer.backward(np.ones(out.shape)) is None
    assert layer.params == {} and layer.grads == {}


def test_pooling_float32_stays_float32():
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 7, 6))
    layer = Pooling(3, 2, stride=2, pad=1)
    out = layer.forward(x.astype(np.float32))
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout.astype(np.float32))
    assert out.dtype == np.float32 and dx.dtype == np.float32
    want_out, want_dx = pool_loops(x.astype(np.float32), 3, 2, 2, 1,
                                   dout.astype(np.float32).astype(np.float64))
    np.testing.assert_allclose(out, want_out, rtol=1e-6)
    np.testing.assert_allclose(dx, want_dx, rtol=1e-6)


@pytest.mark.parametrize(("stride", "pad"), [(2, 0), (1, 1)])  # disjoint / overlapping windows
def test_pooling_non_contiguous_arrays(stride, pad):
    rng = np.random.default_rng(17)
    x = rng.standard_normal((2, 3, 6, 7))
    layer = Pooling(2, 2, stride=stride, pad=pad)
    for xi in (x[:, :, ::-1, :], np.asfortranarray(x), channels_last(x), x[1:, 1:, 1:, :-1]):
        out = layer.forward(xi)
        for dout in (rng.standard_normal(out.shape), channels_last(rng.standard_normal(out.shape)),
                     rng.standard_normal(out.shape[::-1]).T):
            want_out, want_dx = pool_loops(xi, 2, 2, stride, pad, dout)
            np.testing.assert_array_equal(out, want_out)
            np.testing.assert_allclose(layer.backward(dout), want_dx, **EXACT)


def test_pooling_leaves_x_and_dout_unchanged():
    rng = np.random.default_rng(12)
    for ph, stride, pad in [(2, 2, 0), (3, 1, 1), (2, 3, 1)]:
        x = rng.standard_normal((2, 2, 6, 5))
        x0 = x.copy()
        layer = Pooling(ph, ph, stride=stride, pad=pad)
        dout = rng.standard_normal(layer.forward(x).shape)
        dout0 = dout.copy()
        layer.backward(dout)
        np.testing.assert_array_equal(x, x0)
        np.testing.assert_array_equal(dout, dout0)


@pytest.mark.parametrize(("ph", "pw", "stride", "pad"),
                         [(2, 2, 2, 0), (3, 3, 1, 0), (3, 2, 2, 1), (2, 2, 3, 1)])
def test_pooling_gradient_check(ph, pw, stride, pad):
    # distinct values 0.1 apart: no two in a window are within eps of a tie
    rng = np.random.default_rng(13)
    x = rng.permutation(2 * 2 * 6 * 5).reshape(2, 2, 6, 5) * 0.1
    report = check_layer(Pooling(ph, pw, stride=stride, pad=pad), x, rng=0)
    report.raise_if_failed()
    assert report.n_kinks == 0 and report["x"].n_checked == x.size


# -- the book's own layers --------------------------------------------------------------------

def _without_book_modules():
    """Remove ``common`` and ``common.*`` from sys.modules; return what was there."""
    found = {k: m for k, m in sys.modules.items() if k == "common" or k.startswith("common.")}
    for k in found:
        del sys.modules[k]
    return found


@pytest.fixture(scope="module")
def book():
    """The book's ``common.layers`` and ``common.util`` (the modules), imported from
    ``../shared/dlfs`` and then taken out of ``sys.path`` and ``sys.modules`` again."""
    require_shared(DLFS / "common" / "layers.py")
    saved = _without_book_modules()
    sys.path.insert(0, str(DLFS))
    try:
        import common.layers
        import common.util
        return common.layers, common.util
    finally:
        sys.path.remove(str(DLFS))
        _without_book_modules()
        sys.modules.update(saved)


def test_book_fixture_leaves_no_trace(book):
    layers, util = book
    assert str(DLFS) not in sys.path
    assert sys.modules.get("common.layers") is not layers
    assert callable(layers.Convolution) and callable(util.im2col)


@pytest.mark.parametrize(("N", "C", "H", "W", "fh", "fw", "stride", "pad"), IM2COL_CASES)
def test_im2col_and_col2im_equal_the_books(book, N, C, H, W, fh, fw, stride, pad):
    util = book[1]
    rng = np.random.default_rng(20 + H)
    x = rng.standard_normal((N, C, H, W))
    want = util.im2col(x, fh, fw, stride, pad)
    np.testing.assert_allclose(im2col(x, fh, fw, stride, pad), want, **EXACT)
    col = rng.standard_normal(want.shape)
    np.testing.assert_allclose(col2im(col, x.shape, fh, fw, stride, pad),
                               util.col2im(col, x.shape, fh, fw, stride, pad), **EXACT)


@pytest.mark.parametrize("case", CONV_CASES.values(), ids=CONV_CASES.keys())
def test_convolution_equals_the_books(book, case):
    *dims, stride, pad = case
    rng, x, W, b = conv_case(30 + len(str(case)), *dims)
    theirs = book[0].Convolution(W.copy(), b.copy(), stride=stride, pad=pad)
    want = theirs.forward(x.copy())
    ours = Convolution(W.copy(), b.copy(), stride=stride, pad=pad)
    np.testing.assert_allclose(ours.forward(x.copy()), want, **EXACT)
    dout = rng.standard_normal(want.shape)
    np.testing.assert_allclose(ours.backward(dout.copy()), theirs.backward(dout.copy()),
                               err_msg="dx", **EXACT)
    np.testing.assert_allclose(ours.dW, theirs.dW, err_msg="dW", **EXACT)
    np.testing.assert_allclose(ours.db, theirs.db, err_msg="db", **EXACT)


@pytest.mark.parametrize("case", [c for c in POOL_CASES.values() if c[-1] == 0],
                         ids=[k for k, c in POOL_CASES.items() if c[-1] == 0])
def test_pooling_equals_the_books_without_padding(book, case):
    # the book's Pooling leaves pad out of its output size (and pads with 0): pad=0 only
    N, C, H, W, ph, pw, stride, _ = case
    rng = np.random.default_rng(40 + len(str(case)))
    for x in (rng.standard_normal((N, C, H, W)),
              rng.integers(-1, 2, (N, C, H, W)).astype(np.float64)):   # ties: np.argmax's first
        theirs = book[0].Pooling(ph, pw, stride=stride)
        ours = Pooling(ph, pw, stride=stride)
        want = theirs.forward(x.copy())
        np.testing.assert_allclose(ours.forward(x.copy()), want, **EXACT)
        dout = rng.standard_normal(want.shape)
        np.testing.assert_allclose(ours.backward(dout.copy()), theirs.backward(dout.copy()),
                                   err_msg="dx", **EXACT)


# -- shape errors --------------------------------------------------------------------------------

def conv_layer(C=3, FH=3, FW=3, stride=1, pad=0):
    rng = np.random.default_rng(50)
    return Convolution(rng.standard_normal((2, C, FH, FW)), np.zeros(2), stride=stride, pad=pad)


@pytest.mark.parametrize(("layer", "shape", "match"), [
    (lambda: conv_layer(C=3), (2, 2, 5, 5), "channel"),
    (lambda: conv_layer(C=1), (1, 3, 5, 5), "channel"),
    (lambda: conv_layer(FH=4, FW=2), (1, 3, 3, 5), "height"),
    (lambda: conv_layer(FH=2, FW=4), (1, 3, 5, 3), "width"),
    (lambda: conv_layer(FH=6, FW=2, pad=1), (1, 3, 3, 3), "height"),
    (lambda: Pooling(4, 2), (1, 1, 3, 3), "height"),
    (lambda: Pooling(2, 4), (1, 1, 3, 3), "width"),
    (lambda: Pooling(5, 5, pad=1), (1, 1, 2, 6), "height"),
], ids=["conv-channels-3-vs-2", "conv-channels-1-vs-3", "conv-height", "conv-width",
        "conv-height-padded", "pool-height", "pool-width", "pool-height-padded"])
def test_shape_errors_name_the_dimension(layer, shape, match):
    with pytest.raises(ValueError, match=f"(?i){match}"):
        layer().forward(np.zeros(shape))


@pytest.mark.parametrize("shape", [(3, 5, 5), (5, 5), (1, 1, 3, 5, 5)])
@pytest.mark.parametrize("make", [lambda: conv_layer(C=3), lambda: Pooling(2, 2)],
                         ids=["Convolution", "Pooling"])
def test_input_that_is_not_4d_is_rejected(make, shape):
    with pytest.raises(ValueError, match=r"(?i)4|dim"):
        make().forward(np.zeros(shape))


def test_pooling_refuses_padding_as_wide_as_the_window():
    with pytest.raises(ValueError, match="as wide as the 2×2 window"):
        Pooling(2, 2, stride=2, pad=2)
    out = Pooling(3, 3, stride=2, pad=2).forward(-np.ones((1, 1, 2, 2)))
    assert np.all(out == -1)  # every window still holds an input


@pytest.mark.parametrize("stride, pad", [(1, 1), (1, 0), (2, 1)])
def test_convolution_with_many_channels_and_a_large_batch_equals_im2col(stride, pad):
    """Sizes past the layer's tiles and its few-channel path (16 channels, 40 images): the
    book's formulation, ``im2col(x) · W`` and ``col2im``, as the oracle (both pinned to the
    loop oracles above)."""
    rng = np.random.default_rng(7)
    n, c, h, w, fn, k = 40, 16, 13, 11, 12, 3
    x, W, b = (rng.standard_normal((n, c, h, w)), rng.standard_normal((fn, c, k, k)),
               rng.standard_normal(fn))
    layer = Convolution(W, b, stride, pad)
    out = layer.forward(x)
    oh, ow = out.shape[2:]
    col = im2col(x, k, k, stride, pad)
    expected = (col @ W.reshape(fn, -1).T + b).reshape(n, oh, ow, fn).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)
    dout = rng.standard_normal(out.shape)
    dx = layer.backward(dout)
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, fn)
    np.testing.assert_allclose(layer.dW, (d2.T @ col).reshape(W.shape), rtol=1e-11,
                               atol=1e-11)
    np.testing.assert_allclose(layer.db, d2.sum(axis=0), rtol=1e-12, atol=1e-11)
    np.testing.assert_allclose(dx, col2im(d2 @ W.reshape(fn, -1), x.shape, k, k, stride, pad),
                               rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("make", [
    lambda: Convolution(np.ones((2, 1, 2, 2)), np.zeros(2)),
    lambda: Pooling(2, 2, stride=2),
])
def test_conv_layers_backward_before_forward_names_the_layer(make):
    layer = make()
    name = type(layer).__name__
    with pytest.raises(RuntimeError, match=rf"{name}\.backward called before forward"):
        layer.backward(np.ones((1, 2, 2, 2)))


def test_convolution_backward_after_an_evaluation_forward_says_it_keeps_nothing():
    conv = Convolution(np.ones((2, 1, 2, 2)), np.zeros(2))
    out = conv.forward(np.ones((1, 1, 3, 3)), train=False)
    with pytest.raises(RuntimeError, match=r"Convolution\.backward called before forward.*"
                                           r"train=False"):
        conv.backward(np.ones_like(out))


@pytest.mark.parametrize("train", [True, False])
def test_convolution_refuses_a_padded_input_over_max_elements(train):
    conv = Convolution(np.ones((2, 1, 3, 3)), np.zeros(2), pad=10**6)
    with pytest.raises(ValueError, match=r"pad 1000000\) on input of shape \(1, 1, 28, 28\): "
                                         r"its padded input would have 4,000,112,000,784 "
                                         r"elements.*Convolution\.max_elements = 1,000,000,000"):
        conv.forward(np.zeros((1, 1, 28, 28)), train=train)


def test_convolution_refuses_an_output_over_max_elements(monkeypatch):
    conv = Convolution(np.ones((3, 1, 2, 2)), np.zeros(3))
    x = np.zeros((2, 1, 5, 5))  # output (2, 3, 4, 4): 96 elements
    monkeypatch.setattr(Convolution, "max_elements", 95)
    with pytest.raises(ValueError, match=r"output would have 96 elements \(shape "
                                         r"\(2, 3, 4, 4\)\).*max_elements = 95"):
        conv.forward(x)
    monkeypatch.setattr(Convolution, "max_elements", 96)
    assert conv.forward(x).shape == (2, 3, 4, 4)
