"""check_function (any NumPy function with a hand-written vjp or grad), the hints every checker
shares, locate=True on kobai networks, kobai.testing.assert_gradients and the eps sweep."""

import numpy as np
import pytest
from conftest import BookNet

from kobai.gradcheck import check_function, check_gradients, check_layer
from kobai.gradcheck.engine import resolve_tolerances
from kobai.layers import Affine, Convolution, Pooling
from kobai.nets import MultiLayerNet
from kobai.plot import plot_eps_sweep
from kobai.testing import assert_gradients

RNG = np.random.default_rng(0)


# -- a suite of correct functions, each with its backward written out -------------------------

def affine(x, W, b):
    return x @ W + b


def affine_vjp(a, v):
    return {"x": v @ a["W"].T, "W": a["x"].T @ v, "b": v.sum(axis=0)}


def leaky(x):
    return np.where(x > 0, x, 0.1 * x)


def leaky_vjp(a, v):
    return {"x": np.where(a["x"] > 0, v, 0.1 * v)}


def relu_vjp(a, v):
    return {"x": v * (a["x"] > 0)}


def maxpool(x):  # 2x2 windows of (N, C, H, W)
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).max(axis=(3, 5))


def maxpool_vjp(a, v):
    x = a["x"]
    n, c, h, w = x.shape
    win = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(
        n, c, h // 2, w // 2, 4)
    first = win.argmax(axis=-1)  # ties: the first maximum gets the gradient
    dwin = np.zeros_like(win)
    np.put_along_axis(dwin, first[..., None], v[..., None], axis=-1)
    return {"x": dwin.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
            .reshape(x.shape)}


def softmax_ce(x, t):
    z = x - x.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(t)), t].mean()


def softmax_ce_vjp(a, v):
    x, t = a["x"], a["t"]
    p = np.exp(x - x.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(t)), t] -= 1
    return {"x": v * p / len(t)}


def layer_norm(x, g, b, eps=1e-5):
    mu = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return g * (x - mu) / np.sqrt(var + eps) + b


def layer_norm_vjp(a, v, eps=1e-5):
    x, g = a["x"], a["g"]
    d = x.shape[1]
    mu = x.mean(axis=1, keepdims=True)
    inv = 1 / np.sqrt(x.var(axis=1, keepdims=True) + eps)
    xhat = (x - mu) * inv
    dxhat = v * g
    dx = inv / d * (d * dxhat - dxhat.sum(1, keepdims=True)
                    - xhat * (dxhat * xhat).sum(1, keepdims=True))
    return {"x": dx, "g": (v * xhat).sum(0), "b": v.sum(0)}


def mlp(x, W1, W2, W3):
    return np.tanh(np.tanh(x @ W1) @ W2) @ W3


def mlp_vjp(a, v):
    h1 = np.tanh(a["x"] @ a["W1"])
    h2 = np.tanh(h1 @ a["W2"])
    d2 = (v @ a["W3"].T) * (1 - h2 ** 2)
    d1 = (d2 @ a["W2"].T) * (1 - h1 ** 2)
    return {"x": d1 @ a["W1"].T, "W1": a["x"].T @ d1, "W2": h1.T @ d2, "W3": h2.T @ v}


def exact_zeros(shape, rng=RNG):
    x = rng.standard_normal(shape)
    x.reshape(-1)[::3] = 0.0
    return x


