"""The options of a training run, and the networks they build: one table of each.

:data:`NETS` holds each network kind by its ``--net`` name (:class:`NetKind`: its class, its
default hidden sizes, how the options build it, whether it takes images; its parameter
shapes without building it are its class's ``state_shapes``). :data:`OPTIONS` holds each
option of ``kobai train`` that ``kobai tune`` can search (:class:`Option`: its value type and
check, its metavar and help, whether it describes the network). ``kobai train`` and ``kobai
predict`` make their arguments from them, ``kobai tune`` its search space, its trials and its
reports; checkpoints and ``--resume`` compare networks by :func:`net_options`.

Hidden layer sizes are written ``100x6`` (six layers of 100), ``100-50`` (100 then 50) or
``100x2-50`` (:func:`parse_hidden`, :func:`format_hidden`).
"""

from __future__ import annotations

import argparse
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .deep_conv_net import DeepConvNet
from .multi_layer_net import MultiLayerNet
from .network import Network
from .simple_conv_net import SimpleConvNet
from .two_layer_net import TwoLayerNet

__all__ = ["CONV_NETS", "IMAGE_SHAPE", "NETS", "NETWORK_OPTIONS", "OPTIONS", "NetKind",
           "NetOptionsError", "Number", "Option", "build_net", "format_hidden",
           "hidden_help", "hidden_runs", "net_options", "parse_hidden", "register_net",
           "takes_images"]

#: MNIST's images as the convolutional nets take them
IMAGE_SHAPE = (1, 28, 28)


class NetOptionsError(ValueError):
    """Options that describe no network (e.g. ``--dropout`` with ``--net two-layer``); the
    message names the options as they are written on the command line."""


# -- the option values ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Number:
    """The values of a numeric option: ``kind(text)`` when ``ok`` (which refuses NaN and
    infinity where they could pass)."""

    kind: type
    ok: Callable[[Any], bool]
    #: what a value should be, as ``kobai tune`` says it: "a learning rate > 0"
    expected: str
    #: as ``kobai train``'s argument says it: "a positive number"
    argument: str

    def parse(self, text: str) -> Any:
        """One value from its text; a ValueError ``expected ..., got TEXT`` otherwise."""
        try:
            value = self.kind(text)
        except ValueError:
            raise ValueError(f"expected {self.expected}, got {text}") from None
        if not (math.isfinite(value) and self.ok(value)):
            raise ValueError(f"expected {self.expected}, got {text}")
        return value


WIDTH = Number(int, lambda v: v >= 1, "a positive integer", "a positive integer")


def hidden_runs(text: str) -> list[tuple[int, int]]:
    """``100x2-50`` -> ``[(100, 2), (50, 1)]``: (width, count) pairs; a ValueError naming the
    part that is not sizes."""
    runs: list[tuple[int, int]] = []
    for part in text.split("-"):
        width, times, count = part.partition("x")
        try:
            n = WIDTH.parse(count) if times else 1
        except ValueError:
            raise ValueError(f"expected a layer count after x (100x6), got {part!r}") from None
        try:
            runs.append((WIDTH.parse(width), n))
        except ValueError:
            raise ValueError(f"expected layer widths, positive integers (100x6, 100-50), "
                             f"got {part!r}") from None
    return runs


def parse_hidden(text: str) -> list[int]:
    """``100x2-50`` -> ``[100, 100, 50]`` (:func:`hidden_runs`, expanded)."""
    return [width for width, n in hidden_runs(text) for _ in range(n)]


def format_hidden(sizes: Sequence[int]) -> str:
    """``[100, 100, 50]`` -> ``100x2-50`` (what :func:`parse_hidden` reads back)."""
    runs = [(int(width), len(list(group))) for width, group in itertools.groupby(sizes)]
    return "-".join(f"{width}x{n}" if n > 1 else str(width) for width, n in runs)


