"""The search space of ``kobai tune``: each ``kobai train`` option fixed, a range or a choice.

The nine options are those of ``kobai train``: ``--net``, ``--hidden``, ``--activation``,
``--weight-decay``, ``--dropout``, ``--batchnorm``, ``--optimizer``, ``--lr`` and
``--batch-size``. Each takes

- a fixed value, as in ``kobai train``: ``--lr 0.01``, ``--optimizer adam``, ``--hidden 100 100``
  (several tokens make one list), ``--batchnorm`` (no value: on; ``--batchnorm off``);
- a range, for the numeric options: ``LOW:HIGH`` uniform, ``LOW:HIGH:log`` log-uniform
  (``--lr 1e-6:1e-2:log``, ``--weight-decay 0:1e-3``, ``--dropout 0.1:0.5``). For the integer
  options (``--batch-size``, the widths of ``--hidden``) a range draws an integer in
  ``[LOW, HIGH]``, HIGH included (``--batch-size 32:256:log``);
- a choice, comma-separated: ``--optimizer sgd,adam``, ``--net mlp,cnn``,
  ``--batch-size 50,100,200``, ``--batchnorm on,off``, ``--dropout none,0.2,0.5`` (``none``: no
  dropout).

Hidden layer sizes are written ``100x6`` (six layers of 100), ``100-50`` (100 then 50), or
``100x2-50``; choices of them ``--hidden 100x6,50x2,200``; and a range of widths with a fixed
depth ``--hidden 50:200x6`` or ``50:400:logx3``: one width is drawn for all the layers, as in the
book's nets. Anything else is refused with a :class:`SpaceError` naming the option.

Options left out follow the book's random search (chapter 6.5,
``ch06/hyperparameter_optimization.py``; :data:`BOOK_DEFAULTS`): MultiLayerNet with six hidden
layers of 100, ReLU, SGD, batches of 100, lr 10^[-6, -2] and weight decay 10^[-8, -4], both
log-uniform. The network's defaults (``--hidden``, ``--activation``, ``--weight-decay``) apply
only when every ``--net`` value is ``mlp``; for the other nets an option left out stays unset,
and the net's own default applies (as in ``kobai train``). Dropout and batch normalization are
off unless given.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["BOOK_DEFAULTS", "OPTIONS", "SYNTAX_HELP", "Choice", "Dimension", "Fixed", "Range",
           "SearchSpace", "SpaceError", "parse_option"]

#: the search options, by argparse name, in the order spaces keep them
OPTIONS: tuple[str, ...] = ("net", "hidden", "activation", "weight_decay", "dropout",
                            "batchnorm", "optimizer", "lr", "batch_size")

#: the syntax, as ``kobai tune --help`` prints it (plain text, lines under 80 characters)
SYNTAX_HELP = """\
Each kobai train option takes a fixed value, a range or a choice (a,b,c):
  fixed   --lr 0.01  --optimizer adam  --hidden 100 100  --batchnorm (= on)
  range   LOW:HIGH uniform, LOW:HIGH:log log-uniform: --lr 1e-6:1e-2:log,
          --dropout 0.1:0.5; integers, HIGH included: --batch-size 32:256:log
  choice  --optimizer sgd,adam  --net mlp,cnn  --batch-size 50,100,200
          --batchnorm on,off  --dropout none,0.2,0.5 (none: no dropout)
  hidden  100x6: six layers of 100; 100-50: 100 then 50; choices 100x6,50x2,200;
          one width drawn for all layers: 50:200x6, 50:400:logx3
Left out: the book's search, --net mlp --hidden 100x6 --activation relu
--optimizer sgd --batch-size 100 --lr 1e-6:1e-2:log --weight-decay 1e-8:1e-4:log
and no dropout or batch norm; for --net other than mlp, --hidden, --activation
and --weight-decay are left to the net's own defaults."""


class SpaceError(ValueError):
    """A search option that is malformed or that the network cannot take; names the option."""


@dataclass(frozen=True)
class Fixed:
    """One value for every trial (``hidden``: a list of ints, ``dropout``: None for none)."""

    value: Any


