"""The syntax of ``kobai tune``'s search options: each ``kobai train`` option fixed, a range
or a choice.

The options are those of ``kobai train`` in :data:`kobai.nets.options.OPTIONS`: ``--net``,
``--hidden``, ``--activation``, ``--weight-decay``, ``--dropout``, ``--batchnorm``,
``--optimizer``, ``--lr``, ``--batch-size`` and ``--lr-schedule``. Each takes

- a fixed value, as in ``kobai train``: ``--lr 0.01``, ``--optimizer adam``, ``--hidden 100 100``
  (several tokens make one list), ``--batchnorm`` (no value: on; ``--batchnorm off``);
- a range, for the numeric options: ``LOW:HIGH`` uniform, ``LOW:HIGH:log`` log-uniform
  (``--lr 1e-6:1e-2:log``, ``--weight-decay 0:1e-3``, ``--dropout 0.1:0.5``). For the integer
  options (``--batch-size``, the widths of ``--hidden``) a range draws an integer in
  ``[LOW, HIGH]``, HIGH included (``--batch-size 32:256:log``);
- a choice, comma-separated: ``--optimizer sgd,adam``, ``--net mlp,cnn``,
  ``--batch-size 50,100,200``, ``--batchnorm on,off``, ``--dropout none,0.2,0.5`` (``none``: no
  dropout), ``--lr-schedule constant,step,cosine``.

Hidden layer sizes are written ``100x6`` (six layers of 100), ``100-50`` (100 then 50), or
``100x2-50``; choices of them ``--hidden 100x6,50x2,200``; and a range of widths with a fixed
depth ``--hidden 50:200x6`` or ``50:400:logx3``: one width is drawn for all the layers, as in the
book's nets. Anything else is refused with a :class:`SpaceError` naming the option.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..nets.options import OPTIONS, format_hidden, parse_hidden

__all__ = ["SYNTAX_HELP", "Choice", "Dimension", "Fixed", "Range", "SpaceError", "copy_value",
           "flag", "not_an_option", "parse_option", "write_dimension", "write_value"]

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


def flag(dest: str) -> str:
    """``--weight-decay`` for ``weight_decay``."""
    return f"--{dest.replace('_', '-')}"


def not_an_option(dest: str) -> SpaceError:
    """The error for ``dest``, which is not a search option."""
    return SpaceError(f"{flag(dest)} is not a search option; the options are "
                      f"{', '.join(map(flag, OPTIONS))}")


def copy_value(value: Any) -> Any:
    """A value of a dimension, as each trial gets its own (a hidden list copied)."""
    return list(value) if isinstance(value, list) else value


# -- reading one option -----------------------------------------------------------------------

def _float(text: str) -> float:
    """``float(text)``, or NaN when it is not a number (for checks made before the parse)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _value(dest: str, text: str) -> Any:
    """One fixed value of ``dest`` from its written form."""
    option = OPTIONS[dest]
    if option.kind == "hidden":
        return parse_hidden(text)
    if option.number is not None:
        if option.none and text == "none":
            return None
        return option.number.parse(text)
    if option.kind == "flag":
        if text not in ("on", "off"):
            raise ValueError(f"expected on or off, got {text!r}")
        return text == "on"
    if option.lower:
        text = text.lower()  # as kobai train's
    names = option.choices()
    if text not in names:
        raise ValueError(f"expected one of {', '.join(names)}, got {text!r}")
    return text


