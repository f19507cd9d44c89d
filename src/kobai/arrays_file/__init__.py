"""Files of named arrays: kobai's ``.npz``, safetensors and the book's trained-weight pickles
(chapters 3.6.2 and 7.5), told apart by their first bytes, never by the file's name.

kobai writes a plain ``.npz`` archive (:func:`write_arrays`), read back through the checked
reader of :mod:`kobai.npz`, or, for the book's code, a pickle of a dict of arrays
(:func:`write_pickled_arrays`); safetensors (:func:`write_safetensors`, what
``kobai.export.to_safetensors`` and the ``safetensors`` library write) is read by the checked
reader of :mod:`kobai.arrays_file.safetensors`; a pickle is read by :func:`read_pickled_arrays`
(:mod:`kobai.arrays_file.pickled`), which never unpickles: nothing a hostile file asks for runs.

Examples
--------
>>> import io
>>> buf = io.BytesIO()
>>> write_arrays_to(buf, {"W1": np.ones((2, 3))})
>>> _ = buf.seek(0)
>>> read_arrays_from(buf)["W1"].shape
(2, 3)
"""

from __future__ import annotations

import os
import pickle
import zipfile
import zlib
from collections.abc import Mapping
from typing import IO, BinaryIO

import numpy as np

from .._files import atomic_write
from ..npz import NUMERIC_KINDS, ZIP_MAGIC, NpzReader
from .errors import EXPECTED, ArraysFileError, UnsafePickleError
from .pickled import ALLOWED_GLOBALS, ALLOWED_OPCODES, describe, read_pickled_arrays
from .safetensors import SafetensorsReader, is_safetensors, write_safetensors

__all__ = ["ALLOWED_GLOBALS", "ALLOWED_OPCODES", "PICKLE_PROTOCOL", "PICKLE_SUFFIXES",
           "ArraysFileError", "UnsafePickleError", "file_format", "read_arrays", "read_arrays_from",
           "read_pickled_arrays", "write_arrays", "write_arrays_to", "write_pickled_arrays",
           "write_safetensors"]


def file_format(head: bytes) -> str | None:
    """``"npz"``, ``"safetensors"`` or ``"pickle"``: the format of a file starting with
    ``head`` (its first 32 bytes), or None for none of them."""
    if head.startswith(ZIP_MAGIC):
        return "npz"
    if is_safetensors(head):
        return "safetensors"
    if head[:1] in (b"\x80", b"(", b"}") or head.startswith(b"ccollections\nOrderedDict\n"):
        return "pickle"
    return None


def read_arrays(path: str | os.PathLike[str], *, max_bytes: int | None = None
                ) -> dict[str, np.ndarray]:
    """Read the named arrays of a kobai ``.npz``, a safetensors file or one of the book's
    weight pickles.

    Told by the first bytes; a pickle is read by :func:`read_pickled_arrays`, never unpickled.

    Parameters
    ----------
    path : str or path-like
    max_bytes : int, optional
        Refuse an ``.npz`` or safetensors file declaring more bytes than this, before
        reading any.

    Returns
    -------
    dict of str to ndarray
        The arrays by name.

    Raises
    ------
    ArraysFileError
        If the file is neither format, truncated or corrupted.
    UnsafePickleError
        If it is a pickle of anything but a dict of numeric arrays (it is not run).
    OSError
        If the file cannot be opened.
    """
    with open(os.fspath(path), "rb") as fh:
        return read_arrays_from(fh, max_bytes=max_bytes)


def read_arrays_from(file: BinaryIO, *, max_bytes: int | None = None
                     ) -> dict[str, np.ndarray]:
    """Read named arrays from an open binary file: :func:`read_arrays` on a file object.

    ``pickle.load(f)`` under ``kobai book run``. The format is told at the current position;
    a pickle is read up to its STOP opcode, as ``pickle.load`` reads it.

    Parameters
    ----------
    file : seekable binary file object
        e.g. ``open("params.pkl", "rb")`` or an ``io.BytesIO``.
    max_bytes : int, optional
        As for :func:`read_arrays`.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    ArraysFileError, UnsafePickleError
        As :func:`read_arrays`; messages name ``file.name`` when it has one.
    """
    name = getattr(file, "name", None)
    where = os.fspath(name) if isinstance(name, (str, os.PathLike)) else "<stream>"
    start = file.tell()
    head = file.read(32)
    file.seek(start)
    fmt = file_format(head)
    if fmt == "npz":
        return _read_npz(file, where, max_bytes)
    if fmt == "safetensors":
        return _read_safetensors(file, where, max_bytes)
    if fmt == "pickle":
        return read_pickled_arrays(file)
    raise ArraysFileError(f"{where}: starts with {head[:8]!r}, neither a zip archive (b'PK'), "
                          f"safetensors (a header length, then b'{{') nor a pickle (b'\\x80'); "
                          f"expected {EXPECTED}")


