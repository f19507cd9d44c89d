"""The book's trained-weight pickles, read without unpickling: kobai's own interpreter of the
pickle stack machine, restricted to what a pickled dict of NumPy arrays uses.

A pickle is a stack-machine program that may import and call any function. The book's files
(``ch03/sample_weight.pkl``, ``ch08/deep_convnet_params.pkl``, ...) hold only a dict of arrays,
so :func:`read_pickled_arrays` knows only the instructions of such a dict and *emulates* the
NumPy functions it names (no ``pickle.Unpickler``); anything else is refused where it is read.

What it accepts (pickle protocols 0 to 5, Python 2 or 3):

* opcodes: :data:`ALLOWED_OPCODES`;
* names (``GLOBAL``/``STACK_GLOBAL``): :data:`ALLOWED_GLOBALS`, each emulated: NumPy's array
  reconstruction (``_reconstruct(ndarray, (0,), b'b')`` then ``BUILD`` with ``(version, shape,
  dtype, is_fortran, data)``; protocol 5's ``_frombuffer(data, dtype, shape, order)``), dtypes
  (``dtype('f8', False, True)`` then ``BUILD`` with the byte order), ``collections.OrderedDict()``
  and, for the bytes of protocols 0 to 2, ``_codecs.encode(text, 'latin1')`` and ``bytes()``;
* dtypes: bool, signed and unsigned integers, floating point; never object, structured,
  string or complex;
* the result: a dict (or OrderedDict) whose keys are str and values arrays.
"""

from __future__ import annotations

import enum
import math
import os
import pickletools
import re
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, BinaryIO, Literal

import numpy as np

from ..npz import NUMERIC_KINDS
from .errors import EXPECTED, ArraysFileError, UnsafePickleError

__all__ = ["ALLOWED_GLOBALS", "ALLOWED_OPCODES", "describe", "read_pickled_arrays"]

_REFUSED = ("this is not a pickle of a dict of NumPy arrays, so kobai will not load it "
            "(loading a pickle can run code)")
_DESCR = re.compile(r"[biuf][1-9][0-9]?")  # how NumPy pickles those: 'b1', 'i4', 'u1', 'f8', ...
_CHUNK = 1 << 24  # bytes read at once: a lying length never allocates more than this unbacked
_MAX_STACK = 100_000  # stack items plus open MARKs (a dict of n arrays needs about 2n)
_MAX_MEMO = 100_000
_MAX_DIMS = 64  # NumPy's limit
_HIGHEST_PROTOCOL = 5


class _Fn(enum.Enum):
    """The names a pickle of arrays may use; each stands for an emulation, never the object."""

    RECONSTRUCT = "numpy.core.multiarray._reconstruct"
    NDARRAY = "numpy.ndarray"
    DTYPE = "numpy.dtype"
    FROMBUFFER = "numpy.core.numeric._frombuffer"
    ORDERED_DICT = "collections.OrderedDict"
    ENCODE = "_codecs.encode"
    BYTES = "builtins.bytes"


_GLOBALS: dict[str, _Fn] = {
    "numpy.core.multiarray._reconstruct": _Fn.RECONSTRUCT,  # NumPy 1
    "numpy._core.multiarray._reconstruct": _Fn.RECONSTRUCT,  # NumPy 2
    "numpy.ndarray": _Fn.NDARRAY,
    "numpy.dtype": _Fn.DTYPE,
    "numpy.core.numeric._frombuffer": _Fn.FROMBUFFER,  # protocol 5
    "numpy._core.numeric._frombuffer": _Fn.FROMBUFFER,
    "collections.OrderedDict": _Fn.ORDERED_DICT,
    "_codecs.encode": _Fn.ENCODE,  # bytes at protocols 0-2, written by Python 3
    "builtins.bytes": _Fn.BYTES,  # b'' at protocols 0-2
    "__builtin__.bytes": _Fn.BYTES,
}
#: the ``module.name`` a pickle may name with GLOBAL or STACK_GLOBAL (all emulated, none imported)
ALLOWED_GLOBALS: frozenset[str] = frozenset(_GLOBALS)


