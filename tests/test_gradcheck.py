"""kobai.gradcheck: every layer and network passes, and planted bugs are found and located."""

import re

import numpy as np
import pytest
from conftest import BookNet, data, move_first_relu_input
from hypothesis import given, settings
from hypothesis import strategies as st

from kobai.gradcheck import GradCheckReport, check_gradients, check_layer
from kobai.gradcheck.probe import N_DIRECTIONS
from kobai.layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss, Tanh
from kobai.nets import MultiLayerNet, TwoLayerNet


def randomize_biases(net, rng):
    """Random biases (instead of zeros) keep every ReLU input away from its kink at 0."""
    for key, arr in net.params.items():
        if key.startswith("b"):
            arr[...] = rng.normal(0.0, 0.5, arr.shape)
    return net


def assert_exact_pass(report, max_rel=1e-6):
    assert report.passed, str(report)
    for name, r in report.results.items():
        assert r.status == "PASS", f"{name}\n{report}"
        assert r.max_rel_error <= max_rel, f"{name}\n{report}"


class PlantedAffine(Affine):
    """An Affine whose backward is right, then damaged by ``bug(layer)``."""

    def __init__(self, W, b, bug):
        super().__init__(W, b)
        self.bug = bug

    def backward(self, dout):
        dx = super().backward(dout)
        self.bug(self)
        return dx


def times(factor):
    def bug(layer):
        layer.dW = layer.dW * factor
    return bug


def transposed(layer):
    layer.dW = layer.dW.T.copy()


def no_bias_gradient(layer):
    layer.db = np.zeros_like(layer.db)


# (bug, the parameter it breaks, pattern named in the hint)
BUGS = {
    "dW x 2": (times(2.0), "W", "2 x numerical"),
    "dW x 1.01": (times(1.01), "W", "1.01 x numerical"),
    "dW transposed": (transposed, "W", "transpose"),
    "db = 0": (no_bias_gradient, "b", "all zeros"),
}


def planted(bug, layer):
    """A ``BookNet`` ``affine`` that builds the ``layer``-th Affine as a ``PlantedAffine``."""
    return lambda i, W, b: PlantedAffine(W, b, bug) if i == layer else Affine(W, b)


class MinimalNet:
    """Softmax regression with hand-written backprop: nothing but params, loss and gradient."""

    def __init__(self, rng):
        self.params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}

    def _probs(self, x):
        a = x @ self.params["W"] + self.params["b"]
        e = np.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def loss(self, x, t):
        return float(-np.mean(np.log(self._probs(x)[np.arange(len(t)), t])))

    def gradient(self, x, t):
        d = self._probs(x)
        d[np.arange(len(t)), t] -= 1
        d /= len(t)
        return {"W": x.T @ d, "b": d.sum(axis=0)}


# -- single layers ---------------------------------------------------------------------------

def _layer_cases():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((4, 3)), rng.standard_normal(3)
    gamma, beta = rng.uniform(0.5, 2.0, 4), rng.standard_normal(4)
    return {
        "Affine": (Affine(W, b), {"x": (5, 4)}, ["x", "W", "b"]),
        "Affine n-d input": (Affine(rng.standard_normal((6, 3)), b), {"x": (5, 2, 3)},
                             ["x", "W", "b"]),
        "Relu": (Relu(), {"x": (5, 4)}, ["x"]),
        "Sigmoid": (Sigmoid(), {"x": (5, 4)}, ["x"]),
        "Tanh": (Tanh(), {"x": (5, 4)}, ["x"]),
        "Dropout": (Dropout(0.4, rng=1), {"x": (5, 4)}, ["x"]),
        "BatchNormalization train": (BatchNormalization(gamma, beta), {"x": (6, 4)},
                                     ["x", "gamma", "beta"]),
        "BatchNormalization eval": (BatchNormalization(gamma.copy(), beta.copy()),
                                    {"x": (6, 4), "train": False}, ["x", "gamma", "beta"]),
        "SoftmaxWithLoss labels": (SoftmaxWithLoss(), {"x": (5, 4), "t": [0, 3, 1, 1, 2]},
                                   ["x"]),
        "SoftmaxWithLoss one-hot": (SoftmaxWithLoss(), {"x": (5, 4),
                                                        "t": np.eye(4)[[0, 3, 1, 1, 2]]}, ["x"]),
    }


