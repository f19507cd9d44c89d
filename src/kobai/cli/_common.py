"""Helpers shared by the subcommands: argument types, errors and building networks."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


class CliError(Exception):
    """An error reported to the user as one line; ``status`` is the exit status."""

    def __init__(self, message: str, status: int = 2):
        super().__init__(message)
        self.status = status


@contextmanager
def user_errors(what: str = "") -> Iterator[None]:
    """Turn the library's ValueError/TypeError/OSError into a one-line CliError."""
    try:
        yield
    except (ValueError, TypeError, OSError, KeyError, ImportError) as exc:
        prefix = f"{what}: " if what else ""
        raise CliError(f"{prefix}{exc}") from None


def _number(kind: type, expected: str, ok) -> Callable[[str], float]:
    """An argparse type: parse ``kind`` and accept it when ``ok(value)``, else say why."""

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


positive_int = _number(int, "a positive integer", lambda v: v >= 1)
non_negative_int = _number(int, "an integer >= 0", lambda v: v >= 0)
positive_float = _number(float, "a positive number", lambda v: v > 0 and math.isfinite(v))
non_negative_float = _number(float, "a number >= 0", lambda v: v >= 0 and math.isfinite(v))
ratio = _number(float, "a ratio in [0, 1)", lambda v: 0 <= v < 1)


#: --net choices: name -> (network class in kobai.nets, help)
NETS = {"two-layer": ("TwoLayerNet", "TwoLayerNet (the book's ch. 4-5)"),
        "mlp": ("MultiLayerNet", "MultiLayerNet (ch. 6)"),
        "cnn": ("SimpleConvNet", "SimpleConvNet (ch. 7)"),
        "deepcnn": ("DeepConvNet", "DeepConvNet (ch. 8)")}
#: the --net choices that are convolutional: they take images of shape (1, 28, 28)
CONV_NETS = ("cnn", "deepcnn")
#: MNIST's images as the convolutional nets take them
IMAGE_SHAPE = (1, 28, 28)


def model_file(path: Path) -> Path:
    """``path`` itself, or for a run folder (kobai train's --out), the model.npz inside it."""
    if not path.is_dir():
        return path
    if not (path / "model.npz").exists():
        raise CliError(f"{path} is a folder without a model.npz; give a model.npz written by "
                       "kobai train, or the run folder holding it")
    return path / "model.npz"


def add_net_arguments(parser: argparse.ArgumentParser, *, hidden_default: str,
                      title: str = "network") -> None:
    """The options that describe a network: --net, --hidden, --activation, ...

    Each defaults to None, so that a command can tell the options given from those left out
    (``kobai train --resume`` refuses the given ones that conflict with the checkpoint);
    :func:`build_net` applies the defaults the help states.
    """
    from ..layers import ACTIVATIONS

    g = parser.add_argument_group(title)
    g.add_argument("--net", choices=list(NETS),
                   help="; ".join(f"{name}: {text}" for name, (_, text) in NETS.items())
                        + " (default: two-layer)")
    g.add_argument("--hidden", type=positive_int, nargs="+", metavar="N",
                   help=f"hidden layer sizes (default: {hidden_default})")
    g.add_argument("--activation", choices=sorted(ACTIVATIONS),
                   help="two-layer and mlp only; default: sigmoid for two-layer, relu for mlp")
    g.add_argument("--weight-decay", type=non_negative_float, metavar="LAMBDA",
                   help="L2 weight decay λ (mlp only; default 0)")
    g.add_argument("--dropout", type=ratio, default=None, metavar="RATIO",
                   help="dropout ratio after each hidden layer (mlp), or of DeepConvNet's two "
                        "dropout layers (deepcnn; default 0.5, the book's)")
    g.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalization before each activation (mlp only)")


