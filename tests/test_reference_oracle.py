"""kobai's networks against an oracle: the book's algorithm written independently of kobai.

``benchmarks/reference_book.py`` is the book's ``common/layers.py`` and ``MultiLayerNet``
(chapters 5-6) written out again, sharing no code with kobai. Given the same weights in
float64, kobai's backprop gradients and SGD steps must equal it to rounding: ``rtol=1e-12``,
with an ``atol`` of 1e-13 times the largest entry of the array for entries that cancel to
near zero (the differences observed stay below 5e-16 of that scale).
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from conftest import data

from kobai.datasets import load_mnist
from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.optimizers import SGD

REFERENCE = Path(__file__).resolve().parent.parent / "benchmarks" / "reference_book.py"

# name -> (kobai net, the reference's layer sizes and activation)
NETS = {
    "TwoLayerNet sigmoid": (lambda: TwoLayerNet(12, 7, 5, weight_init_std=0.5, rng=0),
                            [12, 7, 5], "sigmoid"),
    "TwoLayerNet relu": (lambda: TwoLayerNet(12, 7, 5, weight_init_std=0.5, activation="relu",
                                             rng=1), [12, 7, 5], "relu"),
    "MultiLayerNet relu 2 hidden": (lambda: MultiLayerNet(12, [9, 6], 5, rng=2),
                                    [12, 9, 6, 5], "relu"),
    "MultiLayerNet sigmoid 2 hidden": (
        lambda: MultiLayerNet(12, [9, 6], 5, activation="sigmoid", rng=3), [12, 9, 6, 5],
        "sigmoid"),
}


@pytest.fixture(scope="module")
def book():
    """The module ``benchmarks/reference_book.py``, imported by path."""
    spec = importlib.util.spec_from_file_location("reference_book", REFERENCE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_equal_to_rounding(actual, expected):
    assert list(actual) == list(expected)
    for key in expected:
        assert actual[key].dtype == expected[key].dtype == np.float64, key
        scale = np.abs(expected[key]).max()
        np.testing.assert_allclose(actual[key], expected[key], rtol=1e-12, atol=1e-13 * scale,
                                   err_msg=key)


def randomized_biases(net, seed):
    """``net`` with random biases (kobai starts them at 0), so that ``db`` is exercised on
    both sides of the ReLUs and the reference must copy them too."""
    rng = np.random.default_rng(seed)
    for key, arr in net.params.items():
        if key.startswith("b"):
            arr[...] = rng.normal(0.0, 0.5, arr.shape)
    return net


@pytest.mark.parametrize("name", list(NETS))
def test_gradient_equals_the_books(book, name):
    make, sizes, activation = NETS[name]
    net = randomized_biases(make(), 10)
    reference = book.BookMultiLayerNet(sizes, activation, net.params)  # copies the weights
    x, t = data(11, batch=10, n_in=sizes[0], n_out=sizes[-1])
    assert_equal_to_rounding(net.gradient(x, t), reference.gradient(x, t))
    scores = reference.predict(x)  # TwoLayerNet.predict gives probabilities, as the seed's
    expected = book.softmax(scores) if isinstance(net, TwoLayerNet) else scores
    np.testing.assert_allclose(net.predict(x), expected, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", list(NETS))
def test_three_sgd_steps_equal_the_books(book, name):
    make, sizes, activation = NETS[name]
    net = randomized_biases(make(), 20)
    reference = book.BookMultiLayerNet(sizes, activation, net.params)
    rng = np.random.default_rng(21)
    for _ in range(3):
        x, t = data(rng, batch=8, n_in=sizes[0], n_out=sizes[-1])
        net.train_step(x, t, SGD(lr=0.5))
        book.train_step(reference, book.SGD(lr=0.5), x, t)
    assert_equal_to_rounding(net.params, reference.params)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
def test_books_two_layer_net_on_mnist_equals_the_books(book, activation):
    # The book's sizes, initialisation (std 0.01) and a real mini-batch of 100 images.
    (x, t), _ = load_mnist(dtype=np.float64)
    x, t = x[:100], t[:100]
    net = TwoLayerNet(784, 50, 10, activation=activation, rng=0)
    reference = book.BookMultiLayerNet([784, 50, 10], activation, net.params)
    assert_equal_to_rounding(net.gradient(x, t), reference.gradient(x, t))
    for _ in range(3):
        net.train_step(x, t, SGD(lr=0.1))
        book.train_step(reference, book.SGD(lr=0.1), x, t)
    assert_equal_to_rounding(net.params, reference.params)
