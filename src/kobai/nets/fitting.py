"""Which ``--net``/``--hidden``/``--activation`` describe a parameters file's network.

A file of parameters (the book's pickles, ``net.save_params()``'s ``.npz``) holds arrays, not
the network they belong to. Their shapes tell the layers: :func:`options_that_fit` builds
each network of :data:`~kobai.nets.options.NETS` with the hidden sizes the file's affine
weights have and keeps those whose parameters have the file's shapes. The activation has no
shape: :func:`activation_scores` scores the same weights under each activation on a few
labelled images, so a caller can tell the user that another one fits far better (the book's
``sample_weight.pkl`` is a sigmoid network: 0.93 with sigmoid, 0.84 with relu).
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from .options import IMAGE_SHAPE, NETS, NETWORK_OPTIONS, NetOptionsError, build_net

__all__ = ["activation_scores", "file_shapes", "options_that_fit"]

#: the most bytes :func:`file_shapes` reads: more than any network of kobai's table holds
_MAX_BYTES = 1 << 30


def file_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """The name and shape of every array in a parameters file (as ``load_params`` reads it).

    Raises
    ------
    ValueError, OSError
        As :func:`kobai.arrays_file.read_arrays`: not a parameters file, or unreadable.
    """
    from ..arrays_file import read_arrays

    return {key: tuple(arr.shape) for key, arr in read_arrays(path, max_bytes=_MAX_BYTES).items()}


def _options(**given: Any) -> argparse.Namespace:
    """The network options, None for those not given."""
    return argparse.Namespace(**{name: given.get(name) for name in NETWORK_OPTIONS})


def _affine_widths(shapes: Mapping[str, tuple[int, ...]]) -> list[int]:
    """The output widths of the file's 2-D weights ``W1``, ``W2``, ... in their order, the
    last (the logits) left out: the hidden sizes of an MLP, or of a ConvNet's hidden affine."""
    numbered = sorted((int(m.group(1)), shape) for key, shape in shapes.items()
                      if (m := re.fullmatch(r"W(\d+)", key)) and len(shape) == 2)
    return [shape[1] for _, shape in numbered[:-1]]


def options_that_fit(shapes: Mapping[str, tuple[int, ...]], *,
                     input_shape: tuple[int, ...] = IMAGE_SHAPE,
                     output_size: int = 10) -> list[str]:
    """The options (``"--net mlp --hidden 50 100"``) of each network whose parameters have
    exactly the shapes ``shapes`` (e.g. :func:`file_shapes`), in the order of ``NETS``.

    Parameters
    ----------
    shapes : mapping of str to tuple of int
        Array name (``W1``, ``b1``, ``gamma1``, ``running_mean1``, ...) -> shape.
    input_shape : tuple of int
        One image, ``(channels, height, width)``, as the networks are built.
    output_size : int
        Number of classes.

    Returns
    -------
    list of str
        Empty when no network of the table fits (the hidden sizes are read from the affine
        weights; ``--batchnorm`` when the file has ``gamma1``).
    """
    hidden = _affine_widths(shapes)
    fits = []
    for name, kind in NETS.items():
        batchnorm = "gamma1" in shapes and name == "mlp"
        options = _options(net=name, hidden=hidden or None, batchnorm=batchnorm or None)
        try:
            net = build_net(options, input_shape=input_shape, output_size=output_size,
                            dtype=np.float32, rng=0)
        except (ValueError, TypeError):  # NetOptionsError too: not this network's layers
            continue
        own = {key: tuple(arr.shape) for key, arr in net.state_dict().items()}
        if all(own.get(key) == shape for key, shape in shapes.items()) and all(
                key in shapes for key in net.params):
            words = [f"--net {name}"]
            if list(kind.hidden) != hidden or name == "mlp":
                words.append("--hidden " + " ".join(map(str, hidden)))
            if batchnorm:
                words.append("--batchnorm")
            fits.append(" ".join(words))
    return fits


def activation_scores(options: argparse.Namespace, state: Mapping[str, np.ndarray],
                      x: np.ndarray, t: np.ndarray, *,
                      output_size: int = 10) -> dict[str, float]:
    """The accuracy on ``(x, t)`` of the network ``options`` describe, with the parameters
    ``state`` (e.g. ``net.state_dict()``), under each activation it can take.

    Parameters
    ----------
    options : argparse.Namespace
        The network options (:data:`~kobai.nets.options.NETWORK_OPTIONS`); ``activation``
        is replaced by each of ``kobai.layers.ACTIVATIONS`` in turn.
    state : mapping of str to ndarray
        The parameters (and running statistics) to load into each.
    x : ndarray of shape (N, 784) or (N, 1, 28, 28)
    t : ndarray of shape (N,)
        Labels.
    output_size : int
        Number of classes.

    Returns
    -------
    dict of str to float
        Activation name -> accuracy; empty for a network without an activation option
        (the ConvNets: ReLU is part of them).
    """
    from ..layers import ACTIVATIONS

    scores = {}
    for name in sorted(ACTIVATIONS):
        try:
            net = build_net(argparse.Namespace(**{**vars(options), "activation": name}),
                            input_shape=IMAGE_SHAPE, output_size=output_size,
                            dtype=np.float32, rng=0)
        except NetOptionsError:
            return {}
        net.load_state_dict(dict(state))
        scores[name] = float(np.mean(net.predict(x).argmax(axis=1) == np.asarray(t)))
    return scores