@pytest.mark.parametrize("case", list(_layer_cases()))
def test_every_layer_passes_check_layer(case):
    layer, kwargs, names = _layer_cases()[case]
    kwargs = dict(kwargs)
    x = np.random.default_rng(1).standard_normal(kwargs.pop("x"))
    report = check_layer(layer, x, rng=2, **kwargs)
    assert list(report.results) == names
    assert_exact_pass(report)
    assert report.results["x"].n_checked == x.size


def test_check_layer_freezes_dropout_and_batchnorm_and_restores_the_flag():
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    running = bn.running_mean.copy(), bn.running_var.copy()
    check_layer(bn, np.random.default_rng(0).standard_normal((4, 3)))
    assert bn.frozen is False
    np.testing.assert_array_equal(bn.running_mean, running[0])
    np.testing.assert_array_equal(bn.running_var, running[1])


def test_affine_without_dx_checks_its_params_and_says_why_dx_was_skipped():
    rng = np.random.default_rng(0)
    layer = Affine(rng.standard_normal((3, 2)), rng.standard_normal(2))
    layer.compute_dx = False
    report = check_layer(layer, rng.standard_normal((4, 3)))
    assert list(report.results) == ["W", "b"] and report.passed
    assert any("compute_dx" in note for note in report.notes)


def test_loss_layer_needs_its_targets():
    with pytest.raises(TypeError, match=r"takes targets t.*check_layer\(layer, x, t="):
        check_layer(SoftmaxWithLoss(), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="takes no targets"):
        check_layer(Relu(), np.zeros((2, 3)), t=[0, 1])


def test_softmax_with_loss_that_ignores_dout_fails():
    class BookSoftmaxWithLoss(SoftmaxWithLoss):
        def backward(self, dout=1.0):
            return super().backward(1.0)  # the book's version ignores dout

    x = np.random.default_rng(0).standard_normal((3, 4))
    report = check_layer(BookSoftmaxWithLoss(), x, t=[0, 1, 2], dout=0.5)
    assert report.failed == ["x"]
    assert "2 x numerical" in report.results["x"].hint


def test_backward_that_modifies_dout_is_a_problem():
    class BookRelu:  # the book's common/layers.py Relu
        def forward(self, x):
            self.mask = x <= 0
            out = x.copy()
            out[self.mask] = 0
            return out

        def backward(self, dout):
            dout[self.mask] = 0
            return dout

    x = np.random.default_rng(0).standard_normal((4, 3))
    report = check_layer(BookRelu(), x)
    assert report.results["x"].passed  # the gradient itself is right
    assert not report.passed
    assert any("modified its dout" in p for p in report.problems)
    with pytest.raises(AssertionError, match="modified its dout"):
        report.raise_if_failed()


def test_layer_with_params_and_grads_dicts():
    class Scale:
        def __init__(self, w, bug=1.0):
            self.params, self.grads, self.bug = {"w": w}, {}, bug

        def forward(self, x):
            self.x = x
            return x * self.params["w"]

        def backward(self, dout):
            self.grads["w"] = self.bug * np.sum(dout * self.x, axis=0)
            return dout * self.params["w"]

    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    assert_exact_pass(check_layer(Scale(rng.standard_normal(3)), x))
    report = check_layer(Scale(rng.standard_normal(3), bug=-1.0), x)
    assert report.failed == ["w"]
    assert "wrong sign" in report.results["w"].hint


def test_float32_layer_is_checked_in_float64_and_left_unchanged():
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((3, 2)).astype(np.float32), np.zeros(2, np.float32)
    layer = Affine(W, b)
    W_before = W.copy()
    report = check_layer(layer, rng.standard_normal((4, 3)))
    assert_exact_pass(report)
    assert any("float32" in note and "float64" in note for note in report.notes)
    assert layer.W is W and W.dtype == np.float32 and layer.dW is None
    np.testing.assert_array_equal(W, W_before)


