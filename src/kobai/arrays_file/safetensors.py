"""safetensors files, read and written with NumPy alone (no ``safetensors`` package needed).

The format (huggingface/safetensors): an 8-byte little-endian header length ``n``; ``n`` bytes
of UTF-8 JSON, ``{name: {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
"__metadata__": {str: str}}`` (padded with spaces); then the data area, each tensor's C-order
little-endian bytes at ``[begin, end)`` from its start, the tensors covering it exactly.

:func:`write_safetensors` writes what the reference library's ``save_file`` writes, byte for
byte (tensors ordered by dtype, then name; metadata keys sorted, where the reference writes
several in a hash map's order). :class:`SafetensorsReader` checks the whole header
against the file before it allocates anything: a crafted header cannot make it allocate more
than the file holds, and each refusal says what is wrong in one line.

Examples
--------
>>> import io
>>> buf = io.BytesIO()
>>> write_safetensors(buf, {"W1": np.ones((2, 3), np.float32)}, {"note": "hi"})
>>> _ = buf.seek(0)
>>> reader = SafetensorsReader(buf, ValueError)
>>> reader.check_members()
>>> reader.read("W1").shape, reader.metadata
((2, 3), {'note': 'hi'})
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, BinaryIO

import numpy as np

from .._files import atomic_write
from ..npz import file_size

__all__ = ["MAX_HEADER_BYTES", "DTYPES", "SafetensorsReader", "is_safetensors",
           "write_safetensors"]

#: the largest header the reference library reads (and so the largest kobai reads)
MAX_HEADER_BYTES = 100_000_000
#: safetensors dtype name -> the NumPy dtype kobai reads it as (BF16 is widened to float32)
DTYPES: dict[str, np.dtype] = {name: np.dtype(code) for name, code in [
    ("BOOL", "|b1"), ("U8", "|u1"), ("I8", "|i1"), ("I16", "<i2"), ("U16", "<u2"),
    ("F16", "<f2"), ("I32", "<i4"), ("U32", "<u4"), ("F32", "<f4"), ("F64", "<f8"),
    ("I64", "<i8"), ("U64", "<u8")]}
_BF16 = "BF16"
#: the reference's order of dtypes (its enum's); it writes the largest first
_RANK = {name: i for i, name in enumerate(
    ["BOOL", "U8", "I8", "I16", "U16", "F16", _BF16, "I32", "U32", "F32", "F64", "I64", "U64"])}
_NAME_OF = {(dt.kind, dt.itemsize): name for name, dt in DTYPES.items()}
_READS = "F16, F32, F64, BF16 (as float32), I8 to I64, U8 to U64 and BOOL"
_META = "__metadata__"
_MAX_DIMS = 64  # NumPy's limit
_LENGTH = 8


def is_safetensors(head: bytes) -> bool:
    """Whether a file starting with ``head`` (its first 9 bytes or more) looks like
    safetensors: a little-endian header length below 2**32, then ``{``. No zip archive or
    pickle starts so."""
    return (len(head) > _LENGTH and head[_LENGTH:_LENGTH + 1] == b"{"
            and 2 <= int.from_bytes(head[:_LENGTH], "little") < 2**32)


# -- writing ----------------------------------------------------------------------------------
def write_safetensors(path_or_file: str | os.PathLike[str] | IO[bytes],
                      arrays: Mapping[str, np.ndarray],
                      metadata: Mapping[str, str] | None = None) -> None:
    """Write named arrays as a safetensors file, as the reference library's ``save_file``.

    Parameters
    ----------
    path_or_file : str, path-like or binary file object
        A path is written atomically (an earlier file stays whole if anything fails); a file
        object is written from its current position.
    arrays : mapping of str to ndarray
        Bool, integer (8 to 64 bits) or float (16, 32, 64 bits) arrays of any shape, written
        C-contiguous and little-endian.
    metadata : mapping of str to str, optional
        The header's ``__metadata__``.

    Raises
    ------
    TypeError
        A name or metadata value is not a str, or a value not a NumPy array.
    ValueError
        An array's dtype has no safetensors name, or a tensor is named ``__metadata__``.
    IsADirectoryError, FileNotFoundError
        ``path_or_file`` is a folder, or its folder does not exist.
    """
    tensors = _tensors(arrays)
    header = _header(tensors, _metadata(metadata))
    if isinstance(path_or_file, (str, os.PathLike)):
        path = Path(path_or_file)
        if path.is_dir():
            raise IsADirectoryError(f"cannot write {path}: it is a folder; give a file name, "
                                    f"e.g. {path / 'model.safetensors'}")
        with atomic_write(path) as fh:
            _write(fh, header, tensors)
    else:
        _write(path_or_file, header, tensors)


def _tensors(arrays: Mapping[str, np.ndarray]) -> list[tuple[str, str, np.ndarray]]:
    """(name, safetensors dtype, little-endian C-contiguous array), in the reference's order."""
    tensors = []
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names must be str, got {type(name).__name__}")
        if name == _META:
            raise ValueError(f"a tensor cannot be named {_META!r}: the header keeps its "
                             "metadata under that name")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{name!r} must be a NumPy array, got {type(value).__name__}")
        dt = value.dtype
        code = _NAME_OF.get((dt.kind, dt.itemsize)) if dt.kind in "biuf" else None
        if code is None:
            raise ValueError(f"{name!r} has dtype {dt}, which safetensors has no name for; "
                             "kobai writes bool, int8 to int64, uint8 to uint64, float16, "
                             "float32 and float64")
        little = value.astype(DTYPES[code], order="C", copy=False)
        tensors.append((name, code, little))
    tensors.sort(key=lambda t: (-_RANK[t[1]], t[0]))
    return tensors


def _metadata(metadata: Mapping[str, str] | None) -> dict[str, str] | None:
    if metadata is None:
        return None
    for key, value in metadata.items():
        if not (isinstance(key, str) and isinstance(value, str)):
            raise TypeError(f"safetensors metadata maps str to str; got {key!r}: "
                            f"{type(value).__name__}")
    return dict(sorted(metadata.items()))


def _header(tensors: list[tuple[str, str, np.ndarray]], metadata: dict[str, str] | None
            ) -> bytes:
    header: dict[str, Any] = {} if metadata is None else {_META: metadata}
    offset = 0
    for name, code, arr in tensors:
        header[name] = {"dtype": code, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + arr.nbytes]}
        offset += arr.nbytes
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * (-len(text) % _LENGTH)  # the data area starts 8-byte aligned
    return len(text).to_bytes(_LENGTH, "little") + text


