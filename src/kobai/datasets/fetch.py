"""Make sure the four MNIST or Fashion-MNIST files are on disk and are the published ones."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from kobai.datasets.download import download, sha256_file
from kobai.datasets.errors import DatasetError, DownloadError
from kobai.datasets.sources import (
    MIRRORS_ENV,
    MNIST_FILES,
    SHA256,
    check_source,
    default_data_dir,
    mirrors_for,
)


def fetch_mnist(source: str = "mnist", data_dir: str | os.PathLike[str] | None = None, *,
                mirrors: Iterable[str] | None = None, checksums: Mapping[str, str] | None = None,
                timeout: float = 30.0) -> dict[str, Path]:
    """Return the paths of ``source``'s four ``.gz`` files, downloading those that are missing.

    A file already in ``data_dir`` is checked against its SHA-256 and never replaced; a
    missing one is downloaded from the mirrors (see :func:`kobai.datasets.download.download`).

    Parameters
    ----------
    source : {"mnist", "fashion-mnist"}
    data_dir : str or path-like, optional
        Folder of the four files; default ``$KOBAI_HOME/datasets/<source>``
        (``KOBAI_HOME`` defaults to ``~/.cache/kobai``).
    mirrors : iterable of str, optional
        Base URLs to try in order; default from ``$KOBAI_MNIST_MIRRORS`` or
        ``$KOBAI_FASHION_MNIST_MIRRORS`` (comma or space separated; set but empty means
        "do not download"), else :data:`kobai.datasets.sources.DEFAULT_MIRRORS`.
    checksums : mapping of str to str, optional
        File name -> expected SHA-256; default the published ones in
        :data:`kobai.datasets.sources.SHA256`.
    timeout : float
        Seconds to wait for a connection or for each read.

    Returns
    -------
    dict of str to Path
        File name -> path, for the names in :data:`MNIST_FILES`.

    Raises
    ------
    DatasetError
        A file on disk has the wrong SHA-256.
    DownloadError
        A missing file could not be downloaded; the message says what each mirror answered
        and which files to put in which folder to work offline.
    """
    check_source(source)
    folder = default_data_dir(source) if data_dir is None else Path(data_dir).expanduser()
    checksums = SHA256[source] if checksums is None else checksums
    mirrors = mirrors_for(source) if mirrors is None else tuple(mirrors)
    paths = {}
    for name in MNIST_FILES:
        path = folder / name
        if path.is_file():
            _verify(path, checksums[name], source)
        else:
            try:
                download(name, folder, mirrors, checksums[name], timeout=timeout)
            except DownloadError as exc:
                raise DownloadError(f"{exc}\n{offline_help(source, folder)}") from None
        paths[name] = path
    return paths


def offline_help(source: str, folder: Path) -> str:
    """How to provide ``source``'s files without a download."""
    files = "\n".join(f"  {name}" for name in MNIST_FILES)
    return (f"To work offline, put the four published {source} files in {folder}:\n{files}\n"
            f"(or pass data_dir=, set KOBAI_HOME, or set {MIRRORS_ENV[source]} to mirrors that "
            "work; source='sample' needs no download)")


def _verify(path: Path, expected: str, source: str) -> None:
    actual = sha256_file(path)
    if actual != expected.lower():
        raise DatasetError(f"{path}: SHA-256 is {actual}, expected {expected} (the published "
                           f"{source} {path.name}); the file is corrupt, truncated or from "
                           "another data set: delete it to download it again")