@pytest.mark.parametrize("bug", list(BUGS))
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_check_layer_catches_planted_bugs(bug, mode):
    damage, param, pattern = BUGS[bug]
    rng = np.random.default_rng(0)
    layer = PlantedAffine(rng.standard_normal((4, 4)), rng.standard_normal(4), damage)
    report = check_layer(layer, rng.standard_normal((5, 4)), mode=mode, rng=1)
    assert report.failed == [param]
    r = report.results[param]
    assert r.status == "FAIL" and r.worst_index in r.bad_indices
    assert pattern in r.hint
    assert r.mode == ("full" if mode == "full" else "fast->full")


@settings(max_examples=15, deadline=None)
@given(batch=st.integers(1, 6), n_in=st.integers(1, 5), n_out=st.integers(1, 5),
       seed=st.integers(0, 2**16))
def test_affine_backprop_equals_numerical_for_random_sizes(batch, n_in, n_out, seed):
    rng = np.random.default_rng(seed)
    layer = Affine(rng.standard_normal((n_in, n_out)), rng.standard_normal(n_out))
    report = check_layer(layer, rng.standard_normal((batch, n_in)), rng=rng)
    assert report.passed, str(report)


# -- networks --------------------------------------------------------------------------------

def _net_cases():
    cases = {f"TwoLayerNet {act}": (TwoLayerNet, (6, 5, 4), {"activation": act,
                                                              "weight_init_std": 0.5})
             for act in ("sigmoid", "relu", "tanh")}
    for act in ("relu", "sigmoid", "tanh"):
        for hidden in ([], [5], [5, 4], [5, 4, 3]):
            cases[f"MultiLayerNet {act} {hidden}"] = (MultiLayerNet, (6, hidden, 4),
                                                      {"activation": act})
    for act in ("relu", "tanh"):
        cases[f"MultiLayerNet {act} weight decay"] = (
            MultiLayerNet, (6, [5, 4], 4), {"activation": act, "weight_decay_lambda": 0.3})
        cases[f"MultiLayerNet {act} dropout"] = (
            MultiLayerNet, (6, [5, 4], 4), {"activation": act, "use_dropout": True,
                                            "dropout_ratio": 0.3})
        cases[f"MultiLayerNet {act} batchnorm"] = (
            MultiLayerNet, (6, [5, 4, 3], 4), {"activation": act, "use_batchnorm": True})
    cases["MultiLayerNet everything"] = (
        MultiLayerNet, (6, [5, 4], 4), {"use_batchnorm": True, "use_dropout": True,
                                        "weight_decay_lambda": 0.1})
    return cases


@pytest.mark.parametrize("case", list(_net_cases()))
def test_every_network_configuration_passes_in_full_mode(case):
    cls, args, kwargs = _net_cases()[case]
    rng = np.random.default_rng(3)
    net = randomize_biases(cls(*args, rng=4, **kwargs), rng)
    x, t = data(rng)
    report = check_gradients(net, x, t)
    assert list(report.results) == list(net.params)
    assert_exact_pass(report)
    assert all(r.n_checked == net.params[k].size for k, r in report.results.items())


@pytest.mark.parametrize("case", ["TwoLayerNet relu", "MultiLayerNet relu dropout",
                                  "MultiLayerNet relu batchnorm"])
def test_network_configurations_pass_in_fast_mode(case):
    cls, args, kwargs = _net_cases()[case]
    rng = np.random.default_rng(3)
    net = randomize_biases(cls(*args, rng=4, **kwargs), rng)
    report = check_gradients(net, *data(rng), mode="fast", rng=0)
    assert report.passed, str(report)
    assert {r.mode for r in report.results.values()} == {"fast"}


def test_bias_before_batchnorm_has_zero_gradient_and_passes_with_a_note():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(6, [5, 4], 4, use_batchnorm=True, rng=1)
    report = check_gradients(net, *data(rng))
    for key in ("b1", "b2"):  # Affine -> BatchNorm: the batch mean removes the bias again
        r = report.results[key]
        assert r.status == "PASS" and r.max_rel_error == 0.0
        assert np.all(np.abs(r.analytic_grad) <= 1e-15) and r.max_abs_error <= 1e-8
        assert any(note.startswith(f"{key}: backprop and numerical gradients are both zero")
                   for note in report.notes)
    assert report.results["b3"].max_abs_error > 0 and not any(
        note.startswith("b3:") for note in report.notes)


