"""Helpers shared by the test files: random batches, Gaussian blobs, a book-style network, the
inputs of a network's ReLUs, the seed notebook's golden values, the book's files and the full
MNIST beside the clone (``../shared``), and the ``kobai`` command run in-process.

Nearly all are plain functions, a class and constants, imported with ``from conftest import
...``: most tests call them with arguments in their bodies (``data(rng, 4, 3, 2)``, ``blobs(57,
n_features=4)``), which a fixture cannot be. pytest puts this folder on ``sys.path``. The
trained runs the CLI tests read (``relu_run``, ``default_run``, ``cnn_run``) are fixtures,
each trained once per session.
"""

import importlib
import inspect
import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

from kobai.layers import Affine, Relu, SoftmaxWithLoss

# -- optional dependencies ----------------------------------------------------------------------

def require(name):
    """``pytest.importorskip(name)``, except on CI (``CI=true``), where a missing module fails:
    CI installs every extra the tests use, so a skip there would hide a missing install."""
    if os.environ.get("CI") != "true":
        return pytest.importorskip(name)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        pytest.fail(f"CI=true but {name} cannot be imported ({exc}): .ci/run installs it, so "
                    "these tests must run on CI", pytrace=False)


# -- the book's files and the full MNIST, beside the clone --------------------------------------

#: ``../shared``: the book's repository (``dlfs``) and the full MNIST (``mnist``), oracles
#: nobody here wrote; CI always has it beside the clone
SHARED = Path(__file__).resolve().parents[2] / "shared"
DLFS = SHARED / "dlfs"
MNIST = SHARED / "mnist"


def require_shared(*paths):
    """Skip the test unless each of ``paths`` (files or folders in ``SHARED``) exists, except
    on CI (``CI=true``), where a missing one fails: CI has ``../shared``, so a skip there
    would hide tests that never ran."""
    missing = [str(path) for path in paths if not Path(path).exists()]
    if not missing:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {', '.join(missing)} is missing: CI has ../shared beside "
                    "the clone, so these tests must run on CI", pytrace=False)
    pytest.skip(f"needs {', '.join(missing)} (../shared beside the clone)")


def needs_shared(*paths):
    """A mark for a test (or ``pytestmark`` for a module): :func:`require_shared` of
    ``paths`` before its fixtures are set up."""
    return pytest.mark.shared(*paths)


def pytest_configure(config):
    # the tests read kobai's English messages, whatever the machine's locale (kobai.i18n);
    # tests/test_i18n.py sets KOBAI_LANG itself
    os.environ["KOBAI_LANG"] = "en"
    config.addinivalue_line("markers", "shared(*paths): needs these files or folders in "
                            "../shared (skipped without them, failed with CI=true)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    for mark in item.iter_markers("shared"):
        require_shared(*mark.args)


# -- the seed notebook's printout (chapter 4, simpleNet) ----------------------------------------

SEED_W = np.array([[-0.78425015, 1.35311457, 0.17493891],
                   [-0.44785118, -0.55581795, 0.26695799]])
SEED_X = np.array([0.6, 0.9])
SEED_T = np.array([0, 0, 1])
SEED_P = np.array([-0.87361615, 0.31163259, 0.34522553])
SEED_LOSS = 0.8164866875612973
SEED_DW = np.array([[0.07838251, 0.25642842, -0.33481093],
                    [0.11757377, 0.38464263, -0.5022164]])


# -- data -------------------------------------------------------------------------------------

def data(rng, batch=6, n_in=6, n_out=4, zero_fraction=0.0):
    """A random mini-batch: ``x`` of shape (batch, n_in), int labels ``t`` of shape (batch,).

    ``rng`` is a seed or a ``np.random.Generator`` (advanced: ``x`` is drawn first, then the
    zeros, then ``t``). ``x`` is standard normal with a share ``zero_fraction`` of its entries
    set to exactly 0, as in MNIST's borders; ``t`` is uniform in ``[0, n_out)``.
    """
    rng = np.random.default_rng(rng)
    x = rng.standard_normal((batch, n_in))
    if zero_fraction:
        x[rng.random(x.shape) < zero_fraction] = 0.0
    return x, rng.integers(0, n_out, batch)


def blobs(n=300, n_features=6, n_classes=3, seed=0):
    """Separable Gaussian blobs: ``x`` of shape (n, n_features), int labels of shape (n,).

    Unit-variance clouds around class centres drawn from ``N(0, 3²)`` per feature.
    """
    rng = np.random.default_rng(seed)
    t = rng.integers(0, n_classes, n)
    centers = 3.0 * rng.standard_normal((n_classes, n_features))
    return centers[t] + rng.standard_normal((n, n_features)), t


# -- a network written the book's way ---------------------------------------------------------

class BookNet:
    """The book's ``TwoLayerNet`` (§5.7) pattern on kobai's layers, any depth.

    Only ``params``, ``layers``, ``predict``, ``loss``, ``accuracy`` and ``gradient``: no
    ``frozen()``, ``astype()``, ``train_step`` or ``dtype``, so the trainer and the gradient
    checker can only use it by duck typing. It records ``x[:, 0]`` of every batch given to
    ``gradient`` (``batches``) and ``len(x)`` of every ``accuracy`` call (``eval_sizes``).

    Parameters
    ----------
    sizes : list of int
        ``[input_size, *hidden_sizes, output_size]``; ``[n_in, n_out]`` is softmax regression.
    activation : class
        The hidden layers' activation, built with no arguments.
    affine : callable (i, W, b) -> layer
        Builds the i-th affine layer (from 1), e.g. to plant a bug in one; after ``backward``
        the layer holds ``dW`` and ``db``.
    rng : int or np.random.Generator
        Weights are drawn from ``N(0, 1)`` and biases from ``N(0, 0.5²)``: nonzero biases keep
        ReLU inputs away from the kink at 0.
    dtype : float32 or float64
    """

    def __init__(self, sizes, activation=Relu, *, affine=None, rng=0, dtype=np.float64):
        rng = np.random.default_rng(rng)
        affine = affine or (lambda i, W, b: Affine(W, b))
        self.params, self.layers = {}, OrderedDict()
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), 1):
            W = self.params[f"W{i}"] = rng.standard_normal((n_in, n_out)).astype(dtype)
            b = self.params[f"b{i}"] = rng.normal(0.0, 0.5, n_out).astype(dtype)
            self.layers[f"Affine{i}"] = affine(i, W, b)
            if i < len(sizes) - 1:
                self.layers[f"Act{i}"] = activation()
        self.last_layer = SoftmaxWithLoss()
        self.batches, self.eval_sizes = [], []

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), t)

    def accuracy(self, x, t):
        self.eval_sizes.append(len(x))
        t = np.asarray(t)
        labels = t.argmax(axis=1) if t.ndim == 2 else t
        return float(np.mean(self.predict(x).argmax(axis=1) == labels))

    def gradient(self, x, t):
        self.batches.append(x[:, 0].copy())
        self.loss(x, t)
        dout = self.last_layer.backward(1.0)
        for layer in reversed(self.layers.values()):
            dout = layer.backward(dout)
        return {key: getattr(self.layers[f"Affine{key[1:]}"], "d" + key[0])
                for key in self.params}


