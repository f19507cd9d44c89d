"""kobai.gradcheck.check_torch: PyTorch's own backward against central differences, with
``torch.autograd.gradcheck`` as an outside oracle."""

import numpy as np
import pytest
from conftest import require

torch = require("torch")
nn = torch.nn
F = torch.nn.functional

from kobai.gradcheck.torch_check import check_torch  # noqa: E402

DTYPES = [torch.float32, torch.float64]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny tensors: torch's intra-op threads only contend (100x slower on a busy 2-core
    machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
SHADOW = "float32 backprop, float64 numerical"


def randn(*shape, dtype=torch.float64, seed=0):
    """A standard-normal tensor with ``requires_grad=True``, seeded."""
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g, dtype=dtype).requires_grad_(True)


def seeded(module, dtype, seed=0):
    torch.manual_seed(seed)
    return module().to(dtype)


def assert_passed(report, dtype):
    assert report.passed, str(report)
    assert report.precision.startswith(SHADOW if dtype == torch.float32 else "float64"), \
        report.precision


# -- autograd.Functions, right and wrong ------------------------------------------------------

class Mul(torch.autograd.Function):
    """``x * weight``, the weight broadcast over the batch (the rows of x)."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return x * weight

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g * weight, (g * x).sum(0)


class MulWithoutWeightGrad(Mul):
    @staticmethod
    def backward(ctx, g):
        _, weight = ctx.saved_tensors
        return g * weight, None


class MeanSquare(torch.autograd.Function):
    """``L = Σ x² / N`` over a batch of N rows, whose backward forgets the 1/N."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return (x * x).sum() / x.shape[0]

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 2 * x * g


def square_with(damage):
    """``x²`` element-wise, whose backward returns ``damage(2·x·g)``."""

    class Square(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return damage(2 * x * g)

    return Square


def times_slice(index, factor):
    def damage(grad):
        grad = grad.clone()
        grad[index] *= factor
        return grad
    return damage


class MatmulTransposedGrad(torch.autograd.Function):
    """``x @ weight`` with a square weight, whose weight gradient comes out transposed."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return x @ weight

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight.T, (x.T @ g).T


class LinearFn(torch.autograd.Function):
    """``x @ weight.T``, right; subclasses plant one bug."""

    @staticmethod
    def forward(ctx, x, weight):
        ctx.save_for_backward(x, weight)
        return x @ weight.T

    @staticmethod
    def backward(ctx, g):
        x, weight = ctx.saved_tensors
        return g @ weight, g.T @ x


class LinearOneBadElement(LinearFn):
    @staticmethod
    def backward(ctx, g):
        gx, gw = LinearFn.backward(ctx, g)
        gw[1, 2] += 1.0
        return gx, gw


class LinearWrongInputGrad(LinearFn):
    @staticmethod
    def backward(ctx, g):
        gx, gw = LinearFn.backward(ctx, g)
        return -gx, gw


class FnLinear(nn.Module):
    """A bias-free linear layer whose backward is ``function``'s."""

    def __init__(self, n_in, n_out, function):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(n_out, n_in))
        self.function = function

    def forward(self, x):
        return self.function.apply(x, self.weight)


class MaskDropout(torch.autograd.Function):
    """Inverted dropout drawing its mask from torch's RNG (``torch.rand_like``)."""

    @staticmethod
    def forward(ctx, x, p):
        mask = (torch.rand_like(x) >= p).to(x.dtype) / (1 - p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


class MaskDropoutForgettingTheMask(MaskDropout):
    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask.max(), None


# -- correct code: no false FAIL ------------------------------------------------------------------

MODULES = {
    "linear": (lambda: nn.Linear(4, 3), (5, 4)),
    "conv2d": (lambda: nn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "layernorm": (lambda: nn.LayerNorm(4), (3, 4)),
    "mlp": (lambda: nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 5), nn.Tanh(),
                                  nn.Linear(5, 2)), (3, 4)),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(MODULES))
