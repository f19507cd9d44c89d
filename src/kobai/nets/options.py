"""Networks from options: the ``--net``, ``--hidden``, ``--activation``, ... of ``kobai train``.

The command line, the hyperparameter search (``kobai.tune``) and its trials all name a network
by the same few options; :func:`build_net` builds the network they describe and
:func:`net_options` reads them back from a network (what ``kobai train --resume`` compares).
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from .deep_conv_net import DeepConvNet
from .multi_layer_net import MultiLayerNet
from .network import Network
from .simple_conv_net import SimpleConvNet
from .two_layer_net import TwoLayerNet

__all__ = ["CONV_NETS", "IMAGE_SHAPE", "NETS", "NetOptionsError", "build_net", "net_options"]

#: --net choices: name -> (network class in kobai.nets, help)
NETS = {"two-layer": ("TwoLayerNet", "TwoLayerNet (the book's ch. 4-5)"),
        "mlp": ("MultiLayerNet", "MultiLayerNet (ch. 6)"),
        "cnn": ("SimpleConvNet", "SimpleConvNet (ch. 7)"),
        "deepcnn": ("DeepConvNet", "DeepConvNet (ch. 8)")}
#: the --net choices that are convolutional: they take images of shape (1, 28, 28)
CONV_NETS = ("cnn", "deepcnn")
#: MNIST's images as the convolutional nets take them
IMAGE_SHAPE = (1, 28, 28)


class NetOptionsError(ValueError):
    """Options that describe no network (e.g. ``--dropout`` with ``--net two-layer``); the
    message names the options as they are written on the command line."""


def build_net(args: argparse.Namespace, *, input_shape: tuple[int, ...] = IMAGE_SHAPE,
              output_size: int = 10, dtype: type | np.dtype | str = np.float64,
              rng: np.random.Generator | int | None = None,
              conv_param: dict[str, int] | None = None) -> Network:
    """The network the --net/--hidden/... options describe.

    Parameters
    ----------
    args : argparse.Namespace
        ``net``, ``hidden``, ``activation``, ``weight_decay``, ``dropout`` and ``batchnorm``
        (the options' argparse names); None (or False) for an option not given, which then
        takes the default its help states.
    input_shape : tuple of int
        One image, ``(channels, height, width)``: the convolutional nets take it as it is,
        the others its number of pixels.
    conv_param : dict, optional
        SimpleConvNet's (default the book's: 30 filters 5×5).

    Raises
    ------
    NetOptionsError
        For options that do not apply to the network, or a number of hidden layers it does
        not have.
    ValueError, TypeError
        From the network's constructor, for values it refuses.
    """
    net = args.net or "two-layer"
    if net == "cnn":
        _refuse(args, ("activation", "weight_decay", "dropout", "batchnorm"),
                "SimpleConvNet is the book's conv - relu - pool - affine - relu - affine, "
                "with --hidden N units in its hidden affine layer")
        return SimpleConvNet(input_shape, conv_param, _one_hidden(args, 100), output_size,
                             rng=rng, dtype=dtype)
    if net == "deepcnn":
        _refuse(args, ("activation", "weight_decay", "batchnorm"),
                "DeepConvNet is the book's six 3x3 convolutions with relu, then affine - relu "
                "- dropout - affine - dropout; --hidden N and --dropout RATIO set its hidden "
                "size and dropout ratio")
        return DeepConvNet(input_shape, hidden_size=_one_hidden(args, 50),
                           output_size=output_size,
                           dropout_ratio=0.5 if args.dropout is None else args.dropout,
                           rng=rng, dtype=dtype)
    input_size = math.prod(input_shape)
    if net == "two-layer":
        extras = [name for name, on in (("--weight-decay", args.weight_decay),
                                        ("--dropout", args.dropout is not None),
                                        ("--batchnorm", args.batchnorm)) if on]
        if extras:
            raise NetOptionsError(f"{', '.join(extras)} need --net mlp (TwoLayerNet is the "
                                  "book's plain two-layer network)")
        return TwoLayerNet(input_size, _one_hidden(args, 50), output_size,
                           activation=args.activation or "sigmoid", rng=rng, dtype=dtype)
    activation = args.activation or "relu"
    return MultiLayerNet(input_size, args.hidden or [100, 100], output_size,
                         activation=activation, weight_init_std=activation,
                         weight_decay_lambda=args.weight_decay or 0.0,
                         use_dropout=args.dropout is not None,
                         dropout_ratio=args.dropout if args.dropout is not None else 0.5,
                         use_batchnorm=bool(args.batchnorm), rng=rng, dtype=dtype)


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    """Refuse those of ``options`` (argparse names) that were given, saying ``why``."""
    given = [f"--{name.replace('_', '-')}" for name in options
             if getattr(args, name) not in (None, False)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise NetOptionsError(f"{', '.join(given)} {verb} not apply to --net {args.net}: {why}")


def _one_hidden(args: argparse.Namespace, default: int) -> int:
    hidden = args.hidden or [default]
    if len(hidden) != 1:
        raise NetOptionsError(
            f"--net {args.net or 'two-layer'} has one hidden layer, got --hidden "
            f"{' '.join(map(str, hidden))}"
            + ("; use --net mlp for more" if args.net in (None, "two-layer") else ""))
    return hidden[0]


def net_options(net: Any) -> dict[str, Any] | None:
    """The --net, --hidden, ... values that describe ``net`` (the inverse of :func:`build_net`).

    Keys are the options' argparse names (``net``, ``hidden``, ``activation``,
    ``weight_decay``, ``dropout``, ``batchnorm``); None for a network that :func:`build_net`
    does not build (no options describe it).
    """
    name = next((key for key, (cls, _) in NETS.items() if type(net).__name__ == cls), None)
    if name is None:
        return None
    config = net.get_config()
    hidden = config.get("hidden_size_list") or [config["hidden_size"]]
    if name == "deepcnn":
        dropout = config.get("dropout_ratio")
    else:
        dropout = config.get("dropout_ratio") if config.get("use_dropout") else None
    return {"net": name, "hidden": [int(n) for n in hidden],
            "activation": config.get("activation"),
            "weight_decay": float(config.get("weight_decay_lambda", 0.0)),
            "dropout": dropout, "batchnorm": bool(config.get("use_batchnorm", False))}
