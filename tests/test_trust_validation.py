"""No silently wrong result: inputs that used to give a wrong number, or a raw Python/NumPy
message, now give a warning or an error naming the argument and what is expected."""

import warnings

import numpy as np
import pytest
from conftest import blobs

from kobai._validate import resolve_dtype
from kobai.functions import (
    cross_entropy_error,
    log_softmax,
    sigmoid,
    softmax,
    softmax_cross_entropy,
)
from kobai.gradcheck import check_layer
from kobai.gradient import numerical_diff, numerical_gradient
from kobai.layers import BatchNormalization, Dropout
from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.optimizers import OPTIMIZERS, get_optimizer
from kobai.trainer import Trainer

# -- unnormalized input ------------------------------------------------------------------------


def mnist_like(n=300, seed=0):
    """uint8 images of 0-255 "pixels", mostly background, and labels in [0, 10)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 784), dtype=np.uint8)
    ink = rng.random(x.shape) < 0.2
    x[ink] = rng.integers(100, 256, int(ink.sum()))
    return x, rng.integers(0, 10, n)


def test_trainer_warns_about_uint8_range_inputs_and_says_to_divide_by_255():
    x, t = mnist_like()
    net = TwoLayerNet(784, 20, 10, rng=0)
    with pytest.warns(UserWarning, match=r"root mean square of \d+.*values from 0 to 255") \
            as record:
        Trainer(net, x, t, x, t, epochs=1, verbose=False)
    message = str(record[0].message)
    assert "divide images of 0-255 pixels by 255" in message.lower()
    assert "load_mnist(normalize=True)" in message
    assert record[0].filename == __file__  # points at the caller's Trainer(...) line


@pytest.mark.parametrize("scale", ["pixels in [0, 1]", "standardized with outliers"])
def test_trainer_does_not_warn_about_inputs_of_order_one(scale):
    x, t = mnist_like()
    x = x / 255.0
    if scale == "standardized with outliers":  # per-pixel z-scores; a rare pixel: z ~ 17
        x[:, 0] = 0.0
        x[0, 0] = 0.8
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-3)
    assert scale == "pixels in [0, 1]" or np.abs(x).max() > 10
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Trainer(TwoLayerNet(784, 20, 10, rng=0), x, t, x, t, epochs=1, verbose=False)


# -- validation gaps ---------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["banana", None, np.float16, np.int32, "f8,f8", 3])
def test_resolve_dtype_refuses_anything_but_float32_and_float64(dtype):
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        resolve_dtype(dtype)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        MultiLayerNet(4, [3], 2, dtype=dtype)
    assert resolve_dtype("float32") == np.float32 and resolve_dtype(float) == np.float64


@pytest.mark.parametrize("batch_size", [-1, 0, 2.5, "100", True])
def test_accuracy_and_evaluate_refuse_a_batch_size_that_is_not_a_positive_integer(batch_size):
    net = MultiLayerNet(4, [3], 2, rng=0)
    x, t = np.ones((5, 4)), np.array([0, 1, 0, 1, 1])
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got"):
        net.accuracy(x, t, batch_size=batch_size)
    with pytest.raises(ValueError, match=r"batch_size must be a positive integer, got"):
        net.evaluate(x, t, batch_size=batch_size)
    assert net.accuracy(x, t, batch_size=2) == net.accuracy(x, t)


@pytest.mark.parametrize("y, match", [
    (np.array([[2.0, -1.0, 0.5]]), r"y\[0, 1\] is -1, not a probability"),
    (np.array([[2.0, 1.0, 0.5]]), r"y row 0 sums to 3.5, not 1"),
    (np.array([0.2, 0.2, 0.2]), r"y row 0 sums to 0.6"),
    (np.array([[0.5, 0.5, 0.0], [np.nan, 0.5, 0.5]]), r"y\[1, 0\] is nan"),
])
def test_cross_entropy_error_refuses_logits_and_points_at_softmax_cross_entropy(y, match):
    with pytest.raises(ValueError, match=match) as info:
        cross_entropy_error(y, np.zeros(len(np.atleast_2d(y)), dtype=int))
    assert "expects probabilities, e.g. softmax(scores)" in str(info.value)
    assert "softmax_cross_entropy(logits, t)" in str(info.value)


def test_cross_entropy_error_still_takes_float32_softmax_output():
    logits = np.random.default_rng(0).standard_normal((50, 10)).astype(np.float32)
    t = np.arange(50) % 10
    assert cross_entropy_error(softmax(logits), t) == pytest.approx(
        softmax_cross_entropy(logits.astype(np.float64), t), rel=1e-5)


def test_numerical_gradient_refuses_float16():
    x = np.ones(3, dtype=np.float16)
    with pytest.raises(TypeError, match=r"x has dtype float16.*use x.astype\(np.float64\)"):
        numerical_gradient(lambda v: float(np.sum(v ** 2)), x)
    np.testing.assert_array_equal(x, 1)  # not perturbed


@pytest.mark.parametrize("h, match", [
    (0, "h must be a finite number > 0"),
    (float("nan"), "h must be a finite number > 0"),
    (float("inf"), "h must be a finite number > 0"),
    (-1e-4, "h must be a finite number > 0"),
    ("1e-4", "h must be a finite number > 0"),
    (1e-300, r"h=1e-300 is too small for float64.*machine epsilon"),
])
def test_numerical_gradient_refuses_a_step_that_cannot_work(h, match):
    x = np.array([1.0, 2.0, 0.0])
    with pytest.raises(ValueError, match=match):
        numerical_gradient(lambda v: float(np.sum(v ** 2)), x, h=h)
    with pytest.raises(ValueError, match=match):
        numerical_gradient(lambda v: np.sum(v ** 2, axis=1), x, h=h, vectorized=True)
    with pytest.raises(ValueError, match=match):
        numerical_diff(lambda v: v ** 2, 1.0, h=h)
    np.testing.assert_array_equal(x, [1.0, 2.0, 0.0])


def test_numerical_gradient_refuses_elements_the_step_cannot_move():
    x = np.array([1.0, 1e13])  # 1e13 + 1e-4 == 1e13 in float64: the gradient would be 0
    with pytest.raises(ValueError, match=r"h=0.0001 is lost in float64 rounding at x\[1\] = "
                                         r"1e\+13"):
        numerical_gradient(lambda v: float(np.sum(v ** 2)), x)
    g = numerical_gradient(lambda v: float(np.sum(v ** 2)), np.array([1.0, 3.0]))
    np.testing.assert_allclose(g, [2.0, 6.0], rtol=1e-8)


def test_network_numerical_gradient_refuses_a_zero_step():
    net = MultiLayerNet(4, [3], 2, rng=0)
    x, t = np.ones((2, 4)), [0, 1]
    for method in ("fast", "loop"):
        with pytest.raises(ValueError, match=r"h must be a finite number > 0 \(about 1e-4 is "
                                             r"usual\), got 0"):
            net.numerical_gradient(x, t, h=0, method=method)
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        net.numerical_gradient_and_kinks(x, t, h=float("nan"))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizers_refuse_a_non_finite_gradient_before_touching_their_state(name, bad):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    opt = get_optimizer(name, lr=0.01)
    opt.update(params, {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)})
    before_params = {k: v.copy() for k, v in params.items()}
    before_state = opt.state_dict()
    grads = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    grads["b"][2] = bad
    with pytest.raises(ValueError, match=r"grads\['b'\] contains 1 NaN or infinite value\(s\), "
                                         r"the first at index \(2,\)"):
        opt.update(params, grads)
    for key, arr in params.items():
        np.testing.assert_array_equal(arr, before_params[key])
    after_state = opt.state_dict()
    assert after_state["step"] == before_state["step"] == 1
    for slot, per_param in before_state["slots"].items():
        for key, arr in per_param.items():
            np.testing.assert_array_equal(after_state["slots"][slot][key], arr)


def test_huge_but_finite_gradients_are_not_refused():
    params = {"W": np.zeros(4, dtype=np.float32)}
    grads = {"W": np.full(4, 1e30, dtype=np.float32)}  # g·g overflows float32, g does not
    opt = get_optimizer("sgd", lr=1e-30)
    opt.update(params, grads)
    np.testing.assert_allclose(params["W"], -1.0, rtol=1e-6)


def test_batchnorm_refuses_a_batch_of_one_in_training_mode():
    bn = BatchNormalization(np.ones(3), np.zeros(3))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when "
                                         r"training, got input of shape \(1, 3\)"):
        bn.forward(np.array([[1.0, 2.0, 3.0]]))
    np.testing.assert_array_equal(bn.running_var, 1.0)  # not corrupted
    np.testing.assert_array_equal(bn.running_mean, 0.0)
    out = bn.forward(np.array([[1.0, 2.0, 3.0]]), train=False)  # evaluation is fine
    np.testing.assert_allclose(out, [[1.0, 2.0, 3.0]] / np.sqrt(1 + 1e-5))
    net = MultiLayerNet(3, [4], 2, use_batchnorm=True, rng=0)
    with pytest.raises(ValueError, match="expected more than 1 value per channel"):
        net.gradient(np.ones((1, 3)), [0])


def test_trainer_refuses_a_last_mini_batch_of_one_sample_for_batchnorm():
    x, t = blobs(201)
    net = MultiLayerNet(6, [4], 3, use_batchnorm=True, rng=0)
    with pytest.raises(ValueError, match=r"x_train has 201 samples, so with mini_batch_size="
                                         r"100 each epoch's last mini-batch holds 1, but layer "
                                         r"'BatchNorm1' \(BatchNormalization\) needs at least "
                                         r"2 .*\(e\.g\. 99\)"):
        Trainer(net, x, t, x, t, epochs=1, mini_batch_size=100, verbose=False)
    Trainer(net, x, t, x, t, epochs=1, mini_batch_size=99, verbose=False).train()
    Trainer(MultiLayerNet(6, [4], 3, rng=0), x, t, x, t, epochs=1, mini_batch_size=100,
            verbose=False).train()  # without batch norm a batch of one is fine


def test_check_layer_of_a_layer_that_checks_nothing_does_not_pass():
    class Doubler:  # no parameters, and a backward that returns nothing
        def forward(self, x):
            return 2 * x

        def backward(self, dout):
            return None

    report = check_layer(Doubler(), np.ones((2, 3)))
    assert not report.passed
    assert "PASSED" not in str(report) and "FAILED" in report.summary()
    assert any("nothing was checked: backward returned None" in p for p in report.problems)
    with pytest.raises(AssertionError, match="nothing was checked"):
        report.raise_if_failed()


# -- raw messages ------------------------------------------------------------------------------


@pytest.mark.parametrize("call, error, match", [
    (lambda: MultiLayerNet(4, [3], 2, activation=["relu"]), TypeError,
     r"activation must be a name, one of \['relu', 'sigmoid', 'tanh'\].*got list \['relu'\]"),
    (lambda: MultiLayerNet(4, [3], 2, use_dropout=True, dropout_ratio="0.5"), ValueError,
     r"dropout_ratio must be in \[0, 1\) \(a number.*got '0.5'"),
    (lambda: Dropout("0.5"), ValueError, r"dropout ratio must be in \[0, 1\).*got '0.5'"),
    (lambda: BatchNormalization(np.ones(2), np.zeros(2), momentum="0.9"), ValueError,
     r"momentum must be in \[0, 1\]"),
    (lambda: MultiLayerNet(4, [3], 2, rng=0).load_state_dict(None), TypeError,
     r"state must be a dict of name -> array, as returned by state_dict\(\), got NoneType"),
    (lambda: softmax(np.zeros(0)), ValueError, r"x has shape \(0,\), with no classes"),
    (lambda: softmax(np.zeros((3, 0))), ValueError, r"x has shape \(3, 0\), with no classes"),
    (lambda: log_softmax(np.zeros(0)), ValueError, r"log_softmax expects at least one score"),
    (lambda: softmax(np.float64(3)), ValueError,
     r"x is a single number \(3.0\); softmax expects scores over the classes"),
    (lambda: log_softmax(3.0), ValueError, r"log_softmax expects scores over the classes"),
    (lambda: cross_entropy_error(np.zeros((0, 3)), np.zeros(0, dtype=int)), ValueError,
     r"y is empty \(shape \(0, 3\)\); expected at least one sample"),
    (lambda: cross_entropy_error(np.zeros(0), []), ValueError, r"y is empty \(shape \(0,\)\)"),
    (lambda: softmax_cross_entropy(np.zeros((0, 3)), []), ValueError,
     r"logits is empty \(shape \(0, 3\)\)"),
])
def test_bad_arguments_get_a_message_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_sigmoid_of_a_number_is_a_number():
    assert sigmoid(0.0) == 0.5 and sigmoid(np.float64(3)) == pytest.approx(1 / (1 + np.exp(-3)))
    assert np.ndim(sigmoid(2.0)) == 0


# -- issue 21's silently wrong inputs ------------------------------------------------------------

@pytest.mark.parametrize("lr", [float("nan"), float("inf"), -0.1, 0.0])
def test_gradient_descent_refuses_a_learning_rate_that_is_not_a_finite_positive_number(lr):
    from kobai.gradient import gradient_descent

    with pytest.raises(ValueError, match=r"lr must be a finite number > 0"):
        gradient_descent(lambda x: float(np.sum(x ** 2)), np.array([1.0, 2.0]), lr=lr)


@pytest.mark.parametrize("W, b, expected", [
    (np.ones(5), np.zeros(5), r"W must be a float array of shape \(input_size, output_size\), "
                              r"got an array of dtype float64 and shape \(5,\)"),
    (np.array([["a", "b"]]), np.zeros(2), r"got an array of dtype <U1"),
    ([[1.0, 2.0]], np.zeros(2), r"got list"),
    (np.ones((4, 3)), np.zeros(4), r"b must be a float array of shape \(3,\), one bias per "
                                   r"output \(W has shape \(4, 3\)\), got an array of dtype "
                                   r"float64 and shape \(4,\)"),
])
def test_affine_refuses_weights_it_cannot_use_when_built(W, b, expected):
    from kobai.layers import Affine

    with pytest.raises(ValueError, match=expected):
        Affine(W, b)


def test_simple_net_refuses_weights_holding_nan():
    from kobai.nets import SimpleNet

    with pytest.raises(ValueError, match=r"W contains 1 NaN or infinite value"):
        SimpleNet(W=[[0.1, np.nan, 0.3], [0.4, 0.5, 0.6]])


@pytest.mark.parametrize("bad", ["a", None, 1 + 2j, object(), np.array([1 + 2j])])
def test_identity_and_step_refuse_what_is_not_real_numbers(bad):
    from kobai.functions import identity_function, step_function

    for f in (identity_function, step_function):
        with pytest.raises(TypeError, match=r"x must be a numeric array"):
            f(bad)
    x = np.array([-1.0, 2.0])
    assert identity_function(x) is x


def test_simplenet_command_refuses_empty_weights(capsys):
    from conftest import one_line, run

    status, _, err = run(capsys, "simplenet", "--weights", "")
    assert status == 2
    assert "--weights must be 6 numbers" in one_line(err)