def test_correct_module_passes_in_both_precisions(name, dtype):
    make, shape = MODULES[name]
    module = seeded(make, dtype)
    report = check_torch(module, randn(*shape, dtype=dtype), rng=0)
    assert_passed(report, dtype)
    assert list(report.results) == ["input", *(k for k, _ in module.named_parameters())]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("make, shape", [(lambda: nn.BatchNorm1d(3), (5, 3)),
                                         (lambda: nn.BatchNorm2d(2), (3, 2, 3, 3))],
                         ids=["bn1d", "bn2d"])
def test_batch_norm_in_training_passes_and_keeps_its_running_statistics(make, shape, dtype):
    bn = seeded(make, dtype).train()
    bn(torch.randn(*shape, dtype=dtype))  # running statistics away from their initial values
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    report = check_torch(bn, randn(*shape, dtype=dtype))
    assert_passed(report, dtype)
    assert bn.training
    after = bn.state_dict()
    assert list(after) == list(before)
    for key, value in before.items():
        assert after[key].dtype == value.dtype and torch.equal(after[key], value), key


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_correct_function_and_cross_entropy_pass(dtype):
    report = check_torch(Mul.apply, randn(4, 3, dtype=dtype), randn(3, dtype=dtype, seed=1))
    assert_passed(report, dtype)
    assert list(report.results) == ["x", "weight"]

    def loss(logits, target):
        return F.cross_entropy(logits, target)

    report = check_torch(loss, randn(5, 4, dtype=dtype), torch.tensor([0, 3, 1, 1, 2]))
    assert_passed(report, dtype)
    assert list(report.results) == ["logits"]
    assert "target (int64)" in " ".join(report.notes)


KINKED = {
    "relu": (F.relu, [[-1.0, 0.0, 1.5], [0.0, 0.5, -2.0]]),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), [[-1.0, 0.0, 1.5], [0.0, 0.5, -2.0]]),
    "abs": (torch.abs, [[-1.0, 0.0, 1.5], [0.0, 0.5, -2.0]]),
    "clamp": (lambda x: torch.clamp(x, -1.0, 1.0), [[-1.0, 0.3, 1.0], [1.0, -0.5, -1.0]]),
    # ties inside a 2x2 window: a max shared by two elements
    "max_pool2d": (lambda x: F.max_pool2d(x, 2),
                   [[[[1.0, 1.0, 0.2, 0.4], [0.3, -1.0, 0.4, 0.1],
                      [2.0, 0.5, -3.0, -3.0], [0.1, 2.0, -3.0, -3.0]]]]),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("name", list(KINKED))
def test_exact_kinks_are_kinks_not_failures(name, dtype):
    fn, values = KINKED[name]
    x = torch.tensor(values, dtype=dtype, requires_grad=True)
    report = check_torch(fn, x)
    assert report.passed, str(report)
    row = next(iter(report.results.values()))
    # |x| at 0: backprop's 0 is the central difference, so there is no kink to look for
    assert row.status == ("PASS" if name == "abs" else "KINK"), str(report)


