"""The ``kobai`` command: a thin shell over the library, one module per subcommand.

Bad arguments and bad files get one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn, TextIO

from .. import __version__
from ..i18n import language, translate
from . import book, evaluate, export, gradcheck, plot, predict, simplenet, train, tune
from ._common import CliError

COMMANDS = (train, evaluate, plot, predict, export, simplenet, gradcheck, book, tune)


class _WideFormatter(argparse.HelpFormatter):
    """Help wrapped by display width: a Japanese character takes two columns, and a line may
    break between two of them (Japanese has no spaces between words)."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrap(" ".join(text.split()), width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for paragraph in text.split("\n")
                         for line in (_wrap(paragraph, width - len(indent)) or [""]))


#: what a Japanese line does not start with (kinsoku): it stays at the end of the line before
_NO_LINE_START = frozenset("、。，．）」』】・：:;,.)")


def _wrap(text: str, width: int) -> list[str]:
    import unicodedata

    def cols(ch: str) -> int:
        return 2 if unicodedata.east_asian_width(ch) in "WF" else 1

    lines: list[str] = []
    line, used = "", 0
    # pieces: a run of ASCII without spaces stays whole; each wide character is a piece
    for piece in re.findall(r"[^\s\u1100-\uffff]+|\s+|[\u1100-\uffff]", text):
        size = sum(cols(ch) for ch in piece)
        if used + size > width and line.strip() and piece not in _NO_LINE_START:
            lines.append(line.rstrip())
            line, used = "", 0
            if piece.isspace():
                continue
        line += piece
        used += size
    if line.strip():
        lines.append(line.rstrip())
    return lines


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, naming the subcommand's --help, and whose
    help is in the language of :func:`kobai.i18n.language`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if language() == "ja":
            kwargs.setdefault("formatter_class", _WideFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")

    def format_usage(self) -> str:
        return _usage_words(super().format_usage())

    def format_help(self) -> str:
        return _usage_words(super().format_help())


def _usage_words(text: str) -> str:
    """argparse's own heading ``usage:`` in the help's language."""
    if language() == "ja" and text.startswith("usage: "):
        return "使い方: " + text[len("usage: "):]
    return text


def translate_parser(parser: argparse.ArgumentParser) -> None:
    """Put every description, group title and option help of ``parser`` and its subcommands
    into the language of :func:`kobai.i18n.language` (the catalogue's words; a text it lacks
    stays English)."""
    parser.description = translate(parser.description) if parser.description else None
    for group in parser._action_groups:
        group.title = translate(group.title) if group.title else group.title
        group.description = translate(group.description) if group.description else None
    for action in parser._actions:
        if action.help and action.help is not argparse.SUPPRESS:
            action.help = translate(action.help)
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                choice.help = translate(choice.help) if choice.help else choice.help
            for sub in action.choices.values():
                translate_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="kobai",
        description="kobai (勾配): gradients of neural-network losses by central differences "
                    "and backpropagation, checked against each other, and trained on MNIST "
                    "(Deep Learning from Scratch, chapters 3-8).")
    parser.add_argument("--version", action="version", version=f"kobai {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        command.add_parser(sub)
    if language() != "en":
        translate_parser(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kobai`` with ``argv`` (default ``sys.argv[1:]``) and return the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        with _library_messages():
            return int(args.run(args) or 0)
    except CliError as exc:
        print(f"kobai: {translate('error')}: {translate(str(exc))}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print(f"kobai: {translate('interrupted')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. kobai evaluate ... | head
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass  # StreamHandler.__init__ sets it; always use sys.stderr


@contextmanager
def _library_messages() -> Iterator[None]:
    """Show kobai's log messages (e.g. "downloading ...") on stderr while a command runs.

    Only then: ``main()`` called in a process that goes on (a notebook, a test) leaves the
    library silent again afterwards, as a library should be.
    """
    logger = logging.getLogger("kobai")
    if any(isinstance(h, _StderrHandler) for h in logger.handlers):  # main() within main()
        yield
        return
    handler, level = _StderrHandler(), logger.level
    handler.setFormatter(logging.Formatter("kobai: %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
