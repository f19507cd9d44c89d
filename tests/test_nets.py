"""TwoLayerNet and MultiLayerNet: backprop against numerical gradients, API and bad input."""

import json

import numpy as np
import pytest
from conftest import kink_distance
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kobai.functions import softmax
from kobai.nets import MultiLayerNet, Network, TwoLayerNet


def max_rel(a, n):
    """The issue's metric: max|a - n| / max(max|a|, max|n|)."""
    scale = max(np.abs(a).max(), np.abs(n).max())
    return 0.0 if scale == 0 else float(np.abs(a - n).max() / scale)


def assert_backprop_matches(net, x, t, tol=1e-7):
    """max_rel <= tol against the central differences, Richardson-extrapolated.

    Central differences with h = 1e-4 carry a truncation error h²·|L'''|/6, which for a
    gradient array of order 1e-4 alone exceeds 1e-7 relative (hypothesis found sigmoid
    (3, 1, 2): W2 ~ 8.6e-5, 2e-7; relu (4, 2, 3), batch 1: 7.5e-7). ``(4·n(h/2) - n(h)) / 3``
    cancels the h² term and leaves rounding (~ε|L|/h) far below the tolerance.
    """
    grads = net.gradient(x, t)
    coarse, fine = net.numerical_gradient(x, t, h=1e-4), net.numerical_gradient(x, t, h=5e-5)
    assert list(grads) == list(net.params) == list(coarse)
    for key in net.params:
        assert grads[key].shape == net.params[key].shape
        num = (4 * fine[key] - coarse[key]) / 3
        assert max_rel(grads[key], num) <= tol, (key, max_rel(grads[key], num))


@settings(max_examples=25, deadline=None)
@given(activation=st.sampled_from(["sigmoid", "relu"]), batch=st.integers(1, 16),
       sizes=st.tuples(st.integers(1, 6), st.integers(1, 6), st.integers(2, 5)),
       one_hot=st.booleans(), seed=st.integers(0, 2**16))
def test_two_layer_backprop_matches_numerical(activation, batch, sizes, one_hot, seed):
    rng = np.random.default_rng(seed)
    n_in, n_hidden, n_out = sizes
    net = TwoLayerNet(n_in, n_hidden, n_out, weight_init_std=0.5, activation=activation,
                      rng=rng)
    x = rng.standard_normal((batch, n_in))
    labels = rng.integers(0, n_out, batch)
    assume(kink_distance(net, x) > 1e-3)  # so ±h never crosses a relu's kink
    t = np.eye(n_out)[labels] if one_hot else labels
    assert_backprop_matches(net, x, t)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_two_layer_books_sizes_single_sample(activation):
    rng = np.random.default_rng(7)
    net = TwoLayerNet(784, 3, 10, activation=activation, rng=rng)
    x = rng.random(784)
    assert kink_distance(net, x) > 1e-3
    grads = net.gradient(x, 3)
    num = net.numerical_gradient(x, 3)
    for key in net.params:
        assert max_rel(grads[key], num[key]) <= 1e-7


def test_two_layer_predict_returns_probabilities_like_the_seed():
    net = TwoLayerNet(784, 100, 10, rng=0)
    assert net.params["W1"].shape == (784, 100) and net.params["b1"].shape == (100,)
    assert net.params["W2"].shape == (100, 10) and net.params["b2"].shape == (10,)
    x = np.random.default_rng(1).random((100, 784))
    y = net.predict(x)
    assert y.shape == (100, 10)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)
    assert net.predict(x[0]).shape == (10,)
    z1 = 1 / (1 + np.exp(-(x @ net.params["W1"] + net.params["b1"])))
    np.testing.assert_allclose(y, softmax(z1 @ net.params["W2"] + net.params["b2"]))


def test_same_seed_same_network_and_book_init():
    a, b = TwoLayerNet(5, 4, 3, rng=42), TwoLayerNet(5, 4, 3, rng=42)
    for key in a.params:
        np.testing.assert_array_equal(a.params[key], b.params[key])
    rng = np.random.default_rng(42)
    np.testing.assert_array_equal(a.params["W1"], 0.01 * rng.standard_normal((5, 4)))
    np.testing.assert_array_equal(a.params["W2"], 0.01 * rng.standard_normal((4, 3)))
    assert not np.array_equal(a.params["W1"], TwoLayerNet(5, 4, 3, rng=43).params["W1"])


def test_accuracy_with_labels_and_one_hot():
    net = TwoLayerNet(3, 4, 2, weight_init_std=1.0, rng=0)
    x = np.random.default_rng(0).standard_normal((10, 3))
    pred = net.predict(x).argmax(axis=1)
    assert net.accuracy(x, pred) == 1.0
    assert net.accuracy(x, np.eye(2)[1 - pred]) == 0.0
    assert net.accuracy(x, np.r_[pred[:5], 1 - pred[5:]]) == 0.5


