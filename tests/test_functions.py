import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kobai.functions import (
    cross_entropy_error,
    identity_function,
    log_softmax,
    relu,
    sigmoid,
    softmax,
    softmax_cross_entropy,
    step_function,
    sum_squared_error,
)


def test_step_function_values_and_dtype():
    np.testing.assert_array_equal(step_function(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])
    assert step_function(np.array([-1.0, 1.0], dtype=np.float32)).dtype == np.float32
    assert step_function(np.array([-1, 1])).dtype == np.int64


def test_identity_returns_input():
    x = np.arange(3.0)
    assert identity_function(x) is x


def test_sigmoid_values_and_no_overflow_warning():
    np.testing.assert_allclose(sigmoid(np.array([0.0, 1.0])), [0.5, 1 / (1 + np.exp(-1))])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        np.testing.assert_array_equal(sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    assert sigmoid(np.zeros(2, dtype=np.float32)).dtype == np.float32


def test_relu_keeps_dtype():
    out = relu(np.array([-1.0, 0.0, 3.0], dtype=np.float32))
    np.testing.assert_array_equal(out, [0.0, 0.0, 3.0])
    assert out.dtype == np.float32


def test_softmax_is_stable_for_huge_logits():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = softmax(np.array([1000.0, -1000.0, 0.0]))
    np.testing.assert_allclose(y, [1.0, 0.0, 0.0])
    yb = softmax(np.array([[1000.0, 1000.0], [-1000.0, -1000.0]]))
    np.testing.assert_allclose(yb, 0.5)


def test_softmax_batched_equals_rowwise():
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_allclose(softmax(x), np.stack([softmax(r) for r in x]))
    np.testing.assert_allclose(np.log(softmax(x)), log_softmax(x))


def test_softmax_does_not_modify_input():
    x = np.array([1.0, 2.0, 3.0])
    softmax(x)
    np.testing.assert_array_equal(x, [1.0, 2.0, 3.0])


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, (3, 4), elements=st.floats(-1e4, 1e4)))
def test_softmax_rows_sum_to_one(x):
    y = softmax(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=1), 1.0)


def test_sum_squared_error_books_example():
    t = [0, 0, 1, 0, 0, 0, 0, 0, 0, 0]
    y = [0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0]
    assert sum_squared_error(np.array(y), np.array(t)) == pytest.approx(0.0975)


def test_cross_entropy_books_example_one_hot_and_labels():
    t = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    y = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
    assert cross_entropy_error(y, t) == pytest.approx(0.510825457099338)
    assert cross_entropy_error(y, 2) == cross_entropy_error(y, t)
    yb = np.stack([y, y[::-1]])
    assert cross_entropy_error(yb, [2, 7]) == pytest.approx(0.510825457099338)
    assert cross_entropy_error(yb, np.eye(10)[[2, 7]]) == cross_entropy_error(yb, [2, 7])


def test_softmax_cross_entropy_is_exact_and_stable():
    logits = np.array([[1000.0, -1000.0, 0.0], [0.0, 0.0, 0.0]])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = softmax_cross_entropy(logits, [1, 2])
    assert loss == pytest.approx((2000.0 + np.log(3)) / 2)
    x = np.random.default_rng(1).standard_normal((5, 4))
    t = np.array([0, 3, 1, 1, 2])
    expected = -np.mean(np.log(softmax(x)[np.arange(5), t]))
    assert softmax_cross_entropy(x, t) == pytest.approx(expected, rel=1e-13)


@pytest.mark.parametrize("t, message", [
    (np.array([0, 1]), r"2 label\(s\) but x has 3 sample"),
    (np.array([0, 1, 5]), r"label 5, outside \[0, 4\)"),
    (np.array([0, -1, 2]), r"label -1"),
    (np.array([[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 1]]), r"row 1 is not one-hot"),
    (np.array([0.5, 1, 2]), "non-integer"),
    ("abc", "integer labels or one-hot"),
])
def test_bad_targets_are_named(t, message):
    y = softmax(np.zeros((3, 4)))
    with pytest.raises((ValueError, TypeError), match=message):
        cross_entropy_error(y, t)
    with pytest.raises((ValueError, TypeError), match=message):
        softmax_cross_entropy(np.zeros((3, 4)), t)


def test_non_numeric_input_is_refused():
    with pytest.raises(TypeError, match="numeric array"):
        softmax("hello")
    with pytest.raises(TypeError, match="numeric array"):
        sigmoid(None)


@pytest.mark.parametrize("x, expected", [
    ([np.inf, 1.0], [1.0, 0.0]),
    ([np.inf, 0.0], [1.0, 0.0]),
    ([np.inf, np.inf], [0.5, 0.5]),  # the limit of equal scores growing together
    ([-np.inf, 1.0], [0.0, 1.0]),
    ([[1.0, np.inf, -np.inf, np.inf], [0.0, 0.0, -np.inf, 0.0]],
     [[0.0, 0.5, 0.0, 0.5], [1 / 3, 1 / 3, 0.0, 1 / 3]]),
])
def test_softmax_of_infinite_scores_is_the_limit(x, expected):
    with np.errstate(over="raise", invalid="raise", divide="ignore"):  # log(0) in log_softmax
        y = softmax(x)
        log_y = log_softmax(x)
        log_expected = np.log(expected)
    np.testing.assert_array_equal(y, expected)
    np.testing.assert_array_equal(log_y, log_expected)


def test_softmax_of_infinite_scores_keeps_float32():
    y = softmax(np.array([[np.inf, 1.0], [0.0, 0.0]], dtype=np.float32))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y, [[1.0, 0.0], [0.5, 0.5]])


def test_softmax_cross_entropy_of_infinite_logits_is_the_limit():
    with np.errstate(over="raise", invalid="raise"):
        assert softmax_cross_entropy([[np.inf, 0.0]], [0]) == 0.0
        assert softmax_cross_entropy([[np.inf, 0.0]], [1]) == np.inf
        assert softmax_cross_entropy([[np.inf, np.inf, 0.0]], [1]) == pytest.approx(np.log(2))
        assert softmax_cross_entropy([[-np.inf, 0.0], [np.inf, 1.0]], [1, 0]) == 0.0


def test_softmax_cross_entropy_warns_when_finite_logits_overflow_the_loss():
    # the exact loss is 1e308 - (-1e308) = 2e308, more than float64 holds
    with pytest.warns(RuntimeWarning, match=r"row 1 is larger than the largest float64"):
        assert softmax_cross_entropy([[0.0, 1.0], [1e308, -1e308]], [1, 1]) == np.inf