def test_float32_and_float64_dropout_draw_the_same_mask_from_one_rng_state():
    state = torch.get_rng_state()
    x = torch.randn(6, 50)
    masks = []
    for dtype in DTYPES:
        torch.set_rng_state(state)
        masks.append(nn.Dropout(0.5)(x.to(dtype)) == 0)
    torch.testing.assert_close(masks[0], masks[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_dropout_in_training_passes_and_a_backward_without_the_mask_fails(dtype):
    x = randn(4, 6, dtype=dtype)
    report = check_torch(nn.Dropout(0.5).train(), x)
    assert_passed(report, dtype)
    net = seeded(lambda: nn.Sequential(nn.Linear(6, 5), nn.Dropout(0.5), nn.Linear(5, 2)),
                 dtype).train()
    assert_passed(check_torch(net, x), dtype)
    report = check_torch(MaskDropout.apply, x, 0.5)  # torch.rand_like draws per dtype
    assert report.passed, str(report)
    if dtype == torch.float32:
        assert report.precision.startswith("float32 on both sides"), report.precision
        assert "differs from MaskDropout.apply in float32" in report.notes[-1]
    report = check_torch(MaskDropoutForgettingTheMask.apply, x, 0.5)
    assert report.failed == ["x"], str(report)


def test_rng_state_module_and_user_tensors_are_left_as_they_were():
    module = seeded(lambda: nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Dropout(0.3)),
                    torch.float32).train()
    x = randn(5, 3, dtype=torch.float32)
    x_before = x.detach().clone()
    state = torch.get_rng_state()
    check_torch(module, x, locate=True)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(x.detach(), x_before) and x.requires_grad and x.grad is None
    assert module.training and all(p.grad is None and p.requires_grad
                                   for p in module.parameters())


def test_an_input_the_output_does_not_depend_on_passes_with_zero_gradient():
    report = check_torch(lambda x, y: x * 2.0, randn(2, 3), randn(2, 3, seed=1))
    assert report.passed, str(report)
    assert "no backprop gradient for y" in " ".join(report.notes)


def test_numerical_gradient_for_a_given_cotangent_is_the_hand_worked_one():
    # d<v, x * w>/dx = v * w, d/dw = Σ_rows v * x
    x, w = randn(2, 3), randn(3, seed=1)
    v = torch.tensor([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]], dtype=torch.float64)
    report = check_torch(Mul.apply, x, w, cotangent=v)
    assert report.passed, str(report)
    expected_x = (v * w).detach().numpy()
    expected_w = (v * x).sum(0).detach().numpy()
    np.testing.assert_allclose(report["x"].numerical_grad, expected_x, rtol=1e-8)
    np.testing.assert_allclose(report["weight"].numerical_grad, expected_w, rtol=1e-8)


def test_jacobian_mode_and_eps_sweep():
    report = check_torch(Mul.apply, randn(2, 3), randn(3, seed=1), jacobian=True)
    assert report.passed and report["x"].analytic_grad.shape == (2, 3, 2, 3), str(report)
    report = check_torch(torch.tanh, randn(2, 3, dtype=torch.float32), eps_sweep=True)
    assert report.passed and list(report.sweeps) == ["x0"], str(report)


# -- planted bugs: caught, with the hint ----------------------------------------------------------

BUGS = {
    "missing mean": (MeanSquare, (4, 3), "missing mean"),
    "factor 2": (square_with(lambda d: 2 * d), (4, 3), "a factor 2"),
    "sign": (square_with(lambda d: -d), (4, 3), "wrong sign"),
    "one sample": (square_with(times_slice(1, 3.0)), (4, 3), "wrong only for sample 1 "),
    "one channel": (square_with(times_slice((slice(None), 2), 3.0)), (2, 3, 4),
                    "wrong only for channel 2 "),
}


@pytest.mark.parametrize("name", list(BUGS))
def test_planted_bug_in_a_function_is_caught_with_its_hint(name):
    function, shape, hint = BUGS[name]
    report = check_torch(function.apply, randn(*shape))
    assert report.failed == ["x"], str(report)
    assert hint in report["x"].hint, report["x"].hint


def test_missing_path_and_transposed_gradient_are_named():
    report = check_torch(MulWithoutWeightGrad.apply, randn(4, 3), randn(3, seed=1))
    assert report.failed == ["weight"], str(report)
    assert "missing path" in report["weight"].hint
    report = check_torch(MatmulTransposedGrad.apply, randn(4, 3), randn(3, 3, seed=1))
    assert report.failed == ["weight"], str(report)
    assert "transpose" in report["weight"].hint


ORACLE = [(Mul, [(4, 3), (3,)]), (MulWithoutWeightGrad, [(4, 3), (3,)]),
          (MatmulTransposedGrad, [(4, 3), (3, 3)]), (LinearFn, [(4, 3), (2, 3)]),
          (LinearWrongInputGrad, [(4, 3), (2, 3)]), (square_with(lambda d: -d), [(4, 3)])]