def build_net(args: argparse.Namespace, *, input_shape: tuple[int, ...] = IMAGE_SHAPE,
              output_size: int = 10, dtype: object = np.float64, rng: object = None,
              conv_param: dict[str, int] | None = None):
    """The network the parsed --net/--hidden/... options describe.

    ``input_shape`` is one image, ``(channels, height, width)``: the convolutional nets take
    it as it is, the others its number of pixels. ``conv_param`` is SimpleConvNet's (default
    the book's: 30 filters 5×5).
    """
    with user_errors("cannot build the network"):
        return _build_net(args, input_shape, output_size, dtype, rng, conv_param)


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    """Refuse those of ``options`` (argparse names) that were given, saying ``why``."""
    given = [f"--{name.replace('_', '-')}" for name in options
             if getattr(args, name) not in (None, False)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise CliError(f"{', '.join(given)} {verb} not apply to --net {args.net}: {why}")


def _one_hidden(args: argparse.Namespace, default: int) -> int:
    hidden = args.hidden or [default]
    if len(hidden) != 1:
        raise CliError(f"--net {args.net or 'two-layer'} has one hidden layer, got --hidden "
                       f"{' '.join(map(str, hidden))}"
                       + ("; use --net mlp for more" if args.net in (None, "two-layer") else ""))
    return hidden[0]


def _build_net(args, input_shape, output_size, dtype, rng, conv_param):
    from ..nets import DeepConvNet, MultiLayerNet, SimpleConvNet, TwoLayerNet

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
            raise CliError(f"{', '.join(extras)} need --net mlp (TwoLayerNet is the book's plain "
                           "two-layer network)")
        return TwoLayerNet(input_size, _one_hidden(args, 50), output_size,
                           activation=args.activation or "sigmoid", rng=rng, dtype=dtype)
    activation = args.activation or "relu"
    return MultiLayerNet(input_size, args.hidden or [100, 100], output_size,
                         activation=activation, weight_init_std=activation,
                         weight_decay_lambda=args.weight_decay or 0.0,
                         use_dropout=args.dropout is not None,
                         dropout_ratio=args.dropout if args.dropout is not None else 0.5,
                         use_batchnorm=bool(args.batchnorm), rng=rng, dtype=dtype)


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


def first_filters(net: Any) -> np.ndarray | None:
    """The filters of ``net``'s first layer, ``(FN, C, FH, FW)``, when it is a convolution
    (its first parameter array is 4-D); else None."""
    first = next(iter(net.params.values()), None)
    return first if isinstance(first, np.ndarray) and first.ndim == 4 else None


def use_recorded_data_dir(args: argparse.Namespace, recorded: dict | None) -> None:
    """Without --data-dir, read the data from the folder a checkpoint was trained from (when
    it still exists and the data set is the recorded one), saying so."""
    if args.data_dir is not None or not recorded or args.dataset != recorded.get("source"):
        return
    folder = recorded.get("data_dir")
    if isinstance(folder, str) and Path(folder).is_dir():
        args.data_dir = Path(folder)
        print(f"reading --dataset {args.dataset} from {folder}, the --data-dir the model was "
              "trained from", file=sys.stderr)


# -- the model of kobai predict / kobai evaluate -----------------------------------------------
#: argparse names of the options that describe a network for --params
_NET_OPTIONS = ("net", "hidden", "activation", "weight_decay", "dropout", "batchnorm")


@dataclass
class Model:
    """A network to predict with, and where it came from."""

    net: Any
    #: what it was trained on (a checkpoint's record), or None
    data: dict | None
    #: for messages: the file, or "the pretrained DeepConvNet"
    name: str
    #: the run folder of a MODEL (outputs go there by default), else None
    folder: Path | None


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    """--params FILE and the options describing its network (see :func:`open_model`)."""
    parser.add_argument("--params", type=Path, metavar="FILE",
                        help="a parameters file: the book's trained-weight pickles (read "
                             "without unpickling, e.g. deep_convnet_params.pkl with --net "
                             "deepcnn) or net.save_params()'s, loaded into a float32 network; "
                             "--net, --hidden, ... say which network they belong to")
    add_net_arguments(parser, title="the network of --params (default: two-layer)",
                      hidden_default="50 for two-layer, 100 100 for mlp, 100 for cnn, 50 for "
                                     "deepcnn")


def open_model(args: argparse.Namespace, model: Path | None, *, pretrained: bool,
               model_flag: str = "MODEL") -> Model:
    """The network of ``model`` (a model.npz or run folder), of ``--params FILE`` (with the
    network options), or the pretrained DeepConvNet; exactly one of them. ``model_flag`` names
    ``model`` in messages."""
    given = [what for what, on in ((model_flag, model is not None),
                                   ("--params", args.params is not None),
                                   ("--pretrained", pretrained)) if on]
    if len(given) > 1:
        raise CliError(f"give one model, not {' and '.join(given)}")
    net_flags = [f"--{name.replace('_', '-')}" for name in _NET_OPTIONS
                 if getattr(args, name) not in (None, False)]
    if net_flags and args.params is None:
        raise CliError(f"{', '.join(net_flags)} describe the network of --params FILE; a "
                       "model.npz or the pretrained model holds its own network")
    if args.params is not None:
        net = build_net(args, dtype=np.float32, rng=0)
        with user_errors(f"cannot load {args.params}"):
            net.load_params(args.params)
        return Model(net, None, str(args.params), None)
    from ..io import load

    if model is None:
        from .. import pretrained as packaged

        with user_errors("cannot load the pretrained model"):
            checkpoint = load(packaged.path())
        return Model(checkpoint.net, checkpoint.data, "the pretrained DeepConvNet", None)
    path = model_file(model)
    with user_errors(f"cannot load {path}"):
        checkpoint = load(path)
    return Model(checkpoint.net, checkpoint.data, str(path), path.parent)