@dataclass(frozen=True)
class Range:
    """A range ``[low, high]`` drawn uniformly, or log-uniformly when ``log``.

    ``integer`` ranges draw integers with ``high`` included. For ``hidden``, the range is of
    one width drawn for ``depth`` layers: the trial's value is ``[width] * depth``.
    """

    low: float
    high: float
    log: bool = False
    integer: bool = False
    depth: int | None = None


@dataclass(frozen=True)
class Choice:
    """One of ``values``, drawn uniformly (``hidden``: each value a list of ints)."""

    values: tuple[Any, ...]


Dimension = Fixed | Range | Choice


def _flag(dest: str) -> str:
    return f"--{dest.replace('_', '-')}"


# -- reading one option -----------------------------------------------------------------------

def _names(dest: str) -> list[str]:
    """The values a categorical option takes (the registries ``kobai train`` offers)."""
    if dest == "net":
        from ..nets.options import NETS

        return list(NETS)
    if dest == "activation":
        from ..layers import ACTIVATIONS

        return sorted(ACTIVATIONS)
    from ..optimizers import OPTIMIZERS

    return list(OPTIMIZERS)


def _number(kind: type, expected: str, ok: Callable[[float], bool]) -> Callable[[str], Any]:
    """A parser of one number: ``kind(text)`` when finite and ``ok``, else a ValueError
    saying what was expected."""

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise ValueError(f"expected {expected}, got {text}") from None
        if not (math.isfinite(value) and ok(value)):
            raise ValueError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = _number(int, "a positive integer", lambda v: v >= 1)
#: the numeric options: how one value reads
_NUMBERS: dict[str, Callable[[str], Any]] = {
    "lr": _number(float, "a learning rate > 0", lambda v: v > 0),
    "weight_decay": _number(float, "a weight decay >= 0", lambda v: v >= 0),
    "dropout": _number(float, "a dropout ratio in [0, 1)", lambda v: 0 <= v < 1),
    "batch_size": _positive_int,
}


def _layers(text: str) -> list[int]:
    """``100x2-50`` -> ``[100, 100, 50]``."""
    sizes: list[int] = []
    for part in text.split("-"):
        width, times, count = part.partition("x")
        try:
            n = _positive_int(count) if times else 1
        except ValueError:
            raise ValueError(f"expected a layer count after x (100x6), got {part!r}") from None
        try:
            sizes += [_positive_int(width)] * n
        except ValueError:
            raise ValueError(f"expected layer widths, positive integers (100x6, 100-50), "
                             f"got {part!r}") from None
    return sizes