@settings(max_examples=12, deadline=None)
@given(hidden=st.lists(st.integers(1, 5), max_size=3), n_in=st.integers(1, 5),
       n_out=st.integers(2, 4), batch=st.integers(1, 6),
       activation=st.sampled_from(["relu", "sigmoid", "tanh"]), seed=st.integers(0, 2**16))
def test_backprop_equals_numerical_for_random_networks(hidden, n_in, n_out, batch, activation,
                                                        seed):
    rng = np.random.default_rng(seed)
    net = randomize_biases(MultiLayerNet(n_in, hidden, n_out, activation=activation, rng=rng),
                           rng)
    report = check_gradients(net, *data(rng, batch, n_in, n_out))
    assert report.passed, str(report)  # elements near a kink (KINK) are allowed


def test_book_style_net_with_only_params_loss_and_gradient():
    rng = np.random.default_rng(0)
    net = MinimalNet(rng)
    x, t = rng.standard_normal((5, 3)), rng.integers(0, 4, 5)
    report = check_gradients(net, x, t)
    assert list(report.results) == ["W", "b"]
    assert_exact_pass(report)
    assert any("no `layers`" in note for note in report.notes)
    assert check_gradients(net, x, t, mode="fast").passed


@pytest.mark.parametrize("activation", [Relu, Sigmoid])
def test_book_style_net_on_kobai_layers_passes(activation):
    rng = np.random.default_rng(0)
    net = BookNet([6, 5, 4, 3], activation=activation)
    x, t = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    assert_exact_pass(check_gradients(net, x, t))


@pytest.mark.parametrize("bug", list(BUGS))
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_check_gradients_catches_planted_bugs_and_names_the_worst_element(bug, mode):
    damage, param, pattern = BUGS[bug]
    rng = np.random.default_rng(0)
    net = BookNet([6, 4, 4, 3], affine=planted(damage, layer=2))  # W2 square, to transpose
    x, t = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    report = check_gradients(net, x, t, mode=mode, rng=1)
    name = f"{param}2"
    assert not report.passed and report.failed == [name]
    r = report.results[name]
    assert pattern in r.hint
    full = check_gradients(net, x, t).results[name]
    assert r.worst_index == full.worst_index and r.n_bad == full.n_bad
    where = f"{name}[{', '.join(map(str, r.worst_index))}]"
    assert where in str(report)
    if mode == "fast":
        assert r.mode == "fast->full" and r.directional is not None
        assert any(note.startswith(f"{name}: a directional derivative disagreed")
                   for note in report.notes)
        others = [k for k in report.results if k != name]
        assert all(report.results[k].mode == "fast" for k in others)
    with pytest.raises(AssertionError) as info:
        report.raise_if_failed()
    message = str(info.value)
    assert where in message and f"backprop {r.analytic:.6e}" in message
    assert f"numerical {r.numerical:.6e}" in message


def test_fast_mode_evaluates_the_loss_twice_per_direction_three_directions_per_array():
    class Counting(MultiLayerNet):
        calls = {"loss": 0, "gradient": 0}

        def loss(self, x, t, train=True):
            self.calls["loss"] += 1
            return super().loss(x, t, train)

        def gradient(self, x, t):
            self.calls["gradient"] += 1
            return super().gradient(x, t)

    rng = np.random.default_rng(0)
    net = randomize_biases(Counting(6, [5, 4], 4, rng=0), rng)
    assert check_gradients(net, *data(rng), mode="fast").passed
    assert Counting.calls == {"loss": 2 * N_DIRECTIONS * len(net.params), "gradient": 1}
    assert N_DIRECTIONS == 3


