"""The search space of ``kobai tune``: one dimension per ``kobai train`` option, with the
book's defaults for the options left out, checked by building each network combination.

The syntax of the options is :mod:`kobai.tune.syntax`'s; the options themselves are those of
:data:`kobai.nets.options.OPTIONS`. Options left out follow the book's random search
(chapter 6.5, ``ch06/hyperparameter_optimization.py``; :data:`BOOK_DEFAULTS`): MultiLayerNet
with six hidden layers of 100, ReLU, SGD, batches of 100, lr 10^[-6, -2] and weight decay
10^[-8, -4], both log-uniform. The network's defaults (``--hidden``, ``--activation``,
``--weight-decay``) apply only when every ``--net`` value is ``mlp``; for the other nets an
option left out stays unset, and the net's own default applies (as in ``kobai train``).
Dropout and batch normalization are off unless given.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Mapping
from typing import Any

from ..nets import options as _table
from ..nets.options import NETWORK_OPTIONS
from .syntax import (
    SYNTAX_HELP,
    Choice,
    Dimension,
    Fixed,
    Range,
    SpaceError,
    copy_value,
    flag,
    not_an_option,
    parse_option,
    write_dimension,
    write_value,
)

__all__ = ["BOOK_DEFAULTS", "OPTIONS", "SYNTAX_HELP", "Choice", "Dimension", "Fixed", "Range",
           "SearchSpace", "SpaceError", "parse_option"]

#: the search options, by argparse name, in the order spaces keep them
OPTIONS: tuple[str, ...] = tuple(_table.OPTIONS)


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
        pairs: list[tuple[Any, str]] = [([int(dim.low)] * dim.depth, write_dimension(dest, dim))]
    elif isinstance(dim, Range):
        pairs = [(value, write_dimension(dest, dim)) for value in (dim.low, dim.high)]
    elif isinstance(dim, Fixed):
        pairs = [(dim.value, write_dimension(dest, dim))]
    else:
        pairs = [(value, write_value(dest, value)) for value in dim.values]
    unique: dict[Any, tuple[Any, str]] = {}
    for value, text in pairs:
        unique.setdefault(_kind(value), (value, text))
    return list(unique.values())


def _build(combination: Mapping[str, tuple[Any, str]]) -> None:
    """Build the network of ``combination`` (dest -> (value, written form)); a SpaceError
    naming the options when it cannot be built."""
    values = {dest: combination.get(dest, (None, ""))[0] for dest in NETWORK_OPTIONS}
    narrow = dict(values)
    if values["hidden"] is not None:  # narrow layers: quick to build, whatever the widths
        narrow["hidden"] = [min(width, _CHECK_WIDTH) for width in values["hidden"]]
    refusal = _refusal(narrow)
    if refusal is None:
        return
    # the same refusal with the user's widths, for the message: the options are checked first
    refusal = _refusal(values) or refusal
    given = [f"{flag(dest)} {text}".rstrip() for dest, (value, text) in combination.items()
             if value is not None and dest != "net"]
    net = combination.get("net", (None, ""))[1]
    names = ([f"--net {net}"] if net else []) + given
    where = f"{names[0]} with {', '.join(names[1:])}" if len(names) > 1 else names[0]
    raise SpaceError(f"{where}: {refusal}")


def _refusal(values: Mapping[str, Any]) -> str | None:
    """Why the network options ``values`` (dest -> value) build no network, as ``kobai
    train`` says it; None when they build one."""
    import numpy as np

    try:
        _table.build_net(argparse.Namespace(**values), dtype=np.float32, rng=0)
    except _table.NetOptionsError as exc:
        return str(exc)
    except (ValueError, TypeError, KeyError) as exc:
        return f"cannot build the network: {exc}"
    return None


def _check_networks(dims: Mapping[str, Dimension]) -> None:
    """Build the network of each combination of the network options' values: first each
    option alone with each --net value (so that a refusal names the culprit), then all of them
    together, up to ``_MAX_COMBINATIONS`` combinations."""
    samples = {dest: _samples(dest, dims.get(dest)) for dest in NETWORK_OPTIONS}
    nets = samples["net"]
    for net in nets:
        for dest in NETWORK_OPTIONS:
            for sample in samples[dest] if dest != "net" else ():
                if sample[0] is not None:
                    _build({"net": net, dest: sample})
    combinations = itertools.product(*samples.values())
    for combination in itertools.islice(combinations, _MAX_COMBINATIONS):
        _build(dict(zip(NETWORK_OPTIONS, combination, strict=True)))


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
            raise not_an_option(unknown[0])
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
        return {dest: copy_value(dim.value) for dest, dim in self.dims.items()
                if isinstance(dim, Fixed)}

    def describe(self) -> list[str]:
        """One line per option, as it would be written: ``--lr 1e-06:0.01:log``."""
        lines = []
        for dest, dim in self.dims.items():
            if _table.OPTIONS[dest].kind == "flag" and dim == Fixed(True):
                lines.append(flag(dest))
            else:
                lines.append(f"{flag(dest)} {write_dimension(dest, dim)}")
        return lines

    def to_dict(self) -> dict[str, str]:
        """The space as JSON-able data: argparse name -> written form (``"1e-06:0.01:log"``);
        :meth:`from_dict` reads it back."""
        return {dest: write_dimension(dest, dim) for dest, dim in self.dims.items()}

    def to_ray(self) -> dict[str, Any]:
        """Ray Tune's ``param_space``: :func:`kobai.tune.ray_space.to_ray` of the dimensions."""
        from .ray_space import to_ray

        return to_ray(self.dims)


def _tokens(dest: str, dim: Dimension) -> str:
    if not isinstance(dim, (Fixed, Range, Choice)):
        raise SpaceError(f"{flag(dest)}: expected a Fixed, Range or Choice, got {dim!r}")
    return write_dimension(dest, dim)