@pytest.mark.parametrize("function, shapes", ORACLE, ids=lambda f: getattr(f, "__name__", ""))
def test_verdict_agrees_with_torch_autograd_gradcheck(function, shapes):
    args = tuple(randn(*shape, seed=i) for i, shape in enumerate(shapes))
    oracle = torch.autograd.gradcheck(function.apply, args, raise_exception=False)
    assert check_torch(function.apply, *args).passed == oracle


# -- names -----------------------------------------------------------------------------------------

class MulWithSetupContext(torch.autograd.Function):
    """``Mul`` in the style whose ``forward`` has no ``ctx``."""

    @staticmethod
    def forward(x, weight):
        return x * weight

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(*inputs)

    backward = Mul.backward


def test_rows_are_named_by_forward_parameters_named_parameters_and_position():
    assert list(check_torch(Mul.apply, randn(2, 3), randn(3, seed=1)).results) == ["x", "weight"]
    report = check_torch(MulWithSetupContext.apply, randn(2, 3), randn(3, seed=1))
    assert report.passed and list(report.results) == ["x", "weight"], str(report)
    mlp = seeded(MODULES["mlp"][0], torch.float64)
    assert list(check_torch(mlp, randn(3, 4)).results) == [
        "input", "0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    report = check_torch(lambda a, b: a * b, randn(2, 2), randn(2, 2, seed=1))
    assert list(report.results) == ["a", "b"]
    report = check_torch(lambda *xs: xs[0] * xs[1], randn(2, 2), randn(2, 2, seed=1))
    assert list(report.results) == ["x0", "x1"]


def test_module_with_several_arguments_and_constants():
    class Bilinear(nn.Module):
        def __init__(self):
            super().__init__()
            self.scale = nn.Parameter(torch.tensor([0.5, -1.5, 2.0], dtype=torch.float64))

        def forward(self, left, right, mask, power):
            return (left * right * self.scale * mask) ** power

    mask = torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)
    report = check_torch(Bilinear(), randn(2, 3), randn(2, 3, seed=1), mask, 2)
    assert report.passed, str(report)
    assert list(report.results) == ["left", "right", "scale"]
    assert "mask (float64, requires_grad=False), power (int)" in " ".join(report.notes)


# -- modes -----------------------------------------------------------------------------------------

def test_fast_mode_checks_three_directions_and_escalates_to_name_the_bad_element():
    torch.manual_seed(0)
    module = FnLinear(3, 2, LinearOneBadElement)
    report = check_torch(module, randn(4, 3, dtype=torch.float32), mode="fast", rng=0)
    assert report.failed == ["weight"], str(report)
    x, weight = report["x"], report["weight"]
    assert x.mode == "fast" and len(x.directions) == 3
    assert weight.mode == "fast->full" and weight.bad_indices == [(1, 2)], str(report)
    assert weight.worst_index == (1, 2)
    report = check_torch(seeded(MODULES["linear"][0], torch.float32),
                         randn(5, 4, dtype=torch.float32), mode="fast", rng=0)
    assert report.passed and all(r.mode == "fast" for r in report.results.values())


def test_float32_code_that_cannot_run_in_float64_is_checked_in_float32():
    w = torch.ones(3, 2)
    report = check_torch(lambda x: torch.tanh(x @ w), randn(4, 3, dtype=torch.float32))
    assert report.passed, str(report)
    assert report.precision.startswith("float32 on both sides") and "raised" in report.precision
    report = check_torch(lambda x: torch.tanh(x.float()), randn(4, 3, dtype=torch.float32))
    assert report.passed and report.precision.startswith("float32 on both sides")


def test_a_function_writing_into_its_input_gets_copies_and_is_named():
    x = torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64, requires_grad=True)
    report = check_torch(lambda x: x.mul_(3.0).sin(), x)
    assert report.passed, str(report)
    assert "writes into its input x" in " ".join(report.notes)
    assert torch.equal(x.detach(), torch.tensor([[1.0, -2.0, 0.5]], dtype=torch.float64))


