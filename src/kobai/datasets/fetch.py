"""Make sure the four MNIST or Fashion-MNIST files are on disk and are the genuine ones.

A file is genuine when its SHA-256 is the published ``.gz`` file's (a quick accept), or when
the SHA-256 of its content, decompressed, is the one recorded in
:data:`kobai.datasets.sources.IDX_SHA256`. The content is the same for the published file,
for any other gzip of it (a mirror's, a re-packaged copy, a user's own ``gzip``) and for the
uncompressed file, so all of these are accepted.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kobai.datasets.download import download, sha256_file
from kobai.datasets.errors import DatasetError, DownloadError
from kobai.datasets.idx import idx_content_sha256
from kobai.datasets.sources import (
    IDX_SHA256,
    IDX_SIZES,
    MIRRORS_ENV,
    MNIST_FILES,
    SHA256,
    check_source,
    default_data_dir,
    local_names,
    mirrors_for,
)

_GZIP_MAGIC = b"\x1f\x8b"


def fetch_mnist(source: str = "mnist", data_dir: str | os.PathLike[str] | None = None, *,
                mirrors: Iterable[str] | None = None, checksums: Mapping[str, str] | None = None,
                timeout: float = 30.0, deadline: float | None = None,
                progress: bool = True, files: Iterable[str] | None = None) -> dict[str, Path]:
    """Return the paths of ``source``'s four files (or of ``files``), downloading those
    that are missing.

    A file is found in ``data_dir`` as ``.gz``, uncompressed or under the variant name
    (``train-images.idx3-ubyte``) and checked, never replaced; a missing one is downloaded
    (:func:`kobai.datasets.download.download`).

    Parameters
    ----------
    source : {"mnist", "fashion-mnist"}
    data_dir : str or path-like, optional
        Folder of the four files; default ``$KOBAI_HOME/datasets/<source>``
        (``KOBAI_HOME`` defaults to ``~/.cache/kobai``).
    mirrors : iterable of str, optional
        Base URLs to try in order; default ``$KOBAI_MNIST_MIRRORS`` /
        ``$KOBAI_FASHION_MNIST_MIRRORS`` (comma or space separated; empty: no download), else
        :data:`kobai.datasets.sources.DEFAULT_MIRRORS`.
    checksums : mapping of str to str, optional
        File name (as in :data:`MNIST_FILES`) -> SHA-256 of the file or its decompressed
        content; default :data:`kobai.datasets.sources.SHA256` and ``IDX_SHA256``.
    timeout : float
        Seconds to wait for a connection or for each read.
    deadline : float, optional
        Seconds one mirror may take for one whole file; default 60 s + 1 s per 100 kB.
    progress : bool
        Show a progress bar (:func:`kobai._progress.progress_bar`) for each file that is
        downloaded.
    files : iterable of str, optional
        Only these of :data:`MNIST_FILES` (e.g. the two test files); default all four.

    Returns
    -------
    dict of str to Path
        File name in :data:`MNIST_FILES` (those of ``files``) -> path of the file found or
        downloaded.

    Raises
    ------
    DatasetError
        A file on disk is not genuine, or holds bad gzip data.
    DownloadError
        A missing file could not be downloaded from any mirror.
    """
    check_source(source)
    folder = default_data_dir(source) if data_dir is None else Path(data_dir).expanduser()
    mirrors = mirrors_for(source) if mirrors is None else tuple(mirrors)
    wanted = MNIST_FILES if files is None else tuple(files)
    unknown = [name for name in wanted if name not in MNIST_FILES]
    if unknown:
        raise ValueError(f"files has {unknown}; expected names among {list(MNIST_FILES)}")
    paths = {}
    for name in wanted:
        genuine = _Genuine.of(source, name, checksums)
        path = _find(folder, name)
        if path is not None:
            problem = genuine.problem(path)
            if problem is not None:
                raise DatasetError(f"{path}: {problem}. It is corrupt, truncated or from another "
                                   f"data set: {_REPLACE}")
        else:
            try:
                path = download(name, folder, mirrors, genuine.file_sha256, timeout=timeout,
                                deadline=deadline, max_bytes=genuine.max_download_bytes,
                                verify=genuine.download_problem, progress=progress)
            except DownloadError as exc:
                raise DownloadError(f"{exc}\n{offline_help(source, folder, wanted)}") from None
        paths[name] = path
    return paths


_REPLACE = ("replace it with a genuine copy (compressed or not), delete it to download it "
            "again, or read the files from another folder (--data-dir on the command line, "
            "data_dir= in Python)")


def offline_help(source: str, folder: Path, names: Iterable[str] = MNIST_FILES) -> str:
    """How to provide ``source``'s files (``names``, default all four) without a download."""
    names = tuple(names)
    files = "\n".join(f"  {name}" for name in names)
    count = {1: "one", 2: "two", 4: "four"}.get(len(names), str(len(names)))
    _, base, variant = local_names(MNIST_FILES[0])
    uncompressed = (f"\n(uncompressed files are read too, named like {base} or {variant})"
                    if source in IDX_SHA256 else "")
    return (f"To work offline, put the {count} published {source} files in {folder}:\n{files}"
            f"{uncompressed}\nor read them from another folder (--data-dir on the command "
            f"line, data_dir= in Python), set KOBAI_HOME, or set {MIRRORS_ENV[source]} to "
            "mirrors that work; the bundled sample (--dataset sample, source='sample') needs "
            "no download")


