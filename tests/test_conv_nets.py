"""SimpleConvNet and DeepConvNet (chapters 7–8): the book's names and shapes, gradients against
central differences and against the book's own networks, the book's trained weights loaded
safely with the book's accuracies, ``load_params``/``save_params``, checkpoints and training.

The book's code and weights are read from ``../shared/dlfs`` when it is there (skipped
otherwise, failed with CI=true); the book's ``common`` package is imported for one test module
only and removed from ``sys.modules`` afterwards.
"""

import os
import pickle
import re
import sys
import time
import zipfile

import numpy as np
import pytest
from conftest import DLFS, needs_shared, require_shared

from kobai import io
from kobai.arrays_file import UnsafePickleError
from kobai.datasets import load_mnist
from kobai.gradcheck import check_gradients
from kobai.layers import Dropout
from kobai.nets import DeepConvNet, MultiLayerNet, SimpleConvNet
from kobai.optimizers import Adam
from kobai.trainer import Trainer

needs_dlfs = needs_shared(DLFS)

BOOK_CHECK_NET = dict(input_dim=(1, 10, 10), hidden_size=10,
                      conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1})


@pytest.fixture(scope="module")
def test_set():
    (_, _), (x, t) = load_mnist(flatten=False)
    return x, t


@pytest.fixture(scope="module")
def book():
    """The book's ``ch07/simple_convnet.py`` and ``ch08/deep_convnet.py`` modules."""
    require_shared(DLFS)
    before = set(sys.modules)
    sys.path[:0] = [str(DLFS), str(DLFS / "ch07"), str(DLFS / "ch08")]
    try:
        import deep_convnet
        import simple_convnet
        yield simple_convnet, deep_convnet
    finally:
        del sys.path[:3]
        for name in set(sys.modules) - before:
            del sys.modules[name]


# -- structure ---------------------------------------------------------------------------------

def test_simple_conv_net_has_the_books_names_and_shapes():
    net = SimpleConvNet(rng=0)
    assert {k: v.shape for k, v in net.params.items()} == {
        "W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,),
        "W3": (100, 10), "b3": (10,)}
    assert list(net.layers) == ["Conv1", "Relu1", "Pool1", "Affine1", "Relu2", "Affine2"]
    assert net.params["W1"].std() == pytest.approx(0.01, rel=0.1)


def test_deep_conv_net_has_the_books_names_and_shapes():
    net = DeepConvNet(rng=0)
    shapes = {k: v.shape for k, v in net.params.items() if k.startswith("W")}
    assert shapes == {"W1": (16, 1, 3, 3), "W2": (16, 16, 3, 3), "W3": (32, 16, 3, 3),
                      "W4": (32, 32, 3, 3), "W5": (64, 32, 3, 3), "W6": (64, 64, 3, 3),
                      "W7": (1024, 50), "W8": (50, 10)}
    # He initialisation, as the book's: sqrt(2 / fan_in)
    assert net.params["W6"].std() == pytest.approx(np.sqrt(2 / (64 * 9)), rel=0.05)
    assert net.params["W7"].std() == pytest.approx(np.sqrt(2 / 1024), rel=0.05)


@pytest.mark.parametrize("cls", [SimpleConvNet, DeepConvNet])
def test_conv_nets_follow_rng_and_dtype(cls):
    a, b = cls(rng=3, dtype=np.float32), cls(rng=3, dtype=np.float32)
    assert all(a.params[k].dtype == np.float32 for k in a.params)
    assert all(np.array_equal(a.params[k], b.params[k]) for k in a.params)
    assert not np.array_equal(a.params["W1"], cls(rng=4).params["W1"])
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert a.predict(x).dtype == np.float32 and a.predict(x).shape == (2, 10)
    assert a.predict(x[0]).shape == (10,)  # one image of shape (1, 28, 28)
    assert np.allclose(a.predict(x.reshape(2, -1)), a.predict(x))  # rows of 784 pixels