CORRECT = {
    "affine": (affine, lambda: {"x": RNG.standard_normal((8, 5)),
                                "W": RNG.standard_normal((5, 3)),
                                "b": RNG.standard_normal(3)}, affine_vjp),
    "relu at exact zeros": (lambda x: np.maximum(x, 0), lambda: {"x": exact_zeros((6, 5))},
                            relu_vjp),
    "leaky relu at exact zeros": (leaky, lambda: {"x": exact_zeros((6, 5))}, leaky_vjp),
    "max-pool with ties": (maxpool, lambda: {"x": np.round(RNG.standard_normal((2, 2, 4, 4)))},
                           maxpool_vjp),
    "abs at exact zeros": (np.abs, lambda: {"x": exact_zeros((4, 6))},
                           lambda a, v: {"x": v * np.sign(a["x"])}),
    "clip at the bounds": (lambda x: np.clip(x, -0.5, 0.5),
                           lambda: {"x": np.array([[-0.5, 0.5, 0.2, -1.0, 2.0, 0.0]])},
                           lambda a, v: {"x": v * (np.abs(a["x"]) < 0.5)}),
    "softmax cross-entropy": (softmax_ce, lambda: {"x": RNG.standard_normal((6, 4)),
                                                   "t": RNG.integers(0, 4, 6)},
                              softmax_ce_vjp),
    "layer norm": (layer_norm, lambda: {"x": RNG.standard_normal((5, 6)),
                                        "g": RNG.standard_normal(6),
                                        "b": RNG.standard_normal(6)}, layer_norm_vjp),
    "3-layer MLP": (mlp, lambda: {"x": RNG.standard_normal((6, 5)),
                                  "W1": RNG.standard_normal((5, 7)),
                                  "W2": RNG.standard_normal((7, 7)),
                                  "W3": RNG.standard_normal((7, 3))}, mlp_vjp),
}


@pytest.mark.parametrize("case", list(CORRECT))
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_correct_functions_pass(case, mode):
    f, inputs, vjp = CORRECT[case]
    report = check_function(f, inputs(), vjp, mode=mode, rng=1)
    assert report.passed, str(report)
    assert report.kind == "input" and "input" in str(report).splitlines()[1]


ONE_SIDED_ABS = (np.abs, lambda: {"x": exact_zeros((4, 6))},
                 lambda a, v: {"x": v * np.where(a["x"] >= 0, 1.0, -1.0)})


@pytest.mark.parametrize("case", ["relu at exact zeros", "abs, slope +1 at 0",
                                  "clip at the bounds", "max-pool with ties"])
def test_kinks_are_judged_between_the_one_sided_differences(case):
    # (np.sign's 0 at 0 equals the central difference there: nothing to judge, a PASS)
    f, inputs, vjp = ONE_SIDED_ABS if case.startswith("abs") else CORRECT[case]
    report = check_function(f, inputs(), vjp)
    r = report.results["x"]
    assert r.status == "KINK" and r.kink_rule == "between" and r.n_kinks > 0
    assert "backprop must lie between them" in str(report)
    # at a kink a value outside [D-, D+] fails: the average slope is not a valid gradient
    def halfway(a, v):
        g = vjp(a, v)["x"]
        return {"x": np.where(np.isin(np.arange(g.size).reshape(g.shape),
                                      [np.ravel_multi_index(i, g.shape) for i in r.kink_indices]),
                              g + 10.0, g)}
    assert not check_function(f, inputs(), halfway).passed


def test_smooth_curvature_is_not_a_kink():
    report = check_function(lambda x: np.exp(3 * x), {"x": np.linspace(-1, 2, 12)},
                            lambda a, v: {"x": 3 * v * np.exp(3 * a["x"])})
    assert report.passed and report.n_kinks == 0


def test_a_kink_between_half_the_step_and_the_step_uses_the_smaller_step():
    x = np.array([0.7e-5, 1.0])  # |x| between eps/2 and eps: only the full step straddles 0
    report = check_function(np.abs, {"x": x}, lambda a, v: {"x": v * np.sign(a["x"])})
    assert report.passed and report.n_kinks == 0


# -- hints, each with a planted bug -----------------------------------------------------------

def planted(bug):
    def vjp(a, v):
        g = affine_vjp(a, v)
        g["x"] = bug(g["x"])
        return g
    return vjp


X_AFFINE = {"x": RNG.standard_normal((8, 6)), "W": RNG.standard_normal((6, 6)),
            "b": RNG.standard_normal(6)}


def _keep(rows):
    def bug(g):
        g = g.copy()
        g[rows] *= 1.5
        return g
    return bug


def _drop_half(g):
    g = g.copy()
    g[:, :3] = 0
    return g


HINTS = {
    "missing mean": (lambda g: 8 * g, "missing mean"),
    "extra mean": (lambda g: g / 8, "an extra mean"),
    "factor 2": (lambda g: 2 * g, "a factor 2"),
    "constant factor": (lambda g: 3 * g, "a constant factor"),
    "wrong sign": (lambda g: -g, "wrong sign"),
    "all zeros": (np.zeros_like, "all zeros"),
    "missing path": (_drop_half, "a missing path"),
    "some samples": (_keep([2, 5]), "wrong only for samples 2, 5 (axis 0) of 8"),
    "one sample right": (_keep(slice(1, None)), "right only for sample 0 (axis 0) of 8"),
}


@pytest.mark.parametrize("case", list(HINTS))
def test_planted_bugs_get_their_hint(case):
    bug, hint = HINTS[case]
    report = check_function(affine, X_AFFINE, planted(bug))
    assert report.failed == ["x"]
    assert hint in report.results["x"].hint, report.results["x"].hint
    assert hint in str(report)


def test_a_transposed_weight_gradient_is_named():
    def vjp(a, v):
        g = affine_vjp(a, v)
        g["W"] = g["W"].T.copy()
        return g
    report = check_function(affine, X_AFFINE, vjp)
    assert report.failed == ["W"]
    assert report.results["W"].hint == "backprop gradient is the transpose of the numerical one"


def test_channels_and_swapped_axes_of_image_shaped_inputs():
    x = {"x": RNG.standard_normal((4, 3, 5, 5))}

    def wrong_channel(a, v):
        g = 2 * a["x"] * v
        g[:, 1] *= 0.5
        return {"x": g}
    r = check_function(lambda x: x ** 2, x, wrong_channel).results["x"]
    assert "wrong only for channel 1 (axis 1) of 3" in r.hint

    def swapped(a, v):
        return {"x": np.swapaxes(2 * a["x"] * v, 2, 3)}
    r = check_function(lambda x: x ** 2, x, swapped).results["x"]
    assert "axes 2 and 3 swapped" in r.hint


def test_parameters_get_no_batch_hints():
    def bug(a, v):
        g = affine_vjp(a, v)
        g["W"] = g["W"].copy()
        g["W"][2] *= 3
        return g
    inputs = {"x": RNG.standard_normal((8, 5)), "W": RNG.standard_normal((5, 3)),
              "b": RNG.standard_normal(3)}
    r = check_function(affine, inputs, bug).results["W"]
    assert "sample" not in r.hint and r.hint == "all out-of-tolerance elements are in row 2"


def test_missing_mean_in_check_gradients_and_check_layer():
    rng = np.random.default_rng(0)
    net = BookNet([6, 4, 3], affine=lambda i, W, b: Affine(W, b) if i == 1 else Mean(W, b))
    x, t = rng.standard_normal((5, 6)), rng.integers(0, 3, 5)
    report = check_gradients(net, x, t)
    assert "missing mean" in report.results["W2"].hint and "N = 5" in report.results["W2"].hint
    layer = Mean(rng.standard_normal((6, 3)), rng.standard_normal(3))
    assert "missing mean" in check_layer(layer, x).results["W"].hint


class Mean(Affine):
    """An Affine whose dW forgot that the loss above averaged over the batch... inverted: it
    multiplies by the batch size."""

    def backward(self, dout):
        dx = super().backward(dout)
        self.grads["W"] *= len(dout)
        return dx


# -- the rest of the spec ----------------------------------------------------------------------

def test_tuple_inputs_are_named_and_several_outputs_are_checked_one_by_one():
    def f(x, y):
        return x * y, np.sin(x)

    def vjp(a, v):
        x, y = a
        return v[0] * y + v[1] * np.cos(x), v[0] * x
    inputs = (RNG.standard_normal(4), RNG.standard_normal(4))
    report = check_function(f, inputs, vjp)
    assert list(report.results) == ["x0->out0", "x0->out1", "x1->out0", "x1->out1"]
    assert report.passed

    def wrong(a, v):
        gx, gy = vjp(a, v)
        return gx - v[1] * np.cos(a[0]) * 2, gy  # the sin output's term with the wrong sign
    assert check_function(f, inputs, wrong).failed == ["x0->out1"]