# -- locate ----------------------------------------------------------------------------------------

def test_locate_names_the_wrong_child_of_a_sequential():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), FnLinear(5, 3, LinearWrongInputGrad),
                        nn.Tanh())
    report = check_torch(net, randn(3, 4, dtype=torch.float32), locate=True)
    assert not report.passed
    assert [(f.position, f.name, f.kind, f.wrong, f.right) for f in report.layers] == [
        (3, "2", "FnLinear", ["x"], ["weight"])]
    assert report.layers[0].describe() == "layer 3 (2, FnLinear): grad of the input wrong, " \
                                          "weight right"
    correct = seeded(MODULES["mlp"][0], torch.float32)
    report = check_torch(correct, randn(3, 4, dtype=torch.float32), locate=True)
    assert report.passed and report.layers == [], str(report)


def test_locate_refuses_a_child_called_twice_and_a_module_without_children():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = nn.Linear(3, 3)

        def forward(self, x):
            return self.layer(self.layer(x))

    with pytest.raises(ValueError, match="'layer' \\(Linear\\) runs twice"):
        check_torch(Twice(), randn(2, 3, dtype=torch.float32), locate=True)
    with pytest.raises(TypeError, match="locate=True needs an nn.Module with children"):
        check_torch(Mul.apply, randn(2, 3), randn(3), locate=True)


# -- bad input ------------------------------------------------------------------------------------

@pytest.mark.parametrize("args, error, message", [
    ((torch.randn(2, 3, device="meta", requires_grad=True),), ValueError,
     "input 'a' is on device meta"),
    ((torch.randn(2, 3, dtype=torch.complex64, requires_grad=True),), TypeError,
     "input 'a' is complex"),
    ((torch.tensor([1.0, float("nan")], requires_grad=True),), ValueError,
     "input 'a' already holds nan at \\[1\\]"),
    ((torch.randn(2, 3),), TypeError, "nothing to check"),
], ids=["device", "complex", "nan", "no requires_grad"])
def test_bad_input_is_refused_by_name(args, error, message):
    with pytest.raises(error, match=message):
        check_torch(lambda a: a * 2, *args)


def test_the_same_tensor_twice_is_refused():
    x = randn(2, 3)
    with pytest.raises(ValueError, match="inputs 'a' and 'b' are the same array"):
        check_torch(lambda a, b: a * b, x, x)


@pytest.mark.parametrize("fn, error, message", [
    (lambda x: float(x.detach().sum()), TypeError, "returned float; expected a tensor or a tuple"),
    (lambda x: (x, 1.0), TypeError, "element 1 is float; expected a tensor"),
    (lambda x: x / 0.0, ValueError, "non-finite values in output 'out'"),
    (torch.sqrt, ValueError, "non-finite values in the gradient of x0"),
], ids=["float", "tuple", "inf output", "inf gradient"])
def test_bad_output_or_gradient_is_refused(fn, error, message):
    x = torch.tensor([[0.0, 1.0], [4.0, 2.0]], dtype=torch.float64, requires_grad=True)
    with pytest.raises(error, match=message):
        check_torch(fn, x)


def test_a_backward_writing_into_grad_output_is_noted_and_checked_right():
    class InPlaceTanh(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            y = torch.tanh(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad.mul_(1 - y * y)

    x = torch.randn(4, 6, dtype=torch.float64, requires_grad=True)
    report = check_torch(InPlaceTanh.apply, x)
    assert report.passed, str(report)
    assert any("modified its incoming gradient" in n for n in report.notes)


def test_torch_max_with_indices_checks_the_values_only():
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    report = check_torch(lambda x: torch.max(x, dim=1), x)
    assert report.passed, str(report)
    assert any("int64" in n and "not checked" in n for n in report.notes)
