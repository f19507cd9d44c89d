"""kobai.export's PyTorch side: to_torch / save_torch / from_torch against kobai's own forward
and backprop, for every kind of network kobai has (PyTorch is the outside oracle)."""

import functools
import math
import runpy
import subprocess
import sys

import numpy as np
import pytest
from conftest import DLFS, SEED_T, SEED_X, needs_shared, require
from export_nets import BOOK_FILES, book_nets, trained_nets
from export_nets import test_images as mnist_test_images

torch = require("torch")
nn = torch.nn
F = torch.nn.functional

from kobai.export import ExportError, from_torch, save_torch, to_torch  # noqa: E402
from kobai.export.torch_module import rebuild_source  # noqa: E402
from kobai.functions import softmax  # noqa: E402
from kobai.layers import (  # noqa: E402
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Flatten,
    Pooling,
    Relu,
)
from kobai.nets import Network, TwoLayerNet  # noqa: E402

KINDS = list(trained_nets())
BOOK = [pytest.param(kind, marks=needs_shared(DLFS / name)) for kind, (name, _) in
        BOOK_FILES.items()]


@functools.lru_cache(maxsize=1)
def _book():
    return book_nets()


def images(net, n):
    """The first ``n`` test images in the shape ``net`` takes, and their labels."""
    return mnist_test_images(n, flatten=len(net.input_shape) == 1)


def logits(module, x, batch=1000):
    """``module(x)`` as an array, ``batch`` samples at a time (a conv net's activations of
    10,000 images would take gigabytes)."""
    with torch.no_grad():
        return np.concatenate([module(torch.from_numpy(x[i:i + batch])).numpy()
                               for i in range(0, len(x), batch)])


def assert_outputs_match(net, n):
    x, _ = images(net, n)
    module = to_torch(net)
    out = logits(module, x)
    assert out.dtype == np.float32 and not module.training
    proba = net.predict_proba(x)
    np.testing.assert_allclose(softmax(out), proba, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(out.argmax(axis=1), proba.argmax(axis=1))


# -- outputs --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_module_gives_the_networks_probabilities(kind):
    assert_outputs_match(trained_nets()[kind], 1000)


@pytest.mark.parametrize("kind", BOOK)
def test_module_of_the_books_weights_gives_their_probabilities(kind):
    assert_outputs_match(_book()[kind], 1000)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS + BOOK)
def test_module_gives_the_networks_probabilities_on_all_test_images(kind):
    net = trained_nets()[kind] if kind in KINDS else _book()[kind]
    assert_outputs_match(net, 10000)


def test_float64_network_gives_float64_module_and_dtype_overrides():
    net = trained_nets()["mlp-tanh-bn"]
    assert all(p.dtype == torch.float64 for p in to_torch(net.astype(np.float64)).parameters())
    assert all(p.dtype == torch.float64 for p in to_torch(net, dtype=np.float64).parameters())
    x, _ = images(net, 50)
    np.testing.assert_allclose(softmax(logits(to_torch(net, dtype=np.float64),
                                              x.astype(np.float64))),
                               net.predict_proba(x), atol=1e-6)


def test_modules_are_named_after_the_layers():
    names = [name for name, _ in to_torch(trained_nets()["simple-convnet"]).named_children()]
    assert names == ["Conv1", "Relu1", "Pool1", "Affine1_flatten", "Affine1", "Relu2",
                     "Affine2"]
    bn = dict(to_torch(trained_nets()["generic"]).named_children())
    assert isinstance(bn["BatchNormalization1_flatten"], nn.Flatten)
    assert isinstance(bn["BatchNormalization1_unflatten"], nn.Unflatten)


def test_batchnorm_keeps_eps_momentum_and_running_statistics():
    net = trained_nets()["mlp-relu-bn-dropout"]
    bn = dict(to_torch(net).named_children())["BatchNorm1"]
    layer = net.layers["BatchNorm1"]
    assert bn.eps == layer.eps and bn.momentum == pytest.approx(1 - layer.momentum)
    np.testing.assert_array_equal(bn.running_mean.numpy(), layer.running_mean)
    np.testing.assert_array_equal(bn.running_var.numpy(), layer.running_var)
    # One training-mode step moves the running mean as kobai's does; PyTorch averages the
    # unbiased batch variance into running_var (kobai the biased one, as the book).
    x, _ = images(net, 64)
    h = x @ net.params["W1"] + net.params["b1"]
    m, var0 = layer.momentum, layer.running_var.copy()
    bn.train()
    bn(torch.from_numpy(h))
    layer.forward(h, train=True)
    np.testing.assert_allclose(bn.running_mean.numpy(), layer.running_mean, rtol=1e-5)
    np.testing.assert_allclose(bn.running_var.numpy(),
                               m * var0 + (1 - m) * h.var(axis=0, ddof=1), rtol=1e-5)