def _float(text: str) -> float:
    """``float(text)``, or NaN when it is not a number (for checks made before the parse)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _value(dest: str, text: str) -> Any:
    """One fixed value of ``dest`` from its written form."""
    if dest == "hidden":
        return _layers(text)
    if dest in _NUMBERS:
        if dest == "dropout" and text == "none":
            return None
        return _NUMBERS[dest](text)
    if dest == "batchnorm":
        if text not in ("on", "off"):
            raise ValueError(f"expected on or off, got {text!r}")
        return text == "on"
    if dest == "optimizer":
        text = text.lower()  # as kobai train's --optimizer
    names = _names(dest)
    if text not in names:
        raise ValueError(f"expected one of {', '.join(names)}, got {text!r}")
    return text


def _range(dest: str, text: str) -> Range:
    """``LOW:HIGH[:log]`` (for hidden: followed by ``xDEPTH``)."""
    depth = None
    if dest == "hidden":
        text, times, count = text.rpartition("x") if "x" in text else (text, "", "")
        try:
            depth = _positive_int(count) if times else 1
        except ValueError:
            raise ValueError(f"expected a layer count after x (50:200x6), got {count!r}") from None
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[2:] not in ([], ["log"]):
        raise ValueError("expected LOW:HIGH or LOW:HIGH:log")
    log = len(parts) == 3
    if log and _float(parts[0]) <= 0:
        raise ValueError("a log range needs LOW > 0")
    read = _positive_int if dest == "hidden" else _NUMBERS[dest]
    low, high = (read(part) for part in parts[:2])
    if low == high:
        raise ValueError(f"the range is empty (LOW must be < HIGH); for one value write {low}")
    if low > high:
        raise ValueError("the range is reversed (LOW must be < HIGH)")
    return Range(low, high, log=log, integer=dest in ("hidden", "batch_size"), depth=depth)


def _choice(dest: str, text: str) -> Choice:
    items = text.split(",")
    if "" in items:
        raise ValueError("a choice has an empty item (write a,b,c)")
    ranged = [item for item in items if ":" in item]
    if ranged:
        raise ValueError(f"a choice lists fixed values, not ranges like {ranged[0]}")
    values = [_value(dest, item) for item in items]
    for i, value in enumerate(values):
        if value in values[:i]:
            raise ValueError(f"{items[i]} is listed twice")
    return Choice(tuple(values))


def _categorical(dest: str) -> bool:
    return dest not in _NUMBERS and dest != "hidden"


def parse_option(dest: str, tokens: str | list[str] | None | bool) -> Dimension:
    """The search dimension that ``--DEST TOKENS`` writes (the syntax of the module docstring).

    Parameters
    ----------
    dest : str
        The option's argparse name, one of :data:`OPTIONS`.
    tokens : str, list of str or bool
        As argparse gives them: a string; for ``hidden`` a list of strings (``nargs="+"``);
        for ``batchnorm`` True when given without a value.

    Raises
    ------
    SpaceError
        When the option is unknown or its value malformed; the message names the option.
    """
    if dest not in OPTIONS:
        raise SpaceError(f"{_flag(dest)} is not a search option; the options are "
                         f"{', '.join(map(_flag, OPTIONS))}")
    flag = _flag(dest)
    if isinstance(tokens, bool):
        if dest != "batchnorm":
            raise SpaceError(f"{flag} needs a value")
        return Fixed(tokens)
    if isinstance(tokens, (int, float)):  # a value given as a number, e.g. from Python
        tokens = repr(tokens)
    if not isinstance(tokens, (str, list, tuple)):
        raise SpaceError(f"{flag}: expected the option's words, e.g. '1e-6:1e-2:log', got "
                         f"{tokens!r}")
    words = [tokens] if isinstance(tokens, str) else [str(word) for word in tokens]
    written = f"{flag} {' '.join(words)}".rstrip()
    if not words or "" in words:
        raise SpaceError(f"{written}: expected a value, a range or a choice")
    try:
        if len(words) > 1:
            if dest != "hidden":
                raise ValueError("expected one value, range or choice (write a choice as a,b)")
            if any(":" in word or "," in word for word in words):
                raise ValueError("several sizes make one list; write a range or a choice as "
                                 "one word (50:200x6, 100x6,50x2)")
            return Fixed(_layers("-".join(words)))
        text = words[0]
        if "," in text:
            return _choice(dest, text)
        if ":" in text:
            if _categorical(dest):
                raise ValueError(f"{flag} takes a value or a choice (a,b), not a range")
            return _range(dest, text)
        return Fixed(_value(dest, text))
    except ValueError as exc:
        raise SpaceError(f"{written}: {exc}") from None


# -- writing one option -----------------------------------------------------------------------

def _write_value(dest: str, value: Any) -> str:
    """The written form of one value of ``dest`` (``_value``'s inverse)."""
    if dest == "hidden":
        runs = [(width, len(list(group))) for width, group in itertools.groupby(value)]
        return "-".join(f"{width}x{n}" if n > 1 else str(width) for width, n in runs)
    if dest == "batchnorm":
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def _write(dest: str, dim: Dimension) -> str:
    """The written form of ``dim`` (what :func:`parse_option` reads back to it)."""
    if isinstance(dim, Fixed):
        return _write_value(dest, dim.value)
    if isinstance(dim, Choice):
        return ",".join(_write_value(dest, value) for value in dim.values)
    low, high = (repr(end) if isinstance(end, float) else str(end) for end in (dim.low, dim.high))
    text = f"{low}:{high}"
    text += ":log" if dim.log else ""
    if dim.depth is not None and dim.depth != 1:
        text += f"x{dim.depth}"
    return text


# -- the defaults -----------------------------------------------------------------------------

#: the book's search (ch06/hyperparameter_optimization.py), for the options left out
BOOK_DEFAULTS: Mapping[str, Dimension] = {
    "net": Fixed("mlp"),
    "hidden": Fixed([100] * 6),
    "activation": Fixed("relu"),
    "weight_decay": Range(1e-8, 1e-4, log=True),
    "optimizer": Fixed("sgd"),
    "lr": Range(1e-6, 1e-2, log=True),
    "batch_size": Fixed(100),
}
#: the defaults that describe MultiLayerNet: applied only when every --net value is mlp
_MLP_DEFAULTS = ("hidden", "activation", "weight_decay")


# -- checking that every network can be built -------------------------------------------------

#: the options that describe the network (what build_net reads)
_NET_OPTIONS = OPTIONS[:6]
#: at most this many combinations of the network options are built to check them
_MAX_COMBINATIONS = 256
#: the networks are checked with hidden layers at most this wide: the widths themselves were
#: checked when read, and only the number of layers decides whether a network can be built
_CHECK_WIDTH = 8


def _kind(value: Any) -> Any:
    """What about a value can decide whether a network builds: a hidden list's length, a
    number's being zero (the options' ranges are checked when read), the value otherwise."""
    if isinstance(value, list):
        return ("layers", len(value))
    if isinstance(value, float):
        return ("number", value != 0)
    return (type(value).__name__, value)


def _samples(dest: str, dim: Dimension | None) -> list[tuple[Any, str]]:
    """Values of ``dim`` to build networks with, one per :func:`_kind`, each with its written
    form for messages: a choice's values, a range's two ends (a hidden range: its narrowest
    layers)."""
    if dim is None:
        return [(None, "")]
    if isinstance(dim, Range) and dim.depth is not None:
        pairs: list[tuple[Any, str]] = [([int(dim.low)] * dim.depth, _write(dest, dim))]
    elif isinstance(dim, Range):
        pairs = [(value, _write(dest, dim)) for value in (dim.low, dim.high)]
    elif isinstance(dim, Fixed):
        pairs = [(dim.value, _write(dest, dim))]
    else:
        pairs = [(value, _write_value(dest, value)) for value in dim.values]
    unique: dict[Any, tuple[Any, str]] = {}
    for value, text in pairs:
        unique.setdefault(_kind(value), (value, text))
    return list(unique.values())


def _build(combination: Mapping[str, tuple[Any, str]]) -> None:
    """Build the network of ``combination`` (dest -> (value, written form)); a SpaceError
    naming the options when it cannot be built."""
    values = {dest: combination.get(dest, (None, ""))[0] for dest in _NET_OPTIONS}
    narrow = dict(values)
    if values["hidden"] is not None:  # narrow layers: quick to build, whatever the widths
        narrow["hidden"] = [min(width, _CHECK_WIDTH) for width in values["hidden"]]
    refusal = _refusal(narrow)
    if refusal is None:
        return
    # the same refusal with the user's widths, for the message: the options are checked first
    refusal = _refusal(values) or refusal
    given = [f"{_flag(dest)} {text}".rstrip() for dest, (value, text) in combination.items()
             if value is not None and dest != "net"]
    net = combination.get("net", (None, ""))[1]
    names = ([f"--net {net}"] if net else []) + given
    where = f"{names[0]} with {', '.join(names[1:])}" if len(names) > 1 else names[0]
    raise SpaceError(f"{where}: {refusal}")


def _refusal(values: Mapping[str, Any]) -> str | None:
    """Why the network options ``values`` (dest -> value) build no network, as ``kobai
    train`` says it; None when they build one."""
    import numpy as np

    from ..nets.options import NetOptionsError, build_net

    try:
        build_net(argparse.Namespace(**values), dtype=np.float32, rng=0)
    except NetOptionsError as exc:
        return str(exc)
    except (ValueError, TypeError, KeyError) as exc:
        return f"cannot build the network: {exc}"
    return None


def _check_networks(dims: Mapping[str, Dimension]) -> None:
    """Build the network of each combination of the network options' values: first each
    option alone with each --net value (so that a refusal names the culprit), then all of them
    together, up to ``_MAX_COMBINATIONS`` combinations."""
    samples = {dest: _samples(dest, dims.get(dest)) for dest in _NET_OPTIONS}
    nets = samples["net"]
    for net in nets:
        for dest in _NET_OPTIONS[1:]:
            for sample in samples[dest]:
                if sample[0] is not None:
                    _build({"net": net, dest: sample})
    combinations = itertools.product(*samples.values())
    for combination in itertools.islice(combinations, _MAX_COMBINATIONS):
        _build(dict(zip(_NET_OPTIONS, combination, strict=True)))


# -- the space --------------------------------------------------------------------------------

class SearchSpace:
    """The values that ``kobai tune`` searches, one :data:`Dimension` per option that is set.

    Build it with :meth:`from_options` (the command line, with the book's defaults) or
    :meth:`from_dict` (a saved space); both check every option and that each combination of
    the network options builds a network, raising :class:`SpaceError`.

    Attributes
    ----------
    dims : dict of str to Dimension
        By argparse name, in :data:`OPTIONS` order; only the options that are set.
    """

    BOOK_DEFAULTS: Mapping[str, Dimension] = BOOK_DEFAULTS

    def __init__(self, dims: Mapping[str, Dimension]):
        unknown = [dest for dest in dims if dest not in OPTIONS]
        if unknown:
            raise SpaceError(f"{_flag(unknown[0])} is not a search option; the options are "
                             f"{', '.join(map(_flag, OPTIONS))}")
        # each dimension is read back from its written form: checked, and in canonical form
        self.dims: dict[str, Dimension] = {dest: parse_option(dest, _tokens(dest, dims[dest]))
                                           for dest in OPTIONS if dest in dims}
        _check_networks(self.dims)

    @classmethod
    def from_options(cls, given: Mapping[str, Any]) -> SearchSpace:
        """The space of the command line's options: ``given`` maps argparse names to the
        tokens argparse gives (None: not given); the book's defaults fill in the rest."""
        dims = {dest: parse_option(dest, tokens) for dest, tokens in given.items()
                if tokens is not None}
        net = dims.setdefault("net", BOOK_DEFAULTS["net"])
        nets = net.values if isinstance(net, Choice) else (getattr(net, "value", None),)
        for dest, default in BOOK_DEFAULTS.items():
            if dest in _MLP_DEFAULTS and any(net != "mlp" for net in nets):
                continue
            dims.setdefault(dest, default)
        return cls(dims)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> SearchSpace:
        """The space that :meth:`to_dict` wrote (no defaults added), checked as
        :meth:`from_options` checks the command line."""
        if not isinstance(d, Mapping):
            raise SpaceError(f"expected a search space as to_dict() writes it, e.g. "
                             f"{{'lr': '1e-06:0.01:log'}}, got {d!r}")
        return cls({dest: parse_option(dest, text) for dest, text in d.items()})

    def __repr__(self) -> str:
        return f"SearchSpace({self.to_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SearchSpace) and self.dims == other.dims

    __hash__ = None  # type: ignore[assignment]  # mutable dims

    def searched(self) -> list[str]:
        """The options that vary between trials (ranges, choices of several values)."""
        return [dest for dest, dim in self.dims.items()
                if isinstance(dim, Range) or (isinstance(dim, Choice) and len(dim.values) > 1)]

    def fixed(self) -> dict[str, Any]:
        """The options with one value for every trial: argparse name -> value."""
        return {dest: _copy(dim.value) for dest, dim in self.dims.items()
                if isinstance(dim, Fixed)}

    def describe(self) -> list[str]:
        """One line per option, as it would be written: ``--lr 1e-06:0.01:log``."""
        lines = []
        for dest, dim in self.dims.items():
            if dest == "batchnorm" and dim == Fixed(True):
                lines.append("--batchnorm")
            else:
                lines.append(f"{_flag(dest)} {_write(dest, dim)}")
        return lines

    def to_dict(self) -> dict[str, str]:
        """The space as JSON-able data: argparse name -> written form (``"1e-06:0.01:log"``);
        :meth:`from_dict` reads it back."""
        return {dest: _write(dest, dim) for dest, dim in self.dims.items()}

    def to_ray(self) -> dict[str, Any]:
        """Ray Tune's ``param_space``: argparse name -> value or Ray Tune domain.

        A fixed value stays as it is; a range becomes ``tune.uniform``, ``tune.loguniform``,
        ``tune.randint`` or ``tune.lograndint`` (integers with HIGH included); a choice
        ``tune.choice``. A hidden range becomes a domain whose samples are the lists
        ``[width] * depth``, drawn with Ray's random state, so each trial's ``config["hidden"]``
        is a list of ints, as for a fixed value or a choice.
        """
        from ray import tune

        space: dict[str, Any] = {}
        for dest, dim in self.dims.items():
            if isinstance(dim, Fixed):
                space[dest] = _copy(dim.value)
            elif isinstance(dim, Choice):
                space[dest] = tune.choice([_copy(value) for value in dim.values])
            elif dim.depth is not None:
                space[dest] = _widths(int(dim.low), int(dim.high), dim.log, dim.depth)
            elif dim.integer:  # Ray's upper bound is exclusive
                draw = tune.lograndint if dim.log else tune.randint
                space[dest] = draw(int(dim.low), int(dim.high) + 1)
            else:
                space[dest] = (tune.loguniform if dim.log else tune.uniform)(dim.low, dim.high)
        return space


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _tokens(dest: str, dim: Dimension) -> str:
    if not isinstance(dim, (Fixed, Range, Choice)):
        raise SpaceError(f"{_flag(dest)}: expected a Fixed, Range or Choice, got {dim!r}")
    return _write(dest, dim)


# -- Ray Tune: a hidden range ------------------------------------------------------------------

def _widths(low: int, high: int, log: bool, depth: int) -> Any:
    """A Ray Tune domain whose samples are ``[width] * depth``, ``width`` drawn from
    ``[low, high]`` (uniformly, or log-uniformly when ``log``) with Ray's random state."""
    return _widths_class()(low, high, log, depth)


@functools.cache
def _widths_class() -> type:
    """The class of :func:`_widths`'s domains, defined on first use so that importing this
    module does not import Ray. Its instances pickle as a call of :func:`_widths`."""
    import numpy as np
    from ray.tune.search.sample import Domain, Sampler

    class _WidthsSampler(Sampler):
        def sample(self, domain: Any, config: Any = None, size: int = 1,
                   random_state: Any = None) -> Any:
            if domain.log:  # floor of a log-uniform draw in [low, high + 1), as tune.lograndint
                draws = np.exp(random_state.uniform(np.log(domain.low), np.log(domain.high + 1),
                                                    size=size))
                widths = np.minimum(np.floor(draws), domain.high).astype(int)
            else:
                widths = random_state.integers(domain.low, domain.high + 1, size=size)
            items = [[int(width)] * domain.depth for width in widths]
            return items if size > 1 else items[0]

    class HiddenWidths(Domain):
        """``[width] * depth`` with ``width`` in ``[low, high]``."""

        default_sampler_cls = _WidthsSampler  # type: ignore[assignment]

        def __init__(self, low: int, high: int, log: bool, depth: int):
            self.low, self.high, self.log, self.depth = low, high, log, depth

        def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
            return _widths, (self.low, self.high, self.log, self.depth)

        def __repr__(self) -> str:
            return (f"HiddenWidths(low={self.low}, high={self.high}, log={self.log}, "
                    f"depth={self.depth})")

        def is_valid(self, value: Any) -> bool:
            return (isinstance(value, list) and len(value) == self.depth
                    and len(set(value)) == 1 and self.low <= value[0] <= self.high)

        @property
        def domain_str(self) -> str:
            return f"[{'log ' if self.log else ''}{self.low}..{self.high}]x{self.depth}"

    return HiddenWidths