# -- where a network's ReLUs are --------------------------------------------------------------

def relu_inputs(net, x):
    """The input of each ``Relu`` in ``net.layers``, in order, in one training-mode forward pass.

    Walks ``net.layers`` as the book's ``predict`` does; call it inside ``with net.frozen():``
    so that dropout reuses its masks and batch norm keeps its running statistics. A 1-D ``x``
    is one sample. Returns copies: a layer may reuse its output buffer in the next pass.
    """
    a, inputs = (x.reshape(1, -1) if x.ndim == 1 else x), []
    for layer in net.layers.values():
        if isinstance(layer, Relu):
            inputs.append(a.copy())
        # dropout and batch norm take `train`; older or user-written layers may not
        takes_train = "train" in inspect.signature(layer.forward).parameters
        a = layer.forward(a, train=True) if takes_train else layer.forward(a)
    return inputs


def kink_distance(net, x):
    """Smallest ``|input|`` of any ReLU of ``net`` on ``x`` (inf without ReLUs): a central
    difference with a smaller step never crosses a kink."""
    return min((float(np.abs(a).min()) for a in relu_inputs(net, x)), default=np.inf)


def move_first_relu_input(net, x, offset, sample=1):
    """Shift ``net``'s first bias (``beta1`` with batch norm, else ``b1``) so that the first
    ReLU input of ``x[sample]``, unit 0, is ``offset`` (to rounding). Returns ``net``."""
    with net.frozen():
        a = relu_inputs(net, x)[0]
    net.params["beta1" if "beta1" in net.params else "b1"][0] += offset - a[sample, 0]
    return net


# -- the kobai command, in-process -------------------------------------------------------------

#: the smallest `kobai train` of a convolutional net: 200 images, one epoch
TINY_TRAIN = ["--epochs", "1", "--train-size", "200", "--test-size", "200", "--no-progress"]


def run(capsys, *argv):
    """``kobai ARGV`` (each argument ``str()``-ed) in this process: (status, stdout, stderr)."""
    from kobai.cli import main

    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def one_line(err):
    """The one line of an error message, checked to be one line and no traceback."""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def mnist_digit(digit):
    """The first bundled test image of ``digit``: uint8 (28, 28), white on black."""
    from kobai.datasets import load_mnist

    _, (x_test, t_test) = load_mnist(normalize=False, flatten=False)
    return x_test[np.flatnonzero(t_test == digit)[0], 0]


def _train(*argv, out):
    """``kobai train ARGV --out OUT``, which must succeed; ``out``."""
    from kobai.cli import main

    assert main(["train", *map(str, argv), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def relu_run(tmp_path_factory):
    """The folder of two epochs of `kobai train --net two-layer --activation relu`."""
    return _train("--epochs", 2, "--net", "two-layer", "--activation", "relu", "--no-progress",
                  out=tmp_path_factory.mktemp("relu-run"))


@pytest.fixture(scope="session")
def default_run(tmp_path_factory):
    """The folder of one epoch of the default `kobai train` (TwoLayerNet 784-50-10, sigmoid,
    SGD lr 0.1), made by the command itself (it did not exist before)."""
    return _train("--epochs", 1, "--no-progress",
                  out=tmp_path_factory.mktemp("default-run") / "run")


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    """The folder of a tiny `kobai train --net cnn` (``TINY_TRAIN``)."""
    return _train("--net", "cnn", *TINY_TRAIN, out=tmp_path_factory.mktemp("cnn-run"))
