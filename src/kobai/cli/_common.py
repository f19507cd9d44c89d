"""Helpers shared by the subcommands: argument types, errors, the network options."""

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

from ..nets import options
from ..nets.options import (
    IMAGE_SHAPE,
    NETS,
    NETWORK_OPTIONS,
    OPTIONS,
    Number,
    Option,
    hidden_help,
)


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


def model_file(path: Path) -> Path:
    """``path`` itself, or for a run folder (kobai train's --out), the model.npz inside it."""
    if not path.is_dir():
        return path
    if not (path / "model.npz").exists():
        raise CliError(f"{path} is a folder without a model.npz; give a model.npz written by "
                       "kobai train, or the run folder holding it")
    return path / "model.npz"


def argument_type(number: Number) -> Callable[[str], Any]:
    """The argparse type of a :class:`~kobai.nets.options.Number` of the option table."""
    return _number(number.kind, number.argument, number.ok)


def add_option(group: Any, option: Option, **kwargs: Any) -> None:
    """``option`` of the table (:data:`kobai.nets.options.OPTIONS`) as a ``kobai train``
    argument; ``kwargs`` override what the table says (e.g. the help)."""
    spec: dict[str, Any] = {"help": option.help}
    if option.kind == "flag":
        spec.update(action="store_true", default=None)
    elif option.kind == "name":
        spec.update(choices=option.choices())
        if option.lower:
            spec.update(type=str.lower)
    else:
        assert option.number is not None
        spec.update(type=argument_type(option.number), metavar=option.metavar)
        if option.kind == "hidden":
            spec.update(nargs="+")
    spec.update(kwargs)
    group.add_argument(option.flag, **spec)


def add_net_arguments(parser: argparse.ArgumentParser, *, hidden_default: str | None = None,
                      title: str = "network") -> None:
    """The options that describe a network: --net, --hidden, --activation, ... (the
    :data:`~kobai.nets.options.NETWORK_OPTIONS` of the table).

    Each defaults to None, so that a command can tell the options given from those left out
    (``kobai train --resume`` refuses the given ones that conflict with the checkpoint);
    :func:`build_net` applies the defaults the help states (``hidden_default``: the table's
    when not given).
    """
    g = parser.add_argument_group(title)
    for dest in NETWORK_OPTIONS:
        option = OPTIONS[dest]
        if dest == "net":
            add_option(g, option, help="; ".join(f"{name}: {kind.help}"
                                                 for name, kind in NETS.items())
                       + f" (default: {next(iter(NETS))})")
        elif dest == "hidden":
            default = hidden_default or hidden_help()
            add_option(g, option, help=f"{option.help} (default: {default})")
        else:
            add_option(g, option)


def build_net(args: argparse.Namespace, *, input_shape: tuple[int, ...] = IMAGE_SHAPE,
              output_size: int = 10, dtype: type | np.dtype | str = np.float64,
              rng: np.random.Generator | int | None = None,
              conv_param: dict[str, int] | None = None) -> Any:
    """:func:`kobai.nets.options.build_net`, its refusals as one-line errors: options that
    describe no network as they are, the network's own refusal after "cannot build the
    network"."""
    with user_errors("cannot build the network"):
        try:
            return options.build_net(args, input_shape=input_shape, output_size=output_size,
                                     dtype=dtype, rng=rng, conv_param=conv_param)
        except options.NetOptionsError as exc:
            raise CliError(str(exc)) from None


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
    add_net_arguments(parser, title="the network of --params (default: two-layer)")


def _what_fits(path: Path, error: str) -> str:
    """``"; these weights fit --net mlp --hidden 50 100"``: the options of the networks whose
    parameters have the shapes of the arrays in ``path`` (or that none does), to follow the
    message ``error``; "" for a file that holds no arrays to read."""
    from ..nets.fitting import file_shapes, options_that_fit

    try:
        shapes = file_shapes(path)
    except (ValueError, OSError):
        return ""
    fits = options_that_fit(shapes)
    then = " T" if error.endswith("?") else "; t"
    if not fits:
        return f"{then}hese shapes fit no --net/--hidden of kobai's networks"
    return f"{then}hese weights fit " + " or ".join(fits)


def activation_note(args: argparse.Namespace, net: Any, x: np.ndarray, t: np.ndarray,
                    *, images: str = "test images", margin: float = 0.05) -> str | None:
    """For a ``--params`` network: a note naming the activation under which its weights score
    clearly better on ``(x, t)`` (by more than ``margin``) than under the one it has, or None.

    The activation does not show in the parameters' shapes, so a sigmoid network loaded with
    ``--activation relu`` (mlp's default) loads without error and scores worse.
    """
    from ..nets.fitting import activation_scores

    described = options.net_options(net)
    given = described and described["activation"]
    scores = activation_scores(args, net.state_dict(), x, t, output_size=net.output_size)
    if given not in scores:
        return None
    best = max(scores, key=lambda name: scores[name])
    if scores[best] - scores[given] <= margin:
        return None
    how = "as given" if args.activation else f"the default of --net {args.net or 'two-layer'}"
    return (f"note: with --activation {best} these weights score {scores[best]:.2f} on "
            f"{len(t)} {images}, {scores[given]:.2f} with {given} ({how}): "
            f"{args.params.name} looks like a {best} network; give --activation {best}")


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
    net_flags = [OPTIONS[name].flag for name in NETWORK_OPTIONS
                 if getattr(args, name) not in (None, False)]
    if net_flags and args.params is None:
        raise CliError(f"{', '.join(net_flags)} describe the network of --params FILE; a "
                       "model.npz or the pretrained model holds its own network")
    if args.params is not None:
        net = build_net(args, dtype=np.float32, rng=0)
        with user_errors(f"cannot load {args.params}"):
            try:
                net.load_params(args.params)
            except ValueError as exc:
                raise ValueError(f"{exc}{_what_fits(args.params, str(exc))}") from None
        return Model(net, None, str(args.params), None)
    from ..io import load

    if model is None:
        from .. import pretrained as packaged

        with user_errors("cannot load the pretrained model"):
            checkpoint = load(packaged.path())
        return Model(checkpoint.net, checkpoint.data, "the pretrained DeepConvNet", None)
    from ..io import CheckpointError

    path = model_file(model)
    try:
        checkpoint = load(path)
    except CheckpointError as exc:  # its message starts with the file's name
        raise CliError(f"cannot load {exc}") from None
    return Model(checkpoint.net, checkpoint.data, str(path), path.parent)
