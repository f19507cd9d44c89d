"""The book's trained DeepConvNet (§8.1), shipped with kobai as a checkpoint.

``deep_convnet.npz`` holds the weights the authors of *Deep Learning from Scratch*
(ゼロから作るDeep Learning, O'Reilly Japan, 2016) trained on MNIST's 60,000 training images
with ``ch08/train_deepnet.py``, published as ``deep_convnet_params.pkl`` in the first commit
of https://github.com/oreilly-japan/deep-learning-from-scratch: the network of Figure 8-1,
99.35% on MNIST's 10,000 test images.

The weights are Copyright (c) 2016 Koki Saitoh, under the MIT License of the book's
repository; its full text ships next to them, ``kobai/pretrained/LICENSE.md``.

The file is a :func:`kobai.io.save` checkpoint (float32), built from the pickle without
unpickling it by ``tools/build_pretrained.py``; the affine layers before a dropout are halved
for kobai's inverted dropout (``DeepConvNet.load_params``).

Examples
--------
>>> from kobai import pretrained
>>> net = pretrained.load()  # doctest: +SKIP
>>> net.predict_proba(image_of_shape_1_28_28).argmax()  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # kobai.io imports every network: only when a model is loaded
    from ..io import Checkpoint
    from ..nets import DeepConvNet

__all__ = ["FILE", "SOURCE", "SOURCE_SHA256", "TEST_ACCURACY", "TRAINED_ON", "checkpoint",
           "load", "path"]

#: the checkpoint's file name, next to this module
FILE = "deep_convnet.npz"
#: the book's file it was converted from (in the book's repository)
SOURCE = "weights-2016/deep_convnet_params.pkl"
#: SHA-256 of that pickle
SOURCE_SHA256 = "8c81d1d6ddedd08c8277c957f3af30a91e455a1d65474ec2b5a0e3527b7422cc"
#: accuracy on MNIST's 10,000 test images (kobai's float32 forward pass; the book's figure)
TEST_ACCURACY = 0.9935

#: what the checkpoint records as its training data (``Checkpoint.data``). No fingerprint of
#: the training arrays: kobai never saw them, so it cannot vouch for them.
TRAINED_ON: dict[str, Any] = {
    "source": "mnist",
    "normalize": True,
    "n_train": 60000,
    "trained_by": "the authors of Deep Learning from Scratch (O'Reilly Japan, 2016); the "
                  "book's ch08/train_deepnet.py writes this file, training on MNIST's 60,000 "
                  "training images",
    "weights": f"{SOURCE} of github.com/oreilly-japan/deep-learning-from-scratch, "
               "MIT License, (c) 2016 Koki Saitoh",
    "weights_sha256": SOURCE_SHA256,
}


def path() -> Path:
    """The packaged checkpoint file, ``kobai/pretrained/deep_convnet.npz``."""
    return Path(__file__).with_name(FILE)


def checkpoint() -> Checkpoint:
    """The packaged checkpoint, read by :func:`kobai.io.load` (``.net``, ``.data``, ``.meta``)."""
    from ..io import load

    return load(path())


def load() -> DeepConvNet:
    """The book's trained ``DeepConvNet`` (float32, 99.35% on MNIST's test set).

    A new network on every call. It takes images as ``(N, 1, 28, 28)`` or rows of 784 pixels,
    scaled to [0, 1] as ``kobai.datasets.load_mnist()`` gives them.

    Returns
    -------
    kobai.nets.DeepConvNet
    """
    net = checkpoint().net
    from ..nets import DeepConvNet

    if not isinstance(net, DeepConvNet):  # pragma: no cover - the packaged file is fixed
        raise TypeError(f"{path()} holds a {type(net).__name__}, not a DeepConvNet; reinstall "
                        "kobai")
    return net
