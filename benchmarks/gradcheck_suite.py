"""Functions to try gradient checkers on, in PyTorch: 13 correct ones (5 with inputs exactly
at a kink) and 7 planted bugs, one per pattern kobai's hints name
(``kobai.gradcheck.compare.diagnose``): a missing 1/N, a factor 2, the wrong sign, a missing
path, wrong for one sample, wrong for some channels, a transpose.

Most are ``autograd.Function`` classes with a hand-written backward; the MLPs are modules of
``nn.Linear`` and ``nn.Tanh`` (torch's own backward), one with an ``nn.Dropout`` in training
mode. Each :class:`Case` builds a :class:`Problem`: what a checker is given
(``check_torch(problem.fn, *problem.args)``) and the same function with every checked tensor an
argument, for ``torch.autograd.gradcheck`` (a module's parameters become arguments through
``torch.func.functional_call``). Inputs are drawn in float64 from a seeded NumPy generator and
cast, so the float32 and float64 problems hold the same values (exact zeros, ties and values at
a bound survive the cast).

Sizes: a batch of 32 and widths 64 (GLU: 128 in, 64 out), 4-D inputs of 32 x 4 x 6 x 6
(max-pool), 32 x 2 x 6 x 6 (conv2d, 4 output channels) and 32 x 4 x 4 x 4 (PReLU): 2,048 to
8,618 input elements and at most 2,048 output elements, so that ``torch.autograd.gradcheck``'s
whole Jacobian (one backward pass per output element, two forward passes per input element)
takes a few seconds per case on one thread. ``quick=True``: a batch of 4, widths 6.

At an exact kink (ReLU and leaky ReLU at 0, max-pool ties, clamp at its bounds) the central
difference averages the two slopes, so a checker that compares it with backprop fails although
backprop is right. ``abs`` at 0 is the exception: its central difference there is 0, which is
what backprop's ``sign(0)`` gives.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.autograd import Function

__all__ = ["Case", "Problem", "CASES", "NUMPY_CASES", "NumpyCase", "big_mlp", "sizes"]


@dataclass
class Problem:
    """One function at one point, for both checkers."""

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    gradcheck_fn: Callable[..., Any]
    gradcheck_args: tuple[Any, ...]
    elements: int  # elements of the checked inputs (the numerical side's work)


@dataclass(frozen=True)
class Case:
    """A suite entry: ``build(dtype, quick) -> Problem``.

    ``expect``: for a bug, the hint kobai should give (any of these substrings of one of the
    report's hints); ``kink``: a correct case with inputs at a kink.
    """

    name: str
    kind: str  # "correct" or "bug"
    build: Callable[[torch.dtype, bool], Problem]
    expect: tuple[str, ...] = ()
    kink: bool = False
    quick: bool = False  # one of the cases of the smoke run


def sizes(quick: bool) -> tuple[int, int]:
    """(batch, width); the width differs from the batch, so kobai tells a parameter (64 x 64)
    from a batched input (32 x 64) by its first axis."""
    return (4, 6) if quick else (32, 64)


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))  # one fixed seed per case


def _t(a: np.ndarray, dtype: torch.dtype, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, dtype=dtype, requires_grad=grad)


def _problem(fn: Callable[..., Any], *args: Any) -> Problem:
    n = sum(a.numel() for a in args if isinstance(a, torch.Tensor) and a.requires_grad)
    return Problem(fn, args, fn, args, n)


# -- layers with hand-written backward passes --------------------------------------------------

class Affine(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, x.T @ g, g.sum(0)


class AffineSwappedW(Affine):
    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w.T, g.T @ x, g.sum(0)  # bug: (x.T @ g).T


class Relu(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * (x > 0)


class LeakyRelu(Function):
    SLOPE = 0.01

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return torch.where(x > 0, x, LeakyRelu.SLOPE * x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * torch.where(x > 0, 1.0, LeakyRelu.SLOPE).to(g.dtype)


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.abs()

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x.sign()


class Clamp(Function):
    LOW, HIGH = -0.5, 0.5

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(Clamp.LOW, Clamp.HIGH)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * ((x >= Clamp.LOW) & (x <= Clamp.HIGH))


def _windows(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, H/2, W/2, 4): the 2 x 2 pooling windows, stride 2."""
    n, c, h, w = x.shape
    return (x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5)
            .reshape(n, c, h // 2, w // 2, 4))


class MaxPool2x2(Function):
    @staticmethod
    def forward(ctx, x):
        y, idx = _windows(x).max(dim=-1)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        return y

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        d = torch.zeros((*g.shape, 4), dtype=g.dtype).scatter_(-1, idx[..., None], g[..., None])
        # a tie sends the whole gradient to one of the maxima, as torch's max_pool2d does
        return (d.reshape(n, c, h // 2, w // 2, 2, 2).permute(0, 1, 2, 4, 3, 5)
                .reshape(n, c, h, w))


class SoftmaxCrossEntropy(Function):
    """Mean over the batch of -log softmax(z)[t]; d/dz = (softmax(z) - onehot(t)) / N."""

    @staticmethod
    def forward(ctx, z, t):
        logp = torch.log_softmax(z, dim=1)
        ctx.save_for_backward(logp.exp(), t)
        return -logp.gather(1, t[:, None]).mean()

    @staticmethod
    def backward(ctx, g):
        p, t = ctx.saved_tensors
        d = p - F.one_hot(t, p.shape[1]).to(p.dtype)
        return g * d / p.shape[0], None


class SoftmaxCrossEntropyNoMean(SoftmaxCrossEntropy):
    @staticmethod
    def backward(ctx, g):
        p, t = ctx.saved_tensors
        return g * (p - F.one_hot(t, p.shape[1]).to(p.dtype)), None  # bug: no / N


def _norm_backward(g: torch.Tensor, xh: torch.Tensor, inv: torch.Tensor, gamma: torch.Tensor,
                   dim: int) -> torch.Tensor:
    # dx = inv · (dxh - mean(dxh) - xh · mean(dxh · xh)), means along the normalized axis
    dxh = g * gamma
    return inv * (dxh - dxh.mean(dim, keepdim=True)
                  - xh * (dxh * xh).mean(dim, keepdim=True))


def _normalization(dim: int, name: str) -> type[Function]:
    """``gamma · (x - mean) / sqrt(var + 1e-5) + beta`` over axis ``dim``: 1 is layer norm,
    0 is batch norm in training (batch statistics)."""

    class Norm(Function):
        @staticmethod
        def forward(ctx, x, gamma, beta):
            mu = x.mean(dim, keepdim=True)
            inv = (((x - mu) ** 2).mean(dim, keepdim=True) + 1e-5).rsqrt()
            xh = (x - mu) * inv
            ctx.save_for_backward(xh, inv, gamma)
            return xh * gamma + beta

        @staticmethod
        def backward(ctx, g):
            xh, inv, gamma = ctx.saved_tensors
            return _norm_backward(g, xh, inv, gamma, dim), (g * xh).sum(0), g.sum(0)

    Norm.__name__ = Norm.__qualname__ = name
    return Norm


LayerNorm = _normalization(1, "LayerNorm")
BatchNormTrain = _normalization(0, "BatchNormTrain")


class DropoutTrain(Function):
    """Inverted dropout with its mask drawn from a generator seeded by ``seed`` (a fixed mask:
    a gradient check needs the same function at every evaluation)."""

    @staticmethod
    def forward(ctx, x, p, seed):
        gen = torch.Generator().manual_seed(seed)
        keep = torch.rand(x.shape, generator=gen, dtype=torch.float64) >= p
        mask = keep.to(x.dtype) / (1 - p)
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None, None


class Conv2d(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return F.conv2d(x, w, b)

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return (torch.nn.grad.conv2d_input(x.shape, w, g),
                torch.nn.grad.conv2d_weight(x, w.shape, g), g.sum((0, 2, 3)))


class SquareHalf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x  # bug: d(x²)/dx = 2x


class TanhWrongSign(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y * y - 1)  # bug: 1 - y²


class GluNoGatePath(Function):
    """GLU: x = [a, b] along the features, y = a · sigmoid(b)."""

    @staticmethod
    def forward(ctx, x):
        a, b = x.chunk(2, dim=1)
        s = torch.sigmoid(b)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, g):
        a, s = ctx.saved_tensors
        # bug: the gate's term d/db = g · a · s · (1 - s) is dropped
        return torch.cat([g * s, torch.zeros_like(a)], dim=1)


class SoftmaxLastSampleSkipped(Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.softmax(x, dim=1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dx = g.clone()
        for i in range(len(g) - 1):  # bug: range(len(g)); the last sample keeps g
            dx[i] = y[i] * (g[i] - (g[i] * y[i]).sum())
        return dx


class PReluFirstSlope(Function):
    """PReLU with one slope per channel: y = x if x > 0 else a[c] · x."""

    @staticmethod
    def forward(ctx, x, a):
        ctx.save_for_backward(x, a)
        return torch.where(x > 0, x, a.view(1, -1, 1, 1) * x)

    @staticmethod
    def backward(ctx, g):
        x, a = ctx.saved_tensors
        dx = g * torch.where(x > 0, torch.ones_like(x), a[0])  # bug: a.view(1, -1, 1, 1)
        da = (g * torch.where(x > 0, torch.zeros_like(x), x)).sum((0, 2, 3))
        return dx, da


# -- the cases --------------------------------------------------------------------------------

def _with_zeros(rng: np.random.Generator, shape: tuple[int, ...], share: float = 0.2
                ) -> np.ndarray:
    x = rng.standard_normal(shape)
    x.reshape(-1)[: max(1, int(share * x.size))] = 0.0  # then shuffled
    return rng.permutation(x.reshape(-1)).reshape(shape)


def _affine(fn: type[Function], name: str) -> Callable[[torch.dtype, bool], Problem]:
    def build(dtype: torch.dtype, quick: bool) -> Problem:
        n, d = sizes(quick)
        rng = _rng(name)
        x, w = rng.standard_normal((n, d)), rng.standard_normal((d, d)) / np.sqrt(d)
        return _problem(fn.apply, _t(x, dtype), _t(w, dtype), _t(rng.standard_normal(d), dtype))
    return build


def _elementwise(fn: type[Function], name: str, make: Callable[[np.random.Generator,
                 tuple[int, ...]], np.ndarray], wide: int = 1
                 ) -> Callable[[torch.dtype, bool], Problem]:
    def build(dtype: torch.dtype, quick: bool) -> Problem:
        n, d = sizes(quick)
        return _problem(fn.apply, _t(make(_rng(name), (n, wide * d)), dtype))
    return build


def _normal(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal(shape)


def _at_bounds(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.uniform(-1, 1, shape).reshape(-1)
    k = max(1, x.size // 10)
    x[:k], x[k:2 * k] = Clamp.LOW, Clamp.HIGH
    return rng.permutation(x).reshape(shape)


def _maxpool(dtype: torch.dtype, quick: bool) -> Problem:
    n, _ = sizes(quick)
    c, hw = (2, 4) if quick else (4, 6)
    rng = _rng("maxpool")
    x = rng.standard_normal((n, c, hw, hw))
    win = x.reshape(n, c, hw // 2, 2, hw // 2, 2)  # a view: writes go to x
    m = win.max(axis=(3, 5))
    tied = rng.random(m.shape) < 0.3
    win[:, :, :, 0, :, 0] = np.where(tied, m, win[:, :, :, 0, :, 0])
    win[:, :, :, 1, :, 1] = np.where(tied, m, win[:, :, :, 1, :, 1])
    return _problem(MaxPool2x2.apply, _t(x, dtype))


def cross_entropy(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return SoftmaxCrossEntropy.apply(z, t)


def cross_entropy_no_mean(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    return SoftmaxCrossEntropyNoMean.apply(z, t)


def _cross_entropy(fn: Callable[..., torch.Tensor], name: str
                   ) -> Callable[[torch.dtype, bool], Problem]:
    def build(dtype: torch.dtype, quick: bool) -> Problem:
        n, d = sizes(quick)
        rng = _rng(name)
        z = rng.standard_normal((n, d))
        t = torch.tensor(rng.integers(0, d, n), dtype=torch.int64)
        return _problem(fn, _t(z, dtype), t)
    return build


def _norm(fn: type[Function], name: str) -> Callable[[torch.dtype, bool], Problem]:
    def build(dtype: torch.dtype, quick: bool) -> Problem:
        n, d = sizes(quick)
        rng = _rng(name)
        x = 2 * rng.standard_normal((n, d)) + 1
        return _problem(fn.apply, _t(x, dtype), _t(rng.uniform(0.5, 1.5, d), dtype),
                        _t(rng.standard_normal(d), dtype))
    return build


def dropout(x: torch.Tensor) -> torch.Tensor:
    return DropoutTrain.apply(x, 0.5, 1234)


def _dropout(dtype: torch.dtype, quick: bool) -> Problem:
    n, d = sizes(quick)
    return _problem(dropout, _t(_rng("dropout").standard_normal((n, d)), dtype))


def _conv(dtype: torch.dtype, quick: bool) -> Problem:
    n, _ = sizes(quick)
    c_in, c_out, hw = (2, 3, 5) if quick else (2, 4, 6)
    rng = _rng("conv2d")
    x = rng.standard_normal((n, c_in, hw, hw))
    w = rng.standard_normal((c_out, c_in, 3, 3)) / 3
    return _problem(Conv2d.apply, _t(x, dtype), _t(w, dtype), _t(rng.standard_normal(c_out),
                                                                   dtype))


def _mlp(dtype: torch.dtype, quick: bool) -> Problem:
    n, d = sizes(quick)
    return module_problem(mlp([d, d, d // 2, 10], dtype, _rng("mlp")),
                          _t(_rng("mlp x").standard_normal((n, d)), dtype))


def mlp(widths: list[int], dtype: torch.dtype, rng: np.random.Generator,
        linear: type[torch.nn.Module] = torch.nn.Linear) -> torch.nn.Sequential:
    """Linear, Tanh, ..., Linear with He-scaled weights from ``rng``."""
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layer = linear(a, b)
        with torch.no_grad():
            layer.weight.copy_(torch.tensor(rng.standard_normal((b, a)) * np.sqrt(2 / a)))
            layer.bias.copy_(torch.tensor(0.1 * rng.standard_normal(b)))
        layers += [layer] + ([torch.nn.Tanh()] if i < len(widths) - 2 else [])
    return torch.nn.Sequential(*layers).to(dtype)


def module_problem(module: torch.nn.Module, x: torch.Tensor) -> Problem:
    """``check_torch(module, x)``; for gradcheck, a function of x and the parameters."""
    names = [k for k, _ in module.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for p in module.parameters())

    def functional(x: torch.Tensor, *ps: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(module, dict(zip(names, ps, strict=True)), (x,))

    n = x.numel() + sum(p.numel() for p in params)
    return Problem(module, (x,), functional, (x, *params), n)


def _dropout_module(dtype: torch.dtype, quick: bool) -> Problem:
    n, d = sizes(quick)
    rng = _rng("nn.Dropout")
    net = mlp([d, d], dtype, rng)
    net.append(torch.nn.Dropout(0.5)).train()
    problem = module_problem(net, _t(rng.standard_normal((n, d)), dtype))
    functional = problem.gradcheck_fn
    state = torch.get_rng_state()

    def reseeded(*args: torch.Tensor) -> torch.Tensor:
        # gradcheck needs one mask at every call: the RNG state reset before each (what
        # check_torch does itself)
        torch.set_rng_state(state)
        return functional(*args)

    problem.gradcheck_fn = reseeded
    return problem


def _prelu(dtype: torch.dtype, quick: bool) -> Problem:
    n, _ = sizes(quick)
    c, hw = (3, 4) if quick else (4, 4)
    rng = _rng("prelu")
    return _problem(PReluFirstSlope.apply, _t(rng.standard_normal((n, c, hw, hw)), dtype),
                    _t(np.linspace(0.1, 0.8, c), dtype))


class _LinearTwiceWeightGrad(Function):
    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w.T + b

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        return g @ w, 2 * (g.T @ x), g.sum(0)  # bug: the weight's gradient counted twice


class LinearTwiceWeightGrad(torch.nn.Linear):
    """``nn.Linear`` whose backward doubles the weight's gradient."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _LinearTwiceWeightGrad.apply(x, self.weight, self.bias)


def big_mlp(dtype: torch.dtype, quick: bool, bug: bool) -> Problem:
    """A 784-1024-256-10 tanh MLP (1,068,810 parameters; quick: 20-16-8-4) at a batch of 32
    (quick: 4); with ``bug``, its middle Linear doubles its weight's gradient."""
    widths = [20, 16, 8, 4] if quick else [784, 1024, 256, 10]
    net = mlp(widths, dtype, _rng("big mlp"))
    if bug:
        bad = LinearTwiceWeightGrad(widths[1], widths[2]).to(dtype)
        bad.load_state_dict(net[2].state_dict())
        net[2] = bad
    x = _rng("big mlp x").random((4 if quick else 32, widths[0]))
    return module_problem(net, _t(x, dtype))


CASES: list[Case] = [
    Case("affine", "correct", _affine(Affine, "affine"), quick=True),
    Case("relu, exact zeros", "correct", _elementwise(Relu, "relu", _with_zeros), kink=True,
         quick=True),
    Case("leaky relu, exact zeros", "correct", _elementwise(LeakyRelu, "leaky", _with_zeros),
         kink=True),
    Case("max-pool 2x2, ties", "correct", _maxpool, kink=True),
    Case("abs, exact zeros", "correct", _elementwise(Abs, "abs", _with_zeros), kink=True),
    Case("clamp, at the bounds", "correct", _elementwise(Clamp, "clamp", _at_bounds), kink=True),
    Case("softmax cross-entropy", "correct", _cross_entropy(cross_entropy, "ce")),
    Case("layer norm", "correct", _norm(LayerNorm, "layernorm")),
    Case("batch norm (train)", "correct", _norm(BatchNormTrain, "batchnorm")),
    Case("dropout (train, fixed mask)", "correct", _dropout),
    Case("Linear + nn.Dropout (train)", "correct", _dropout_module),
    Case("conv2d 3x3", "correct", _conv),
    Case("MLP 3 layers (nn.Module)", "correct", _mlp),
    Case("cross-entropy, no 1/N", "bug", _cross_entropy(cross_entropy_no_mean, "ce bug"),
         expect=("missing mean",), quick=True),
    Case("square, d = x not 2x", "bug", _elementwise(SquareHalf, "square", _normal),
         expect=("a factor 2",)),
    Case("tanh, wrong sign", "bug", _elementwise(TanhWrongSign, "tanh", _normal),
         expect=("wrong sign",)),
    Case("GLU, gate path dropped", "bug", _elementwise(GluNoGatePath, "glu", _normal, wide=2),
         expect=("missing path",)),
    Case("softmax, last sample skipped", "bug",
         _elementwise(SoftmaxLastSampleSkipped, "softmax", _normal),
         expect=("wrong only for sample",)),
    Case("PReLU, channel 0's slope", "bug", _prelu, expect=("channel",)),
    Case("affine, dW transposed", "bug", _affine(AffineSwappedW, "affine bug"),
         expect=("transpose", "swapped"), quick=True),
]


# -- NumPy versions of a few cases, for kobai.gradcheck.check_function ------------------------

@dataclass(frozen=True)
class NumpyCase:
    """``check_function(f, inputs(quick), vjp)``; ``expect`` and ``kink`` as for :class:`Case`."""

    name: str
    kind: str
    f: Callable[..., Any]
    vjp: Callable[[dict[str, np.ndarray], np.ndarray], dict[str, np.ndarray]]
    inputs: Callable[[bool], dict[str, np.ndarray]]
    expect: tuple[str, ...] = ()
    kink: bool = False


def _np_affine(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    return x @ w + b


def _np_affine_inputs(quick: bool) -> dict[str, np.ndarray]:
    n, d = sizes(quick)
    rng = _rng("np affine")
    return {"x": rng.standard_normal((n, d)), "w": rng.standard_normal((d, d)) / np.sqrt(d),
            "b": rng.standard_normal(d)}


def _np_relu_inputs(quick: bool) -> dict[str, np.ndarray]:
    return {"x": _with_zeros(_rng("np relu"), sizes(quick))}


def _np_cross_entropy(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    zs = z - z.max(axis=1, keepdims=True)
    logp = zs - np.log(np.exp(zs).sum(axis=1, keepdims=True))
    return -logp[np.arange(len(t)), t].mean()


def _np_softmax_minus_onehot(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(t)), t] -= 1
    return p


def _np_ce_inputs(quick: bool) -> dict[str, np.ndarray]:
    n, d = sizes(quick)
    rng = _rng("np ce")
    return {"z": rng.standard_normal((n, d)), "t": rng.integers(0, d, n)}


NUMPY_CASES: list[NumpyCase] = [
    NumpyCase("affine", "correct", _np_affine,
              lambda i, v: {"x": v @ i["w"].T, "w": i["x"].T @ v, "b": v.sum(0)},
              _np_affine_inputs),
    NumpyCase("relu, exact zeros", "correct", lambda x: np.maximum(x, 0),
              lambda i, v: {"x": v * (i["x"] > 0)}, _np_relu_inputs, kink=True),
    NumpyCase("softmax cross-entropy", "correct", _np_cross_entropy,
              lambda i, v: {"z": v * _np_softmax_minus_onehot(i["z"], i["t"]) / len(i["t"])},
              _np_ce_inputs),
    NumpyCase("cross-entropy, no 1/N", "bug", _np_cross_entropy,
              lambda i, v: {"z": v * _np_softmax_minus_onehot(i["z"], i["t"])},  # bug: no / N
              _np_ce_inputs, expect=("missing mean",)),
    NumpyCase("affine, dW transposed", "bug", _np_affine,
              lambda i, v: {"x": v @ i["w"].T, "w": v.T @ i["x"], "b": v.sum(0)},  # bug
              _np_affine_inputs, expect=("transpose", "swapped")),
]