def pooled_net(rng, pad):
    """Conv, then 3x3 pooling with ``pad`` (2 is wider than PyTorch's MaxPool2d allows)."""
    return Network([Convolution(rng.standard_normal((3, 1, 3, 3)), rng.standard_normal(3)),
                    Pooling(3, 3, stride=2, pad=pad), Flatten(),
                    Affine(0.1 * rng.standard_normal((75 if pad == 2 else 48, 4)),
                           np.zeros(4))], input_shape=(1, 10, 10))


@pytest.mark.parametrize("pad", [1, 2])
def test_pooling_padding_wider_than_half_the_window_is_padded_with_minus_infinity(pad):
    rng = np.random.default_rng(1)
    net = pooled_net(rng, pad)
    module = to_torch(net)
    kinds = [type(m) for m in module]
    assert (nn.ConstantPad2d in kinds) == (pad == 2)
    x = -np.abs(rng.standard_normal((5, 1, 10, 10)))  # all below zero: padding 0 would win
    np.testing.assert_allclose(logits(module, x), net.predict(x), rtol=1e-12, atol=1e-12)
    back = from_torch(module, input_shape=(1, 10, 10))
    assert back.layers["Pooling1"].pad == pad
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


# -- gradients ------------------------------------------------------------------------------

def times(mask):
    """A forward hook making a module's output ``input · mask``."""
    return lambda module, inputs, output: inputs[0] * mask


def seed_like():
    """The seed notebook's network: TwoLayerNet(784, 50, 10), float64, default init."""
    return TwoLayerNet(784, 50, 10, rng=0)


@pytest.mark.parametrize("kind", [*KINDS, "seed-two-layer"])
def test_autograd_gradients_equal_backprop_in_float64(kind):
    net = seed_like() if kind == "seed-two-layer" else trained_nets()[kind].astype(np.float64)
    x, t = images(net, 8 if kind == "deep-convnet" else 32)
    x = x.astype(np.float64)
    module = to_torch(net).train()  # batch statistics, as net.gradient
    grads = net.gradient(x, t)
    # the same dropout masks on both sides: kobai's, drawn in net.gradient
    masks = [layer.mask for layer in net.layers.values() if isinstance(layer, Dropout)]
    drops = [m for m in module if isinstance(m, nn.Dropout)]
    assert len(masks) == len(drops)
    for drop, mask in zip(drops, masks, strict=True):
        drop.register_forward_hook(times(torch.from_numpy(mask)))
    F.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(t)).backward()
    params = list(module.parameters())
    assert len(params) == len(grads)
    # A bias just before batch norm has gradient 0 in exact arithmetic (the batch mean takes
    # it away), so rounding noise only: its scale is a millionth of the whole gradient's.
    floor = 1e-6 * np.sqrt(sum(np.sum(g * g) for g in grads.values()))
    for (key, g), p in zip(grads.items(), params, strict=True):
        tg = p.grad.numpy()
        tg = tg.T if tg.ndim == 2 else tg  # Linear keeps (out, in)
        np.testing.assert_allclose(tg.reshape(g.shape), g, rtol=0,
                                   atol=1e-6 * max(np.linalg.norm(g), floor), err_msg=key)


def test_seed_like_network_on_the_seed_input():
    net = TwoLayerNet(2, 3, 3, rng=0)
    x, t = SEED_X[None], SEED_T[None]
    module = to_torch(net)
    grads = net.gradient(x, t)
    F.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(t).double()).backward()
    np.testing.assert_allclose(module.Affine1.weight.grad.numpy().T, grads["W1"], atol=1e-15)
    np.testing.assert_allclose(module.Affine2.bias.grad.numpy(), grads["b2"], atol=1e-15)


# -- files ----------------------------------------------------------------------------------

REBUILD = """
import runpy, sys, torch
module = runpy.run_path(sys.argv[1])["module"]
with torch.no_grad():
    torch.save(module(torch.load(sys.argv[2])), sys.argv[3])
"""


def test_saved_state_dict_loads_weights_only_and_the_py_rebuilds_the_module(tmp_path):
    net = trained_nets()["generic"]
    pt, py = save_torch(net, tmp_path / "net.pt")
    assert (pt, py) == (tmp_path / "net.pt", tmp_path / "net.py")
    module = to_torch(net)
    state = torch.load(pt, weights_only=True)
    assert list(state) == list(module.state_dict())
    source = py.read_text()
    assert source == rebuild_source(module, weights="net.pt")
    assert "kobai" not in source.split('"""')[-1] and "numpy" not in source
    x, _ = images(net, 20)
    torch.save(torch.from_numpy(x), tmp_path / "x.pt")
    subprocess.run([sys.executable, "-c", REBUILD, py, tmp_path / "x.pt", tmp_path / "y.pt"],
                   check=True, cwd=tmp_path, capture_output=True)
    np.testing.assert_array_equal(torch.load(tmp_path / "y.pt").numpy(), logits(module, x))


def test_rebuild_source_of_a_graph_builds_the_same_module(tmp_path):
    from kobai.export import inference_graph

    net = pooled_net(np.random.default_rng(2), 2)
    module = to_torch(net)
    torch.save(module.state_dict(), tmp_path / "model.pt")
    (tmp_path / "model.py").write_text(rebuild_source(inference_graph(net)))
    rebuilt = runpy.run_path(str(tmp_path / "model.py"))["module"]
    x = np.random.default_rng(3).standard_normal((4, 1, 10, 10))
    np.testing.assert_array_equal(logits(rebuilt, x), logits(module, x))
    assert not rebuilt.training


def test_save_torch_leaves_neither_file_when_the_state_dict_write_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError("disk full")

    net = trained_nets()["two-layer"]
    monkeypatch.setattr(torch, "save", broken)
    with pytest.raises(OSError, match="disk full"):
        save_torch(net, tmp_path / "net.pt")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "net.py").write_text("# before\n")
    with pytest.raises(OSError, match="disk full"):
        save_torch(net, tmp_path / "net.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.py"]
    assert (tmp_path / "net.py").read_text() == "# before\n"


def test_save_torch_refuses_a_py_path(tmp_path):
    with pytest.raises(ValueError, match=r"ends in \.py"):
        save_torch(trained_nets()["two-layer"], tmp_path / "net.py")


# -- from_torch -----------------------------------------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_from_torch_of_to_torch_predicts_as_the_network(kind):
    net = trained_nets()[kind]
    back = from_torch(to_torch(net), input_shape=net.input_shape)
    assert back.dtype == net.dtype and back.input_shape == net.input_shape
    x, _ = images(net, 200)
    np.testing.assert_allclose(back.predict_proba(x), net.predict_proba(x), rtol=0, atol=1e-6)
    norms = [(layer.eps, layer.momentum) for layer in back.layers.values()
             if isinstance(layer, BatchNormalization)]
    assert norms == [(layer.eps, pytest.approx(layer.momentum)) for layer in
                     net.layers.values() if isinstance(layer, BatchNormalization)]


def hand_built():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU()),
        nn.MaxPool2d(2), nn.Flatten(), nn.Linear(3 * 4 * 4, 6, bias=False), nn.Tanh(),
        nn.Linear(6, 4)).double()


def test_from_torch_of_a_hand_built_module_backpropagates_as_pytorch():
    module = hand_built()
    net = from_torch(module, input_shape=(1, 8, 8))
    assert list(net.layers) == ["Convolution1", "Relu1", "Pooling1", "Flatten1", "Affine1",
                                "Tanh1", "Affine2"]
    assert net.dtype == np.float64
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal((10, 1, 8, 8)), rng.integers(0, 4, 10)
    np.testing.assert_allclose(net.predict(x), logits(module, x), rtol=1e-13, atol=1e-13)
    grads = net.gradient(x, t)
    F.cross_entropy(module(torch.from_numpy(x)), torch.from_numpy(t)).backward()
    torch_grads = [p.grad.numpy() for p in module.parameters()]
    torch_grads.insert(3, np.zeros(6))  # Linear(bias=False) is an Affine with b = 0
    for (key, g), tg in zip(grads.items(), torch_grads, strict=True):
        if key == "b2":
            continue  # the zero bias: PyTorch has no parameter to compare
        np.testing.assert_allclose(tg.T if tg.ndim == 2 else tg, g, rtol=1e-10, atol=1e-13,
                                   err_msg=key)


