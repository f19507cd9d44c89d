"""The Trainer's progress bar: tqdm in a terminal, a widget in Jupyter, and in a Jupyter
kernel without ipywidgets one line of text updated in place.

``tqdm.auto`` in a kernel without ipywidgets warns (``TqdmWarning: IProgress not found``) and
falls back to the terminal bar, whose carriage returns and blanking become dozens of stale
stream fragments among the epoch table. :func:`progress_bar` instead draws that bar into a
single ``display`` output (``IPython.display``, already loaded in a kernel) that each refresh
replaces, so a finished cell holds the last state of the bar and the table, nothing else.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from tqdm.std import tqdm as std_tqdm

__all__ = ["in_jupyter_kernel", "progress_bar"]


def in_jupyter_kernel() -> bool:
    """True in a Jupyter kernel with a notebook front end (as ``tqdm.autonotebook`` tells:
    an ``ipykernel`` shell that is not Qt console or Spyder)."""
    if "ipykernel.zmqshell" not in sys.modules or "IPython" not in sys.modules:
        return False
    if any(k == "QT_API" or k.startswith("SPYDER") for k in os.environ):
        return False
    shell = sys.modules["IPython"].get_ipython()
    name = type(shell).__name__.lower()
    return shell is not None and "qt" not in name and "spyder" not in name


class _DisplayLine:
    """A file for tqdm's terminal bar: the text after the last carriage return, shown in one
    ``display`` output that each flush updates (created at the first visible text)."""

    encoding = "utf-8"  # tqdm draws its block characters, not '#'

    def __init__(self) -> None:
        self._line = ""
        self._shown: str | None = None
        self._handle: Any = None

    def write(self, text: str) -> int:
        self._line = (self._line + text).rsplit("\r", 1)[-1].rsplit("\n", 1)[-1]
        return len(text)

    def flush(self) -> None:
        line = self._line.rstrip()
        if line == self._shown or (self._handle is None and not line):
            return
        from IPython.display import display

        data = {"text/plain": line}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)
        self._shown = line


class _DisplayTqdm(std_tqdm):  # type: ignore[misc]
    """tqdm's terminal bar drawn into one notebook output, updated in place."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.update(file=_DisplayLine(), dynamic_ncols=False, ncols=100)
        super().__init__(*args, **kwargs)


def progress_bar(**kwargs: Any) -> Any:
    """A tqdm bar for where this runs, from ``tqdm``'s keyword arguments.

    In a terminal tqdm's own; in Jupyter ``tqdm.notebook``'s widget when ipywidgets is
    installed, else the terminal bar as one line of text
    updated in place, without tqdm's warning. ``bar.write(text)`` prints a line above it.
    """
    if not in_jupyter_kernel():
        return std_tqdm(**kwargs)
    if importlib.util.find_spec("ipywidgets") is not None:
        from tqdm.notebook import tqdm as notebook_tqdm

        return notebook_tqdm(**kwargs)
    return _DisplayTqdm(**kwargs)
