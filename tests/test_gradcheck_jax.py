"""kobai.gradcheck.check_jax: JAX functions pass in float32 and float64, planted bugs in
``jax.custom_vjp`` rules are found with the right hint, and ``jax.test_util.check_grads``
agrees on which is which."""

import numpy as np
import pytest
from conftest import require

jax = require("jax")  # skipped without jax, except on CI (CI=true), where it fails
jnp = jax.numpy
from jax import lax  # noqa: E402
from jax.test_util import check_grads  # noqa: E402

from kobai.gradcheck import check_jax  # noqa: E402
from kobai.gradcheck.engine import N_DIRECTIONS, SWEEP_STEPS  # noqa: E402


@pytest.fixture(params=[False, True], ids=["float32", "float64"])
def x64(request):
    """jax_enable_x64 set to the parameter for one test, then put back as it was."""
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param)
    try:
        yield request.param
    finally:
        jax.config.update("jax_enable_x64", before)


@pytest.fixture
def on64():
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield
    finally:
        jax.config.update("jax_enable_x64", before)


def normal(rng, *shape):
    return rng.standard_normal(shape)


# -- correct functions --------------------------------------------------------------------------

def affine(x, W, b):
    return x @ W + b


def leaky_relu(x):
    return jnp.where(x > 0, x, 0.1 * x)