def kink_net(b1):
    """A 2-2-2 relu net whose relu inputs for sample 0 (all zeros) are exactly ``b1``."""
    net = MultiLayerNet(2, [2], 2, activation="relu")
    net.params["W1"][...] = [[1.0, -1.0], [2.0, 3.0]]
    net.params["b1"][...] = b1
    net.params["W2"][...] = [[1.0, 2.0], [3.0, -1.0]]
    net.params["b2"][...] = [0.1, -0.1]
    return net, np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])


def test_relu_kink_with_fixed_values_is_flagged_not_failed_or_passed():
    net, x, t = kink_net(0.0)
    for mode in ("full", "fast"):
        report = check_gradients(net, x, t, mode=mode, rng=0)
        b1 = report.results["b1"]
        assert b1.status == "KINK" and b1.n_kinks == 2 and b1.kink_indices == [(0,), (1,)]
        assert b1.n_bad == 0 and b1.n_checked == 0
        # Without the kink rule it would fail: the central difference averages both slopes.
        assert not np.allclose(b1.analytic_grad, b1.numerical_grad, rtol=1e-5, atol=1e-8)
        assert report.passed and report.n_kinks == 2
        assert [report.results[k].status for k in ("W1", "W2", "b2")] == ["PASS"] * 3
        text = str(report)
        assert re.search(r"^b1 .*KINK$", text, re.MULTILINE)
        assert "near a ReLU kink not checked" in text and "b1[0], b1[1]" in text
    assert any("moved a ReLU input across 0" in note for note in report.notes)


def test_fast_mode_retries_a_kinked_direction_with_a_smaller_step():
    net, x, t = kink_net([3e-6, 0.5])  # within eps = 1e-5 of the kink, not within 1e-6
    assert check_gradients(net, x, t).results["b1"].status == "KINK"
    report = check_gradients(net, x, t, mode="fast", rng=0)
    assert report.results["b1"].mode == "fast" and report.results["b1"].status == "PASS"
    assert any(note.startswith("b1: a random direction moved a ReLU input across 0 with "
                               "eps=1e-05; the same direction with eps=1e-06 did not")
               for note in report.notes)


def test_relu_layer_kink_with_fixed_values():
    report = check_layer(Relu(), np.array([[-1.0, 0.0, 1.0]]), dout=np.array([[1.0, 1.0, 1.0]]))
    r = report.results["x"]
    assert r.status == "KINK" and r.kink_indices == [(0, 1)] and r.n_checked == 2
    assert r.numerical_grad[0, 1] == pytest.approx(0.5) and r.analytic_grad[0, 1] == 0.0
    assert report.passed


def test_float32_net_is_checked_in_float64_and_left_unchanged():
    rng = np.random.default_rng(0)
    net = randomize_biases(MultiLayerNet(6, [5], 4, use_dropout=True, rng=1,
                                         dtype=np.float32), rng)
    before = {k: v.copy() for k, v in net.params.items()}
    arrays = dict(net.params)
    report = check_gradients(net, *data(rng))
    assert_exact_pass(report)
    assert any("float32" in n and "net.astype(np.float64)" in n and "unchanged" in n
               for n in report.notes)
    for key, arr in net.params.items():
        assert arr is arrays[key] and arr.dtype == np.float32
        assert arr.tobytes() == before[key].tobytes()


def test_float32_book_style_net_without_astype_is_copied_and_rewired():
    rng = np.random.default_rng(0)
    net = BookNet([6, 5, 3], dtype=np.float32)
    before = {k: v.copy() for k, v in net.params.items()}
    report = check_gradients(net, rng.standard_normal((4, 6)), rng.integers(0, 3, 4))
    assert_exact_pass(report)
    assert any("deep copy" in note for note in report.notes)
    assert net.layers["Affine1"].W is net.params["W1"]
    for key, arr in net.params.items():
        assert arr.dtype == np.float32 and arr.tobytes() == before[key].tobytes()


def test_params_and_running_statistics_are_restored_bit_for_bit():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(6, [5, 4], 4, use_batchnorm=True, use_dropout=True, rng=1)
    state = net.state_dict()
    arrays = dict(net.params)
    check_gradients(net, *data(rng))
    check_gradients(net, *data(rng), mode="fast")
    for key, arr in net.state_dict().items():
        assert arr.tobytes() == state[key].tobytes(), key
    assert all(net.params[k] is arrays[k] for k in arrays)
    assert not any(getattr(layer, "frozen", False) for layer in net.layers.values())