@pytest.mark.parametrize("init, expected", [("relu", np.sqrt(2 / 50)), ("he", np.sqrt(2 / 50)),
                                            ("sigmoid", np.sqrt(1 / 50)),
                                            ("xavier", np.sqrt(1 / 50)), (0.3, 0.3)])
def test_weight_init_scales(init, expected):
    net = MultiLayerNet(50, [400], 3, weight_init_std=init, rng=0)
    assert net.params["W1"].std() == pytest.approx(expected, rel=0.05)  # n_in = 50


def test_multilayer_param_keys_in_order():
    net = MultiLayerNet(4, [3, 2], 2, use_batchnorm=True, rng=0)
    assert list(net.params) == ["W1", "b1", "gamma1", "beta1", "W2", "b2", "gamma2", "beta2",
                                "W3", "b3"]
    assert list(net.layers) == ["Affine1", "BatchNorm1", "Relu1", "Affine2", "BatchNorm2",
                                "Relu2", "Affine3"]


def test_weight_decay_is_in_loss_and_gradient():
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((4, 3)), np.array([0, 1, 1, 0])
    plain = MultiLayerNet(3, [5], 2, rng=1)
    decayed = MultiLayerNet(3, [5], 2, weight_decay_lambda=0.3, rng=1)
    penalty = 0.5 * 0.3 * sum(np.sum(decayed.params[k] ** 2) for k in ("W1", "W2"))
    assert decayed.loss(x, t) == pytest.approx(plain.loss(x, t) + penalty, rel=1e-14)
    g0, g1 = plain.gradient(x, t), decayed.gradient(x, t)
    np.testing.assert_allclose(g1["W1"], g0["W1"] + 0.3 * decayed.params["W1"], rtol=1e-14)
    np.testing.assert_array_equal(g1["b1"], g0["b1"])


def test_float32_net_stays_float32():
    net = MultiLayerNet(6, [5], 3, dtype=np.float32, rng=0)
    x = np.random.default_rng(0).random((4, 6))  # float64 input is cast, not promoted
    assert net.predict(x).dtype == np.float32
    assert all(g.dtype == np.float32 for g in net.gradient(x, [0, 1, 2, 0]).values())


def test_user_replacing_a_param_array_is_used():
    net = TwoLayerNet(3, 4, 2, rng=0)
    x = np.ones((1, 3))
    net.params["W2"] = np.zeros((4, 2))
    np.testing.assert_allclose(net.predict(x), [[0.5, 0.5]])
    net.params["W2"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match=r"params\['W2'\] was replaced.*\(4, 2\)"):
        net.predict(x)


def test_config_rebuilds_and_state_dict_round_trips():
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, weight_decay_lambda=0.1, rng=0)
    x = np.random.default_rng(0).standard_normal((5, 4))
    net.gradient(x, [0, 1, 0, 1, 1])  # updates running statistics
    config = json.loads(json.dumps(net.get_config()))
    clone = MultiLayerNet(**config)
    clone.load_state_dict(net.state_dict())
    np.testing.assert_array_equal(clone.predict(x), net.predict(x))
    two = TwoLayerNet(4, 3, 2, activation="relu", rng=0)
    assert TwoLayerNet(**two.get_config()).get_config() == two.get_config()


def test_load_state_dict_names_mismatches():
    net = MultiLayerNet(4, [3], 2, rng=0)
    state = net.state_dict()
    state["W1"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"W1.*\(3, 3\).*\(4, 3\)"):
        net.load_state_dict(state)
    del state["W1"]
    with pytest.raises(ValueError, match="missing.*W1"):
        net.load_state_dict(state)


def test_astype_makes_an_independent_copy():
    net = MultiLayerNet(4, [3], 2, use_batchnorm=True, rng=0)
    f32 = net.astype(np.float32)
    assert f32.dtype == np.float32 and net.dtype == np.float64
    assert all(p.dtype == np.float32 for p in f32.params.values())
    f32.params["W1"][...] = 0
    assert np.any(net.params["W1"] != 0)
    x = np.ones((2, 4), dtype=np.float32)
    assert f32.predict(x).dtype == np.float32


def test_dropout_is_off_in_evaluation_and_frozen_in_checks():
    net = MultiLayerNet(4, [50], 3, use_dropout=True, dropout_ratio=0.5, rng=0)
    x = np.random.default_rng(0).standard_normal((6, 4))
    np.testing.assert_array_equal(net.predict(x), net.predict(x))
    assert net.loss(x, [0] * 6) != net.loss(x, [0] * 6)  # a new mask each training pass
    with net.frozen():
        assert net.loss(x, [0] * 6) == net.loss(x, [0] * 6)