def max_pool(x):
    """2x2 max-pool, stride 2, of (N, C, 4, 4) by reshape + max."""
    n, c, h, w = x.shape
    return jnp.max(x.reshape(n, c, h // 2, 2, w // 2, 2), axis=(3, 5))


def softmax_cross_entropy(z, t):
    """mean over the batch of -log softmax(z)[t] (t: int labels, a constant)."""
    logp = jax.nn.log_softmax(z, axis=1)
    return -jnp.mean(logp[jnp.arange(z.shape[0]), t])


def layer_norm(x, gamma, beta):
    mu = jnp.mean(x, axis=1, keepdims=True)
    var = jnp.var(x, axis=1, keepdims=True)
    return (x - mu) / jnp.sqrt(var + 1e-5) * gamma + beta


def conv(x, w):
    return lax.conv_general_dilated(x, w, window_strides=(1, 1), padding="VALID")


def mlp(x, W1, b1, W2, b2, W3, b3):
    h = jnp.tanh(x @ W1 + b1)
    h = jnp.tanh(h @ W2 + b2)
    return h @ W3 + b3


KINKED = np.array([[-1.0, 0.0, 2.0], [0.0, 1.0, -0.5], [-0.5, 0.5, 1.5]])  # kinks at 0, ±0.5
TIED = np.arange(16.0).reshape(1, 1, 4, 4)
TIED[0, 0, :2, :2] = 7.0  # four-way ties for the max in two of the four windows
TIED[0, 0, 2:, 2:] = -3.0


def kinked(x, p):
    """Functions with kinks at the given points, one output each (checked on its own)."""
    return {"relu": jax.nn.relu(x), "maximum": jnp.maximum(x, 0.0), "leaky": leaky_relu(x),
            "abs": jnp.abs(x), "clip": jnp.clip(x, -0.5, 0.5), "pool": max_pool(p)}


rng0 = np.random.default_rng(0)
SMOOTH = {
    "affine": (affine, (normal(rng0, 4, 3), normal(rng0, 3, 2), normal(rng0, 2))),
    "softmax cross-entropy": (softmax_cross_entropy, (normal(rng0, 4, 3), np.array([0, 2, 1, 2]))),
    "layer norm": (layer_norm, (normal(rng0, 4, 5), normal(rng0, 5), normal(rng0, 5))),
    "conv": (conv, (normal(rng0, 2, 2, 5, 5), normal(rng0, 3, 2, 3, 3))),
    "mlp": (mlp, (normal(rng0, 4, 3), normal(rng0, 3, 5), normal(rng0, 5), normal(rng0, 5, 4),
                  normal(rng0, 4), normal(rng0, 4, 2), normal(rng0, 2))),
}


def as_precision(args, x64):
    dtype = np.float64 if x64 else np.float32
    return tuple(a.astype(dtype) if a.dtype.kind == "f" else a for a in args)


def oracle_passes(fn, args):
    """Whether jax.test_util.check_grads (JAX's own checker; reverse mode, order 1) passes."""
    floats = [i for i, a in enumerate(args) if a.dtype.kind == "f"]

    def of_floats(*values):
        full = list(args)
        for i, v in zip(floats, values, strict=True):
            full[i] = v
        return fn(*full)

    try:
        check_grads(jax.jit(of_floats), tuple(jnp.asarray(args[i]) for i in floats), order=1,
                    modes=("rev",))
    except AssertionError:
        return False
    return True


@pytest.mark.parametrize("name", list(SMOOTH))
def test_correct_function_passes_and_check_grads_agrees(on64, name):
    fn, args = SMOOTH[name]
    report = check_jax(fn, *args, rng=0)
    assert report.passed, str(report)
    assert report.precision == "float64"
    assert oracle_passes(fn, args)


@pytest.mark.parametrize("name", ["layer norm", "mlp"])  # the others: the same path, slower
def test_correct_function_passes_in_float32_by_the_dtype_rule(name):
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", False)
    try:
        fn, args = SMOOTH[name]
        report = check_jax(fn, *as_precision(args, False), rng=0)
    finally:
        jax.config.update("jax_enable_x64", before)
    assert report.passed, str(report)
    assert "jax_enable_x64 is off" in report.precision


def test_kinks_are_kinks_not_failures(x64):
    x, p = as_precision((KINKED, TIED), x64)
    report = check_jax(kinked, x, p, rng=0)
    assert report.passed, str(report)
    # JAX's derivative at these kinks is one side's (relu: 0; a 4-way max tie: 1/4 each), not
    # the central difference's mean of both: backprop lies between the one-sided differences
    for out in ("x->relu", "x->leaky", "x->abs", "p->pool"):
        assert report[out].status == "KINK", str(report)
        assert report[out].kink_rule == "between"
    # at a tie lax.max and clip take half of each side: exactly the central difference
    for out in ("x->maximum", "x->clip"):
        assert report[out].status == "PASS", str(report)


def test_float32_inputs_get_a_float64_shadow_with_x64_on(on64):
    x, W, b = SMOOTH["affine"][1]
    report = check_jax(affine, x.astype(np.float32), W.astype(np.float32), b.astype(np.float32))
    assert report.passed, str(report)
    assert report.precision == ("float32 backprop, float64 numerical (fn run on float64 "
                                "copies)")
    assert report.eps == 1e-5


def test_float64_inputs_run_in_float32_with_x64_off_and_say_so():
    assert not jax.config.jax_enable_x64  # the suite's default
    x, W, b = SMOOTH["affine"][1]
    report = check_jax(affine, x, W, b)
    assert report.passed, str(report)
    assert report.precision.startswith("float32 on both sides (jax_enable_x64 is off")
    assert any("jax_enable_x64 is off: JAX computes x, W, b in float32" in n
               for n in report.notes)
    assert not jax.config.jax_enable_x64


# -- planted bugs in a custom_vjp rule --------------------------------------------------------

def linear_mse(bug=None):
    """``mean_n ½‖x_n W - y_n‖²`` with a hand-written custom_vjp rule, damaged by
    ``bug(x, dx, dW, dy) -> (dx, dW, dy)``."""
    @jax.custom_vjp
    def loss(x, W, y):
        r = x @ W - y
        return 0.5 * jnp.sum(r * r) / x.shape[0]

    def fwd(x, W, y):
        return loss(x, W, y), (x, W, y)

    def bwd(res, g):
        x, W, y = res
        dr = g * (x @ W - y) / x.shape[0]  # d loss / d r, r = xW - y
        grads = (dr @ W.T, x.T @ dr, -dr)
        return bug(x, *grads) if bug else grads

    loss.defvjp(fwd, bwd)
    return loss


N = 4  # the batch size of the planted-bug cases


def mse_args(rng):
    """x (N, 3), a square W (3, 3) (so a transpose keeps the shape), y (N, 3)."""
    return normal(rng, N, 3), normal(rng, 3, 3), normal(rng, N, 3)


# (bug, the input it breaks, text of the hint)
BUGS = {
    "missing mean": (lambda x, dx, dW, dy: (dx * N, dW * N, dy * N), "W",
                     "a missing mean (divide by the batch size)"),
    "wrong sign": (lambda x, dx, dW, dy: (dx, -dW, dy), "W",
                   "backprop gradient has the wrong sign (backprop = -1 x numerical everywhere)"),
    "factor 2": (lambda x, dx, dW, dy: (dx, 2 * dW, dy), "W", "(a factor 2: "),
    "missing path": (lambda x, dx, dW, dy: (jnp.where(x > 0, dx, 0.0), dW, dy), "x",
                     "a missing path (a branch whose gradient is not added"),
    "some samples": (lambda x, dx, dW, dy: (dx.at[1].multiply(3.0), dW, dy), "x",
                     "wrong only for sample 1 (axis 0) of 4; the other samples are right"),
    "transposed": (lambda x, dx, dW, dy: (dx, dW.T, dy), "W",
                   "backprop gradient is the transpose of the numerical one"),
}


@pytest.mark.parametrize("bug", list(BUGS))
def test_planted_custom_vjp_bug_is_caught_with_its_hint(on64, bug):
    damage, broken, hint = BUGS[bug]
    report = check_jax(linear_mse(damage), *mse_args(np.random.default_rng(2)), rng=0)
    assert not report.passed
    assert broken in report.failed, str(report)
    assert hint in report[broken].hint, str(report)
    if bug != "missing mean":
        assert report.failed == [broken], str(report)
    assert not oracle_passes(linear_mse(damage), mse_args(np.random.default_rng(2)))


def test_swapped_axes_of_a_3d_input_are_named(on64):
    @jax.custom_vjp
    def f(x):
        return jnp.sum(jnp.sin(x) * jnp.arange(x.size).reshape(x.shape))

    f.defvjp(lambda x: (f(x), x),
             lambda x, g: (jnp.swapaxes(g * jnp.cos(x) * jnp.arange(x.size).reshape(x.shape),
                                        1, 2),))
    report = check_jax(f, normal(np.random.default_rng(3), 2, 3, 3))
    assert report.failed == ["x"]
    assert "with axes 1 and 2 swapped" in report["x"].hint, str(report)


def test_correct_custom_vjp_rule_passes_in_both_precisions(x64):
    args = as_precision(mse_args(np.random.default_rng(2)), x64)
    assert check_jax(linear_mse(), *args).passed
    if x64:
        assert oracle_passes(linear_mse(), args)


# -- modes and sweeps ---------------------------------------------------------------------------

def test_fast_mode_checks_three_directions_of_a_correct_function(on64):
    x, W, b = SMOOTH["affine"][1]
    report = check_jax(affine, x, W, b, mode="fast", rng=0)
    assert report.passed, str(report)
    for r in report.results.values():
        assert r.mode == "fast"
        assert len(r.directions) == N_DIRECTIONS


def test_fast_mode_escalates_on_a_bug_and_names_the_element(on64):
    report = check_jax(linear_mse(BUGS["some samples"][0]), *mse_args(np.random.default_rng(2)),
                       mode="fast", rng=0)
    assert report.failed == ["x"], str(report)
    assert report["x"].mode == "fast->full"
    assert report["x"].worst_index[0] == 1
    assert "wrong only for sample 1" in report["x"].hint
    assert report["W"].mode == "fast"
    assert any(n.startswith("x: a directional derivative disagreed") for n in report.notes)


def test_eps_sweep_fills_report_sweeps(on64):
    x, W, b = SMOOTH["affine"][1]
    report = check_jax(lambda x, W, b: jnp.sum(jnp.tanh(affine(x, W, b))), x, W, b,
                       eps_sweep=True)
    assert list(report.sweeps) == ["x", "W", "b"]
    for sweep in report.sweeps.values():
        assert sweep.steps == SWEEP_STEPS
        assert sweep.best_error < 1e-8, sweep.describe()


# -- names ------------------------------------------------------------------------------------

def test_inputs_are_named_by_the_signature_of_plain_jitted_and_custom_vjp_functions():
    rng = np.random.default_rng(7)
    x, W, y = (a.astype(np.float32) for a in mse_args(rng))
    for fn in (lambda x, W, y: jnp.sum((x @ W - y) ** 2), jax.jit(linear_mse()), linear_mse()):
        assert list(check_jax(fn, x, W, y).results) == ["x", "W", "y"]
    assert list(check_jax(lambda *a: a[0] @ a[1], x, W).results) == ["x0", "x1"]


def test_outputs_are_named_like_check_function():
    x = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    report = check_jax(lambda x: (jnp.sin(x), jnp.sum(x ** 2)), x)
    assert list(report.results) == ["x->out0", "x->out1"]
    report = check_jax(lambda x: {"loss": jnp.sum(x ** 2), "y": jnp.tanh(x)}, x)
    assert list(report.results) == ["x->loss", "x->y"]
    report = check_jax(lambda x: (jnp.sin(x), {"b": jnp.cos(x)}), x)
    assert list(report.results) == ["x->out0", "x->out1/b"]
    assert report.passed, str(report)


def test_cotangent_takes_the_outputs_structure():
    x = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)
    report = check_jax(lambda x: {"a": jnp.sin(x), "b": jnp.sum(x)}, x,
                       cotangent={"a": np.ones((2, 3)), "b": 2.0})
    assert report.passed, str(report)
    with pytest.raises(ValueError, match="cotangent must have the structure of fn's output"):
        check_jax(lambda x: {"a": jnp.sin(x)}, x, cotangent={"c": np.ones((2, 3))})


# -- constants and bad input ------------------------------------------------------------------

def test_integers_keys_and_python_values_are_constants():
    x = np.linspace(-1.0, 1.0, 6, dtype=np.float32).reshape(2, 3)

    def noisy(x, key, old_key, scale, t):
        noise = jax.random.normal(key, x.shape) + jax.random.normal(old_key, x.shape)
        return jnp.sum(jnp.tanh(x * noise * scale)[jnp.arange(2), t])

    report = check_jax(noisy, x, jax.random.key(0), jax.random.PRNGKey(1), 0.5,
                       np.array([0, 2]))
    assert report.passed, str(report)
    assert list(report.results) == ["x"]
    constants = next(n for n in report.notes if n.startswith("not floating"))
    for name in ("key (key<fry>, a PRNG key)", "old_key (uint32)", "scale (float)",
                 "t (int64)"):
        assert name in constants


def test_bad_inputs_are_refused_by_name():
    x = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(TypeError, match="input 'x' is complex"):
        check_jax(jnp.sin, x.astype(np.complex64))
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"input 'w' already holds nan at \[1, 2\]"):
        check_jax(lambda x, w: x * w, x, bad)
    with pytest.raises(ValueError, match="inputs 'x' and 'w' are the same array"):
        check_jax(lambda x, w: x * w, x, x)
    xj = jnp.asarray(x)
    with pytest.raises(ValueError, match="inputs 'x' and 'w' are the same array"):
        check_jax(lambda x, w: x * w, xj, xj)
    with pytest.raises(TypeError, match="no argument is a floating array"):
        check_jax(lambda t: t * 1.0, np.arange(3))


