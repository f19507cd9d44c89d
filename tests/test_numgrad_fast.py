"""The fast numerical gradient equals the book's element loop, element by element.

Criterion (see ``kobai.nets.numgrad``): the loop's central difference carries rounding
noise of about ``ε·|L|/h`` (``L`` the loss; ε = 2^-52), which no other evaluation can reproduce
unless it is bit-identical. So, with ``floor = 8·ε·|L|/h`` (four times the largest difference
observed over several hundred small random configurations, ``2.0·ε·|L|/h``):

- every element: ``|fast - loop| ≤ 1e-10·|loop| + floor``;
- every parameter array whose gradient stands clear of that noise (``max|loop| ≥ 1e10·floor``):
  ``max|fast - loop| ≤ 1e-10·max|loop|``, the project's scale-relative metric.
"""

import itertools

import conftest
import numpy as np
import pytest
from conftest import kink_distance, move_first_relu_input

from kobai.gradcheck import check_gradients
from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.nets.numgrad import central, linear

EPS = np.finfo(np.float64).eps
H = 1e-4


def data(n_in, n_out, batch, seed, zeros=True):
    """``conftest.data`` in this file's argument order. ``zeros``: 30% exact zeros, as in MNIST's
    borders (unchanged samples must stay bit-identical)."""
    return conftest.data(seed, batch, n_in, n_out, zero_fraction=0.3 if zeros else 0.0)


def assert_fast_equals_loop(net, x, t, h=H):
    """Fast vs loop per the module's criterion; returns how many arrays met the strict one."""
    loop = net.numerical_gradient(x, t, h=h, method="loop")
    fast = net.numerical_gradient(x, t, h=h, method="fast")
    with net.frozen():
        floor = 8 * EPS * abs(net.loss(x, t)) / h
    assert list(fast) == list(loop) == list(net.params)
    strict = 0
    for key in loop:
        assert fast[key].dtype == loop[key].dtype and fast[key].shape == loop[key].shape
        np.testing.assert_allclose(fast[key], loop[key], rtol=1e-10, atol=floor, err_msg=key)
        scale = np.abs(loop[key]).max()
        if scale >= 1e10 * floor:
            strict += 1
            assert np.abs(fast[key] - loop[key]).max() <= 1e-10 * scale, key
    return strict


CONFIGS = [
    dict(),
    dict(weight_decay_lambda=0.1),
    dict(use_dropout=True, dropout_ratio=0.3),
    dict(use_batchnorm=True),
    dict(use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.05),
]


@pytest.mark.parametrize("activation", ["relu", "sigmoid", "tanh"])
@pytest.mark.parametrize("hidden", [[], [5], [6, 4], [6, 5, 4]], ids=lambda h: f"depth{len(h)}")
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(c) or "plain")
def test_multilayer_fast_equals_loop(activation, hidden, config):
    seed = len(hidden) + 10 * CONFIGS.index(config)
    net = MultiLayerNet(7, hidden, 4, activation=activation, rng=seed, **config)
    x, t = data(7, 4, 9, seed)
    assert_fast_equals_loop(net, x, t)


def test_strict_per_array_criterion_is_exercised():
    # gradients large against the loss, so most arrays stand 1e10 above the rounding noise
    net = MultiLayerNet(7, [6, 5], 4, activation="tanh", weight_init_std=1.0, rng=3)
    x, t = data(7, 4, 9, 3, zeros=False)
    assert assert_fast_equals_loop(net, x, t) >= 4


@pytest.mark.parametrize("activation", ["sigmoid", "relu", "tanh"])
def test_two_layer_fast_equals_loop_with_one_hot_targets(activation):
    net = TwoLayerNet(12, 6, 5, weight_init_std=0.5, activation=activation, rng=1)
    x, labels = data(12, 5, 8, 1)
    assert_fast_equals_loop(net, x, np.eye(5)[labels])