class _Py2Str(bytes):
    """A Python 2 ``str`` (BINSTRING): text where text is expected (keys, dtypes), else bytes."""


class _ArrayStub:
    """An array being built: ``_reconstruct`` makes it empty, ``BUILD`` gives it its data."""

    __slots__ = ("array",)

    def __init__(self, array: np.ndarray | None = None):
        self.array = array


class _DtypeStub:
    """``dtype(descr, align, copy)``: known once ``BUILD`` gives the byte order."""

    __slots__ = ("descr", "dtype")

    def __init__(self, descr: str):
        self.descr = descr
        self.dtype: np.dtype | None = None


def _text(value: Any) -> str | None:
    if isinstance(value, _Py2Str):
        return value.decode("latin-1")
    return value if isinstance(value, str) else None


def describe(value: Any) -> str:
    """A short description of a value on the stack, for messages: ``int 3``, ``a tuple of
    length 2``, ``a NumPy array``."""
    if isinstance(value, _Fn):
        return value.value
    if isinstance(value, _ArrayStub):
        return "a NumPy array" if value.array is not None else "an unfinished NumPy array"
    if isinstance(value, _DtypeStub):
        return f"a NumPy dtype {value.descr!r}"
    if value is None or isinstance(value, (bool, int, str)):
        return f"{type(value).__name__} {value!r}"[:60]
    if isinstance(value, _Py2Str):
        return f"Python 2 str {_text(value)!r}"[:60]
    if isinstance(value, (tuple, bytes)):
        return f"a {type(value).__name__} of length {len(value)}"
    return f"a {type(value).__name__}"