def test_conv_param_errors_say_what_was_expected():
    with pytest.raises(ValueError, match="filter_num"):
        SimpleConvNet(conv_param={"filter_size": 5, "pad": 0, "stride": 1})
    with pytest.raises(ValueError, match="height"):
        SimpleConvNet(input_dim=(1, 4, 4))  # a 5×5 filter does not fit
    with pytest.raises(ValueError, match="input_dim"):
        DeepConvNet(input_dim=(28, 28))


# -- gradients -----------------------------------------------------------------------------------

def test_books_gradient_check_network_passes_in_seconds():
    """The book's ch07/gradient_check.py: every element, in well under the issue's seconds."""
    net = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    rng = np.random.default_rng(0)
    x, t = rng.random((1, 1, 10, 10)), np.array([1])
    start = time.perf_counter()
    report = check_gradients(net, x, t)
    elapsed = time.perf_counter() - start
    report.raise_if_failed()
    assert all(r.mode == "full" for r in report.results.values())
    assert elapsed < 5


@pytest.mark.parametrize("cls", [SimpleConvNet, DeepConvNet])
def test_fast_gradient_check_of_28x28_conv_nets(cls):
    net = cls(rng=1)
    rng = np.random.default_rng(1)
    x, t = rng.random((2, 1, 28, 28)), np.array([3, 7])
    check_gradients(net, x, t, mode="fast", rng=0).raise_if_failed()


def test_structured_numerical_gradient_of_a_conv_net_equals_the_loop():
    """The fully connected part by the structured path, the convolution by the loop: the same
    central differences as the book's loop for every element."""
    net = SimpleConvNet(**BOOK_CHECK_NET, weight_init_std=0.3, rng=2)
    rng = np.random.default_rng(2)
    x, t = rng.random((3, 1, 10, 10)), np.array([0, 4, 9])
    loop = net.numerical_gradient(x, t, method="loop")
    fast = net.numerical_gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(fast[key], loop[key], rtol=0, atol=1e-9, err_msg=key)
    analytic = net.gradient(x, t)
    for key in net.params:
        np.testing.assert_allclose(analytic[key], loop[key], rtol=1e-4, atol=1e-7, err_msg=key)


def test_simple_conv_net_gradient_equals_the_books(book):
    simple_convnet, _ = book
    np.random.seed(0)
    theirs = simple_convnet.SimpleConvNet(**BOOK_CHECK_NET, weight_init_std=0.1)
    ours = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    ours.load_state_dict(theirs.params)
    rng = np.random.default_rng(5)
    x, t = rng.random((4, 1, 10, 10)), np.array([1, 2, 3, 9])
    # the book's loss adds 1e-7 inside the log; its gradient is the exact one, as kobai's
    assert ours.loss(x, t) == pytest.approx(theirs.loss(x, t), rel=1e-6)
    expected = theirs.gradient(x, t)
    got = ours.gradient(x, t)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-10, atol=1e-14, err_msg=key)


def test_deep_conv_net_gradient_equals_the_books_with_the_same_dropout_masks(book):
    """The book's dropout masks, copied into kobai's Dropout layers in the book's convention."""
    _, deep_convnet = book
    np.random.seed(1)
    theirs = deep_convnet.DeepConvNet()
    ours = DeepConvNet(rng=0)
    ours.load_state_dict(theirs.params)
    rng = np.random.default_rng(6)
    x, t = rng.random((3, 1, 28, 28)), np.array([0, 5, 8])
    expected = theirs.gradient(x, t)
    book_dropouts = [layer for layer in theirs.layers if type(layer).__name__ == "Dropout"]
    ours_dropouts = [layer for layer in ours.layers.values() if isinstance(layer, Dropout)]
    for mine, their in zip(ours_dropouts, book_dropouts, strict=True):
        mine.inverted = False
        mine.mask = their.mask.astype(np.float64)
    with ours.frozen():
        got = ours.gradient(x, t)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], rtol=1e-9, atol=1e-13, err_msg=key)