def test_grad_for_scalar_functions_and_the_whole_jacobian():
    report = check_function(lambda x: np.sum(x ** 3), {"x": RNG.standard_normal(5)},
                            grad=lambda a: {"x": 3 * a["x"] ** 2})
    assert report.passed
    with pytest.raises(TypeError, match="grad= is for a scalar f"):
        check_function(np.sin, {"x": np.ones(3)}, grad=lambda a: {"x": np.cos(a["x"])})
    full = check_function(affine, X_AFFINE, affine_vjp, jacobian=True)
    assert full.passed and full.results["x"].shape == (8, 6, 8, 6)
    assert not check_function(affine, X_AFFINE, planted(lambda g: g + 1e-3),
                              jacobian=True).passed


def test_fast_mode_checks_three_directions_and_escalates_only_the_failing_input():
    report = check_function(affine, X_AFFINE, planted(lambda g: 2 * g), mode="fast", rng=0)
    assert report.results["W"].mode == "fast" and len(report.results["W"].directions) == 3
    assert report.results["x"].mode == "fast->full" and report.results["x"].n_bad == 48
    assert "3 dirs" in str(report)


def test_fast_mode_samples_a_large_input_and_says_so():
    x = RNG.standard_normal(30_000)
    report = check_function(lambda x: x ** 2, {"x": x}, lambda a, v: {"x": 2.001 * a["x"] * v},
                            mode="fast", rng=0, max_elements=500)
    r = report.results["x"]
    assert r.n_checked == 500 and r.n_elements == 30_000 and r.n_bad > 0
    assert "500 of its 30,000 elements were checked" in str(report)
    assert r.worst_index is not None


def test_float32_is_checked_against_a_float64_shadow_or_by_the_dtype_rule():
    x32 = RNG.standard_normal((6, 4)).astype(np.float32)
    report = check_function(np.tanh, {"x": x32}, lambda a, v: {"x": v * (1 - np.tanh(a["x"]) ** 2)})
    assert report.passed and "float32 backprop, float64 numerical" in report.precision
    assert report.eps == 1e-5 and report.rtol == pytest.approx(10 * np.finfo(np.float32).eps ** 0.5)

    def stays32(x):
        return np.tanh(x.astype(np.float32))
    report = check_function(stays32, {"x": x32}, lambda a, v: {"x": v * (1 - stays32(a["x"]) ** 2)})
    assert report.passed and "float32 on both sides" in report.precision
    assert report.eps == pytest.approx(np.finfo(np.float32).eps ** (1 / 3))
    assert not check_function(stays32, {"x": x32},
                              lambda a, v: {"x": 1.1 * v * (1 - stays32(a["x"]) ** 2)}).passed
    assert x32.dtype == np.float32
    assert resolve_tolerances(np.dtype(np.float64), np.dtype(np.float64), None, None, None) == (
        1e-5, 1e-5, 1e-8)


def test_nondeterministic_functions_are_named_not_failed_at_random():
    rng = np.random.default_rng(0)
    report = check_function(lambda x: x * (rng.random(x.shape) > 0.5), {"x": np.ones(5)},
                            lambda a, v: {"x": v})
    assert not report.passed and not report.results
    assert "not deterministic" in report.problems[0]


def test_a_function_that_writes_into_its_input_is_reported_and_nothing_is_changed():
    def f(x):
        x *= 2
        return x

    x = np.arange(1.0, 5.0)
    report = check_function(f, {"x": x}, lambda a, v: {"x": 2 * v})
    assert report.passed and any("writes into its input x" in n for n in report.notes)
    np.testing.assert_array_equal(x, np.arange(1.0, 5.0))


def test_integer_inputs_are_constants_and_said_so():
    report = check_function(softmax_ce, {"x": RNG.standard_normal((3, 4)),
                                         "t": np.array([0, 2, 1])}, softmax_ce_vjp)
    assert report.passed and list(report.results) == ["x"]
    assert any("t (int64)" in n and "constants" in n for n in report.notes)


def test_a_missing_gradient_is_a_missing_path():
    def vjp(a, v):
        g = affine_vjp(a, v)
        g["b"] = None
        return g
    report = check_function(affine, X_AFFINE, vjp)
    assert report.failed == ["b"] and "all zeros" in report.results["b"].hint


