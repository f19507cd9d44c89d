"""The networks every exporter's parity tests run: one of every kind kobai has, trained briefly
on the bundled MNIST sample (random weights make near-ties that say nothing about parity),
and MNIST's test images (bundled: the whole 10,000).

``trained_nets()`` builds them once per process (a few seconds in all) and returns fresh
copies; ``test_images(n)`` the first ``n`` test images, float32, as (n, 784).
"""

import functools
from pathlib import Path

import numpy as np

from kobai.datasets import load_mnist
from kobai.layers import Affine, BatchNormalization, Convolution, Flatten, Pooling, Relu, Tanh
from kobai.nets import MultiLayerNet, Network, SimpleConvNet, TwoLayerNet
from kobai.trainer import Trainer

DLFS = Path(__file__).resolve().parents[2] / "shared" / "dlfs"

#: kind -> the book's trained-weight file (in ../shared/dlfs) and the kobai network it fills
BOOK_FILES = {
    "book-sample-weight": ("ch03/sample_weight.pkl",
                           lambda: MultiLayerNet(784, [50, 100], 10, activation="sigmoid",
                                                 dtype=np.float32)),
    "book-simple-convnet": ("ch07/params.pkl", lambda: SimpleConvNet(dtype=np.float32)),
    "book-deep-convnet": ("ch08/deep_convnet_params.pkl", None),
}


@functools.lru_cache(maxsize=1)
def _mnist():
    return load_mnist(source="sample", dtype=np.float32, progress=False)


def test_images(n=1000, flatten=True):
    """The first ``n`` of MNIST's 10,000 test images (float32 in [0, 1]) and their labels."""
    (_, _), (x, t) = _mnist()
    x, t = x[:n], t[:n]
    return (x if flatten else x.reshape(-1, 1, 28, 28)), t


def _generic(rng):
    """A Network of registered layers that no builder makes: conv, the book's per-element
    batch norm of a 4-D input, pooling, Flatten, tanh."""
    return Network([
        Convolution(0.3 * rng.standard_normal((4, 1, 3, 3)).astype(np.float32),
                    np.zeros(4, np.float32), stride=2, pad=1),
        BatchNormalization(np.ones(4 * 14 * 14, np.float32), np.zeros(4 * 14 * 14, np.float32),
                           eps=1e-6),
        Relu(),
        Pooling(2, 2, stride=2),
        Flatten(),
        Affine(0.1 * rng.standard_normal((4 * 7 * 7, 32)).astype(np.float32),
               np.zeros(32, np.float32)),
        Tanh(),
        Affine(0.1 * rng.standard_normal((32, 10)).astype(np.float32), np.zeros(10, np.float32)),
    ], input_shape=(1, 28, 28))


def _builders():
    rng = np.random.default_rng(0)
    f32 = np.float32
    return {
        "two-layer": lambda: TwoLayerNet(784, 50, 10, dtype=f32, rng=rng),
        "mlp-relu-bn-dropout": lambda: MultiLayerNet(784, [64, 32], 10, use_batchnorm=True,
                                                     use_dropout=True, dropout_ratio=0.2,
                                                     dtype=f32, rng=rng),
        "mlp-sigmoid": lambda: MultiLayerNet(784, [50, 50], 10, activation="sigmoid",
                                             dtype=f32, rng=rng),
        "mlp-tanh-bn": lambda: MultiLayerNet(784, [40], 10, activation="tanh",
                                             use_batchnorm=True, dtype=f32, rng=rng),
        "simple-convnet": lambda: SimpleConvNet(conv_param={"filter_num": 8, "filter_size": 5,
                                                            "pad": 0, "stride": 1},
                                                hidden_size=32, dtype=f32, rng=rng),
        "generic": lambda: _generic(rng),
    }


@functools.lru_cache(maxsize=1)
def _trained():
    (x, t), _ = _mnist()
    nets = {}
    for kind, build in _builders().items():
        net = build()
        images = tuple(net.input_shape) != (784,)
        xs = x.reshape(-1, *net.input_shape) if images else x
        n = 3000 if images else len(x)
        Trainer(net, xs[:n], t[:n], xs[:100], t[:100], epochs=1, mini_batch_size=50,
                optimizer="Adam", optimizer_param={"lr": 0.003}, verbose=False,
                progress=False, rng=0, blas_threads=1).train()  # the same weights in any process
        nets[kind] = net.state_dict(), net
    return nets


def trained_nets():
    """kind -> a trained float32 network (a fresh copy each call): TwoLayerNet, MultiLayerNet
    (relu with batch norm and dropout, sigmoid, tanh with batch norm), SimpleConvNet, a
    generic Network, and the pretrained DeepConvNet (the book's weights, 99.35%)."""
    import copy

    from kobai import pretrained
    from kobai.io import load

    nets = {kind: copy.deepcopy(net) for kind, (_, net) in _trained().items()}
    nets["deep-convnet"] = load(pretrained.path()).net
    return nets


def book_nets():
    """kind -> a network loaded from the book's pickles in ../shared/dlfs (those present)."""
    from kobai.nets import DeepConvNet

    nets = {}
    for kind, (name, build) in BOOK_FILES.items():
        path = DLFS / name
        if path.exists():
            net = build() if build is not None else DeepConvNet(dtype=np.float32)
            net.load_params(path)
            nets[kind] = net
    return nets