def _read_safetensors(fh: BinaryIO, where: str, max_bytes: int | None = None
                      ) -> dict[str, np.ndarray]:
    """The tensors of a safetensors file, the whole header checked before any is read."""
    reader = SafetensorsReader(fh, lambda message: ArraysFileError(f"{where}: {message}"))
    reader.check_members(max_bytes)
    return reader.read_all()


def _read_npz(fh: BinaryIO, where: str, max_bytes: int | None = None
              ) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` archive, each member checked before its data is read."""
    def error(message: str) -> ArraysFileError:
        return ArraysFileError(f"{where}: {message}; expected {EXPECTED}")

    try:
        with np.load(fh, allow_pickle=False) as npz:
            reader = NpzReader(npz, error, numeric_only=True)
            # Sizes checked before any data is read: a compressed member can declare ~1000x
            # its size in the file.
            reader.check_members(max_bytes)
            return reader.read_all()
    except ArraysFileError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise error(f"a truncated or corrupted archive ({exc})") from None


def write_arrays(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays to ``path`` as a NumPy ``.npz`` archive, atomically; never a pickle.

    What ``np.savez`` writes, under exactly the name given (``params.pkl`` stays
    ``params.pkl``), replacing ``path`` only once complete.

    Parameters
    ----------
    path : str or path-like
    arrays : mapping of str to ndarray
        e.g. ``{"W1": array of shape (784, 50), "b1": array of shape (50,)}``; bool, integer
        or floating-point arrays of any shape.

    Raises
    ------
    TypeError
        If a name is not a str or a value not a NumPy array.
    ValueError
        If an array is not bool, integer or floating point; nothing is written then.
    """
    _check_arrays(arrays)

    with atomic_write(path) as fh:
        write_arrays_to(fh, arrays)


def write_arrays_to(file: IO[bytes], arrays: Mapping[str, np.ndarray]) -> None:
    """Write named arrays into an open binary file: :func:`write_arrays` on a file object.

    What ``pickle.dump(params, f)`` becomes under ``kobai book run``. Nothing is written if an
    array is refused; else the ``.npz`` goes into ``file`` from its current position.

    Parameters
    ----------
    file : binary file object
        e.g. ``open("params.pkl", "wb")`` or an ``io.BytesIO``.
    arrays : mapping of str to ndarray
        As :func:`write_arrays`.

    Raises
    ------
    TypeError, ValueError
        As :func:`write_arrays`.
    """
    _check_arrays(arrays)
    with zipfile.ZipFile(file, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, value in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


#: the protocol of the book's trained-weight pickles (``ch07/params.pkl``, ...)
PICKLE_PROTOCOL = 4
#: names that say "a pickle": ``save_params`` writes one under them, kobai's ``.npz`` otherwise
PICKLE_SUFFIXES = (".pkl", ".pickle")


def write_pickled_arrays(path: str | os.PathLike[str], arrays: Mapping[str, np.ndarray]
                         ) -> None:
    """Write named arrays to ``path`` as a pickle of a plain ``dict``, atomically (§7.5).

    What the book's ``pickle.dump(params, f)`` writes, at the protocol of the book's files
    (4): the book's ``load_params`` (``pickle.load``) gets a dict of ``ndarray``, and
    :func:`read_arrays` reads it back without unpickling. Writing a pickle of arrays runs
    nothing; reading one can, which kobai never does.

    Parameters
    ----------
    path : str or path-like
    arrays : mapping of str to ndarray
        As :func:`write_arrays`; subclasses are written as plain arrays.

    Raises
    ------
    TypeError, ValueError
        As :func:`write_arrays`; nothing is written then.
    """
    _check_arrays(arrays)
    plain = {key: np.ascontiguousarray(np.asarray(value)) for key, value in arrays.items()}
    with atomic_write(path) as fh:
        # a Pickler, not pickle.dump, which ``kobai book run`` replaces in its process
        pickle.Pickler(fh, protocol=PICKLE_PROTOCOL).dump(plain)


def _check_arrays(arrays: Mapping[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if not isinstance(key, str):
            raise TypeError(f"array names must be str, got {describe(key)}")
        if not isinstance(value, np.ndarray):
            raise TypeError(f"{key!r} must be a NumPy array, got {type(value).__name__}")
        if value.dtype.kind not in NUMERIC_KINDS:
            raise ValueError(f"{key!r} has dtype {value.dtype}; kobai writes only bool, integer "
                             "and floating-point arrays (no pickled objects)")
