"""Reading a NumPy ``.npz`` archive safely: every member checked before its data is allocated.

The one reader under checkpoints (:mod:`kobai.io`) and parameter files
(:mod:`kobai.arrays_file`). ``np.load`` allocates what a ``.npy`` header says before reading,
so :meth:`NpzReader.check_members` reads every header first and compares it with its member,
and the member with the file. Nothing is unpickled (``allow_pickle=False``).

Examples
--------
>>> import io
>>> buf = io.BytesIO()
>>> np.savez(buf, W=np.ones((2, 3)))
>>> _ = buf.seek(0)
>>> with np.load(buf, allow_pickle=False) as npz:
...     reader = NpzReader(npz, ValueError)
...     reader.check_members()
...     reader.read("W", (2, 3), np.dtype(np.float64)).shape
(2, 3)
"""

from __future__ import annotations

import math
import os
import zipfile
from collections import Counter
from collections.abc import Callable
from typing import IO, Any

import numpy as np

__all__ = ["NUMERIC_KINDS", "ZIP_MAGIC", "NpzReader", "file_size", "npy_header"]

#: how a zip archive starts: its first member's local header, or an empty archive's end
ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
#: the dtype kinds of the arrays kobai reads and writes: bool, int, uint, float
NUMERIC_KINDS = "biuf"
_DEFLATE_RATIO = 1032  # deflate's highest compression ratio
_NPY_HEADER_ALLOWANCE = 4096  # an .npy member is its data plus a header of at most this
_PICKLED = "kobai never loads pickled data (it can run code)"


def npy_header(fp: IO[bytes]) -> tuple[tuple[int, ...], np.dtype]:
    """``(shape, dtype)`` from the header of a ``.npy`` stream (formats 1.0 and 2.0, the ones
    NumPy writes for numeric arrays), leaving ``fp`` at the data; ValueError otherwise."""
    fmt = np.lib.format
    version = fmt.read_magic(fp)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(fp)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(fp)
    else:
        raise ValueError(f".npy format {version[0]}.{version[1]}, which NumPy writes only for "
                         "arrays kobai does not read")
    return shape, dtype