@pytest.mark.parametrize("make", [
    lambda: TwoLayerNet(7, 5, 4, weight_init_std=0.5, rng=0),
    lambda: MultiLayerNet(7, [6, 5], 4, rng=0),  # relu: along fixed directions
    lambda: MultiLayerNet(7, [6, 5], 4, activation="sigmoid", use_dropout=True, rng=0),
], ids=["two_layer", "relu", "sigmoid_dropout"])
def test_weights_of_an_input_that_is_always_zero_get_exactly_zero(make):
    # Such a perturbation reaches no sample: the loop's L+ and L- are the same float, and the
    # fast path keeps every per-sample loss bit-identical, so both differences are exactly 0.
    net = make()
    x, t = data(7, 4, 9, 0)
    x[:, 2] = 0.0
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    assert np.all(loop["W1"][2] == 0) and np.all(fast["W1"][2] == 0)


def test_one_hot_and_label_targets_give_the_same_gradient():
    net = MultiLayerNet(7, [5], 4, use_batchnorm=True, rng=2)
    x, labels = data(7, 4, 6, 2)
    by_label = net.numerical_gradient(x, labels)
    by_one_hot = net.numerical_gradient(x, np.eye(4)[labels])
    for key in by_label:
        np.testing.assert_array_equal(by_label[key], by_one_hot[key])


@pytest.mark.parametrize("config", [dict(), dict(use_dropout=True), dict(use_batchnorm=True)],
                         ids=["plain", "dropout", "batchnorm"])
def test_single_sample_1d_x(config):
    net = MultiLayerNet(7, [6, 5], 4, activation="tanh", rng=4, **config)
    x, t = data(7, 4, 1, 4)
    assert_fast_equals_loop(net, x[0], t)


def test_wide_output_layer_and_single_unit_layers():
    assert_fast_equals_loop(MultiLayerNet(5, [1, 3], 12, activation="sigmoid", rng=5),
                            *data(5, 12, 6, 5))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("h", [0.01, 0.5])
def test_large_steps_fall_back_to_recomputing_layer_by_layer(activation, h):
    # Inputs of size ~10 and large h move hidden units too far for a short power series, and
    # make relu inputs cross 0 (those rows are recomputed instead of following a line).
    net = MultiLayerNet(6, [5, 4], 3, activation=activation, rng=6)
    x, t = data(6, 3, 5, 6)
    assert_fast_equals_loop(net, 10 * x, t, h=h)


def test_results_do_not_depend_on_the_chunk_size(monkeypatch):
    net = MultiLayerNet(7, [6, 5], 4, use_dropout=True, rng=7)
    x, t = data(7, 4, 9, 7)
    whole = net.numerical_gradient(x, t)
    monkeypatch.setattr(central, "CHUNK_BYTES", 1)  # one element per chunk
    pieces = net.numerical_gradient(x, t)
    with net.frozen():
        floor = 8 * EPS * abs(net.loss(x, t)) / H
    for key in whole:
        np.testing.assert_allclose(pieces[key], whole[key], rtol=1e-10, atol=floor)


def test_float32_net_gets_float32_central_differences_of_its_own_parameters():
    net32 = MultiLayerNet(7, [6], 4, activation="sigmoid", rng=8, dtype=np.float32)
    net64 = net32.astype(np.float64)  # the same parameter values
    x, t = data(7, 4, 6, 8)
    g32, g64 = net32.numerical_gradient(x, t), net64.numerical_gradient(x, t)
    for key in g32:
        assert g32[key].dtype == np.float32
        # θ ± h is rounded to float32 as the loop does: steps differ from h by ~6e-8·|θ|
        np.testing.assert_allclose(g32[key], g64[key], rtol=2e-3, atol=1e-6, err_msg=key)


def test_loop_method_is_still_the_books_algorithm():
    net = MultiLayerNet(4, [3], 2, rng=9)
    x, t = data(4, 2, 5, 9)
    W = net.params["W1"]
    expected = np.empty_like(W)
    for idx in np.ndindex(W.shape):  # the book's gradient.py, written out
        saved = W[idx]
        W[idx] = saved + H
        plus = net.loss(x, t)
        W[idx] = saved - H
        minus = net.loss(x, t)
        W[idx] = saved
        expected[idx] = (plus - minus) / (2 * H)
    np.testing.assert_array_equal(net.numerical_gradient(x, t, method="loop")["W1"], expected)