def test_params_are_restored_when_the_loss_raises_midway():
    class Flaky(MultiLayerNet):
        n = 0

        def loss(self, x, t, train=True):
            Flaky.n += 1
            if Flaky.n == 7:
                raise RuntimeError("out of memory")
            return super().loss(x, t, train)

    rng = np.random.default_rng(0)
    net = Flaky(3, [2], 2, rng=0)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(RuntimeError, match="out of memory"):
        check_gradients(net, *data(rng, 4, 3, 2))
    for key, arr in net.params.items():
        assert arr.tobytes() == before[key].tobytes()


def test_random_loss_is_explained_when_the_check_fails():
    class BookDropout:  # draws a new mask in every forward pass: no way to freeze it
        def __init__(self):
            self.rng = np.random.default_rng(0)

        def forward(self, x):
            self.mask = self.rng.random(x.shape) > 0.5
            return x * self.mask

        def backward(self, dout):
            return dout * self.mask

    net = BookNet([6, 5, 3], activation=BookDropout)
    rng = np.random.default_rng(1)
    report = check_gradients(net, rng.standard_normal((4, 6)), rng.integers(0, 3, 4))
    assert not report.passed
    assert any("it is random" in note for note in report.notes)


def test_missing_or_misshapen_gradients_are_problems():
    rng = np.random.default_rng(0)
    net = MinimalNet(rng)
    good = net.gradient
    net.gradient = lambda x, t: {"W": good(x, t)["W"]}
    report = check_gradients(net, rng.standard_normal((3, 3)), [0, 1, 2])
    assert not report.passed and list(report.results) == ["W"]
    assert any("returned no 'b'" in p for p in report.problems)
    net.gradient = lambda x, t: {"W": good(x, t)["W"].T, "b": good(x, t)["b"]}
    report = check_gradients(net, rng.standard_normal((3, 3)), [0, 1, 2])
    assert any("has shape (4, 3) but params['W'] has shape (3, 4)" in p
               for p in report.problems)


def test_report_table_and_raise_if_failed_on_success():
    rng = np.random.default_rng(0)
    net = randomize_biases(TwoLayerNet(6, 5, 4, rng=0), rng)
    report = check_gradients(net, *data(rng))
    assert isinstance(report, GradCheckReport) and report.mode == "full"
    text = str(report)
    lines = text.splitlines()
    assert lines[1].split()[:3] == ["param", "shape", "checked"] and "status" in lines[1]
    for key in net.params:
        assert re.search(rf"^{key} .* PASS$", text, re.MULTILINE)
    assert lines[2 + len(net.params)].startswith("PASSED: 4 arrays, 59 elements")
    assert report.raise_if_failed() is None
    assert report["W1"] is report.results["W1"]


def test_bad_arguments_are_named():
    net = TwoLayerNet(3, 2, 2, rng=0)
    x, t = np.zeros((2, 3)), [0, 1]
    with pytest.raises(ValueError, match="mode must be one of"):
        check_gradients(net, x, t, mode="slow")
    with pytest.raises(ValueError, match="eps must be a finite number > 0"):
        check_gradients(net, x, t, eps=0.0)
    with pytest.raises(ValueError, match="rtol must be"):
        check_gradients(net, x, t, rtol=-1)
    with pytest.raises(TypeError, match="has no gradient"):
        check_gradients(object.__new__(type("Net", (), {"params": {}, "loss": 0})), x, t)
    with pytest.raises(TypeError, match="forward"):
        check_layer(object(), x)
    with pytest.raises(ValueError, match=r"dout has shape \(3,\) but forward\(x\) returned"):
        check_layer(Relu(), x, dout=np.zeros(3))