# -- the book's trained weights ----------------------------------------------------------------

BOOK_WEIGHTS = [
    ("ch03/sample_weight.pkl", lambda: MultiLayerNet(784, [50, 100], 10, activation="sigmoid",
                                                     dtype=np.float32), 0.9352),
    ("ch07/params.pkl", SimpleConvNet, 0.9600),
    # float32, as kobai trains and ships them (twice as fast here; float64 gives the same)
    ("ch08/deep_convnet_params.pkl", lambda: DeepConvNet(dtype=np.float32), 0.9797),
    ("weights-2016/params.pkl", SimpleConvNet, 0.9890),
    ("weights-2016/deep_convnet_params.pkl", lambda: DeepConvNet(dtype=np.float32), 0.9935),
]


@needs_dlfs
@pytest.mark.parametrize("name, build, accuracy", BOOK_WEIGHTS,
                         ids=[w[0] for w in BOOK_WEIGHTS])
def test_books_trained_weights_give_the_books_accuracy(name, build, accuracy, test_set):
    """On the real 10,000-image MNIST test set, exactly the figure the book's code gets."""
    net = build()
    net.load_params(DLFS / name)
    x, t = test_set
    assert net.accuracy(x, t, batch_size=1000) == accuracy


@needs_dlfs
def test_book_dropout_is_converted_to_the_same_function():
    """Loading the book's DeepConvNet pickle into kobai's inverted dropout gives the scores of
    the book's convention (non-inverted dropout on the file's raw values), bit for bit."""
    path = DLFS / "weights-2016" / "deep_convnet_params.pkl"
    ours = DeepConvNet()
    ours.load_params(path)
    raw = DeepConvNet()
    with open(path, "rb") as fh:  # a test's oracle: the book's own file, trusted here
        raw.load_state_dict(pickle.load(fh))
    for layer in raw.layers.values():
        if isinstance(layer, Dropout):
            layer.inverted = False
    x = load_mnist(flatten=False)[1][0][:50]
    np.testing.assert_array_equal(ours.predict(x), raw.predict(x))
    with ours.frozen(), raw.frozen():
        ours.loss(x, np.zeros(50, dtype=int))  # draw masks; the book's are the kept ones
        for mine, book_style in zip(ours.layers.values(), raw.layers.values(), strict=True):
            if isinstance(mine, Dropout):
                book_style.mask = (mine.mask != 0).astype(np.float64)
        assert ours.loss(x, np.zeros(50, dtype=int)) == pytest.approx(
            raw.loss(x, np.zeros(50, dtype=int)), rel=1e-13)


# -- load_params / save_params -------------------------------------------------------------------

def test_save_params_writes_exactly_the_name_given_in_a_safe_format(tmp_path):
    net = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    target = tmp_path / "params.bin"  # not a .pkl name: kobai's .npz (tests/test_params_pickle)
    net.save_params(target)
    assert sorted(os.listdir(tmp_path)) == ["params.bin"]
    assert zipfile.is_zipfile(target)
    other = SimpleConvNet(**BOOK_CHECK_NET, rng=1)
    other.load_params(target)
    for key in net.params:
        np.testing.assert_array_equal(other.params[key], net.params[key])


def test_load_params_refuses_the_wrong_network_and_changes_nothing(tmp_path):
    SimpleConvNet(rng=0).save_params(tmp_path / "simple.npz")
    net = DeepConvNet(rng=0)
    before = net.state_dict()
    with pytest.raises(ValueError, match="missing .*W4"):
        net.load_params(tmp_path / "simple.npz")
    small = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    with pytest.raises(ValueError, match=r"W1 has shape \(30, 1, 5, 5\)"):
        small.load_params(tmp_path / "simple.npz")
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