@dataclass(frozen=True)
class Option:
    """An option of ``kobai train`` that ``kobai tune`` can search, by its argparse name.

    ``kind`` says how a value is written and read: ``"name"`` one of :meth:`choices`,
    ``"int"``/``"float"`` a :class:`Number`, ``"hidden"`` layer sizes, ``"flag"`` on/off.
    """

    dest: str
    kind: str
    #: kobai tune's metavar
    search_metavar: str
    #: kobai train's help
    help: str
    #: kobai train's metavar (None: argparse's)
    metavar: str | None = None
    number: Number | None = None
    #: the values of a "name" option (a registry, read when asked)
    names: Callable[[], list[str]] | None = None
    #: kobai train reads a name in lower case (--optimizer Adam)
    lower: bool = False
    #: ``none`` is a value: the option is off (--dropout none)
    none: bool = False
    #: it describes the network: :func:`build_net` reads it
    network: bool = False
    #: a quantity searched on a log scale, shown as 3.2e-03
    log: bool = False
    #: its name in the figure's annotations
    short: str | None = None

    @property
    def flag(self) -> str:
        return f"--{self.dest.replace('_', '-')}"

    def choices(self) -> list[str]:
        if self.names is None:
            raise TypeError(f"{self.flag} takes a {self.kind}, not a name")
        return self.names()


def _net_names() -> list[str]:
    return list(NETS)


def _activations() -> list[str]:
    from ..layers import ACTIVATIONS

    return sorted(ACTIVATIONS)


def _optimizers() -> list[str]:
    from ..optimizers import OPTIMIZERS

    return list(OPTIMIZERS)


def _schedules() -> list[str]:
    from ..schedules import SCHEDULES

    return list(SCHEDULES)


#: the options, in the order searches, results.csv and their messages keep them
OPTIONS: dict[str, Option] = {option.dest: option for option in (
    Option("net", "name", "NET", "", names=_net_names, network=True),
    Option("hidden", "hidden", "N", "hidden layer sizes", "N", number=WIDTH, network=True),
    Option("activation", "name", "NAME",
           "two-layer and mlp only; default: sigmoid for two-layer, relu for mlp",
           names=_activations, network=True),
    Option("weight_decay", "float", "LAMBDA", "L2 weight decay λ (mlp only; default 0)", "LAMBDA",
           number=Number(float, lambda v: v >= 0 and math.isfinite(v), "a weight decay >= 0",
                         "a number >= 0"), network=True, log=True, short="wd"),
    Option("dropout", "float", "RATIO",
           "dropout ratio after each hidden layer (mlp), or of DeepConvNet's two dropout "
           "layers (deepcnn; default 0.5, the book's)", "RATIO",
           number=Number(float, lambda v: 0 <= v < 1, "a dropout ratio in [0, 1)",
                         "a ratio in [0, 1)"), none=True, network=True),
    Option("batchnorm", "flag", "on|off",
           "batch normalization before each activation (mlp only)", network=True),
    Option("optimizer", "name", "NAME", "default: sgd; adam for cnn and deepcnn",
           names=_optimizers, lower=True),
    Option("lr", "float", "LR",
           "learning rate (default: 0.1 for sgd, 0.01 for momentum, nesterov and adagrad, "
           "0.001 for rmsprop and adam)",
           number=Number(float, lambda v: v > 0 and math.isfinite(v), "a learning rate > 0",
                         "a positive number"), log=True),
    Option("batch_size", "int", "N", "default: 100 (with --resume, the checkpoint's)",
           number=WIDTH, short="batch"),
    Option("lr_schedule", "name", "NAME",
           "learning-rate schedule (kobai.schedules): constant (the default), step (times "
           "--lr-gamma every --lr-step epochs), cosine (to --lr-floor over the run), plateau "
           "(times --lr-factor after --lr-patience epochs without a lower validation loss, "
           "else training loss)", names=_schedules, short="schedule"),
)}
#: the options that describe the network, by argparse name
NETWORK_OPTIONS: tuple[str, ...] = tuple(dest for dest, o in OPTIONS.items() if o.network)


# -- the networks ----------------------------------------------------------------------------------

Builder = Callable[..., Network]


