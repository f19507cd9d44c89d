"""Atomic writes, under every file kobai writes (checkpoints, parameter files, histories).

It imports nothing of kobai, so the checkpoint files (which know the networks) and the arrays
files (which the networks use for ``save_params``/``load_params``) can share it without
importing each other; :mod:`kobai.npz` is the reader they share.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

__all__ = ["atomic_write"]

_STALE_TMP_SECONDS = 60.0  # a temporary file untouched this long has no live writer


@contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Open a binary file that replaces ``path`` only once the ``with`` block succeeds.

    The data goes to a new temporary file in the same directory, which is flushed, fsync'ed
    and renamed over ``path`` (``os.replace``, atomic on POSIX and Windows); the directory is
    then fsync'ed where the platform allows. If the block raises (or the process dies), the
    previous ``path`` is untouched and the temporary file is removed (or, after a crash, left
    as a hidden ``.<name>.<12 hex digits>.tmp``, which the next write of ``path`` deletes once
    it is 60 seconds old).

    Examples
    --------
    >>> with atomic_write("history.json") as fh:  # doctest: +SKIP
    ...     fh.write(b"{}")
    """
    path = Path(path)
    directory = path.parent
    if not directory.is_dir():
        raise FileNotFoundError(f"cannot write {path}: the directory {directory} does not "
                                "exist")
    _remove_stale_temporaries(path)
    tmp = directory / f".{path.name}.{secrets.token_hex(6)}.tmp"
    # O_EXCL: never follow or clobber an existing file; mode 0o666 lets the umask apply.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _remove_stale_temporaries(path: Path) -> None:
    """Delete the leftovers of writes of ``path`` that died (see :func:`atomic_write`)."""
    # Only regular files named exactly .<name>.<12 hex digits>.tmp for this name, untouched
    # for 60 s: a live writer modifies its file within seconds, so an old one belongs to a
    # writer that died (one that paused for a minute loses its file and fails at the rename,
    # never leaving a corrupt path). The age, not a process id: ids are reused and mean
    # nothing across machines sharing a folder.
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{12}}\.tmp")
    cutoff = time.time() - _STALE_TMP_SECONDS
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        if not pattern.fullmatch(name):
            continue
        leftover = path.parent / name
        with suppress(OSError):  # gone meanwhile, or not ours to delete: leave it
            info = leftover.lstat()
            if stat.S_ISREG(info.st_mode) and info.st_mtime < cutoff:
                leftover.unlink()


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; not possible on every platform (Windows), so best effort."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