# -- the interpreter ---------------------------------------------------------------------------
class _Machine:
    """The pickle stack machine, restricted to what a pickled dict of NumPy arrays uses."""

    def __init__(self, file: BinaryIO):
        name = getattr(file, "name", None)
        self.where = os.fspath(name) if isinstance(name, (str, os.PathLike)) else "<stream>"
        self.file = file
        self.pos = 0  # bytes read so far
        self.op_pos = 0  # where the current opcode starts
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}
        self.array_bytes = 0

    # errors
    def malformed(self, message: str) -> ArraysFileError:
        return ArraysFileError(f"{self.where}: {message} (a corrupted or truncated pickle); "
                               f"expected {EXPECTED}")

    def refuse(self, what: str, detail: str = "") -> UnsafePickleError:
        detail = f" ({detail})" if detail else ""
        return UnsafePickleError(f"{self.where}: {what} at byte {self.op_pos}{detail}: "
                                 f"{_REFUSED}")

    # reading
    def read(self, n: int) -> bytes:
        if n < 0:
            raise self.malformed(f"negative length {n} at byte {self.op_pos}")
        chunks, left = [], n
        while left:
            chunk = self.file.read(min(left, _CHUNK))
            if not chunk:
                raise self.malformed(f"the item at byte {self.op_pos} declares {n:,} bytes but "
                                     f"the file ends after {self.pos + n - left:,} bytes")
            chunks.append(chunk)
            left -= len(chunk)
        self.pos += n
        return b"".join(chunks)

    def unpack(self, fmt: str) -> int:
        value: int = struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]
        return value

    def line(self) -> bytes:
        parts: list[bytes] = []
        while not parts or not parts[-1].endswith(b"\n"):
            part = self.file.readline(_CHUNK)
            if not part:
                raise self.malformed(f"the file ends inside the line at byte {self.op_pos}")
            parts.append(part)
        data = b"".join(parts)
        self.pos += len(data)
        return data[:-1]

    def integer(self, line: bytes) -> int:
        try:
            return int(line.removesuffix(b"L"))  # LONG's text ends with 'L'
        except ValueError:
            raise self.malformed(f"{line[:20]!r} at byte {self.op_pos} is not an integer") from None

    def utf8(self, n: int) -> str:
        return self.read(n).decode("utf-8", "surrogatepass")

    # the stack
    def room(self) -> None:
        if len(self.stack) + len(self.marks) >= _MAX_STACK:
            raise self.malformed(f"the stack grows beyond {_MAX_STACK:,} items")

    def push(self, value: Any) -> None:
        self.room()
        self.stack.append(value)

    def pop(self) -> Any:
        return self.pop_n(1)[0]

    def pop_n(self, n: int) -> tuple[Any, ...]:
        floor = self.marks[-1] if self.marks else 0
        if len(self.stack) - floor < n:
            raise self.malformed(f"stack underflow at byte {self.op_pos}")
        items = tuple(self.stack[len(self.stack) - n:])
        del self.stack[len(self.stack) - n:]
        return items

    def top(self) -> Any:
        value = self.pop()
        self.stack.append(value)
        return value

    def mark(self) -> None:
        self.room()
        self.marks.append(len(self.stack))

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise self.malformed(f"no MARK before the opcode at byte {self.op_pos}")
        start = self.marks.pop()
        items = self.stack[start:]
        del self.stack[start:]
        return items

    def put(self, key: int) -> None:
        # A pickler numbers its memo 0, 1, 2, ...: keys beyond the cap are refused, so huge
        # keys cannot collide in the dict's hash table (multiples of 2**61 - 1 all hash
        # alike, which would make every insert and lookup walk one long chain)
        if not 0 <= key < _MAX_MEMO:
            raise self.malformed(f"memo key {key} at byte {self.op_pos} is outside 0 to "
                                 f"{_MAX_MEMO - 1:,}")
        self.memo[key] = self.top()

    def get(self, key: int) -> None:
        if not 0 <= key < _MAX_MEMO or key not in self.memo:
            raise self.malformed(f"memo key {key} at byte {self.op_pos} was never stored")
        self.push(self.memo[key])

    # opcodes with more to them than a push
    def int_op(self) -> None:
        line = self.line()  # protocol 0 writes True and False as INT 01 and 00
        self.push(line == b"01" if line in (b"00", b"01") else self.integer(line))

    def frame(self) -> None:
        self.unpack("<Q")  # the length of a frame: a hint for buffering, nothing to check

    def dict_op(self) -> None:
        items = self.pop_mark()
        self.push({})
        self.setitems(self.top(), items)

    def setitem(self) -> None:
        key, value = self.pop_n(2)
        self.setitems(self.top(), [key, value])

    def setitems_op(self) -> None:
        items = self.pop_mark()
        self.setitems(self.top(), items)

    def proto(self) -> None:
        version = self.unpack("<B")
        if version > _HIGHEST_PROTOCOL:
            raise self.malformed(f"pickle protocol {version}, newer than {_HIGHEST_PROTOCOL}")

    def global_(self, module: Any, name: Any) -> None:
        if not isinstance(module, str) or not isinstance(name, str):
            raise self.refuse("STACK_GLOBAL", f"of {describe(module)} and {describe(name)}")
        dotted = f"{module}.{name}"
        if dotted not in _GLOBALS:
            raise self.refuse(f"global {dotted[:200]!r}", "kobai allows only the names of "
                              "NumPy's array reconstruction, kobai.arrays_file.ALLOWED_GLOBALS")
        self.push(_GLOBALS[dotted])

    def setitems(self, target: Any, items: list[Any]) -> None:
        if not isinstance(target, dict):
            raise self.refuse("SETITEM(S)", f"on {describe(target)}, not a dict")
        if len(items) % 2:
            raise self.malformed(f"an odd number of items for a dict at byte {self.op_pos}")
        for key, value in zip(items[::2], items[1::2], strict=True):
            name = _text(key)
            if name is None:
                raise self.refuse("SETITEM(S)", f"a key of the dict is {describe(key)}, "
                                  "not a str")
            if not isinstance(value, _ArrayStub) or value.array is None:
                raise self.refuse("SETITEM(S)", f"the value of {name[:60]!r} is "
                                  f"{describe(value)}, not a NumPy array")
            target[name] = value.array

    def reduce(self) -> None:
        fn, args = self.pop_n(2)
        if not isinstance(fn, _Fn) or not isinstance(args, tuple):
            raise self.refuse("REDUCE", f"calls {describe(fn)}")
        result = self.call(fn, args)
        if result is None:
            raise self.refuse("REDUCE", f"calls {fn.value} with ("
                              + ", ".join(describe(arg) for arg in args[:5])
                              + "), not as NumPy pickles arrays")
        self.push(result)

    def call(self, fn: _Fn, args: tuple[Any, ...]) -> Any:
        """The emulation of ``fn(*args)``, or None if a pickle of arrays never makes this call."""
        n = len(args)
        if fn is _Fn.RECONSTRUCT and n == 3 and args[0] is _Fn.NDARRAY and args[2] in (b"b", "b"):
            self.shape(args[1])
            return _ArrayStub()
        if fn is _Fn.DTYPE and n == 3 and args[1] in (0, 1) and args[2] in (0, 1):
            descr = _text(args[0])
            if descr is None or not _DESCR.fullmatch(descr):
                raise self.refuse(f"dtype {descr or describe(args[0])!r}", "kobai reads only "
                                  "bool, integer and floating-point arrays")
            return _DtypeStub(descr)
        if (fn is _Fn.FROMBUFFER and n == 4 and isinstance(args[0], bytes)
                and isinstance(args[1], _DtypeStub) and args[1].dtype is not None
                and args[3] in ("C", "F")):
            order: Literal["C", "F"] = "F" if args[3] == "F" else "C"
            return _ArrayStub(self.array(args[0], args[1].dtype, self.shape(args[2]), order))
        if fn is _Fn.ORDERED_DICT and n == 0:
            return OrderedDict()
        if fn is _Fn.ENCODE and n == 2 and isinstance(args[0], str) and args[1] in ("latin1",
                                                                                  "latin-1"):
            try:
                return args[0].encode("latin-1")
            except UnicodeEncodeError:
                raise self.malformed(f"text at byte {self.op_pos} is not latin-1") from None
        if fn is _Fn.BYTES and n == 0:
            return b""
        return None

    def build(self) -> None:
        state = self.pop()
        obj = self.top()
        if isinstance(obj, _DtypeStub) and obj.dtype is None:
            obj.dtype = self.dtype(obj.descr, state)
        elif isinstance(obj, _ArrayStub) and obj.array is None:
            if isinstance(state, tuple) and len(state) == 5 and state[0] == 1:
                state = state[1:]  # (version, shape, dtype, is_fortran, data); older: no version
            if not (isinstance(state, tuple) and len(state) == 4):
                raise self.refuse("BUILD", f"of an array with {describe(state)}")
            shape, dtype, fortran, data = state
            if not isinstance(dtype, _DtypeStub) or dtype.dtype is None or fortran not in (0, 1):
                raise self.refuse("BUILD", f"of an array with dtype {describe(dtype)}")
            if not isinstance(data, bytes):
                raise self.refuse("BUILD", f"of an array whose data is {describe(data)}, "
                                  "not bytes")
            array = self.array(data, dtype.dtype, self.shape(shape), "F" if fortran else "C")
            # NumPy's ndarray.__setstate__ swaps the bytes of a non-native array into native
            # order (protocol 5's _frombuffer keeps them): so does kobai, to give what it gives.
            native = array.dtype.newbyteorder("=")
            obj.array = array if array.dtype == native else array.astype(native, order="K")
        else:
            raise self.refuse("BUILD", f"on {describe(obj)}; only NumPy arrays and dtypes are "
                              "built")

    def dtype(self, descr: str, state: Any) -> np.dtype:
        # (3, byteorder, subarray, names, fields, elsize, alignment, flags) [+ metadata in 4]
        if not (isinstance(state, tuple) and (len(state) == 8 and state[0] == 3
                                              or len(state) == 9 and state[0] == 4
                                              and state[8] is None)
                and _text(state[1]) in ("<", ">", "|", "=")
                and state[2:5] == (None, None, None) and state[5:8] == (-1, -1, 0)):
            raise self.refuse("BUILD", f"of dtype {descr!r} with {describe(state)}, not the "
                              "state of a bool, integer or floating-point dtype")
        try:
            dtype = np.dtype(f"{_text(state[1])}{descr}")
        except TypeError:  # e.g. 'f16' where there is no 16-byte float
            raise self.refuse(f"dtype {descr!r}", "unknown to this NumPy") from None
        if dtype.kind not in NUMERIC_KINDS:
            raise self.refuse(f"dtype {descr!r}", "not bool, integer or floating point")
        return dtype

    def shape(self, value: Any) -> tuple[int, ...]:
        if not (isinstance(value, tuple) and len(value) <= _MAX_DIMS
                and all(type(dim) is int and dim >= 0 for dim in value)):
            raise self.malformed(f"the array shape at byte {self.op_pos} is "
                                 f"{describe(value)}, not a tuple of at most {_MAX_DIMS} sizes")
        return value

    def array(self, data: bytes, dtype: np.dtype, shape: tuple[int, ...],
              order: Literal["C", "F"]) -> np.ndarray:
        need = math.prod(shape) * dtype.itemsize
        if need != len(data):
            raise self.malformed(f"the array at byte {self.op_pos} has shape {shape[:8]} of "
                                 f"{dtype} ({need:,} bytes) but {len(data):,} bytes of data")
        self.array_bytes += need
        if self.array_bytes > self.pos:  # each array has its own bytes in the file
            raise self.malformed(f"the arrays up to byte {self.op_pos} hold more bytes than "
                                 "the file (data used twice)")
        return np.frombuffer(data, dtype=dtype).reshape(shape, order=order).copy(order=order)

    def stop(self) -> dict[str, np.ndarray]:
        result = self.pop()
        if not isinstance(result, dict):
            raise self.refuse("STOP", f"the pickle holds {describe(result)}, not a dict")
        return result  # setitems let only str keys and arrays in