@pytest.mark.parametrize("bad, message", [
    (lambda a, v: {"x": v @ a["W"].T, "W": a["x"].T @ v}, r"missing \['b'\]"),
    (lambda a, v: {**affine_vjp(a, v), "y": v}, r"unknown \['y'\]"),
    (lambda a, v: {**affine_vjp(a, v), "b": v}, r"gradient of b with shape \(8, 6\); expected "
                                                r"b's shape \(6,\)"),
    (lambda a, v: {**affine_vjp(a, v), "b": np.ones(6, dtype=int)}, "dtype int64"),
    (lambda a, v: {**affine_vjp(a, v), "b": np.full(6, np.nan)}, "non-finite values in the "
                                                                 "gradient of b"),
    (lambda a, v: [1, 2], "vjp returned 2 gradients; expected one per input"),
    (lambda a, v: "x", "expected a dict keyed by input name"),
])
def test_a_wrong_vjp_is_named(bad, message):
    with pytest.raises((ValueError, TypeError), match=message):
        check_function(affine, X_AFFINE, bad)


def test_bad_inputs_are_refused_with_their_name():
    x = np.ones(3)
    with pytest.raises(ValueError, match="'y' already holds nan"):
        check_function(np.add, {"x": x, "y": np.array([1.0, np.nan, 0])}, lambda a, v: a)
    with pytest.raises(ValueError, match="'x' and 'y' are the same array"):
        check_function(np.multiply, {"x": x, "y": x}, lambda a, v: a)
    with pytest.raises(TypeError, match="'x' is complex"):
        check_function(np.sin, {"x": np.ones(2, dtype=complex)}, lambda a, v: a)
    with pytest.raises(ValueError, match="non-finite values in output 'out'"), \
            np.errstate(invalid="ignore"):
        check_function(np.log, {"x": np.array([1.0, -1.0])}, lambda a, v: {"x": v / a["x"]})
    report = check_function(lambda x, y: x.sum() + y, {"x": np.ones((0, 3)), "y": np.ones(2)},
                            lambda a, v: {"x": np.zeros((0, 3)), "y": v})
    assert any("x has no elements" in n for n in report.notes)
    with pytest.raises(TypeError, match="exactly one of vjp"):
        check_function(np.sin, {"x": x})


def test_eps_sweep_draws_the_v():
    report = check_function(np.sin, {"x": np.array([0.3, 1.2])},
                            lambda a, v: {"x": v * np.cos(a["x"])}, eps_sweep=True)
    sweep = report.sweeps["x"]
    assert sweep.steps[0] == 0.1 and sweep.steps[-1] == pytest.approx(1e-10)
    # truncation at large steps, rounding at tiny ones, the best in between
    assert sweep.errors[0] > 1e3 * sweep.best_error and sweep.errors[-1] > 10 * sweep.best_error
    assert 1e-7 <= sweep.best_step <= 1e-3 and "eps sweep of x[" in str(report)
    fig = plot_eps_sweep(report)
    assert fig.axes[0].get_xscale() == "log"


def test_locate_names_the_wrong_layer_of_a_kobai_network():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(6, [5, 4], 3, activation="sigmoid", rng=0)
    x, t = rng.standard_normal((4, 6)), rng.integers(0, 3, 4)
    assert check_gradients(net, x, t, locate=True).layers == []
    layer = net.layers["Affine2"]
    layer.backward = lambda dout, _b=layer.backward: 2 * _b(dout)  # dx doubled, W right
    report = check_gradients(net, x, t, locate=True)
    assert [(f.position, f.name, f.wrong) for f in report.layers] == [(3, "Affine2", ["x"])]
    assert "layer 3 (Affine2, Affine): grad of the input wrong, W, b right" in str(report)
    assert "backward" not in vars(type(layer)) or layer.backward is not Affine.backward


def test_assert_gradients_dispatches_and_raises_with_the_report():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(4, [3], 2, rng=0)
    x, t = rng.standard_normal((3, 4)), rng.integers(0, 2, 3)
    assert assert_gradients(net, x, t).passed
    assert assert_gradients(Convolution(rng.standard_normal((2, 1, 3, 3)), np.zeros(2)),
                            rng.standard_normal((2, 1, 5, 5))).passed
    assert assert_gradients(Pooling(2, 2), rng.standard_normal((2, 1, 4, 4))).passed
    assert assert_gradients(np.sin, {"x": np.ones(3)}, grad=None,
                            vjp=lambda a, v: {"x": v * np.cos(a["x"])}).passed
    with pytest.raises(AssertionError) as info:
        assert_gradients(affine, X_AFFINE, vjp=planted(lambda g: 8 * g))
    message = str(info.value)
    assert "x: 48 of 48 elements out of tolerance" in message and "missing mean" in message
    with pytest.raises(TypeError, match="does not know how to check"):
        assert_gradients(np.sin, np.ones(3))


