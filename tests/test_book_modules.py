"""``kobai.book``'s modules against the book's own ``common`` (``../shared/dlfs``): the same
names and signatures, and, from the same ``np.random.seed``, the same numbers.

The book's code is the oracle: the ``book`` fixture imports its ``common`` package (and ch05's
``layer_naive``) and removes them again afterwards. Values computed by the same operations in
the same order are compared for equality; values kobai computes another way (its softmax sums
by a matrix product, its batch-norm backward in closed form) to 1e-12 relative.
"""

import ast
import contextlib
import copy
import functools
import importlib
import importlib.util
import inspect
import io
import re
import sys
import warnings
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import DLFS, require_shared

import kobai.book.common.functions as k_functions
import kobai.book.common.gradient as k_gradient
import kobai.book.common.layers as k_layers
import kobai.book.common.multi_layer_net as k_multi_layer_net
import kobai.book.common.multi_layer_net_extend as k_multi_layer_net_extend
import kobai.book.common.optimizer as k_optimizer
import kobai.book.common.trainer as k_trainer
import kobai.book.common.util as k_util
import kobai.book.dataset.mnist as k_mnist
import kobai.book.layer_naive as k_layer_naive
from kobai import optimizers
from kobai.book._random import global_stream
from kobai.layers import BatchNormalization as KobaiBatchNormalization

COMMON = ("functions", "gradient", "layers", "optimizer", "multi_layer_net",
          "multi_layer_net_extend", "trainer", "util")
OURS = SimpleNamespace(functions=k_functions, gradient=k_gradient, layers=k_layers,
                       optimizer=k_optimizer, multi_layer_net=k_multi_layer_net,
                       multi_layer_net_extend=k_multi_layer_net_extend, trainer=k_trainer,
                       util=k_util, mnist=k_mnist, layer_naive=k_layer_naive)


def _book_module(name):
    return name in ("common", "dataset", "layer_naive") or name.startswith(("common.",
                                                                             "dataset."))


@contextlib.contextmanager
def _isolated_imports():
    """Restore ``sys.path`` and drop the book's modules (``common*``, ``dataset*``, files of
    the book's repository) from ``sys.modules`` afterwards."""
    path, saved = list(sys.path), {k: v for k, v in sys.modules.items() if _book_module(k)}
    for name in saved:
        del sys.modules[name]
    try:
        yield
    finally:
        sys.path[:] = path
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None) or ""
            if _book_module(name) or file.startswith(str(DLFS)):
                del sys.modules[name]
        sys.modules.update(saved)


@pytest.fixture(scope="module")
def book():
    """The book's ``common.*`` modules and ch05's ``layer_naive``, as attributes."""
    require_shared(DLFS)
    with _isolated_imports():
        sys.path[:0] = [str(DLFS), str(DLFS / "ch05")]
        mods = {name: importlib.import_module(f"common.{name}") for name in COMMON}
        mods["mnist_names"] = _mnist_names()
        mods["layer_naive"] = importlib.import_module("layer_naive")
        yield SimpleNamespace(**mods)


def _mnist_names():
    """The functions of the book's ``dataset/mnist.py`` and their parameters, from its source
    (the module is the book's downloader and pickle cache, which these tests never run)."""
    tree = ast.parse((DLFS / "dataset" / "mnist.py").read_text(encoding="utf-8"))
    return {node.name: [a.arg for a in node.args.args] for node in tree.body
            if isinstance(node, ast.FunctionDef)}


def chapter_module(path, common):
    """Import a chapter file of the book (``ch07/simple_convnet.py``) under a fresh name, with
    ``common`` and ``common.*`` being the modules of ``common`` (a SimpleNamespace)."""
    with _isolated_imports():
        package = SimpleNamespace(__name__="common", __path__=[])
        sys.modules["common"] = package
        for name in COMMON:
            sys.modules[f"common.{name}"] = getattr(common, name)
        spec = importlib.util.spec_from_file_location(f"_book_{path.stem}_{id(common)}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


@functools.cache
def _mnist(flatten):
    return k_mnist.load_mnist(flatten=flatten)


def mnist_subset(n_train=200, n_test=300, flatten=True):
    """The first samples of the bundled MNIST (read-only: the arrays are shared)."""
    (x, t), (xt, tt) = _mnist(flatten)
    return x[:n_train], t[:n_train], xt[:n_test], tt[:n_test]


def close_grads(expected, actual, rtol=1e-12):
    """Same keys in the same order; each array within rtol of the largest gradient entry of
    the whole dict (a bias before batch norm has a gradient of pure rounding noise)."""
    assert list(actual) == list(expected)
    scale = max(float(np.abs(g).max()) for g in expected.values())
    for key in expected:
        np.testing.assert_allclose(actual[key], expected[key], rtol=rtol, atol=rtol * scale,
                                   err_msg=key)


# -- names and signatures -----------------------------------------------------------------------
def _public_callables(module):
    return {name: obj for name, obj in vars(module).items()
            if (inspect.isfunction(obj) or inspect.isclass(obj))
            and getattr(obj, "__module__", None) == module.__name__}


def _params(fn):
    return [(p.name, p.default) for p in inspect.signature(fn).parameters.values()
            if p.name != "self" and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


# Defaults that differ on purpose: None stands for the book's mutable {'lr': 0.01}.
DEFAULTS_ELSEWHERE = {("Trainer", "__init__", "optimizer_param")}


@pytest.mark.parametrize("name", COMMON)
def test_every_function_and_class_of_the_books_module_exists_with_its_signature(book, name):
    theirs, ours = getattr(book, name), getattr(OURS, name)
    for attr, obj in _public_callables(theirs).items():
        assert hasattr(ours, attr), f"common.{name}.{attr} is missing"
        mine = getattr(ours, attr)
        methods = ([("__call__", obj, mine)] if inspect.isfunction(obj) else
                   [(m, getattr(obj, m), getattr(mine, m)) for m in vars(obj)
                    if inspect.isfunction(vars(obj)[m]) and not m.startswith("_")
                    or m == "__init__"])
        for method, book_fn, our_fn in methods:
            expected, actual = _params(book_fn), _params(our_fn)
            assert [p for p, _ in actual[:len(expected)]] == [p for p, _ in expected], (
                f"common.{name}.{attr}.{method}: {actual} does not begin with {expected}")
            for (param, default), (_, ours_default) in zip(expected, actual, strict=False):
                if default is not inspect.Parameter.empty and (
                        attr, method, param) not in DEFAULTS_ELSEWHERE:
                    assert ours_default == default, f"{attr}.{method}({param}=...)"


@pytest.mark.parametrize("name", ["functions", "layers", "optimizer", "util"])
def test_star_import_gives_what_the_books_gives(book, name):
    # ch06/optimizer_compare_mnist.py uses the np of ``from common.optimizer import *``
    theirs = {n for n, v in vars(getattr(book, name)).items()
              if not n.startswith("_") and not inspect.ismodule(v) or n == "np"}
    assert theirs <= set(getattr(OURS, name).__all__)


def test_the_mnist_module_has_the_books_functions(book):
    for fn in ("load_mnist", "init_mnist", "download_mnist", "_change_one_hot_label"):
        assert [p for p, _ in _params(getattr(k_mnist, fn))] == book.mnist_names[fn]
    assert k_mnist.key_file["train_img"] == "train-images-idx3-ubyte.gz"
    assert (k_mnist.img_size, k_mnist.img_dim) == (784, (1, 28, 28))
    assert not hasattr(k_mnist, "save_file")  # no pickle cache


# -- functions, gradient, util ------------------------------------------------------------------
def test_functions_give_the_books_values(book):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 10))
    x[0, :3] = [0.0, -0.0, 1.0]  # relu_grad is 1 at 0 in the book
    t = rng.integers(0, 10, 4)
    f, g = book.functions, k_functions
    for fn in ("sigmoid", "sigmoid_grad", "relu", "relu_grad", "softmax", "step_function",
               "identity_function"):
        np.testing.assert_array_equal(getattr(g, fn)(x), getattr(f, fn)(x), err_msg=fn)
    assert g.step_function(x).dtype == f.step_function(x).dtype
    y = f.softmax(x)
    assert g.cross_entropy_error(y, t) == f.cross_entropy_error(y, t)
    assert g.cross_entropy_error(y, np.eye(10)[t]) == f.cross_entropy_error(y, np.eye(10)[t])
    assert g.softmax_loss(x, t) == f.softmax_loss(x, t)
    assert g.sum_squared_error(y, np.eye(10)[t]) == f.sum_squared_error(y, np.eye(10)[t])


def test_sigmoid_is_kobais_to_every_bit_without_warnings():
    from kobai.functions import sigmoid

    rng = np.random.default_rng(11)
    extremes = [-1e38, -800.0, -709.8, -100.0, -0.0, 0.0, 1e-300, 50.0, 800.0, np.inf,
                -np.inf, np.nan]  # (-1e38 and 800: a float32 exp(-x) overflows too)
    inputs = [rng.standard_normal(50) * 30, rng.standard_normal((100, 50)), np.array(extremes),
              np.array(extremes, dtype=np.float32), np.array([-90.0, 3.0], dtype=np.float16),
              rng.standard_normal((6, 8))[:, ::3], np.float64(-800.0), 2.5, [-800, 0, 3],
              np.arange(-3, 3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for x in inputs:
            mine, kobais = k_functions.sigmoid(x), sigmoid(x)
            assert np.asarray(mine).dtype == np.asarray(kobais).dtype, x
            np.testing.assert_array_equal(mine, kobais)
            assert np.asarray(mine).tobytes() == np.asarray(kobais).tobytes(), x
    x = np.array([0.5, -1.0])
    k_functions.sigmoid(x)
    np.testing.assert_array_equal(x, [0.5, -1.0])  # not in place
    with pytest.raises(TypeError, match="x must be a numeric array"):
        k_functions.sigmoid("1.0")


def test_numerical_gradients_give_the_books_values(book):
    def f(x):
        return np.sum(x ** 2) + x.max()

    X = np.random.default_rng(1).standard_normal((3, 4))
    for fn in ("numerical_gradient", "numerical_gradient_2d"):
        np.testing.assert_array_equal(getattr(k_gradient, fn)(f, X.copy()),
                                      getattr(book.gradient, fn)(f, X.copy()), err_msg=fn)
    np.testing.assert_array_equal(k_gradient._numerical_gradient_1d(f, X[0].copy()),
                                  book.gradient._numerical_gradient_1d(f, X[0].copy()))


def test_numerical_gradient_is_kobais_to_every_bit_with_its_errors():
    from kobai.gradient import numerical_gradient

    X = np.random.default_rng(12).standard_normal((3, 4))
    returns = {"float": lambda x: float(np.sum(np.sin(x)) + x[0, 0] ** 3),
               "float64": lambda x: np.sum(np.sin(x)) + x[0, 0] ** 3,
               "0-d array": lambda x: np.array(np.sum(np.sin(x))),
               "float32": lambda x: np.float32(np.sum(np.sin(x))),
               "a NaN late": lambda x: float("nan") if x[2, 1] > X[2, 1] else float(x.sum())}
    for what, f in returns.items():
        mine, kobais = X.copy(), X.copy()
        try:
            expected = numerical_gradient(f, kobais)
        except ValueError as exc:
            with pytest.raises(ValueError, match=re.escape(str(exc))):
                k_gradient.numerical_gradient(f, mine)
        else:
            got = k_gradient.numerical_gradient(f, mine)
            assert got.tobytes() == expected.tobytes(), what
        assert mine.tobytes() == X.tobytes(), what  # restored
    with pytest.warns(RuntimeWarning, match="float32"):
        k_gradient.numerical_gradient(returns["float"], X.astype(np.float32))
    with pytest.raises(ValueError, match="h must be a finite number"):
        k_gradient.numerical_gradient(returns["float"], X.copy(), h=0)
    with pytest.raises(TypeError, match="x must be a NumPy float array"):
        k_gradient.numerical_gradient(returns["float"], [1.0, 2.0])


def test_util_gives_the_books_values(book):
    curve = np.abs(np.random.default_rng(2).standard_normal(40))
    np.testing.assert_array_equal(k_util.smooth_curve(curve), book.util.smooth_curve(curve))
    x, t = np.arange(24.0).reshape(6, 4), np.arange(6)
    np.random.seed(3)
    expected = book.util.shuffle_dataset(x, t)
    np.random.seed(3)
    for mine, theirs in zip(k_util.shuffle_dataset(x, t), expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    for args in [(28, 5), (28, 5, 2, 1), (7, 3, 2)]:  # a float, also where windows don't tile
        assert k_util.conv_output_size(*args) == book.util.conv_output_size(*args)
    img = np.random.default_rng(4).standard_normal((2, 3, 7, 7))
    col = book.util.im2col(img, 3, 3, 2, 1)
    np.testing.assert_array_equal(k_util.im2col(img, 3, 3, 2, 1), col)
    np.testing.assert_allclose(k_util.col2im(col, img.shape, 3, 3, 2, 1),
                               book.util.col2im(col, img.shape, 3, 3, 2, 1), rtol=1e-15)


# -- layers -------------------------------------------------------------------------------------
def test_dropout_masks_and_outputs_are_the_books(book):
    x = np.random.default_rng(5).standard_normal((20, 30))
    dout = np.random.default_rng(6).standard_normal((20, 30))
    theirs, ours = book.layers.Dropout(0.3), k_layers.Dropout(0.3)
    for step in range(3):
        np.random.seed(step)
        expected = theirs.forward(x)  # train_flg=True
        np.random.seed(step)
        np.testing.assert_array_equal(ours.forward(x), expected)
        np.testing.assert_array_equal(ours.backward(dout), theirs.backward(dout))
        np.testing.assert_array_equal(ours.mask != 0, theirs.mask)
    np.testing.assert_array_equal(ours.forward(x, False), theirs.forward(x, False))
    np.testing.assert_array_equal(ours.forward(x, train=False), theirs.forward(x, False))
    assert ours.dropout_ratio == 0.3


def test_batch_norm_outputs_and_running_statistics_are_the_books(book):
    rng = np.random.default_rng(7)
    gamma, beta = 1 + 0.1 * rng.standard_normal(5), 0.1 * rng.standard_normal(5)
    theirs = book.layers.BatchNormalization(gamma.copy(), beta.copy())
    ours = k_layers.BatchNormalization(gamma.copy(), beta.copy())
    for _ in range(4):
        x = 3 + 2 * rng.standard_normal((8, 5))
        dout = rng.standard_normal((8, 5))
        np.testing.assert_array_equal(ours.forward(x), theirs.forward(x))
        np.testing.assert_array_equal(ours.running_mean, theirs.running_mean)
        np.testing.assert_array_equal(ours.running_var, theirs.running_var)
        np.testing.assert_allclose(ours.backward(dout), theirs.backward(dout), rtol=1e-12,
                                   atol=1e-14)
        np.testing.assert_allclose(ours.dgamma, theirs.dgamma, rtol=1e-13)
        np.testing.assert_array_equal(ours.dbeta, theirs.dbeta)
        np.testing.assert_array_equal(ours.forward(x, False), theirs.forward(x, False))
        np.testing.assert_array_equal(ours.forward(x, train=False), theirs.forward(x, False))
    one = rng.standard_normal((1, 5))  # the book trains on one sample, too
    np.testing.assert_array_equal(ours.forward(one, True), theirs.forward(one, True))


def test_softmax_with_loss_reports_the_books_loss_and_backpropagates_its_gradient(book):
    rng = np.random.default_rng(8)
    x, t = 3 * rng.standard_normal((6, 10)), rng.integers(0, 10, 6)
    for target in (t, np.eye(10)[t]):
        theirs, ours = book.layers.SoftmaxWithLoss(), k_layers.SoftmaxWithLoss()
        assert ours.forward(x, target) == pytest.approx(theirs.forward(x, target), rel=1e-14)
        np.testing.assert_allclose(ours.backward(1), theirs.backward(1), rtol=1e-13,
                                   atol=1e-17)
    # ch07's gradient_check.py gives one label in a column: T = np.array([1]).reshape((1, 1))
    column = np.array([[1]])
    theirs, ours = book.layers.SoftmaxWithLoss(), k_layers.SoftmaxWithLoss()
    assert ours.forward(x[:1], column) == pytest.approx(theirs.forward(x[:1], column), rel=1e-14)
    np.testing.assert_allclose(ours.backward(1), theirs.backward(1), rtol=1e-13)


def test_softmax_with_loss_checks_targets_once_per_value_and_again_when_they_change():
    rng = np.random.default_rng(18)
    x = rng.standard_normal((3, 10))
    t = np.eye(10)[[1, 4, 7]]
    layer, fresh = k_layers.SoftmaxWithLoss(), k_layers.SoftmaxWithLoss()
    first = layer.forward(x, t)
    labels = layer.labels
    assert layer.forward(x + 1, t) == fresh.forward(x + 1, t)
    assert layer.labels is labels  # the same t: checked once
    assert layer.forward(x, t.copy()) == first and layer.labels is labels  # the same values
    np.testing.assert_array_equal(labels, [1, 4, 7])
    t[0] = np.eye(10)[5]  # t changed in place: checked again
    assert layer.forward(x, t) == fresh.forward(x, t)
    np.testing.assert_array_equal(layer.labels, [5, 4, 7])
    t[1, 0] = 1.0  # a row with two 1s, refused as kobai's layer refuses it
    with pytest.raises(ValueError, match="t row 1 is not one-hot"):
        layer.forward(x, t)
    with pytest.raises(ValueError, match="t row 1 is not one-hot"):
        layer.forward(x, t)
    with pytest.raises(ValueError, match="t has 2 label"):
        layer.forward(x, np.array([1, 2]))
    assert layer.forward(x, [1, 4, 7]) == first  # a list: checked every time


def test_convolution_takes_one_number_as_every_filters_bias(book):
    rng = np.random.default_rng(9)
    W, img = rng.standard_normal((1, 1, 5, 5)), rng.random((1, 1, 12, 12)).astype(np.float32)
    np.testing.assert_allclose(k_layers.Convolution(W, 0).forward(img),
                               book.layers.Convolution(W, 0).forward(img), rtol=1e-12)


def test_the_books_conv_nets_run_on_our_layers(book):
    """ch07's SimpleConvNet and ch08's DeepConvNet, unchanged, on kobai.book's layers."""
    x, t, _, _ = mnist_subset(8, 1, flatten=False)
    for path, make in [(DLFS / "ch07" / "simple_convnet.py", lambda m: m.SimpleConvNet()),
                       (DLFS / "ch08" / "deep_convnet.py", lambda m: m.DeepConvNet())]:
        results = []
        for common in (book, OURS):
            module = chapter_module(path, common)
            np.random.seed(10)
            net = make(module)
            np.random.seed(11)
            grads = net.gradient(x, t)
            results.append((net, grads, net.accuracy(x, t, batch_size=4)))
        (theirs, expected, acc), (ours, actual, our_acc) = results
        for key in expected:
            np.testing.assert_array_equal(ours.params[key], theirs.params[key])
        close_grads(expected, actual, rtol=1e-10)
        assert our_acc == acc
        assert isinstance(ours.layers["Conv1"] if isinstance(ours.layers, dict)
                          else ours.layers[0], k_layers.Convolution)


# -- networks -----------------------------------------------------------------------------------
NET_OPTIONS = [
    dict(),
    dict(activation="sigmoid", weight_init_std=0.05),
    dict(weight_init_std="xavier", weight_decay_lambda=0.1),
    dict(use_dropout=True, dropout_ration=0.2),
    dict(use_batchnorm=True, weight_init_std=0.01),
    dict(use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.05),
]


def _pair(book, cls, options, hidden=(30, 20), input_size=784):
    """The book's network and ours, each built right after ``np.random.seed(12)``."""
    nets = []
    for module in (book, OURS):
        np.random.seed(12)
        mod = getattr(module, "multi_layer_net_extend" if cls == "MultiLayerNetExtend"
                      else "multi_layer_net")
        nets.append(getattr(mod, cls)(input_size=input_size, hidden_size_list=list(hidden),
                                      output_size=10, **options))
    return nets


@pytest.mark.parametrize("options", NET_OPTIONS, ids=str)
def test_multi_layer_net_extend_starts_as_the_books_and_computes_its_loss_and_gradients(
        book, options):
    theirs, ours = _pair(book, "MultiLayerNetExtend", options)
    assert list(ours.layers) == list(theirs.layers)
    assert isinstance(ours.layers, OrderedDict)
    assert sorted(ours.params) == sorted(theirs.params)
    for key in theirs.params:
        np.testing.assert_array_equal(ours.params[key], theirs.params[key], err_msg=key)
    assert (ours.hidden_layer_num, ours.use_dropout, ours.use_batchnorm) == (
        theirs.hidden_layer_num, theirs.use_dropout, theirs.use_batchnorm)
    x, t, _, _ = mnist_subset(50)
    for step in range(3):
        np.random.seed(step)
        expected = theirs.gradient(x, t)
        np.random.seed(step)
        close_grads(expected, ours.gradient(x, t))
        for flag in (False, True):
            np.random.seed(step)
            loss = theirs.loss(x, t, flag)
            np.random.seed(step)
            assert ours.loss(x, t, flag) == pytest.approx(loss, rel=1e-13)
        assert ours.accuracy(x, t) == theirs.accuracy(x, t)
        for net, grads in ((theirs, expected), (ours, expected)):
            for key, g in grads.items():  # the same step for both: the states stay equal
                net.params[key] -= 0.1 * g


@pytest.mark.parametrize("options", NET_OPTIONS[:3], ids=str)
def test_multi_layer_net_is_the_books(book, options):
    theirs, ours = _pair(book, "MultiLayerNet", options, hidden=(20, 20, 20))
    assert list(ours.layers) == list(theirs.layers)
    assert "Activation_function1" in ours.layers and ours.last_layer is not None
    for key in theirs.params:
        np.testing.assert_array_equal(ours.params[key], theirs.params[key], err_msg=key)
    x, t, _, _ = mnist_subset(40)
    close_grads(theirs.gradient(x, t), ours.gradient(x, t))
    assert ours.loss(x, t) == pytest.approx(theirs.loss(x, t), rel=1e-13)
    assert ours.accuracy(x, t) == theirs.accuracy(x, t)


def test_numerical_gradient_has_the_books_keys_and_values(book):
    theirs, ours = _pair(book, "MultiLayerNetExtend", dict(use_batchnorm=True), hidden=(4,),
                         input_size=6)
    x, t = np.random.default_rng(13).random((3, 6)), np.array([1, 2, 3])
    close_grads(theirs.numerical_gradient(x, t), ours.numerical_gradient(x, t), rtol=1e-7)


# -- optimizers ---------------------------------------------------------------------------------
OPTIMIZER_NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_optimizer_steps_equal_the_books(book, name):
    rng = np.random.default_rng(14)
    theirs, ours = getattr(book.optimizer, name)(), getattr(k_optimizer, name)()
    p_book = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4)}
    p_ours = copy.deepcopy(p_book)
    for _ in range(5):
        grads = {k: rng.standard_normal(v.shape) for k, v in p_book.items()}
        theirs.update(p_book, grads)
        ours.update(p_ours, grads)
        for key in p_book:
            np.testing.assert_array_equal(p_ours[key], p_book[key], err_msg=key)


@pytest.mark.parametrize("name", OPTIMIZER_NAMES)
def test_optimizer_updates_numbers_as_the_books_does(book, name):
    # ch06/optimizer_compare_naive.py
    paths = []
    for module in (book.optimizer, k_optimizer):
        opt, params, path = getattr(module, name)(lr=0.1), {"x": -7.0, "y": 2.0}, []
        for _ in range(10):
            path.append((params["x"], params["y"]))
            opt.update(params, {"x": params["x"] / 10.0, "y": 2.0 * params["y"]})
        paths.append(path)
    assert paths[1] == paths[0]


def test_kobai_optimizers_update_numbers_by_replacing_them():
    params = {"w": np.ones(2), "x": 3, "y": np.float32(2.0)}
    w = params["w"]
    optimizers.SGD(lr=0.5).update(params, {"w": np.ones(2), "x": 1.0, "y": np.float32(1.0)})
    assert params["w"] is w and w[0] == 0.5
    assert type(params["x"]) is float and params["x"] == pytest.approx(2.5)
    assert type(params["y"]) is np.float32 and params["y"] == pytest.approx(1.5)
    with pytest.raises(TypeError, match=r"params\['x'\] is a number.*pass a dict"):
        optimizers.SGD().update(__import__("types").MappingProxyType({"x": 1.0}), {"x": 1.0})
    with pytest.raises(TypeError, match=r"params\['b'\] must be a floating-point ndarray"):
        optimizers.SGD().update({"b": True}, {"b": 1.0})


def test_book_optimizers_apply_non_finite_gradients_as_the_book_kobais_refuse(book):
    grads = {"w": np.array([np.nan, 1.0])}
    for module in (book.optimizer, k_optimizer):
        params = {"w": np.zeros(2)}
        module.SGD(lr=0.5).update(params, grads)
        np.testing.assert_array_equal(params["w"], [np.nan, -0.5])
    with pytest.raises(ValueError, match="NaN or infinite"):
        optimizers.SGD().update({"w": np.zeros(2)}, grads)


# -- trainer ------------------------------------------------------------------------------------
def _train(module_set, options, **trainer_options):
    x, t, xt, tt = mnist_subset(250, 300)
    np.random.seed(15)
    net = module_set.multi_layer_net_extend.MultiLayerNetExtend(784, [40, 30], 10, **options)
    trainer = module_set.trainer.Trainer(net, x, t, xt, tt, **trainer_options)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        trainer.train()
    trainer.stream_after = np.random.get_state()[2]  # the global stream's position
    return trainer, out.getvalue().splitlines()


@pytest.mark.parametrize("options, trainer_options", [
    (dict(use_dropout=True, dropout_ration=0.2),
     dict(epochs=3, mini_batch_size=50, optimizer="sgd", optimizer_param={"lr": 0.1})),
    (dict(use_batchnorm=True, weight_decay_lambda=0.01),
     dict(epochs=2.5, mini_batch_size=70, optimizer="Momentum",
          evaluate_sample_num_per_epoch=100)),
], ids=["dropout-sgd", "batchnorm-momentum"])
def test_trainer_prints_and_records_what_the_books_does(book, options, trainer_options):
    theirs, book_lines = _train(book, options, **trainer_options)
    ours, our_lines = _train(OURS, options, **trainer_options)
    assert len(our_lines) == len(book_lines)
    for mine, line in zip(our_lines, book_lines, strict=True):
        if line.startswith("train loss:"):  # equal up to the rounding of the softmax sums
            assert mine.startswith("train loss:")
            assert float(mine[11:]) == pytest.approx(float(line[11:]), rel=1e-13)
        else:
            assert mine == line
    assert (ours.train_acc_list, ours.test_acc_list) == (theirs.train_acc_list,
                                                         theirs.test_acc_list)
    np.testing.assert_allclose(ours.train_loss_list, theirs.train_loss_list, rtol=1e-13)
    assert (ours.current_iter, ours.current_epoch, ours.max_iter, ours.iter_per_epoch) == (
        theirs.current_iter, theirs.current_epoch, theirs.max_iter, theirs.iter_per_epoch)
    assert ours.stream_after == theirs.stream_after  # as many numbers drawn


def test_trainer_step_by_step_and_unknown_optimizer():
    x, t, xt, tt = mnist_subset(100, 50)
    np.random.seed(16)
    net = k_multi_layer_net.MultiLayerNet(784, [10], 10)
    trainer = k_trainer.Trainer(net, x, t, xt, tt, epochs=1, mini_batch_size=30, verbose=False)
    trainer.train_step()  # iteration 0 evaluates
    assert (trainer.current_epoch, len(trainer.train_acc_list), trainer.current_iter) == (1, 1, 1)
    assert trainer.max_iter == 3 and trainer.iter_per_epoch == pytest.approx(100 / 30)
    with pytest.raises(ValueError, match="unknown optimizer 'adamw'.*sgd, momentum"):
        k_trainer.Trainer(net, x, t, xt, tt, optimizer="adamw")


# -- layer_naive, dataset, randomness, kobai's batch norm -----------------------------------------
def test_layer_naive_computes_the_books_apple_example(book):
    # §5.4.1: 2 apples at 100 yen, tax 1.1
    for module in (book.layer_naive, k_layer_naive):
        mul_apple, mul_tax = module.MulLayer(), module.MulLayer()
        price = mul_tax.forward(mul_apple.forward(100, 2), 1.1)
        dapple_price, dtax = mul_tax.backward(1)
        dapple, dapple_num = mul_apple.backward(dapple_price)
        assert (price, dapple, dapple_num, dtax) == pytest.approx((220, 2.2, 110, 200))
        add = module.AddLayer()
        assert add.forward(3, 4) == 7 and add.backward(1.5) == (1.5, 1.5)


def test_load_mnist_returns_the_books_types(monkeypatch):
    monkeypatch.delenv(k_mnist.DATASET_ENV, raising=False)
    monkeypatch.delenv(k_mnist.DATA_DIR_ENV, raising=False)
    (x, t), (xt, tt) = k_mnist.load_mnist()
    assert (x.dtype, x.shape, t.dtype, t.shape) == (np.float32, (5000, 784), np.uint8, (5000,))
    assert (xt.shape, tt.dtype) == ((10000, 784), np.uint8)
    assert 0.0 <= x.min() and x.max() == 1.0
    (x, t), _ = k_mnist.load_mnist(normalize=False, flatten=False, one_hot_label=True)
    assert (x.dtype, x.shape, t.dtype, t.shape) == (np.uint8, (5000, 1, 28, 28), np.float64,
                                                    (5000, 10))
    np.testing.assert_array_equal(t.argmax(axis=1), k_mnist.load_mnist()[0][1])
    assert k_mnist.data_source() == ("sample", None)


def test_load_mnist_is_told_its_data_by_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(k_mnist.DATASET_ENV, "mnist")
    monkeypatch.setenv(k_mnist.DATA_DIR_ENV, str(tmp_path))
    assert k_mnist.data_source() == ("mnist", tmp_path)
    monkeypatch.setenv(k_mnist.DATASET_ENV, "fashion")
    with pytest.raises(ValueError, match="KOBAI_BOOK_DATASET='fashion'; expected one of sample"):
        k_mnist.load_mnist()
    monkeypatch.setenv(k_mnist.DATASET_ENV, "sample")
    with pytest.raises(ValueError, match="KOBAI_BOOK_DATA_DIR=.*set KOBAI_BOOK_DATASET=mnist"):
        k_mnist.load_mnist()


def test_global_stream_is_a_generator_drawing_the_books_numbers():
    rng = global_stream()
    assert isinstance(rng, np.random.Generator)
    np.random.seed(17)
    drawn = rng.standard_normal((2, 3)), rng.random((4,)), rng.standard_normal(2), rng.random()
    np.random.seed(17)
    expected = np.random.randn(2, 3), np.random.rand(4), np.random.randn(2), np.random.rand()
    for mine, theirs in zip(drawn, expected, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert rng.random((2,), dtype=np.float32).dtype == np.float32
    assert copy.deepcopy(rng) is rng  # a handle on the global state, not a snapshot of it


def test_kobai_batch_norm_running_statistics_start_where_given():
    gamma, beta = np.ones(3), np.zeros(3)
    bn = KobaiBatchNormalization(gamma, beta)
    np.testing.assert_array_equal(bn.running_mean, [0, 0, 0])
    np.testing.assert_array_equal(bn.running_var, [1, 1, 1])
    start = np.array([1.0, 2.0, 3.0])
    bn = KobaiBatchNormalization(gamma, beta, running_mean=start, running_var=np.zeros(3))
    bn.forward(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(start, [1.0, 2.0, 3.0])  # copied, not updated in place
    np.testing.assert_allclose(bn.running_mean, 0.9 * start + 0.1 * np.array([1.5, 2.5, 3.5]))
    np.testing.assert_allclose(bn.running_var, [0.225, 0.225, 0.225])
    with pytest.raises(ValueError, match=r"running_var has shape \(2,\) but gamma has shape"):
        KobaiBatchNormalization(gamma, beta, running_var=np.ones(2))