def test_load_params_refuses_nan_and_keeps_the_net(tmp_path):
    net = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    state = net.state_dict()
    state["W2"][0, 0] = np.nan
    np.savez(tmp_path / "bad.npz", **state)
    before = net.state_dict()
    with pytest.raises(ValueError, match="W2 must hold finite numbers"):
        net.load_params(tmp_path / "bad.npz")
    assert all(np.array_equal(before[k], v) for k, v in net.state_dict().items())


def test_load_params_never_runs_a_pickle(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"W1": Exploit()}))
    net = SimpleConvNet(**BOOK_CHECK_NET, rng=0)
    with pytest.raises(UnsafePickleError, match="system"):
        net.load_params(path)
    assert not marker.exists()


# -- checkpoints and training ----------------------------------------------------------------------

@pytest.mark.parametrize("cls, kwargs", [(SimpleConvNet, BOOK_CHECK_NET),
                                         (DeepConvNet, {"hidden_size": 20})])
def test_conv_net_checkpoint_round_trip(tmp_path, cls, kwargs):
    net = cls(**kwargs, rng=0, dtype=np.float32)
    path = tmp_path / "model.npz"
    io.save(net, path)
    back = io.load_net(path)
    assert type(back) is cls and back.get_config() == net.get_config()
    x = np.random.default_rng(0).random((2, *net.input_shape), dtype=np.float32)
    np.testing.assert_array_equal(back.predict(x), net.predict(x))


def test_simple_conv_net_learns_digits_in_seconds():
    """Three epochs on 2,000 bundled images: most of 1,000 real test images right."""
    (x, t), (x_test, t_test) = load_mnist(flatten=False)
    net = SimpleConvNet(conv_param={"filter_num": 10, "filter_size": 5, "pad": 0, "stride": 1},
                        hidden_size=50, weight_init_std=0.1, rng=0, dtype=np.float32)
    Trainer(net, x[:2000], t[:2000], x_test[:1000], t_test[:1000], epochs=3,
            mini_batch_size=50, optimizer=Adam(lr=0.003), rng=0, verbose=False).train()
    assert net.accuracy(x_test[:1000], t_test[:1000]) > 0.85


def test_dropout_on_the_logits_takes_the_loop_and_agrees_with_it():
    """DeepConvNet ends in Affine → Dropout: the structured path must not ignore that mask."""
    from kobai.layers import Affine, Relu
    from kobai.nets import Network

    rng = np.random.default_rng(0)
    net = Network([Affine(rng.standard_normal((4, 5)), rng.standard_normal(5)), Relu(),
                   Affine(rng.standard_normal((5, 3)), rng.standard_normal(3)),
                   Dropout(0.5, rng=0)])
    x, t = rng.standard_normal((6, 4)), rng.integers(0, 3, 6)
    with net.frozen():
        fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_allclose(fast[key], loop[key], rtol=0, atol=1e-12, err_msg=key)
    check_gradients(net, x, t).raise_if_failed()


def test_load_params_refuses_a_compressed_archive_that_declares_too_much(tmp_path):
    """A 0.8 MB archive declaring 800 MB of zeros is refused before anything is read."""
    np.savez_compressed(tmp_path / "bomb.npz", W1=np.zeros(100_000_000))
    with pytest.raises(ValueError, match="declare 800,000,128 bytes"):
        SimpleConvNet(**BOOK_CHECK_NET, rng=0).load_params(tmp_path / "bomb.npz")