_OPS: dict[str, Callable[[_Machine], None]] = {
    # framing
    "PROTO": _Machine.proto,
    "FRAME": _Machine.frame,
    # constants and numbers
    "NONE": lambda m: m.push(None),
    "NEWTRUE": lambda m: m.push(True),
    "NEWFALSE": lambda m: m.push(False),
    "INT": _Machine.int_op,
    "BININT": lambda m: m.push(m.unpack("<i")),
    "BININT1": lambda m: m.push(m.unpack("<B")),
    "BININT2": lambda m: m.push(m.unpack("<H")),
    "LONG": lambda m: m.push(m.integer(m.line())),
    "LONG1": lambda m: m.push(int.from_bytes(m.read(m.unpack("<B")), "little", signed=True)),
    # text and bytes
    "UNICODE": lambda m: m.push(m.line().decode("raw-unicode-escape")),
    "SHORT_BINUNICODE": lambda m: m.push(m.utf8(m.unpack("<B"))),
    "BINUNICODE": lambda m: m.push(m.utf8(m.unpack("<I"))),
    "BINUNICODE8": lambda m: m.push(m.utf8(m.unpack("<Q"))),
    "SHORT_BINSTRING": lambda m: m.push(_Py2Str(m.read(m.unpack("<B")))),
    "BINSTRING": lambda m: m.push(_Py2Str(m.read(m.unpack("<i")))),
    "SHORT_BINBYTES": lambda m: m.push(m.read(m.unpack("<B"))),
    "BINBYTES": lambda m: m.push(m.read(m.unpack("<I"))),
    "BINBYTES8": lambda m: m.push(m.read(m.unpack("<Q"))),
    "BYTEARRAY8": lambda m: m.push(m.read(m.unpack("<Q"))),  # only ever array data here
    # tuples and dicts
    "MARK": _Machine.mark,
    "EMPTY_TUPLE": lambda m: m.push(()),
    "TUPLE": lambda m: m.push(tuple(m.pop_mark())),
    "TUPLE1": lambda m: m.push(m.pop_n(1)),
    "TUPLE2": lambda m: m.push(m.pop_n(2)),
    "TUPLE3": lambda m: m.push(m.pop_n(3)),
    "EMPTY_DICT": lambda m: m.push({}),
    "DICT": _Machine.dict_op,
    "SETITEM": _Machine.setitem,
    "SETITEMS": _Machine.setitems_op,
    # the memo
    "PUT": lambda m: m.put(m.integer(m.line())),
    "BINPUT": lambda m: m.put(m.unpack("<B")),
    "LONG_BINPUT": lambda m: m.put(m.unpack("<I")),
    "MEMOIZE": lambda m: m.put(len(m.memo)),
    "GET": lambda m: m.get(m.integer(m.line())),
    "BINGET": lambda m: m.get(m.unpack("<B")),
    "LONG_BINGET": lambda m: m.get(m.unpack("<I")),
    # names and calls, all emulated
    "GLOBAL": lambda m: m.global_(m.line().decode("utf-8"), m.line().decode("utf-8")),
    "STACK_GLOBAL": lambda m: m.global_(*m.pop_n(2)),
    "REDUCE": _Machine.reduce,
    "BUILD": _Machine.build,
}
#: the pickle opcodes :func:`read_pickled_arrays` interprets; any other is refused unread
ALLOWED_OPCODES: frozenset[str] = frozenset([*_OPS, "STOP"])
_OPCODE_NAMES = {op.code.encode("latin-1"): op.name for op in pickletools.opcodes}