def _find(folder: Path, name: str) -> Path | None:
    """The first of ``name``'s local names (see ``local_names``) that is a file in ``folder``."""
    for candidate in local_names(name):
        if (folder / candidate).is_file():
            return folder / candidate
    return None


def gzip_bound(size: int) -> int:
    """The most bytes a gzip file of ``size`` bytes of content can take.

    Deflate stores incompressible data in blocks of at most 65,535 bytes with 5 bytes of
    overhead each; gzip adds a header (10 bytes, plus an optional name or comment) and an
    8-byte trailer. 64 KiB covers the header with room to spare.
    """
    return size + 5 * (size // 65_535 + 1) + 65_536


@dataclass(frozen=True)
class _Genuine:
    """What the genuine file ``name`` of ``source`` looks like."""

    source: str
    name: str
    file_sha256: str  # the whole file's: quick accept, and what a download is checked against
    content_sha256: str | None  # the decompressed content's, when known
    content_size: int | None

    @classmethod
    def of(cls, source: str, name: str, checksums: Mapping[str, str] | None) -> _Genuine:
        size = IDX_SIZES.get(source, {}).get(name)
        if checksums is not None:
            if name not in checksums:
                raise ValueError(f"checksums has no SHA-256 for {name}; expected one for each "
                                 f"of {list(MNIST_FILES)}")
            value = checksums[name].lower()
            return cls(source, name, value, value, size)
        content = IDX_SHA256.get(source, {}).get(name)
        return cls(source, name, SHA256[source][name].lower(),
                   None if content is None else content.lower(), size)

    @property
    def max_download_bytes(self) -> int | None:
        return None if self.content_size is None else gzip_bound(self.content_size)

    def problem(self, path: Path) -> str | None:
        """None when the file at ``path`` is genuine, else what is wrong with it."""
        actual = sha256_file(path)
        if actual in (self.file_sha256, self.content_sha256):
            return None
        if self.content_sha256 is None:
            return (f"SHA-256 is {actual}, expected {self.file_sha256} (the published "
                    f"{self.source} {self.name}); kobai records no checksum of {self.source}'s "
                    "decompressed files, so only the published .gz files are accepted")
        size, digest = idx_content_sha256(path, self.content_size)
        return self._compare(size, digest, "decompressed, " if _is_gzip(path) else "")

    def download_problem(self, tmp: Path) -> str | None:
        """For :func:`download`: None when a downloaded ``.gz`` whose SHA-256 is not the
        published one holds the genuine content, else what is wrong with it."""
        if self.content_sha256 is None:
            return ""
        if not _is_gzip(tmp):
            return "it is not gzip data"
        try:
            size, digest = idx_content_sha256(tmp, self.content_size)
        except DatasetError:
            return "its gzip data are corrupt or truncated"
        return self._compare(size, digest, "decompressed, ")

    def _compare(self, size: int, digest: str | None, how: str) -> str | None:
        """None when the content's SHA-256 is the genuine one (only reading up to one byte
        more than the genuine size, so ``digest`` is None for a larger content)."""
        if digest == self.content_sha256:
            return None
        genuine = f"the genuine {self.source} {self.name.removesuffix('.gz')}"
        if digest is None:
            return (f"{how}it is larger than the {self.content_size:,} bytes of {genuine} "
                    f"(SHA-256 {self.content_sha256})")
        size_note = "" if self.content_size is None else f", {self.content_size:,} bytes"
        return (f"{how}SHA-256 is {digest} for its {size:,} bytes, expected "
                f"{self.content_sha256} ({genuine}{size_note})")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC
