"""Run folders of ``kobai train`` and ``kobai tune``: unique names, never overwritten, never
left empty.

* Without ``--out``, a run gets ``runs/<YYYYmmdd-HHMMSS>/``, or ``...-2/``, ``...-3/`` when that
  name is taken: each folder is claimed with an atomic ``mkdir``, so two runs started in the
  same second (even at once, in two processes) never share one.
* A folder holding a run (any of :data:`RUN_FILES`) is not written into, unless with
  ``--force`` (its run files are then removed first, so it never mixes two runs) or when the
  run continues itself (``--resume DIR/model.npz --out DIR``).
* Folders a run created are removed again if they are still empty when it ends (it failed
  before saving anything); a run that failed after an epoch keeps what it saved.
"""

from __future__ import annotations

import itertools
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["DERIVED_FILES", "RUNS_ROOT", "RUN_FILES", "check_out", "claim_folder", "run_folder"]

#: the files that make a folder a run: writing there would replace an earlier run's results
RUN_FILES = ("model.npz", "history.csv", "history.json")
#: drawn from the run files (by kobai train, plot and evaluate); removed with them by --force
DERIVED_FILES = ("learning_curve.png", "confusion.png", "filters-before.png",
                 "filters-after.png")
RUNS_ROOT = Path("runs")


def check_out(out: Path, *, force: bool, resuming: Path | None) -> bool:
    """Refuse to write a run into ``out`` if that would overwrite another run.

    ``resuming`` is the checkpoint being resumed: continuing it in its own folder is allowed.
    Returns whether an earlier run's files in ``out`` are to be removed first (``--force``).
    A ValueError says why ``out`` cannot take the run.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; --out names the run's folder")
    model = out / "model.npz"
    if model.exists() and not model.is_file():
        raise ValueError(f"{model} is not a file (kobai train saves its checkpoint there); "
                         "choose another --out")
    if resuming is not None and resuming.resolve() == model.resolve():
        return False  # the run continues itself: its files are its own
    found = [name for name in RUN_FILES if (out / name).is_file()]
    if found and not force:
        raise ValueError(f"{out} already holds a run ({', '.join(found)}); kobai train does "
                         f"not overwrite it: choose another --out, continue it with --resume "
                         f"{out} --out {out}, or replace it with --force")
    return bool(found)


@contextmanager
def run_folder(out: Path | None, *, replace: bool) -> Iterator[Path]:
    """Create the run's folder (a new ``runs/<timestamp>`` when ``out`` is None) for the block.

    With ``replace`` (``--force``), the run files of an earlier run in ``out`` are set aside
    first and removed once the new run has saved its model — or put back if it stops before
    that. The folders created here are removed at the end if the block left them empty.
    An OSError (or ValueError) before the block starts: the folder could not be created.
    """
    created: list[Path] = []
    backup: Path | None = None
    try:
        if out is None:
            folder = _new_folder(created)
        else:
            _mkdirs(out, created)
            folder = out
        if replace:  # set aside until the new run has saved a model
            backup = folder / f".replaced-{secrets.token_hex(4)}"
            backup.mkdir()
            for name in RUN_FILES + DERIVED_FILES:
                if (folder / name).exists():
                    (folder / name).rename(backup / name)
        yield folder
    finally:
        if backup is not None:
            _settle(folder, backup)
        for directory in reversed(created):
            try:
                directory.rmdir()  # only if empty: a run that saved something keeps it
            except OSError:
                break


def _settle(folder: Path, backup: Path) -> None:
    """After a --force run: drop the earlier run's files once the new run saved a model, else
    (it failed or was interrupted before its first save) put them back."""
    if (folder / "model.npz").exists():
        shutil.rmtree(backup, ignore_errors=True)
        return
    for item in backup.iterdir():
        if not (folder / item.name).exists():
            item.rename(folder / item.name)
    shutil.rmtree(backup, ignore_errors=True)


def _mkdirs(path: Path, created: list[Path]) -> None:
    """``mkdir -p path``, recording each folder it creates (outermost first)."""
    missing = [p for p in (path, *path.parents) if not p.exists()]
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            if not directory.is_dir():
                raise
            continue
        created.append(directory)


def claim_folder(prefix: str = "") -> Path:
    """A new ``runs/<prefix><YYYYmmdd-HHMMSS>[-n]`` folder, created atomically (``mkdir``):
    exactly one process gets each name."""
    return _new_folder([], prefix)


def _new_folder(created: list[Path], prefix: str = "") -> Path:
    _mkdirs(RUNS_ROOT, created)
    stamp = prefix + time.strftime("%Y%m%d-%H%M%S")
    for n in itertools.count(1):
        folder = RUNS_ROOT / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            folder.mkdir()  # atomic: exactly one process gets each name
        except FileExistsError:
            continue
        created.append(folder)
        return folder
    raise AssertionError("unreachable")  # pragma: no cover
