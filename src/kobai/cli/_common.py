"""Helpers shared by the subcommands: argument types, errors and building networks."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
        "mlp": ("MultiLayerNet", "MultiLayerNet (ch. 6)")}


def model_file(path: Path) -> Path:
    """``path`` itself, or for a run folder (kobai train's --out), the model.npz inside it."""
    if not path.is_dir():
        return path
    if not (path / "model.npz").exists():
        raise CliError(f"{path} is a folder without a model.npz; give a model.npz written by "
                       "kobai train, or the run folder holding it")
    return path / "model.npz"


def add_net_arguments(parser: argparse.ArgumentParser, *, hidden_default: str) -> None:
    """The options that describe a network: --net, --hidden, --activation, ...

    Each defaults to None, so that a command can tell the options given from those left out
    (``kobai train --resume`` refuses the given ones that conflict with the checkpoint);
    :func:`build_net` applies the defaults the help states.
    """
    from ..layers import ACTIVATIONS

    g = parser.add_argument_group("network")
    g.add_argument("--net", choices=list(NETS),
                   help="; ".join(f"{name}: {text}" for name, (_, text) in NETS.items())
                        + " (default: two-layer)")
    g.add_argument("--hidden", type=positive_int, nargs="+", metavar="N",
                   help=f"hidden layer sizes (default: {hidden_default})")
    g.add_argument("--activation", choices=sorted(ACTIVATIONS),
                   help="default: sigmoid for two-layer, relu for mlp")
    g.add_argument("--weight-decay", type=non_negative_float, metavar="LAMBDA",
                   help="L2 weight decay λ (mlp only; default 0)")
    g.add_argument("--dropout", type=ratio, default=None, metavar="RATIO",
                   help="dropout ratio after each hidden layer (mlp only)")
    g.add_argument("--batchnorm", action="store_true", default=None,
                   help="batch normalization before each activation (mlp only)")


def build_net(args: argparse.Namespace, *, input_size: int = 784, output_size: int = 10,
              dtype: object = np.float64, rng: object = None):
    """A TwoLayerNet or MultiLayerNet from the parsed --net/--hidden/... options."""
    with user_errors("cannot build the network"):
        return _build_net(args, input_size, output_size, dtype, rng)


def _build_net(args, input_size, output_size, dtype, rng):
    from ..nets import MultiLayerNet, TwoLayerNet

    if (args.net or "two-layer") == "two-layer":
        extras = [name for name, on in (("--weight-decay", args.weight_decay),
                                        ("--dropout", args.dropout is not None),
                                        ("--batchnorm", args.batchnorm)) if on]
        if extras:
            raise CliError(f"{', '.join(extras)} need --net mlp (TwoLayerNet is the book's plain "
                           "two-layer network)")
        hidden = args.hidden or [50]
        if len(hidden) != 1:
            raise CliError(f"--net two-layer has one hidden layer, got --hidden "
                           f"{' '.join(map(str, hidden))}; use --net mlp for more")
        return TwoLayerNet(input_size, hidden[0], output_size,
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
    return {"net": name, "hidden": [int(n) for n in hidden], "activation": config["activation"],
            "weight_decay": float(config.get("weight_decay_lambda", 0.0)),
            "dropout": config.get("dropout_ratio") if config.get("use_dropout") else None,
            "batchnorm": bool(config.get("use_batchnorm", False))}


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