def test_non_finite_output_or_gradient_is_refused():
    with pytest.raises(ValueError, match="fn returned non-finite values in output 'out'"):
        check_jax(jnp.log, np.array([1.0, -1.0], dtype=np.float32))
    with pytest.raises(ValueError, match="non-finite values in the gradient of x"):
        check_jax(jnp.sqrt, np.array([1.0, 0.0], dtype=np.float32))


def test_a_custom_vjp_gradient_of_the_wrong_shape_names_the_input():
    wrong = linear_mse(lambda x, dx, dW, dy: (dx, dW[:2], dy))
    args = [a.astype(np.float32) for a in mse_args(np.random.default_rng(8))]
    for fn in (wrong, jax.jit(wrong)):
        with pytest.raises(ValueError, match=r"wrong shape for input 'W' \(shape \(3, 3\)\)"):
            check_jax(fn, *args)
    with pytest.raises(ValueError, match="wrong shape for one of the inputs x"):
        check_jax(lambda x, W, y: 2.0 * wrong(x, W, y), *args)


def test_a_function_jax_cannot_jit_is_evaluated_eagerly():
    def branchy(x):
        return jnp.sin(x) if x.sum() > 0 else x  # Python control flow on values

    report = check_jax(branchy, np.ones((2, 2), dtype=np.float32))
    assert report.passed, str(report)
    assert any("could not be jitted (TracerBoolConversionError)" in n for n in report.notes)


def test_nothing_passed_is_changed(x64):
    args = as_precision(mse_args(np.random.default_rng(9)), x64)
    before = [a.copy() for a in args]
    check_jax(linear_mse(BUGS["factor 2"][0]), *args, mode="fast", eps_sweep=x64)
    for a, b in zip(args, before, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    assert jax.config.jax_enable_x64 == x64  # the checker leaves the setting alone


def test_an_integer_output_is_left_out(on64):
    report = check_jax(lambda x: (jnp.sum(x ** 2), jnp.argmax(x)), np.arange(1.0, 4.0), rng=0)
    assert report.passed, str(report)
    assert any("not checked" in n and "int" in n for n in report.notes)