@pytest.mark.parametrize("make", [lambda: TwoLayerNet(4, 3, 2, rng=0),
                                  lambda: MultiLayerNet(4, [3], 2, rng=0)])
@pytest.mark.parametrize("x, t, error, message", [
    (np.ones((5, 3)), [0] * 5, ValueError, r"3 features per sample.*expects 4"),
    (np.ones((5, 4)), [0] * 4, ValueError, r"4 label\(s\) but x has 5 sample"),
    (np.ones((2, 4)), [0, 2], ValueError, r"label 2, outside \[0, 2\)"),
    (np.ones((2, 4)), [[1, 1], [0, 1]], ValueError, r"row 0 is not one-hot"),
    (np.array([[1.0, np.nan, 0, 0]]), [0], ValueError, r"NaN or infinite.*index \(0, 1\)"),
    (np.array([[1.0, np.inf, 0, 0]]), [0], ValueError, r"NaN or infinite"),
    ("not an array", [0], TypeError, r"x must be a numeric array"),
    (None, [0], TypeError, r"x must be a numeric array"),
    (np.ones((0, 4)), [], ValueError, r"empty batch"),
    (np.ones((0, 2, 2)), [], ValueError, r"empty batch \(shape \(0, 2, 2\)\)"),
])
def test_bad_input_is_named(make, x, t, error, message):
    net = make()
    for call in (net.loss, net.gradient, net.accuracy):
        with pytest.raises(error, match=message):
            call(x, t)


def test_bad_constructor_arguments_are_named():
    with pytest.raises(ValueError, match="activation must be one of"):
        TwoLayerNet(4, 3, 2, activation="swish")
    with pytest.raises(ValueError, match="hidden size must be a positive integer"):
        MultiLayerNet(4, [3, 0], 2)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        MultiLayerNet(4, [3], 2, dtype=np.int32)
    with pytest.raises(ValueError, match="weight_init_std"):
        MultiLayerNet(4, [3], 2, weight_init_std="glorot")
    with pytest.raises(TypeError, match="rng must be"):
        MultiLayerNet(4, [3], 2, rng="seed")


def test_numerical_gradient_falls_back_to_the_loop_for_an_unknown_layer():
    class Square:  # a user-written activation the fast path does not know
        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    net = MultiLayerNet(4, [3], 2, rng=0)
    net.layers["Relu1"] = Square()
    x, t = np.random.default_rng(0).standard_normal((5, 4)), [0, 1, 1, 0, 1]
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_array_equal(fast[key], loop[key])
    assert max_rel(net.gradient(x, t)["W1"], loop["W1"]) < 1e-7


@pytest.mark.parametrize("make, count, largest", [
    (lambda: TwoLayerNet(784, 10**9, 10), "795,000,000,010", r"W1, of shape \(784, 1000000000\)"),
    (lambda: MultiLayerNet(784, [10**6, 10**6], 10), "1,000,796,000,010",
     r"W2, of shape \(1000000, 1000000\)"),
])
def test_sizes_over_max_params_are_refused_before_allocating(make, count, largest):
    with pytest.raises(ValueError, match=rf"would have {count} parameters \(\d.*TiB in float64; "
                                         rf"the largest, {largest}\), more than "
                                         r"\w+\.max_params = 1,000,000,000"):
        make()


def test_max_params_can_be_changed_per_class(monkeypatch):
    # MultiLayerNet(4, [30], 2) has 4·30 + 30 + 30·2 + 2 = 212 parameters, [29] has 205
    monkeypatch.setattr(MultiLayerNet, "max_params", 211)
    with pytest.raises(ValueError, match=r"212 parameters.*MultiLayerNet\.max_params = 211"):
        MultiLayerNet(4, [30], 2)
    with pytest.raises(ValueError, match=r"212 parameters.*TwoLayerNet\.max_params = 211"):
        TwoLayerNet(4, 30, 2)  # a subclass: the same bound
    assert sum(p.size for p in MultiLayerNet(4, [29], 2).params.values()) == 205
    monkeypatch.setattr(TwoLayerNet, "max_params", 212)
    assert sum(p.size for p in TwoLayerNet(4, 30, 2).params.values()) == 212


def test_from_config_refuses_parameters_over_max_params():
    config = {"layers": [{"type": "Affine", "name": "Affine1",
                          "params": {"W": [784, 10**9], "b": [10**9]}}],
              "input_shape": [784], "output_size": 10**9}
    with pytest.raises(ValueError, match=r"785,000,000,000 parameters.*Affine1\.W.*"
                                         r"Network\.max_params"):
        Network.from_config(config)