@dataclass(frozen=True)
class NetKind:
    """A network that ``--net NAME`` builds.

    ``build(args, hidden, *, input_shape, output_size, dtype, rng, conv_param)`` builds it
    from the options (``args``, an argparse.Namespace of :data:`NETWORK_OPTIONS`, None for
    those not given) and the hidden sizes (``hidden``, the default when not given), raising
    :class:`NetOptionsError` for options that do not apply to it.
    """

    name: str
    cls: type[Network]
    #: --net's help
    help: str
    build: Builder
    #: its hidden layer sizes when --hidden is not given
    hidden: tuple[int, ...]
    #: it takes images (C, H, W), not their pixels
    images: bool = False
    #: for a net whose dropout is on unless told otherwise: the --dropout that turns it off
    #: (a search's ``--dropout none``)
    no_dropout: float | None = None

    def state_shapes(self, config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
        """The shapes of its ``state_dict()`` from its config, without building it."""
        return self.cls.state_shapes(config)


def _refuse(args: argparse.Namespace, options: tuple[str, ...], why: str) -> None:
    """Refuse those of ``options`` (argparse names) that were given, saying ``why``."""
    given = [OPTIONS[name].flag for name in options if getattr(args, name) not in (None, False)]
    if given:
        verb = "does" if len(given) == 1 else "do"
        raise NetOptionsError(f"{', '.join(given)} {verb} not apply to --net {args.net}: {why}")


def _one_hidden(args: argparse.Namespace, hidden: list[int]) -> int:
    if len(hidden) != 1:
        raise NetOptionsError(
            f"--net {args.net or 'two-layer'} has one hidden layer, got --hidden "
            f"{' '.join(map(str, hidden))}"
            + ("; use --net mlp for more" if args.net in (None, "two-layer") else ""))
    return hidden[0]


def _two_layer(args: argparse.Namespace, hidden: list[int], *, input_shape: tuple[int, ...],
               output_size: int, dtype: Any, rng: Any, conv_param: Any) -> Network:
    extras = [name for name, on in (("--weight-decay", args.weight_decay),
                                    ("--dropout", args.dropout is not None),
                                    ("--batchnorm", args.batchnorm)) if on]
    if extras:
        raise NetOptionsError(f"{', '.join(extras)} need --net mlp (TwoLayerNet is the "
                              "book's plain two-layer network)")
    return TwoLayerNet(math.prod(input_shape), _one_hidden(args, hidden), output_size,
                       activation=args.activation or "sigmoid", rng=rng, dtype=dtype)


def _mlp(args: argparse.Namespace, hidden: list[int], *, input_shape: tuple[int, ...],
         output_size: int, dtype: Any, rng: Any, conv_param: Any) -> Network:
    activation = args.activation or "relu"
    return MultiLayerNet(math.prod(input_shape), hidden, output_size,
                         activation=activation, weight_init_std=activation,
                         weight_decay_lambda=args.weight_decay or 0.0,
                         use_dropout=args.dropout is not None,
                         dropout_ratio=args.dropout if args.dropout is not None else 0.5,
                         use_batchnorm=bool(args.batchnorm), rng=rng, dtype=dtype)


def _cnn(args: argparse.Namespace, hidden: list[int], *, input_shape: tuple[int, ...],
         output_size: int, dtype: Any, rng: Any, conv_param: Any) -> Network:
    _refuse(args, ("activation", "weight_decay", "dropout", "batchnorm"),
            "SimpleConvNet is the book's conv - relu - pool - affine - relu - affine, "
            "with --hidden N units in its hidden affine layer")
    return SimpleConvNet(input_shape, conv_param, _one_hidden(args, hidden), output_size,
                         rng=rng, dtype=dtype)


def _deepcnn(args: argparse.Namespace, hidden: list[int], *, input_shape: tuple[int, ...],
             output_size: int, dtype: Any, rng: Any, conv_param: Any) -> Network:
    _refuse(args, ("activation", "weight_decay", "batchnorm"),
            "DeepConvNet is the book's six 3x3 convolutions with relu, then affine - relu "
            "- dropout - affine - dropout; --hidden N and --dropout RATIO set its hidden "
            "size and dropout ratio")
    return DeepConvNet(input_shape, hidden_size=_one_hidden(args, hidden),
                       output_size=output_size,
                       dropout_ratio=0.5 if args.dropout is None else args.dropout,
                       rng=rng, dtype=dtype)


#: --net choices, in the order --help lists them; the first is the default
NETS: dict[str, NetKind] = {kind.name: kind for kind in (
    NetKind("two-layer", TwoLayerNet, "TwoLayerNet (the book's ch. 4-5)", _two_layer, (50,)),
    NetKind("mlp", MultiLayerNet, "MultiLayerNet (ch. 6)", _mlp, (100, 100)),
    NetKind("cnn", SimpleConvNet, "SimpleConvNet (ch. 7)", _cnn, (100,), images=True),
    NetKind("deepcnn", DeepConvNet, "DeepConvNet (ch. 8)", _deepcnn, (50,), images=True,
            no_dropout=0.0),
)}
#: the --net choices of the table as written that take images of shape (1, 28, 28)
CONV_NETS: tuple[str, ...] = tuple(name for name, kind in NETS.items() if kind.images)


def register_net(kind: NetKind) -> NetKind:
    """Make ``kind`` a ``--net`` choice of ``kobai train`` and ``kobai tune``, and its class
    one that checkpoints load (``kobai.nets.NETWORKS``); returns ``kind``. For a network of
    kobai's own, write its entry in :data:`NETS` instead."""
    from . import NETWORKS

    if not (isinstance(kind, NetKind) and isinstance(kind.cls, type)
            and issubclass(kind.cls, Network)):
        raise TypeError(f"register_net expects a NetKind of a Network subclass, got {kind!r}")
    known = NETWORKS.get(kind.cls.__name__)
    if known is not None and known is not kind.cls:
        raise ValueError(f"another network class is already registered as "
                         f"{kind.cls.__name__!r} ({known.__module__}.{known.__qualname__})")
    if kind.name in NETS and NETS[kind.name] != kind:
        raise ValueError(f"--net {kind.name} is already {NETS[kind.name].cls.__name__}")
    NETS[kind.name] = kind
    NETWORKS[kind.cls.__name__] = kind.cls
    return kind


def takes_images(net: str | None) -> bool:
    """Whether ``--net net`` (None: the default) takes images rather than their pixels."""
    return NETS[net or next(iter(NETS))].images


def hidden_help() -> str:
    """The default of --hidden for each --net: ``50 for two-layer, 100 100 for mlp, ...``."""
    return ", ".join(f"{' '.join(map(str, kind.hidden))} for {name}"
                     for name, kind in NETS.items() if kind.hidden)


def build_net(args: argparse.Namespace, *, input_shape: tuple[int, ...] = IMAGE_SHAPE,
              output_size: int = 10, dtype: type | np.dtype | str = np.float64,
              rng: np.random.Generator | int | None = None,
              conv_param: dict[str, int] | None = None) -> Network:
    """The network the --net/--hidden/... options describe.

    Parameters
    ----------
    args : argparse.Namespace
        The :data:`NETWORK_OPTIONS` (``net``, ``hidden``, ``activation``, ...); None (or
        False) for an option not given, which takes its default.
    input_shape : tuple of int
        One image, ``(channels, height, width)`` (flattened for networks that take vectors).
    output_size : int
        Number of classes.
    dtype : float32 or float64
    rng : numpy.random.Generator or int, optional
        Seeds the weights and dropout masks.
    conv_param : dict, optional
        SimpleConvNet's (default the book's: 30 filters 5×5).

    Raises
    ------
    NetOptionsError
        For options that do not apply to the network (or hidden layers it does not have).
    ValueError, TypeError
        From the network's constructor.
    """
    kind = NETS[args.net or next(iter(NETS))]
    return kind.build(args, list(args.hidden or kind.hidden), input_shape=input_shape,
                      output_size=output_size, dtype=dtype, rng=rng, conv_param=conv_param)


def net_options(net: Any) -> dict[str, Any] | None:
    """The --net, --hidden, ... values that describe ``net`` (the inverse of :func:`build_net`).

    Keys are the :data:`NETWORK_OPTIONS`, read from the network's config (``hidden_size_list``
    or ``hidden_size``, ``activation``, ``weight_decay_lambda``, ``dropout_ratio`` with
    ``use_dropout``, ``use_batchnorm``; None or off when it has none); None for a network
    that :func:`build_net` does not build (no options describe it).
    """
    name = next((key for key, kind in NETS.items() if type(net) is kind.cls), None)
    if name is None:
        return None
    config = net.get_config()
    hidden = config.get("hidden_size_list", [config["hidden_size"]] if "hidden_size" in config
                        else None)
    # DeepConvNet's dropout is always on; MultiLayerNet's when use_dropout
    dropout = config.get("dropout_ratio") if config.get("use_dropout", True) else None
    return {"net": name, "hidden": None if hidden is None else [int(n) for n in hidden],
            "activation": config.get("activation"),
            "weight_decay": float(config.get("weight_decay_lambda", 0.0)),
            "dropout": dropout, "batchnorm": bool(config.get("use_batchnorm", False))}
