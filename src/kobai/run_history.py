"""A run folder's history files: ``history.csv`` and ``history.json``, written after every
epoch while a run trains (so ``tail -f history.csv`` or a spreadsheet follows it) and read
back to draw the run again (``kobai plot RUN``).

Examples
--------
>>> trainer = Trainer(net, ..., callbacks=[SaveCheckpoint(out / "model.npz"),
...                                        SaveHistory(out)])  # doctest: +SKIP
>>> read_history(out).epoch  # doctest: +SKIP
3
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .history import History

__all__ = ["HISTORY_CSV", "HISTORY_JSON", "SaveHistory", "read_history", "write_history"]

HISTORY_CSV, HISTORY_JSON = "history.csv", "history.json"


def write_history(history: History, folder: str | os.PathLike[str]) -> list[Path]:
    """Write ``history`` as ``folder/history.csv`` and ``folder/history.json``, each
    atomically (a reader sees the previous file or the new one, never half of one).

    Returns
    -------
    list of pathlib.Path
        The two files, CSV first.
    """
    folder = Path(folder)
    csv_path, json_path = folder / HISTORY_CSV, folder / HISTORY_JSON
    history.to_csv(csv_path)
    history.to_json(json_path)
    return [csv_path, json_path]


def read_history(folder: str | os.PathLike[str]) -> History | None:
    """The history of a run folder: ``history.json`` (epochs and mini-batch losses), else
    ``history.csv`` (epochs only); None when the folder holds neither.

    Raises
    ------
    OSError
        A file cannot be read.
    ValueError
        A file is not a history written by kobai; the message names it.
    """
    folder = Path(folder)
    if (folder / HISTORY_JSON).is_file():
        return History.from_json(folder / HISTORY_JSON)
    if (folder / HISTORY_CSV).is_file():
        return History.from_csv(folder / HISTORY_CSV)
    return None


class SaveHistory:
    """Trainer callback: :func:`write_history` of the trainer's history after every epoch.

    Parameters
    ----------
    folder : str or path-like
        The run folder (it must exist).
    """

    def __init__(self, folder: str | os.PathLike[str]):
        self.folder = Path(folder)

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        write_history(trainer.history, self.folder)

    def __repr__(self) -> str:
        return f"SaveHistory({str(self.folder)!r})"