def test_from_torch_takes_input_shape_from_the_first_linear():
    net = from_torch(nn.Sequential(nn.Linear(5, 3), nn.ReLU(), nn.Dropout(0.3),
                                   nn.Linear(3, 2)))
    assert net.input_shape == (5,) and net.output_size == 2 and net.dtype == np.float32
    assert net.layers["Dropout1"].ratio == pytest.approx(0.3)


# -- refused --------------------------------------------------------------------------------

class Custom(nn.Module):
    def forward(self, x):
        return 2 * x


@pytest.mark.parametrize("module, match", [
    (nn.Sequential(nn.Linear(4, 3), nn.LayerNorm(3)), r"module 1 \(nn\.LayerNorm\).*nn\.Linear"),
    (nn.Sequential(nn.Linear(4, 3), nn.GELU()), r"module 1 \(nn\.GELU\)"),
    (nn.Sequential(nn.Linear(4, 3), Custom()), r"module 1 \(test_export_torch\.Custom\)"),
    (nn.Linear(4, 3), r"takes a torch\.nn\.Sequential, got nn\.Linear"),
    (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(2, 2)),
     r"give input_shape.*module 0 \(nn\.Conv2d\).*input_shape=\(1, 28, 28\)"),
    (nn.Sequential(nn.Flatten(), nn.Linear(4, 3)).half(), r"float16"),
    (nn.Sequential(nn.Linear(4, 3), nn.Dropout(1.0)), r"module 1 \(nn\.Dropout\): .*\[0, 1\)"),
    (nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3, momentum=None)), "momentum=None"),
    (nn.Sequential(nn.Linear(4, 3), nn.Unflatten(1, (3, 1))), r"module 1 \(nn\.Unflatten\)"),
])
def test_from_torch_refuses_what_kobai_lacks(module, match):
    with pytest.raises(ExportError, match=match):
        from_torch(module)


@pytest.mark.parametrize("conv, match", [
    (nn.Conv2d(2, 2, 3, groups=2), "groups=2"),
    (nn.Conv2d(2, 2, 3, dilation=2), r"dilation=\(2, 2\)"),
    (nn.Conv2d(2, 2, 3, padding=(1, 0)), r"padding \(1, 0\)"),
    (nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"), "padding_mode='reflect'"),
])
def test_from_torch_refuses_convolutions_kobai_lacks(conv, match):
    with pytest.raises(ExportError, match=match):
        from_torch(nn.Sequential(conv, nn.Flatten(), nn.Linear(72, 2)), input_shape=(2, 8, 8))


def test_from_torch_refuses_shapes_that_do_not_chain():
    with pytest.raises(ExportError, match=r"module 1 \(nn\.Linear\) takes 5 features .*\(3,\)"):
        from_torch(nn.Sequential(nn.Linear(4, 3), nn.Linear(5, 2)))
    with pytest.raises(ExportError, match="put an nn.Flatten"):
        from_torch(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(6, 2)), input_shape=(1, 8, 8))


def test_from_torch_refuses_nan_parameters():
    module = nn.Sequential(nn.Linear(4, 3))
    with torch.no_grad():
        module[0].weight[1, 2] = math.nan
    with pytest.raises(ExportError, match=r"module 0 \(nn\.Linear\) weight holds NaN"):
        from_torch(module)


def test_to_torch_refuses_non_inverted_dropout():
    net = Network([Affine(np.ones((4, 3)), np.zeros(3)), Relu(), Dropout(0.5, inverted=False),
                   Affine(np.ones((3, 2)), np.zeros(2))])
    with pytest.raises(ExportError, match=r"'Dropout1'.*inverted=True"):
        to_torch(net)


def test_to_torch_refuses_nan_parameters():
    net = trained_nets()["two-layer"]
    net.params["W2"][0, 0] = np.nan
    with pytest.raises(ExportError, match="W2 holds 1 NaN"):
        to_torch(net)


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match=r'pip install "kobai\[torch\]"'):
        to_torch(trained_nets()["two-layer"])
