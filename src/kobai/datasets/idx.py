"""Read and write IDX files, the format of the MNIST and Fashion-MNIST downloads.

An IDX file is a 4-byte magic number ``0x00 0x00 TT DD`` (``TT`` the element type, ``DD``
the number of dimensions), then ``DD`` big-endian uint32 sizes, then the elements in C
order, big-endian. ``.gz`` files are gzip-compressed IDX.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from math import prod
from typing import Protocol

import numpy as np

from kobai.datasets.errors import DatasetError

# IDX type code -> element type as stored (big-endian)
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_TYPE_NAMES = {0x08: "ubyte", 0x09: "byte", 0x0B: "short", 0x0C: "int", 0x0D: "float",
               0x0E: "double"}
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20
_EXTRA_LIMIT = 1 << 20  # bytes read past the announced data, to say how many there are


def _expected_codes() -> str:
    return ", ".join(f"0x{code:02X} ({name})" for code, name in _TYPE_NAMES.items())


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decode uncompressed IDX bytes into a native-endian array, checking every field.

    Parameters
    ----------
    data : bytes
        The whole uncompressed file.
    name : str
        What to call the data in error messages (usually the file path).

    Returns
    -------
    ndarray of shape given by the header
        A new, writable array of the header's type (uint8 for MNIST).

    Raises
    ------
    DatasetError
        Bad magic number, unknown type code, or a size that does not match the header.
    """
    return _read_stream(io.BytesIO(data), name, extra_limit=len(data))


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not, into an array.

    Decompressed when named ``.gz`` or starting with the gzip magic; streamed and checked
    against its header, never holding more than the header announces.

    Parameters
    ----------
    path : str or path-like
        e.g. ``train-images-idx3-ubyte.gz``.

    Returns
    -------
    ndarray
        Shape and dtype from the header, e.g. uint8 (60000, 28, 28) for MNIST's images.

    Raises
    ------
    DatasetError
        Bad gzip data or a bad IDX header or size; the message names the file.
    OSError
        The file cannot be read (e.g. ``FileNotFoundError``).
    """
    name = os.fspath(path)
    with _open_idx(name) as stream:
        return _read_stream(stream, name, extra_limit=_EXTRA_LIMIT)


def idx_content_sha256(path: str | os.PathLike[str],
                       max_bytes: int | None = None) -> tuple[int, str | None]:
    """SHA-256 of an IDX file's content: of its bytes once decompressed, the same for every
    gzip-compressed copy and for the uncompressed file.

    Parameters
    ----------
    path : str or path-like
        Compressed or not, as :func:`read_idx` decides.
    max_bytes : int, optional
        Stop reading once the content is known to be larger.

    Returns
    -------
    (int, str or None)
        The content's size in bytes and its hex SHA-256; ``(max_bytes + 1, None)`` when the
        content is larger than ``max_bytes``.

    Raises
    ------
    DatasetError
        Bad gzip data (the message names the file).
    """
    name = os.fspath(path)
    digest, size = hashlib.sha256(), 0
    with _open_idx(name) as stream:
        while chunk := stream.read(_CHUNK):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                return max_bytes + 1, None
            digest.update(chunk)
    return size, digest.hexdigest()


class _Stream(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


@contextmanager
def _open_idx(name: str) -> Iterator[_Stream]:
    """The file's content as a stream, decompressed when it is gzip (see :func:`read_idx`);
    bad gzip data read from it raise :class:`DatasetError`."""
    with open(name, "rb") as fh:
        magic = fh.read(2)
        fh.seek(0)
        if not (name.endswith(".gz") or magic == _GZIP_MAGIC):
            yield fh
            return
        if magic != _GZIP_MAGIC:
            raise DatasetError(f"{name}: not a gzip file (it does not start with 1F 8B); "
                               "expected a gzip-compressed IDX file")
        with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
            try:
                yield gz
            except (EOFError, OSError, zlib.error) as exc:  # BadGzipFile is an OSError
                raise DatasetError(f"{name}: corrupt or truncated gzip data ({exc}); "
                                   "delete the file and fetch it again") from exc


def _read_stream(stream: _Stream, name: str, extra_limit: int) -> np.ndarray:
    """Read one IDX file from ``stream``: the header, then exactly the data it announces.

    Data are read in chunks and never beyond the announced size, so the header's claim is
    checked against what the stream really holds before anything of that size is allocated;
    at most ``extra_limit`` bytes after the data are read to count them.
    """
    head = stream.read(4)
    if len(head) < 4:
        raise DatasetError(f"{name}: {len(head)} bytes is too short for an IDX file "
                           "(expected a 4-byte magic number, then the sizes, then the data)")
    if head[0] != 0 or head[1] != 0:
        magic = int.from_bytes(head, "big")
        raise DatasetError(f"{name}: not an IDX file: magic number is 0x{magic:08X}; expected "
                           "0x0000TTDD (type code TT, DD dimensions), e.g. 0x00000803 for images")
    code, ndim = head[2], head[3]
    if code not in IDX_DTYPES:
        raise DatasetError(f"{name}: unknown IDX type code 0x{code:02X}; "
                           f"expected one of {_expected_codes()}")
    if ndim == 0:
        raise DatasetError(f"{name}: IDX header declares 0 dimensions; expected at least 1")
    header = 4 + 4 * ndim
    sizes = stream.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise DatasetError(f"{name}: truncated header: {ndim} dimensions need {header} bytes "
                           f"but the file has {4 + len(sizes)}")
    shape = struct.unpack(f">{ndim}I", sizes)
    dtype = IDX_DTYPES[code]
    expected = prod(shape) * dtype.itemsize
    what = f"header says shape {shape} of {_TYPE_NAMES[code]} = {expected:,} bytes of data"
    data = bytearray()
    try:
        while len(data) < expected:
            chunk = stream.read(min(_CHUNK, expected - len(data)))
            if not chunk:
                break
            data += chunk
    except MemoryError:
        raise DatasetError(f"{name}: {what}, more than fits in memory") from None
    if len(data) < expected:
        raise DatasetError(f"{name}: truncated: {what}, but only {len(data):,} follow")
    extra = len(stream.read(extra_limit + 1))
    if extra > extra_limit:
        raise DatasetError(f"{name}: more than {extra_limit:,} unexpected bytes after the data "
                           f"({what}, but more than {expected + extra_limit:,} follow)")
    if extra:
        raise DatasetError(f"{name}: {extra:,} unexpected bytes after the data "
                           f"({what}, but {expected + extra:,} follow)")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)  # writable: data is a bytearray
    return array.astype(dtype.newbyteorder("="), copy=False)


def _idx_code(dtype: np.dtype) -> int:
    for code, stored in IDX_DTYPES.items():
        if dtype.kind == stored.kind and dtype.itemsize == stored.itemsize:
            return code
    names = ", ".join(str(t.newbyteorder("=")) for t in IDX_DTYPES.values())
    raise ValueError(f"IDX cannot hold dtype {dtype}; expected one of {names}")


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed when ``path`` ends with ``.gz``.

    Parameters
    ----------
    path : str or path-like
        Destination; an existing file is overwritten.
    array : array_like
        1 to 255 dimensions, each below 2**32, of dtype uint8, int8, int16, int32, float32
        or float64 (MNIST uses uint8).

    Raises
    ------
    ValueError
        For a dtype or shape IDX cannot hold.
    """
    array = np.asarray(array)
    code = _idx_code(array.dtype)
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX holds 1 to 255 dimensions; got an array of shape {array.shape}")
    if any(size >= 2**32 for size in array.shape):
        raise ValueError(f"IDX sizes must be below 2**32; got shape {array.shape}")
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes()
    name = os.fspath(path)
    if name.endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    with open(name, "wb") as fh:
        fh.write(data)