def _write(fh: IO[bytes], header: bytes, tensors: list[tuple[str, str, np.ndarray]]) -> None:
    fh.write(header)
    for _, _, arr in tensors:
        fh.write(arr.reshape(-1).view(np.uint8).data)  # no copy: arr is C-contiguous


# -- reading ----------------------------------------------------------------------------------
class _Duplicate(Exception):
    """A JSON object holds a key twice (raised from json's object_pairs_hook)."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen[key] = value
    return seen


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class SafetensorsReader:
    """Reads the tensors of a safetensors file, the whole header checked first.

    The same interface as :class:`kobai.npz.NpzReader`: :meth:`check_members`, then
    :attr:`headers`, :meth:`size`, :meth:`check`, :meth:`read`, :meth:`read_all`, ``error``.

    Parameters
    ----------
    file : seekable binary file object
        Positioned at the start of the safetensors data, which runs to the end of the file.
    error : callable
        Turns a message into the exception to raise, e.g.
        ``lambda message: ArraysFileError(f"{path}: {message}")``.

    Attributes
    ----------
    headers : dict of str to (tuple of int, numpy.dtype)
        Each tensor's shape and the dtype :meth:`read` gives, in the header's order.
    metadata : dict of str to str
        The header's ``__metadata__`` (empty when it has none).
    """

    def __init__(self, file: BinaryIO, error: Callable[[str], Exception]):
        self.file, self.error = file, error
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}
        self.metadata: dict[str, str] = {}
        self._spans: dict[str, tuple[int, int, str]] = {}  # name -> begin, end, dtype name
        self._start = file.tell()
        self._data = 0  # where the data area starts in the file

    def check_members(self, max_bytes: int | None = None) -> None:
        """Read and check the header against the file, reading no tensor data.

        Refused: a header length beyond :data:`MAX_HEADER_BYTES` or the file; a header that
        is not UTF-8 JSON of an object, or names a key twice; a dtype kobai does not read; a
        shape whose bytes are not its ``data_offsets``' span; offsets outside the data area,
        overlapping or leaving bytes of it unused; ``__metadata__`` other than str -> str;
        and (with ``max_bytes``) tensors of more than ``max_bytes`` in all.
        """
        size = file_size(self.file) - self._start
        if size < _LENGTH:
            raise self.error(f"is {size} bytes long, too short for a safetensors file (an "
                             "8-byte header length, then the header)")
        length = int.from_bytes(self._read(_LENGTH), "little")
        if length > MAX_HEADER_BYTES:
            raise self.error(f"its safetensors header length is {length:,} bytes, more than "
                             f"the {MAX_HEADER_BYTES:,} a safetensors header may take")
        if length > size - _LENGTH:
            raise self.error(f"its safetensors header length is {length:,} bytes, but only "
                             f"{size - _LENGTH:,} bytes follow it: truncated, or not "
                             "safetensors")
        header = self._parse(self._read(length))
        self._data = self._start + _LENGTH + length
        self._entries(header, size - _LENGTH - length)
        declared = sum(math.prod(shape) * dt.itemsize for shape, dt in self.headers.values())
        if max_bytes is not None and declared > max_bytes:
            raise self.error(f"its arrays declare {declared:,} bytes, more than the "
                             f"{max_bytes:,} the caller expects")

    def _read(self, n: int) -> bytes:
        data = self.file.read(n)
        if len(data) != n:
            raise self.error(f"is truncated: {n:,} bytes expected at byte "
                             f"{self.file.tell() - self._start:,}, {len(data):,} found")
        return data

    def _parse(self, raw: bytes) -> dict[str, Any]:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.error(f"its safetensors header is not UTF-8 ({exc})") from None
        try:
            header = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except _Duplicate as exc:
            raise self.error(f"its safetensors header names {exc.args[0]!r} twice; each "
                             "tensor (and key) must be named once") from None
        except (ValueError, RecursionError) as exc:
            raise self.error(f"its safetensors header is not valid JSON ({exc})") from None
        if not isinstance(header, dict):
            raise self.error(f"its safetensors header is a JSON {type(header).__name__}, not "
                             "an object of tensors")
        return header

    def _entries(self, header: dict[str, Any], data_size: int) -> None:
        for name, entry in header.items():
            if name == _META:
                self.metadata = self._check_metadata(entry)
            else:
                self._entry(name, entry, data_size)
        pos, previous = 0, None
        for name, (begin, end, _) in sorted(self._spans.items(), key=lambda kv: kv[1][:2]):
            if begin < pos:
                raise self.error(f"tensor {name!r} (bytes {begin:,} to {end:,}) overlaps "
                                 f"tensor {previous!r} (to byte {pos:,})")
            if begin > pos:
                raise self.error(f"bytes {pos:,} to {begin:,} of the data area belong to no "
                                 f"tensor (before {name!r}); the tensors must cover it "
                                 "exactly")
            pos, previous = end, name
        if pos != data_size:
            raise self.error(f"its tensors end at byte {pos:,} of the data area, which holds "
                             f"{data_size:,} bytes; the tensors must cover it exactly")

    def _check_metadata(self, entry: Any) -> dict[str, str]:
        if entry is None:
            return {}
        if not isinstance(entry, dict):
            raise self.error(f"its {_META} is a JSON {type(entry).__name__}, not an object of "
                             "str -> str")
        for key, value in entry.items():
            if not isinstance(value, str):
                raise self.error(f"its {_META} maps {key!r} to a {type(value).__name__}; "
                                 "safetensors metadata maps str to str")
        return entry

    def _entry(self, name: str, entry: Any, data_size: int) -> None:
        if not isinstance(entry, dict):
            raise self.error(f"tensor {name!r} is described by a JSON {type(entry).__name__}, "
                             "not an object with dtype, shape and data_offsets")
        code, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
        if code == _BF16:
            stored, given = np.dtype("<u2"), np.dtype(np.float32)
        elif isinstance(code, str) and code in DTYPES:
            stored = given = DTYPES[code]
        else:
            raise self.error(f"tensor {name!r} has dtype {str(code)[:40]!r}; kobai reads "
                             f"{_READS}")
        if not (isinstance(shape, list) and len(shape) <= _MAX_DIMS
                and all(_is_int(n) and 0 <= n < 2**63 for n in shape)):
            raise self.error(f"tensor {name!r} has shape {str(shape)[:80]}; expected a list of "
                             f"at most {_MAX_DIMS} sizes, each 0 to 2**63 - 1")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(map(_is_int, offsets))
                and 0 <= offsets[0] <= offsets[1]):
            raise self.error(f"tensor {name!r} has data_offsets {str(offsets)[:80]}; expected "
                             "[begin, end] with 0 <= begin <= end")
        if math.prod(max(n, 1) for n in shape) * given.itemsize >= 2**63:
            raise self.error(f"tensor {name!r} has shape {tuple(shape)}, too large for any "
                             "array, even with no elements")
        begin, end = offsets
        need = math.prod(shape) * stored.itemsize
        if need != end - begin:
            raise self.error(f"tensor {name!r} is {code} of shape {tuple(shape)} ({need:,} "
                             f"bytes), but its data_offsets [{begin}, {end}] span "
                             f"{end - begin:,} bytes")
        if end > data_size:
            raise self.error(f"tensor {name!r} takes bytes {begin:,} to {end:,} of the data "
                             f"area, which holds {data_size:,}: truncated, or a false header")
        self.headers[name] = tuple(shape), given
        self._spans[name] = begin, end, code

    def size(self, key: str) -> int:
        """The bytes tensor ``key`` takes in the file."""
        begin, end, _ = self._span(key)
        return end - begin

    def _span(self, key: str) -> tuple[int, int, str]:
        span = self._spans.get(key)
        if span is None:
            raise self.error(f"has no tensor {key!r}")
        return span

    def check(self, key: str, shape: tuple[int, ...] | None = None,
              dtype: np.dtype | None = None) -> None:
        """Refuse tensor ``key`` unless it has ``shape`` and ``dtype`` (where given)."""
        self._span(key)
        got_shape, got_dtype = self.headers[key]
        if shape is not None and got_shape != tuple(shape):
            raise self.error(f"tensor {key!r} has shape {got_shape} but {tuple(shape)} is "
                             "expected")
        if dtype is not None and got_dtype != dtype:
            raise self.error(f"tensor {key!r} is {got_dtype} but {np.dtype(dtype).name} is "
                             "expected")

    def read(self, key: str, shape: tuple[int, ...] | None = None,
             dtype: np.dtype | None = None) -> np.ndarray:
        """Tensor ``key`` (a new array, only its declared bytes read), refused unless it has
        ``shape`` and ``dtype`` (where given)."""
        self.check(key, shape, dtype)
        begin, end, code = self._span(key)
        got_shape, _ = self.headers[key]
        stored = np.dtype("<u2") if code == _BF16 else DTYPES[code]
        arr = np.empty(math.prod(got_shape), stored)
        self.file.seek(self._data + begin)
        view, filled = arr.view(np.uint8).data, 0
        while filled < end - begin:
            n = self.file.readinto(view[filled:])  # type: ignore[attr-defined]
            if not n:
                raise self.error(f"is truncated: tensor {key!r} has {filled:,} of its "
                                 f"{end - begin:,} bytes")
            filled += n
        if code == _BF16:  # bfloat16 is the upper half of a float32: exact
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        return arr.astype(arr.dtype.newbyteorder("="), copy=False).reshape(got_shape)

    def read_all(self) -> dict[str, np.ndarray]:
        """Every tensor, in the header's order."""
        return {key: self.read(key) for key in self.headers}