def _range(dest: str, text: str) -> Range:
    """``LOW:HIGH[:log]`` (for hidden: followed by ``xDEPTH``)."""
    option = OPTIONS[dest]
    assert option.number is not None
    depth = None
    if option.kind == "hidden":
        text, times, count = text.rpartition("x") if "x" in text else (text, "", "")
        try:
            depth = option.number.parse(count) if times else 1
        except ValueError:
            raise ValueError(f"expected a layer count after x (50:200x6), got {count!r}") from None
    parts = text.split(":")
    if len(parts) not in (2, 3) or parts[2:] not in ([], ["log"]):
        raise ValueError("expected LOW:HIGH or LOW:HIGH:log")
    log = len(parts) == 3
    if log and _float(parts[0]) <= 0:
        raise ValueError("a log range needs LOW > 0")
    low, high = (option.number.parse(part) for part in parts[:2])
    if low == high:
        raise ValueError(f"the range is empty (LOW must be < HIGH); for one value write {low}")
    if low > high:
        raise ValueError("the range is reversed (LOW must be < HIGH)")
    return Range(low, high, log=log, integer=option.kind in ("hidden", "int"), depth=depth)


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


def parse_option(dest: str, tokens: str | list[str] | None | bool) -> Dimension:
    """The search dimension that ``--DEST TOKENS`` writes (the syntax of the module docstring).

    Parameters
    ----------
    dest : str
        The option's argparse name, one of :data:`kobai.nets.options.OPTIONS`.
    tokens : str, list of str or bool
        As argparse gives them: a string; for ``hidden`` a list of strings (``nargs="+"``);
        for ``batchnorm`` True when given without a value.

    Raises
    ------
    SpaceError
        When the option is unknown or its value malformed; the message names the option.
    """
    if dest not in OPTIONS:
        raise not_an_option(dest)
    kind = OPTIONS[dest].kind
    written_flag = flag(dest)
    if isinstance(tokens, bool):
        if kind != "flag":
            raise SpaceError(f"{written_flag} needs a value")
        return Fixed(tokens)
    if isinstance(tokens, (int, float)):  # a value given as a number, e.g. from Python
        tokens = repr(tokens)
    if not isinstance(tokens, (str, list, tuple)):
        raise SpaceError(f"{written_flag}: expected the option's words, e.g. '1e-6:1e-2:log', "
                         f"got {tokens!r}")
    words = [tokens] if isinstance(tokens, str) else [str(word) for word in tokens]
    written = f"{written_flag} {' '.join(words)}".rstrip()
    if not words or "" in words:
        raise SpaceError(f"{written}: expected a value, a range or a choice")
    try:
        if len(words) > 1:
            if kind != "hidden":
                raise ValueError("expected one value, range or choice (write a choice as a,b)")
            if any(":" in word or "," in word for word in words):
                raise ValueError("several sizes make one list; write a range or a choice as "
                                 "one word (50:200x6, 100x6,50x2)")
            return Fixed(parse_hidden("-".join(words)))
        text = words[0]
        if "," in text:
            return _choice(dest, text)
        if ":" in text:
            if kind in ("name", "flag"):
                raise ValueError(f"{written_flag} takes a value or a choice (a,b), not a range")
            return _range(dest, text)
        return Fixed(_value(dest, text))
    except ValueError as exc:
        raise SpaceError(f"{written}: {exc}") from None


# -- writing one option -----------------------------------------------------------------------

def write_value(dest: str, value: Any) -> str:
    """The written form of one value of ``dest`` (what :func:`parse_option` reads back)."""
    kind = OPTIONS[dest].kind if dest in OPTIONS else None
    if kind == "hidden":
        return format_hidden(value)
    if kind == "flag":
        return "on" if value else "off"
    if value is None:
        return "none"
    if isinstance(value, float):
        return repr(value)  # round-trips exactly
    return str(value)


def write_dimension(dest: str, dim: Dimension) -> str:
    """The written form of ``dim`` (what :func:`parse_option` reads back to it)."""
    if isinstance(dim, Fixed):
        return write_value(dest, dim.value)
    if isinstance(dim, Choice):
        return ",".join(write_value(dest, value) for value in dim.values)
    low, high = (repr(end) if isinstance(end, float) else str(end) for end in (dim.low, dim.high))
    text = f"{low}:{high}"
    text += ":log" if dim.log else ""
    if dim.depth is not None and dim.depth != 1:
        text += f"x{dim.depth}"
    return text
