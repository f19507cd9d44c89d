"""The ``kobai`` command: a thin shell over the library, one module per subcommand.

Bad arguments and bad files get one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn, TextIO

from .. import __version__
from . import book, evaluate, export, gradcheck, plot, predict, simplenet, train, tune
from ._common import CliError

COMMANDS = (train, evaluate, plot, predict, export, simplenet, gradcheck, book, tune)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, naming the subcommand's --help."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{message} (see '{self.prog} --help')")


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
        print(f"kobai: error: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        print("kobai: interrupted", file=sys.stderr)
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