@pytest.mark.parametrize("method", ["fast", "loop"])
def test_net_state_is_unchanged(method):
    net = MultiLayerNet(7, [6, 5], 4, use_dropout=True, use_batchnorm=True, rng=10)
    x, t = data(7, 4, 9, 10)
    net.loss(x, t)  # draw dropout masks, update running statistics once
    before = {key: arr.copy() for key, arr in net.state_dict().items()}
    masks = [layer.mask.copy() for name, layer in net.layers.items() if "Dropout" in name]
    frozen = [getattr(layer, "frozen", None) for layer in net.layers.values()]
    net.numerical_gradient(x, t, method=method)
    for key, arr in net.state_dict().items():
        assert arr.tobytes() == before[key].tobytes(), key
    after = [layer.mask for name, layer in net.layers.items() if "Dropout" in name]
    for old, new in zip(masks, after, strict=True):
        np.testing.assert_array_equal(old, new)
    assert [getattr(layer, "frozen", None) for layer in net.layers.values()] == frozen


def test_fast_and_loop_leave_the_same_dropout_masks_when_none_fits():
    x, t = data(7, 4, 9, 11)
    nets = [MultiLayerNet(7, [6], 4, use_dropout=True, rng=11) for _ in range(2)]
    for net, method in zip(nets, ["fast", "loop"], strict=True):
        net.numerical_gradient(x, t, method=method)
    np.testing.assert_array_equal(nets[0].layers["Dropout1"].mask, nets[1].layers["Dropout1"].mask)


def test_invalid_method_names_the_valid_ones():
    net = TwoLayerNet(4, 3, 2, rng=0)
    with pytest.raises(ValueError, match="'fast', 'loop'.*'book'"):
        net.numerical_gradient(np.ones(4), 1, method="book")


@pytest.mark.parametrize("activation, config", list(itertools.product(
    ["relu", "sigmoid", "tanh"],
    [dict(), dict(use_batchnorm=True, weight_decay_lambda=0.1),
     dict(use_dropout=True, dropout_ratio=0.2)])))
def test_fast_path_agrees_with_backprop(activation, config):
    net = MultiLayerNet(10, [8, 6], 5, activation=activation, rng=14, **config)
    x, t = data(10, 5, 16, 14, zeros=False)
    with net.frozen():
        net.loss(x, t)  # fix the dropout masks for both
        assert kink_distance(net, x) > 1e-3  # ±h never crosses a relu's kink
        grads = net.gradient(x, t)
    num = net.numerical_gradient(x, t)
    for key in grads:
        scale = max(np.abs(grads[key]).max(), np.abs(num[key]).max())
        if scale > 1e-9:  # b before batch norm: both are (numerically) zero
            assert np.abs(grads[key] - num[key]).max() <= 1e-7 * scale, key


@pytest.mark.slow
@pytest.mark.parametrize("make", [lambda: TwoLayerNet(784, 50, 10, rng=0),
                                  lambda: MultiLayerNet(784, [100, 100], 10, rng=0)],
                         ids=["two_layer_784_50_10", "multilayer_784_100_100_10"])
def test_books_sizes_fast_equals_loop_on_sampled_elements(make):
    from kobai.datasets import load_mnist

    (x, t), _ = load_mnist(dtype=np.float64)
    x, t = x[:100], t[:100]
    net = make()
    fast = net.numerical_gradient(x, t)
    rng = np.random.default_rng(0)
    with net.frozen():
        floor = 8 * EPS * abs(net.loss(x, t)) / H
        for key, arr in net.params.items():
            flat = arr.reshape(-1)
            for i in rng.choice(flat.size, min(flat.size, 40), replace=False):
                saved = flat[i]
                flat[i] = saved + H
                plus = net.loss(x, t)
                flat[i] = saved - H
                minus = net.loss(x, t)
                flat[i] = saved
                loop = (plus - minus) / (2 * H)
                assert abs(fast[key].reshape(-1)[i] - loop) <= 1e-10 * abs(loop) + floor, key


# -- kinks: which elements' ±h move a relu input across 0 --------------------------------------

def loop_kinks(net, x, t, h):
    """The element loop of kobai.gradcheck: relu masks (kink_state) after θ+h and θ-h differ."""
    report = check_gradients(net, x, t, eps=h, structured=False)
    kinks = {}
    for key, arr in net.params.items():
        crossed = np.zeros(arr.shape, dtype=bool)
        for index in report.results[key].kink_indices:
            crossed[index] = True
        kinks[key] = crossed
    return kinks