def read_pickled_arrays(file: BinaryIO) -> dict[str, np.ndarray]:
    """Read a pickled dict of NumPy arrays without unpickling it: nothing in it is ever run.

    Only :data:`ALLOWED_OPCODES` and :data:`ALLOWED_GLOBALS` (emulated, never imported) are
    accepted; the file is left just after the STOP opcode, as ``pickle.load`` leaves it.

    Parameters
    ----------
    file : binary file object
        Open for reading at the start of the pickle, e.g. ``open("params.pkl", "rb")``.

    Returns
    -------
    dict of str to ndarray
        The arrays under their names, in the pickle's order, as ``pickle.load`` gives them:
        new writable arrays with the pickled dtype, shape and memory order.

    Raises
    ------
    UnsafePickleError
        At the first opcode or name a pickled dict of arrays does not use, or if the pickle
        holds anything else (the message gives the byte offset).
    ArraysFileError
        If the pickle is truncated or corrupted.

    Examples
    --------
    >>> import io, pickle
    >>> read_pickled_arrays(io.BytesIO(pickle.dumps({"W": np.ones((2, 2))})))["W"].shape
    (2, 2)
    """
    machine = _Machine(file)
    while True:
        machine.op_pos = machine.pos
        code = file.read(1)
        if not code:
            raise machine.malformed(f"the file ends at byte {machine.pos} before the pickle's "
                                    "STOP opcode")
        machine.pos += 1
        name = _OPCODE_NAMES.get(code)
        if name is None:
            raise machine.malformed(f"byte {code!r} at byte {machine.op_pos} is not a pickle "
                                    "opcode")
        if name == "STOP":
            return machine.stop()
        op = _OPS.get(name)
        if op is None:
            raise machine.refuse(f"opcode {name}", "kobai interprets only the opcodes of "
                                 "a pickled dict of arrays, kobai.arrays_file.ALLOWED_OPCODES")
        try:
            op(machine)
        except UnicodeDecodeError as exc:
            raise machine.malformed(f"invalid text at byte {machine.op_pos}: {exc}") from None