def test_book_dropout_converts_for_sigmoid_and_batch_norm_nets(tmp_path):
    """The book's MultiLayerNetExtend with dropout (non-inverted) → kobai's MultiLayerNet:
    the same scores, in evaluation and in training with the same masks."""
    for extra in ({"activation": "sigmoid"}, {"use_batchnorm": True}):
        book_style = MultiLayerNet(6, [5, 4], 3, use_dropout=True, dropout_ratio=0.3, rng=0,
                                   **extra)
        for layer in book_style.layers.values():
            if isinstance(layer, Dropout):
                layer.inverted = False
        path = tmp_path / "book.pkl"
        path.write_bytes(pickle.dumps(book_style.params))  # as the book's save_params
        ours = MultiLayerNet(6, [5, 4], 3, use_dropout=True, dropout_ratio=0.3, rng=1, **extra)
        ours.load_params(path)
        x = np.random.default_rng(0).standard_normal((8, 6))
        np.testing.assert_allclose(ours.predict(x), book_style.predict(x), rtol=1e-12)
        with ours.frozen():
            ours.loss(x, np.zeros(8, dtype=int))
            for mine, theirs in zip(ours.layers.values(), book_style.layers.values(),
                                    strict=True):
                if isinstance(mine, Dropout):
                    theirs.mask = (mine.mask != 0).astype(np.float64)
            with book_style.frozen():
                assert ours.loss(x, np.zeros(8, dtype=int)) == pytest.approx(
                    book_style.loss(x, np.zeros(8, dtype=int)), rel=1e-12)


def test_structured_gradient_handles_a_fortran_ordered_filter():
    from kobai.layers import Affine, Convolution, Relu
    from kobai.nets import Network

    rng = np.random.default_rng(3)
    net = Network([Convolution(np.asfortranarray(rng.standard_normal((2, 1, 3, 3))),
                               rng.standard_normal(2)), Relu(),
                   Affine(rng.standard_normal((2 * 4 * 4, 3)), rng.standard_normal(3))],
                  input_shape=(1, 6, 6))
    x, t = rng.random((2, 1, 6, 6)), np.array([0, 2])
    fast, loop = net.numerical_gradient(x, t), net.numerical_gradient(x, t, method="loop")
    for key in loop:
        np.testing.assert_allclose(fast[key], loop[key], rtol=0, atol=1e-10, err_msg=key)


def test_conv_net_refuses_channels_last_images():
    net = SimpleConvNet(input_dim=(3, 12, 12), conv_param={"filter_num": 2, "filter_size": 3,
                                                           "pad": 0, "stride": 1}, rng=0)
    with pytest.raises(ValueError, match=r"shape \(2, 12, 12, 3\).*\(3, 12, 12\)"):
        net.predict(np.zeros((2, 12, 12, 3)))
    assert net.predict(np.zeros(3 * 12 * 12)).shape == (10,)  # one row of pixels


@pytest.mark.parametrize("x", [np.zeros((0, 1, 28, 28)), np.zeros((0, 784))])
@pytest.mark.parametrize("method", ["predict", "loss", "gradient", "accuracy"])
def test_conv_net_refuses_an_empty_batch(x, method):
    net = SimpleConvNet(rng=0)
    args = (x,) if method == "predict" else (x, np.zeros(0, dtype=np.int64))
    with pytest.raises(ValueError, match=re.escape(f"x is an empty batch (shape {x.shape}); "
                                                   "expected at least one image of shape "
                                                   "(1, 28, 28)")):
        getattr(net, method)(*args)


@pytest.mark.parametrize("make, largest", [
    (lambda: SimpleConvNet(conv_param={"filter_num": 10**7, "filter_size": 5, "pad": 0,
                                       "stride": 1}), r"W2, of shape \(1440000000, 100\)"),
    (lambda: SimpleConvNet(conv_param={"filter_num": 30, "filter_size": 5, "pad": 10**6,
                                       "stride": 1}), r"W2, of shape \(30000720004320, 100\)"),
    (lambda: DeepConvNet(conv_param_6={"filter_num": 10**7, "filter_size": 3, "pad": 1,
                                       "stride": 1}), r"W7, of shape \(160000000, 50\)"),
])
def test_conv_nets_over_max_params_are_refused_before_allocating(make, largest):
    with pytest.raises(ValueError, match=rf"parameters \(.* in float64; the largest, {largest}\)"
                                         r", more than \w+ConvNet\.max_params = 1,000,000,000"):
        make()