def test_full_mode_uses_the_structured_numerical_gradient_only_when_exact():
    rng = np.random.default_rng(0)
    x, t = rng.random((4, 6)), np.array([0, 1, 2, 1])
    sigmoid_net = TwoLayerNet(6, 5, 3, weight_init_std=0.5, rng=0)
    report = check_gradients(sigmoid_net, x, t)
    assert report.passed and any("structured" in note for note in report.notes)
    relu_net = TwoLayerNet(6, 5, 3, activation="relu", weight_init_std=0.5, rng=0)
    report = check_gradients(relu_net, x, t)
    assert report.passed and any("structured" in note for note in report.notes)
    # A patched forward is what the loss computes: when it no longer computes what the
    # layer's apply does, the element loop must be used; a patch that keeps it, need not.
    layer = sigmoid_net.layers["Sigmoid1"]
    real_forward = layer.forward
    layer.forward = lambda z: real_forward(z) * 1.0
    assert any("structured" in n for n in check_gradients(sigmoid_net, x, t).notes)
    layer.forward = lambda z: real_forward(z) * 2.0
    notes = check_gradients(sigmoid_net, x, t).notes
    assert not any("structured" in n for n in notes)
    assert any("forward no longer computes what its apply does" in n for n in notes)


def check_by_the_loop(monkeypatch, net, x, t, **kwargs):
    """check_gradients with the element loop instead of the structured numerical gradient."""
    report = check_gradients(net, x, t, structured=False, **kwargs)
    assert not any("structured" in note for note in report.notes)
    return report


@pytest.mark.parametrize("case", [c for c in _net_cases() if "relu" in c and "[]" not in c])
@pytest.mark.parametrize("offset", [None, 0.0, 4e-6])
def test_relu_nets_get_the_loops_statuses_and_kinks_from_the_structured_path(
        monkeypatch, case, offset):
    cls, args, kwargs = _net_cases()[case]
    rng = np.random.default_rng(5)
    net = randomize_biases(cls(*args, rng=6, **kwargs), rng)
    x, t = data(rng)
    x[0] = 0.0  # relu inputs of sample 0 are the first biases (without batch norm)
    if offset is not None:
        net = move_first_relu_input(net, x, offset)
    expected = check_by_the_loop(monkeypatch, net, x, t)
    report = check_gradients(net, x, t)
    assert any("structured" in note for note in report.notes)
    assert report.passed == expected.passed and report.n_kinks == expected.n_kinks
    for key, r in report.results.items():
        e = expected.results[key]
        assert (r.status, r.n_kinks, r.n_bad, r.n_checked) == (
            e.status, e.n_kinks, e.n_bad, e.n_checked), key
        assert r.kink_indices == e.kink_indices, key
        np.testing.assert_allclose(r.numerical_grad, e.numerical_grad, rtol=1e-7, atol=1e-9)
    if offset is not None:
        assert report.n_kinks > 0


@pytest.mark.parametrize("b1", [0.0, [3e-6, 0.5], [-1e-5, 2e-5]])
def test_kink_net_statuses_are_the_loops(monkeypatch, b1):
    net, x, t = kink_net(b1)
    expected = check_by_the_loop(monkeypatch, net, x, t)
    report = check_gradients(net, x, t)
    assert any("structured" in note for note in report.notes)
    assert [(r.status, r.kink_indices) for r in report.results.values()] == [
        (r.status, r.kink_indices) for r in expected.results.values()]


def test_planted_relu_bug_fails_on_the_structured_path_as_in_the_loop(monkeypatch):
    rng = np.random.default_rng(7)
    net = randomize_biases(MultiLayerNet(6, [5, 4], 4, activation="relu", rng=8), rng)
    x, t = data(rng)
    layer = net.layers["Affine2"]
    real_backward = layer.backward

    def halved_w2(dout):
        dx = real_backward(dout)
        layer.dW = layer.dW * 0.5
        return dx
    layer.backward = halved_w2
    report, expected = check_gradients(net, x, t), check_by_the_loop(monkeypatch, net, x, t)
    assert any("structured" in note for note in report.notes)
    assert report.results["W2"].status == expected.results["W2"].status == "FAIL"
    assert [r.status for r in report.results.values()] == [
        r.status for r in expected.results.values()]