@pytest.mark.parametrize("case", list(HINTS))
def test_planted_bugs_in_a_kobai_layer_get_the_same_hints(case):
    bug, hint = HINTS[case]

    class Planted(Affine):
        def backward(self, dout):
            return bug(super().backward(dout))

    layer = Planted(X_AFFINE["W"].copy(), X_AFFINE["b"].copy())
    report = check_layer(layer, X_AFFINE["x"], rng=0)
    assert report.failed == ["x"] and hint in report.results["x"].hint


def test_a_kobai_conv_layer_wrong_for_one_channel_is_named():
    rng = np.random.default_rng(0)

    class Planted(Convolution):
        def backward(self, dout):
            dx = super().backward(dout).copy()
            dx[:, 1] *= 1.5
            return dx

    layer = Planted(rng.standard_normal((2, 3, 3, 3)), np.zeros(2), pad=1)
    report = check_layer(layer, rng.standard_normal((2, 3, 5, 5)), rng=0)
    assert report.failed == ["x"]
    assert "wrong only for channel 1 (axis 1) of 3" in report.results["x"].hint


# -- found in review ---------------------------------------------------------------------------

def _one_wrong_weight(a, v):
    g = affine_vjp(a, v)
    g["W"][3, 7] *= 3
    return g


BIG = {"x": RNG.standard_normal((8, 40)), "W": 0.1 * RNG.standard_normal((40, 50)),
       "b": np.zeros(50)}  # W: 2,000 elements, above the max_elements=500 of these tests


def test_a_wrong_direction_whose_elements_the_sample_misses_still_fails():
    report = check_function(affine, BIG, _one_wrong_weight, mode="fast", rng=1,
                            max_elements=500)
    r = report.results["W"]
    assert r.n_elements == 2_000 and r.n_checked == 500
    assert not report.passed and r.status == "FAIL"
    if not r.n_bad:
        assert r.unlocated and "the wrong elements are outside it" in str(report)


def test_full_mode_checks_every_element_of_a_large_input():
    for seed in range(2):
        r = check_function(affine, BIG, _one_wrong_weight, rng=seed,
                           max_elements=500).results["W"]
        assert r.n_checked == 2_000 and r.n_elements is None
        assert r.n_bad == 1 and r.worst_index == (3, 7)


def test_a_backward_writing_into_its_cotangent_is_a_problem_and_the_check_still_right():
    def vjp(a, v):
        v *= 1 - np.tanh(a["x"]) ** 2  # the book's Relu.backward style
        return {"x": v}
    report = check_function(np.tanh, {"x": RNG.standard_normal((4, 6))}, vjp)
    assert report.results["x"].passed and not report.passed
    assert "modified its incoming gradient" in report.problems[0]


def test_large_outputs_raise_atol_to_their_rounding_instead_of_failing():
    x, t = 3 * RNG.standard_normal((300, 10)), RNG.integers(0, 10, 300)

    def summed(x, t):
        return softmax_ce(x, t) * len(t)

    def summed_vjp(a, v):
        return {"x": softmax_ce_vjp(a, v)["x"] * len(a["t"])}
    report = check_function(summed, {"x": x, "t": t}, summed_vjp)
    assert report.passed and report.n_kinks == 0, str(report)
    assert any(n.startswith("rounding: output 'out' is large") for n in report.notes)
    assert check_function(lambda x: (x ** 2).sum() + 1e9, {"x": RNG.standard_normal(5)},
                          grad=lambda a: {"x": 2 * a["x"]}).passed
    big = check_function(lambda x: (x ** 2).sum(), {"x": 1e6 * RNG.standard_normal(5)},
                         grad=lambda a: {"x": 2 * a["x"]})
    assert big.passed and big.n_kinks == 0
    assert not check_function(summed, {"x": x, "t": t},
                              lambda a, v: {"x": summed_vjp(a, v)["x"] * 1.001}).passed


