"""Layers: a hand-worked network, the relu kink, train/eval modes, and dout left untouched.

Every layer's backward is checked against numerical gradients in test_gradcheck.py.
"""

import numpy as np
import pytest

from kobai.layers import (
    Affine,
    BatchNormalization,
    Dropout,
    Flatten,
    Relu,
    Sigmoid,
    SoftmaxWithLoss,
    Tanh,
)


def test_hand_worked_2_2_2_network():
    x = np.array([[1.0, 2.0]])
    affine1 = Affine(np.array([[0.1, 0.2], [0.3, -0.4]]), np.array([0.1, 0.1]))
    relu = Relu()
    affine2 = Affine(np.array([[1.0, -1.0], [0.5, 0.5]]), np.array([0.0, 0.2]))
    last = SoftmaxWithLoss()

    a1 = affine1.forward(x)
    np.testing.assert_allclose(a1, [[0.8, -0.5]])  # 1·0.1 + 2·0.3 + 0.1, 1·0.2 - 2·0.4 + 0.1
    z1 = relu.forward(a1)
    np.testing.assert_allclose(z1, [[0.8, 0.0]])
    a2 = affine2.forward(z1)
    np.testing.assert_allclose(a2, [[0.8, -0.6]])  # 0.8·1 + 0, 0.8·(-1) + 0.2
    loss = last.forward(a2, np.array([0]))
    # softmax([0.8, -0.6]) = [e^0.8, e^-0.6] / (e^0.8 + e^-0.6)
    np.testing.assert_allclose(last.y, [[0.8021838885585817, 0.19781611144141822]], rtol=1e-14)
    assert loss == pytest.approx(0.22041740991845105, rel=1e-14)  # log(e^0.8 + e^-0.6) - 0.8

    da2 = last.backward()
    np.testing.assert_allclose(da2, [[-0.1978161114414183, 0.1978161114414183]], rtol=1e-13)
    dz1 = affine2.backward(da2)
    np.testing.assert_allclose(affine2.dW, [[-0.15825288915313465, 0.15825288915313465],
                                            [0.0, 0.0]], rtol=1e-13)
    np.testing.assert_allclose(affine2.db, [-0.1978161114414183, 0.1978161114414183],
                               rtol=1e-13)
    # dz1 = da2 · W2ᵀ = [-g·1 + g·(-1), -g·0.5 + g·0.5] with g = 0.19781611...
    np.testing.assert_allclose(dz1, [[-0.3956322228828366, 0.0]], rtol=1e-13, atol=1e-15)
    da1 = relu.backward(dz1)
    np.testing.assert_allclose(da1, [[-0.3956322228828366, 0.0]], rtol=1e-13, atol=1e-15)
    dx = affine1.backward(da1)
    np.testing.assert_allclose(affine1.dW, [[-0.3956322228828366, 0.0],
                                            [-0.7912644457656732, 0.0]], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(affine1.db, [-0.3956322228828366, 0.0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(dx, [[-0.3956322228828366 * 0.1, -0.3956322228828366 * 0.3]],
                               rtol=1e-13)


def test_relu_kink_with_fixed_values():
    relu = Relu()
    out = relu.forward(np.array([[-1.0, 0.0, 1.0]]))
    np.testing.assert_array_equal(out, [[0.0, 0.0, 1.0]])
    # At exactly 0 the derivative is taken as 0 (the book's mask is x <= 0).
    np.testing.assert_array_equal(relu.backward(np.array([[5.0, 5.0, 5.0]])), [[0.0, 0.0, 5.0]])
    np.testing.assert_array_equal(relu.kink_state(), [[False, False, True]])


@pytest.mark.parametrize("make", [
    lambda: Relu(), lambda: Sigmoid(), lambda: Tanh(),
    lambda: Affine(np.ones((3, 2)), np.zeros(2)),
    lambda: Dropout(0.5, rng=0),
    lambda: BatchNormalization(np.ones(3), np.zeros(3)),
])
def test_backward_never_modifies_dout(make):
    layer = make()
    x = np.random.default_rng(0).standard_normal((4, 3))
    out = layer.forward(x)
    dout = np.random.default_rng(1).standard_normal(out.shape)
    before = dout.copy()
    layer.backward(dout)
    np.testing.assert_array_equal(dout, before)


def test_affine_flattens_nd_input_and_restores_its_shape():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((12, 5)), rng.standard_normal(5))
    x = rng.standard_normal((2, 3, 2, 2))
    out = layer.forward(x)
    np.testing.assert_allclose(out, x.reshape(2, 12) @ layer.W + layer.b)
    dx = layer.backward(np.ones((2, 5)))
    assert dx.shape == (2, 3, 2, 2)


def test_softmax_with_loss_scales_by_dout_and_takes_one_hot():
    x = np.random.default_rng(0).standard_normal((3, 4))
    a, b = SoftmaxWithLoss(), SoftmaxWithLoss()
    assert a.forward(x, np.array([1, 0, 3])) == b.forward(x, np.eye(4)[[1, 0, 3]])
    np.testing.assert_allclose(a.backward(2.5), 2.5 * b.backward())


def test_dropout_is_inverted_and_identity_in_evaluation():
    layer = Dropout(0.25, rng=0)
    x = np.ones((200, 50))
    out = layer.forward(x, train=True)
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert abs((out == 0).mean() - 0.25) < 0.02
    assert abs(out.mean() - 1.0) < 0.03  # expectation preserved: no rescaling at test time
    assert layer.forward(x, train=False) is x
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), out)


def test_dropout_same_rng_same_mask_and_frozen_reuses_it():
    x = np.ones((4, 6))
    np.testing.assert_array_equal(Dropout(0.5, rng=3).forward(x), Dropout(0.5, rng=3).forward(x))
    layer = Dropout(0.5, rng=3)
    first = layer.forward(x)
    layer.frozen = True
    np.testing.assert_array_equal(layer.forward(x), first)
    with pytest.raises(ValueError, match=r"ratio must be in \[0, 1\)"):
        Dropout(1.0)


def test_batchnorm_train_normalizes_and_updates_running_stats():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3)) * [1.0, 2.0, 3.0] + [5.0, -1.0, 0.0]
    layer = BatchNormalization(np.ones(3), np.zeros(3), momentum=0.9)
    out = layer.forward(x, train=True)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=0), 1.0, rtol=1e-4)
    np.testing.assert_allclose(layer.running_mean, 0.1 * x.mean(axis=0))
    np.testing.assert_allclose(layer.running_var, 0.9 + 0.1 * x.var(axis=0))
    eval_out = layer.forward(x, train=False)
    expected = (x - layer.running_mean) / np.sqrt(layer.running_var + 1e-5)
    np.testing.assert_allclose(eval_out, expected)
    layer.frozen = True
    mean_before = layer.running_mean.copy()
    layer.forward(x, train=True)
    np.testing.assert_array_equal(layer.running_mean, mean_before)


def test_softmax_with_loss_in_a_network_is_right_for_non_contiguous_scores():
    from kobai.nets import Network

    class MaybeTransposed:  # a book-style layer whose output may be a non-contiguous view
        contiguous = True

        def forward(self, x):
            return x.copy() if self.contiguous else np.ascontiguousarray(x.T).T

        def backward(self, dout):
            return dout

    rng = np.random.default_rng(0)
    last = MaybeTransposed()
    net = Network([Affine(rng.standard_normal((4, 3)), np.zeros(3)), last])
    x = rng.standard_normal((5, 4))
    # a contiguous pass, then a non-contiguous one with other labels and the same shapes
    for contiguous, labels in ((True, [0, 1, 2, 0, 1]), (False, [2, 2, 1, 0, 0])):
        last.contiguous = contiguous
        expected = np.exp(net.predict(x))
        expected /= expected.sum(axis=1, keepdims=True)
        expected[np.arange(5), labels] -= 1
        grads = net.gradient(x, labels)
        np.testing.assert_allclose(grads["b1"], expected.sum(axis=0) / 5, rtol=1e-12)


@pytest.mark.parametrize("make", [Sigmoid, Tanh, Relu])
def test_activation_derivative_hooks_match_central_differences(make):
    layer = make()
    x = np.linspace(-6, 6, 241) + 0.013  # no input exactly at relu's kink
    y = layer.apply(x)
    np.testing.assert_array_equal(y, make().forward(x))  # apply is forward's function
    d = layer.derivatives(x, y, 6)
    h = 1e-4
    lower = [layer.apply]  # f, f', f'', … as functions of x, to differentiate numerically
    for k in range(1, 6):
        lower.append(lambda z, k=k: layer.derivatives(z, layer.apply(z), k)[k - 1])
    for k in range(1, 7):
        numerical = (lower[k - 1](x + h) - lower[k - 1](x - h)) / (2 * h)
        np.testing.assert_allclose(d[k - 1], numerical, rtol=1e-5, atol=1e-6 * 4 ** k,
                                   err_msg=f"derivative {k}")
        # the bounds the series' error estimate relies on hold (and are not loose)
        assert np.abs(d[k - 1]).max() <= make.derivative_bounds[k - 1]
        if make is not Relu:
            assert np.abs(d[k - 1]).max() >= 0.99 * make.derivative_bounds[k - 1]


@pytest.mark.parametrize("make, method", [
    (lambda: Affine(np.ones((2, 3)), np.zeros(3)), "backward"),
    (lambda: Flatten(), "backward"),
    (lambda: Relu(), "backward"),
    (lambda: Relu(), "kink_state"),
    (lambda: Sigmoid(), "backward"),
    (lambda: Tanh(), "backward"),
    (lambda: Dropout(0.5, rng=0), "backward"),
    (lambda: BatchNormalization(np.ones(3), np.zeros(3)), "backward"),
    (lambda: SoftmaxWithLoss(), "backward"),
])
def test_backward_before_forward_names_the_layer(make, method):
    layer = make()
    args = () if method == "kink_state" or isinstance(layer, SoftmaxWithLoss) else (
        np.ones((2, 3)),)
    with pytest.raises(RuntimeError, match=rf"{type(layer).__name__}\.{method} called before "
                                           "forward"):
        getattr(layer, method)(*args)


def test_apply_of_affine_batch_norm_and_dropout_acts_on_stacks_with_given_parameters():
    # The structured numerical gradient's hooks: each stack entry (P, N, F) is one batch.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 4))
    W, b = rng.standard_normal((4, 2)), rng.standard_normal(2)
    affine = Affine(W, b)
    out = affine.apply(x)
    for p in range(3):
        np.testing.assert_array_equal(out[p], affine.forward(x[p]))
    Ws = rng.standard_normal((3, 4, 2))  # a stack of perturbed weights
    np.testing.assert_allclose(affine.apply(x, Ws, b), x @ Ws + b, rtol=1e-14)
    np.testing.assert_array_equal(affine.apply(x[0], bias=False), x[0] @ W)
    product = x[0] @ W
    np.testing.assert_array_equal(affine.apply(None, b=2 * b, product=product),
                                  product + 2 * b)
    np.testing.assert_array_equal(product, x[0] @ W)  # a given product is not overwritten

    gamma, beta = rng.random(4) + 0.5, rng.standard_normal(4)
    bn = BatchNormalization(gamma, beta)
    bn.frozen = True
    stacked = bn.apply(x)
    for p in range(3):
        np.testing.assert_allclose(stacked[p], bn.forward(x[p]), rtol=1e-14, atol=1e-14)
    xn = (x[0] - x[0].mean(axis=0)) / np.sqrt(x[0].var(axis=0) + bn.eps)
    np.testing.assert_allclose(bn.apply(None, 2 * gamma[1:3], beta[1:3], xn=xn[:, 1:3]),
                               2 * gamma[1:3] * xn[:, 1:3] + beta[1:3], rtol=1e-14)

    drop = Dropout(0.5, rng=0)
    with pytest.raises(RuntimeError, match="apply called before forward"):
        drop.apply(x)
    drop.forward(x[0])
    np.testing.assert_array_equal(drop.apply(x), x * drop.mask)
    rows = np.array([4, 0, 4])
    np.testing.assert_array_equal(drop.apply(x[0][rows], rows), x[0][rows] * drop.mask[rows])
    h = x[0][:, 1:3].copy()
    assert drop.apply(h, (slice(None), slice(1, 3)), out=h) is h
    np.testing.assert_array_equal(h, x[0][:, 1:3] * drop.mask[:, 1:3])