def file_size(fh: Any) -> int:
    """The size in bytes of an open file, or of a stream such as ``io.BytesIO``."""
    try:
        return os.fstat(fh.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is both
        here = fh.tell()
        size = int(fh.seek(0, os.SEEK_END))
        fh.seek(here)
        return size


class NpzReader:
    """Reads the members of an open ``NpzFile``, checking sizes, shapes and dtypes first.

    Parameters
    ----------
    npz : numpy.lib.npyio.NpzFile
        From ``np.load(file, allow_pickle=False)``.
    error : callable
        Turns a message into the exception to raise, e.g.
        ``lambda message: CheckpointError(f"{path}: {message}")``.
    numeric_only : bool
        Refuse members that are not bool, integer or floating point (else only object
        arrays, which would need pickle, are refused).

    Attributes
    ----------
    headers : dict of str to (tuple of int, numpy.dtype)
        Each array's shape and dtype from its header, filled by :meth:`check_members`.
    """

    def __init__(self, npz: Any, error: Callable[[str], Exception], *,
                 numeric_only: bool = False):
        self.npz, self.error, self.numeric_only = npz, error, numeric_only
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    def check_members(self, max_bytes: int | None = None) -> None:
        """Read every member's header, refusing what does not fit its member or the file.

        Refused: a name held twice, a member that is not a ``.npy``, a member that declares
        more bytes than the file can hold, a header whose shape and dtype need other than the
        member's bytes, a dtype kobai does not read, and (with ``max_bytes``) arrays that
        declare more than ``max_bytes`` in all.
        """
        infos = self.npz.zip.infolist()
        counts = Counter(info.filename.removesuffix(".npy") for info in infos)
        twice = sorted(name for name, n in counts.items() if n > 1)
        if twice:
            raise self.error(f"names {twice[:5]} more than once; a kobai file holds each "
                             "array once (with two, which one is read is arbitrary)")
        size = file_size(self.npz.zip.fp)  # the archive file, however np.load opened it
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise self.error(f"the archive member {info.filename!r} is not a .npy array")
            self._check_size(info, size)
            self.headers[info.filename.removesuffix(".npy")] = self._header(info)
        declared = sum(info.file_size for info in infos)
        if max_bytes is not None and declared > max_bytes:
            raise self.error(f"its arrays declare {declared:,} bytes, more than the "
                             f"{max_bytes:,} the caller expects")

    def _check_size(self, info: zipfile.ZipInfo, size: int) -> None:
        ratio = 1 if info.compress_type == zipfile.ZIP_STORED else _DEFLATE_RATIO
        if info.compress_size > size or info.file_size > ratio * max(info.compress_size, 1):
            raise self.error(f"the archive member {info.filename!r} declares "
                             f"{info.file_size:,} bytes, more than the file holds")

    def _header(self, info: zipfile.ZipInfo) -> tuple[tuple[int, ...], np.dtype]:
        key = info.filename.removesuffix(".npy")
        with self.npz.zip.open(info) as fp:
            try:
                shape, dtype = npy_header(fp)
            except ValueError as exc:
                raise self.error(f"array {key!r} has an invalid .npy header: {exc}") from None
            data = info.file_size - fp.tell()
        if dtype.hasobject:
            raise self.error(f"array {key!r} holds pickled Python objects (dtype {dtype}); "
                             f"{_PICKLED}")
        if self.numeric_only and dtype.kind not in NUMERIC_KINDS:
            raise self.error(f"array {key!r} holds {dtype} data; kobai reads only bool, "
                             "integer and floating-point arrays")
        need = math.prod(shape) * dtype.itemsize
        if need != data:
            raise self.error(f"array {key!r}: its header says {dtype} of shape {shape} "
                             f"({need:,} bytes) but the file holds {data:,} bytes of data "
                             "for it")
        return shape, dtype

    def size(self, key: str) -> int:
        """The bytes of member ``key`` (its ``.npy`` header and data), uncompressed."""
        return int(self.npz.zip.getinfo(f"{key}.npy").file_size)

    def check(self, key: str, shape: tuple[int, ...] | None = None,
              dtype: np.dtype | None = None) -> None:
        """Refuse member ``key`` unless its size and header fit ``shape`` and ``dtype`` (where
        given), reading no data."""
        if shape is not None and dtype is not None:
            expected = math.prod(shape) * dtype.itemsize
            if self.size(key) > expected + _NPY_HEADER_ALLOWANCE:
                raise self.error(f"array {key!r} takes {self.size(key)} bytes but should be a "
                                 f"{dtype.name} array of shape {shape} ({expected} bytes)")
        header = self.headers.get(key)
        if header is not None:
            self._check(key, header[0], header[1], shape, dtype)

    def read(self, key: str, shape: tuple[int, ...] | None = None,
             dtype: np.dtype | None = None) -> np.ndarray:
        """The array ``key``, refused unless it has ``shape`` and ``dtype`` (where given)."""
        self.check(key, shape, dtype)  # before reading the data
        try:
            arr = self.npz[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise self.error(f"array {key!r} holds pickled Python objects; "
                                 f"{_PICKLED}") from None
            raise self.error(f"cannot read array {key!r}: {exc}") from None
        self._check(key, arr.shape, arr.dtype, shape, dtype)
        return arr

    def read_all(self) -> dict[str, np.ndarray]:
        """Every array checked by :meth:`check_members`, in the archive's order."""
        return {key: self.read(key) for key in self.headers}

    def _check(self, key: str, got_shape: tuple[int, ...], got_dtype: np.dtype,
               shape: tuple[int, ...] | None, dtype: np.dtype | None) -> None:
        if shape is not None and got_shape != shape:
            raise self.error(f"array {key!r} has shape {got_shape} but the network described "
                             f"in the metadata needs {shape}")
        if dtype is not None and got_dtype != dtype:
            raise self.error(f"array {key!r} is {got_dtype} but the metadata says {dtype.name}")