def test_steep_points_are_refined_not_failed():
    report = check_function(np.log, {"x": np.array([3e-5, 1e-3, 1.0])},
                            lambda a, v: {"x": v / a["x"]})
    assert report.passed, str(report)

    def book_cross_entropy(y, t):  # the book's §4.2.4, with its 1e-7 guard
        return -np.sum(t * np.log(y + 1e-7)) / y.shape[0]
    y = np.array([[2e-4, 0.9997, 1e-4], [0.3, 0.3, 0.4]])
    t = np.array([[1.0, 0, 0], [0, 0, 1]])
    assert check_function(book_cross_entropy, {"y": y, "t": t},
                          lambda a, v: {"y": -v * a["t"] / (a["y"] + 1e-7) / 2,
                                        "t": -v * np.log(a["y"] + 1e-7) / 2}).passed
    assert not check_function(np.log, {"x": np.array([3e-5, 1e-3, 1.0])},
                              lambda a, v: {"x": 1.001 * v / a["x"]}).passed


def test_a_step_out_of_the_domain_is_named():
    with pytest.raises(ValueError, match=r"not finite at element \[1\] - 1e-05"), \
            np.errstate(invalid="ignore"):
        check_function(np.log, {"x": np.array([1.0, 2e-6])}, lambda a, v: {"x": v / a["x"]})


def test_one_wrong_element_is_not_called_a_wrong_sample():
    def vjp(a, v):
        g = affine_vjp(a, v)
        g["x"][0, 2] += 1.0
        return g
    assert "sample" not in check_function(affine, X_AFFINE, vjp).results["x"].hint


def test_float32_hints_name_the_batch_size_and_the_sign():
    x32 = RNG.standard_normal((8, 5)).astype(np.float32)
    W32 = RNG.standard_normal((5, 3)).astype(np.float32)

    def f32(x, W):
        return (x @ W).astype(np.float32)
    for factor, hint in ((8, "N = 8, the batch size"), (-1, "wrong sign (backprop = -1")):
        report = check_function(f32, {"x": x32, "W": W32},
                                lambda a, v, c=factor: {"x": c * (v @ a["W"].T),
                                                        "W": a["x"].T @ v})
        assert "float32 on both sides" in report.precision
        assert hint in report.results["x"].hint


def test_every_kink_is_counted_though_only_a_hundred_are_listed():
    x = np.zeros((30, 10))
    r = check_function(lambda x: np.maximum(x, 0), {"x": x}, relu_vjp).results["x"]
    assert r.n_kinks == 300 and len(r.kink_indices) == 100 and r.status == "KINK"


def test_eps_sweep_of_a_network_and_a_layer():
    rng = np.random.default_rng(0)
    net = MultiLayerNet(4, [3], 2, activation="tanh", rng=0)
    x, t = rng.standard_normal((3, 4)), rng.integers(0, 2, 3)
    report = check_gradients(net, x, t, eps_sweep=True, structured=False)
    assert list(report.sweeps) == list(net.params)
    assert 1e-7 <= report.sweeps["W1"].best_step <= 1e-3
    layer = Affine(rng.standard_normal((4, 3)), np.zeros(3))
    assert list(check_layer(layer, x, eps_sweep=True).sweeps) == ["x", "W", "b"]


def test_integer_outputs_are_left_out_and_said_so():
    def values_and_indices(x):
        return x.max(axis=1), x.argmax(axis=1)

    def vjp(a, v):
        values, indices = v
        assert indices is None  # no cotangent for an integer output
        g = np.zeros_like(a["x"])
        g[np.arange(len(g)), a["x"].argmax(axis=1)] = values
        return {"x": g}
    report = check_function(values_and_indices, {"x": RNG.standard_normal((4, 5))}, vjp)
    assert report.passed and list(report.results) == ["x"]
    assert any("output out1 (int64)" in n for n in report.notes)
    with pytest.raises(TypeError, match="no floating output"):
        check_function(lambda x: x.argmax(), {"x": np.ones(3)}, lambda a, v: {"x": v})