def relu_net_near_kinks(hidden, config, seed, scale):
    """A relu net on inputs with exact zeros (sample 0 entirely), half of its biases exactly 0,
    and the first relu input of sample 1 shifted to 0 (to rounding): many relu inputs are
    exactly 0 or within h of it."""
    rng = np.random.default_rng(seed)
    net = MultiLayerNet(6, hidden, 4, activation="relu", rng=seed, **config)
    for key, arr in net.params.items():
        if key.startswith("b"):
            arr[...] = rng.normal(0.0, 0.3, arr.shape) * (rng.random(arr.shape) < 0.5)
    x, t = data(6, 4, 7, seed)
    x[0] = 0.0
    x *= scale
    return move_first_relu_input(net, x, 0.0), x, t


KINK_CONFIGS = [dict(), dict(weight_decay_lambda=0.3), dict(use_dropout=True, dropout_ratio=0.3),
                dict(use_batchnorm=True), dict(use_batchnorm=True, use_dropout=True)]


@pytest.mark.parametrize("hidden", [[5], [5, 4], [3, 6, 2, 4]], ids=lambda h: f"depth{len(h)}")
@pytest.mark.parametrize("config", KINK_CONFIGS, ids=lambda c: "-".join(c) or "plain")
@pytest.mark.parametrize("h", [1e-5, 0.3])
def test_kinks_equal_the_loops_element_by_element(hidden, config, h):
    # h = 0.3 on inputs of size ~10 crosses relu kinks in later layers too (rows recomputed)
    seed = len(hidden) + 10 * KINK_CONFIGS.index(config)
    net, x, t = relu_net_near_kinks(hidden, config, seed, 1.0 if h < 0.01 else 10.0)
    grads, kinks = net.numerical_gradient_and_kinks(x, t, h)
    expected = loop_kinks(net, x, t, h)
    assert list(kinks) == list(grads) == list(net.params)
    for key, crossed in kinks.items():
        assert crossed.dtype == bool and crossed.shape == net.params[key].shape
        np.testing.assert_array_equal(crossed, expected[key], err_msg=key)
        np.testing.assert_array_equal(grads[key], net.numerical_gradient(x, t, h=h)[key])
    assert sum(crossed.sum() for crossed in kinks.values()) > 0


def test_kinks_do_not_depend_on_the_chunk_size_or_the_linear_bound(monkeypatch):
    net, x, t = relu_net_near_kinks([5, 4, 3], dict(use_dropout=True), 3, 10.0)
    expected = loop_kinks(net, x, t, 0.3)
    monkeypatch.setattr(central, "CHUNK_BYTES", 1)  # one element per chunk
    monkeypatch.setattr(linear, "MAX_BYTES", 0)  # every changed row recomputed
    _, kinks = net.numerical_gradient_and_kinks(x, t, 0.3)
    for key in kinks:
        np.testing.assert_array_equal(kinks[key], expected[key], err_msg=key)


def test_a_relu_input_of_exactly_zero_is_a_kink_only_when_the_step_moves_it():
    # Sample 0 is all zeros, so its relu inputs are exactly b1: only b1's own steps move them.
    net = MultiLayerNet(2, [2], 2, activation="relu")
    net.params["W1"][...] = [[1.0, -1.0], [2.0, 3.0]]
    net.params["W2"][...] = [[1.0, 2.0], [3.0, -1.0]]
    x, t = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    _, kinks = net.numerical_gradient_and_kinks(x, t, 1e-5)
    assert kinks["b1"].tolist() == [True, True]
    assert not any(kinks[key].any() for key in ("W1", "W2", "b2"))


def test_nets_without_relu_have_no_kinks():
    net = MultiLayerNet(7, [6, 5], 4, activation="tanh", use_batchnorm=True, rng=12)
    x, t = data(7, 4, 9, 12)
    grads, kinks = net.numerical_gradient_and_kinks(x, t, H)
    assert not any(crossed.any() for crossed in kinks.values())
    for key, grad in net.numerical_gradient(x, t).items():
        np.testing.assert_array_equal(grads[key], grad)
