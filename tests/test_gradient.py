import numpy as np
import pytest

from kobai.gradient import gradient_descent, numerical_diff, numerical_gradient


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


def test_numerical_diff_books_example():
    def function_1(x):
        return 0.01 * x ** 2 + 0.1 * x

    assert numerical_diff(function_1, 5) == pytest.approx(0.2, abs=1e-9)
    assert numerical_diff(function_1, 10) == pytest.approx(0.3, abs=1e-9)


def test_numerical_gradient_books_example():
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([3.0, 4.0])), [6, 8])
    np.testing.assert_allclose(numerical_gradient(function_2, np.array([0.0, 2.0])), [0, 4],
                               atol=1e-9)


def test_numerical_gradient_nd_and_0d():
    x = np.arange(24, dtype=float).reshape(2, 3, 4) / 10
    np.testing.assert_allclose(numerical_gradient(lambda a: np.sum(a ** 3), x), 3 * x ** 2,
                               rtol=1e-7, atol=1e-7)  # error of central differences: h² = 1e-8
    g = numerical_gradient(lambda a: float(a) ** 3, np.array(2.0))
    assert g.shape == ()
    assert float(g) == pytest.approx(12.0, rel=1e-8)


def test_numerical_gradient_restores_every_element_bit_for_bit():
    x = np.random.default_rng(0).standard_normal((5, 7)) * 1e3
    before = x.copy()
    numerical_gradient(lambda a: np.sum(np.sin(a)), x)
    np.testing.assert_array_equal(x, before)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_restores_when_f_raises():
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    before = x.copy()
    calls = []

    def f(a):
        calls.append(1)
        if len(calls) == 4:
            raise RuntimeError("boom")
        return float(np.sum(a))

    with pytest.raises(RuntimeError, match="boom"):
        numerical_gradient(f, x)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_refuses_integer_arrays():
    with pytest.raises(TypeError, match="int64.*float"):
        numerical_gradient(function_2, np.array([3, 4]))


def test_numerical_gradient_refuses_lists():
    with pytest.raises(TypeError, match="NumPy float array"):
        numerical_gradient(function_2, [3.0, 4.0])


def test_numerical_gradient_warns_for_float32():
    with pytest.warns(RuntimeWarning, match="float32.*1e-3"):
        g = numerical_gradient(function_2, np.array([3.0, 4.0], dtype=np.float32))
    np.testing.assert_allclose(g, [6, 8], rtol=1e-2)


def test_numerical_gradient_refuses_non_scalar_f():
    with pytest.raises(ValueError, match=r"scalar loss.*shape \(2,\)"):
        numerical_gradient(lambda a: a * 2, np.array([1.0, 2.0]))


def test_vectorized_equals_loop():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 3))
    x = rng.standard_normal((4, 3))

    def f_loop(a):
        return float(np.sum(np.tanh(a * A)))

    def f_vec(stack):
        return np.tanh(stack * A).sum(axis=(1, 2))

    np.testing.assert_allclose(numerical_gradient(f_vec, x, vectorized=True),
                               numerical_gradient(f_loop, x), rtol=1e-12, atol=1e-14)


def test_vectorized_checks_the_output_length():
    with pytest.raises(ValueError, match="must return 4 values"):
        numerical_gradient(lambda s: np.zeros(3), np.zeros(2), vectorized=True)


def test_gradient_descent_books_example_and_history():
    init = np.array([-3.0, 4.0])
    x, history = gradient_descent(function_2, init, lr=0.1, step_num=100)
    np.testing.assert_allclose(x, [0, 0], atol=1e-8)
    assert history.shape == (100, 2)
    np.testing.assert_array_equal(history[0], [-3.0, 4.0])
    np.testing.assert_array_equal(init, [-3.0, 4.0])  # init_x unchanged
    np.testing.assert_allclose(history[1], [-3.0 * 0.8, 4.0 * 0.8])


@pytest.mark.parametrize("vectorized", [False, True])
@pytest.mark.parametrize("side, bad", [("+", 0.3 + 1e-4), ("-", 0.3 - 1e-4)])
def test_numerical_gradient_names_where_f_is_not_finite(vectorized, side, bad):
    x = np.array([[0.1, 0.2], [0.3, 0.4]])
    before = x.copy()

    def f(a):  # NaN when element [1, 0] sits at that side of its step
        return np.nan if a[1, 0] == bad else float(np.sum(a ** 2))

    def f_stack(stack):  # the same for a stack of perturbed copies
        return np.where(stack[:, 1, 0] == bad, np.nan, np.sum(stack ** 2, axis=(1, 2)))

    with pytest.raises(ValueError, match=rf"f is nan at x\[1, 0\] \{side} h \(x\[1, 0\] = 0\.3"):
        numerical_gradient(f_stack if vectorized else f, x, vectorized=vectorized)
    assert x.tobytes() == before.tobytes()


def test_numerical_gradient_refuses_an_infinite_f():
    with pytest.raises(ValueError, match=r"f is inf at x\[0\] \+ h"):
        numerical_gradient(lambda a: np.inf if a[0] > 1 else float(a[0]), np.array([1.0, 2.0]))


def test_perturb_each_steps_every_element_in_place_and_restores_it_also_on_error():
    from kobai.gradient import perturb_each

    x = np.array([[1.0, -2.0], [0.5, 3.0]], dtype=np.float32)
    before = x.copy()
    seen = []

    def evaluate(idx, side):
        seen.append((idx, side, float(x[idx])))
        return float(x.sum())

    out = list(perturb_each(x, 0.25, evaluate))
    assert [i for i, *_ in out] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert seen[:2] == [((0, 0), "+", 1.25), ((0, 0), "-", 0.75)]
    for _, up, down, up_step, down_step in out:
        assert (up_step, down_step) == (0.25, 0.25)
        assert up - down == pytest.approx(0.5)
    np.testing.assert_array_equal(x, before)

    def fails(idx, side):
        if side == "-":
            raise RuntimeError("no")
        return 0.0

    with pytest.raises(RuntimeError):
        list(perturb_each(x, 0.25, fails, [(1, 0)]))
    np.testing.assert_array_equal(x, before)
    tiny = np.array([1e8], dtype=np.float32)  # 1e8 ± 1 rounds back to 1e8 in float32
    ((_, _, _, up_step, down_step),) = perturb_each(tiny, 1.0, lambda i, s: 0.0)
    assert up_step == down_step == 0.0
