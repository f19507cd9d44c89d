"""kobai.arrays_file: the book's weight pickles read without unpickling, and kobai's .npz.

The oracle for what a pickle holds is ``pickle.loads``, called here only on trusted bytes (the
book's files, and pickles these tests make of plain arrays). Hostile pickles are built opcode by
opcode (``_call``, ``_array``, ...) or with ``pickle.dumps`` of a ``__reduce__`` class; those
that would create a file are checked not to have.
"""

import io
import os
import pickle
import pickletools
import re
import struct
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from conftest import DLFS, require_shared
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from kobai.arrays_file import (
    ALLOWED_GLOBALS,
    ALLOWED_OPCODES,
    ArraysFileError,
    UnsafePickleError,
    read_arrays,
    read_pickled_arrays,
    write_arrays,
)

BOOK_FILES = ["ch03/sample_weight.pkl", "ch07/params.pkl", "ch08/deep_convnet_params.pkl",
              "weights-2016/params.pkl", "weights-2016/deep_convnet_params.pkl"]


def read_bytes(data: bytes) -> dict:
    return read_pickled_arrays(io.BytesIO(data))


def assert_same_arrays(got, expected):
    """Same mapping type, keys in the same order, dtypes, shapes, memory order and bits."""
    assert type(got) is type(expected)
    assert list(got) == list(expected)
    for key, want in expected.items():
        have = got[key]
        assert isinstance(have, np.ndarray), key
        np.testing.assert_array_equal(have, want, err_msg=key)
        assert have.dtype.str == want.dtype.str, key
        assert have.shape == want.shape, key
        assert (have.flags.c_contiguous, have.flags.f_contiguous) == (
            want.flags.c_contiguous, want.flags.f_contiguous), key
        assert have.tobytes(order="A") == want.tobytes(order="A"), key
        assert have.flags.writeable, key


def sample_arrays() -> dict:
    """One of each kind of array the reader must rebuild."""
    return {
        "W1": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "W2": np.asfortranarray(np.arange(6.0).reshape(2, 3) / 3),
        "W4d": np.arange(24.0).reshape(2, 3, 2, 2),
        "scalar": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "big_endian": np.arange(3, dtype=">f8") - 1.5,
        "big_endian_int": np.arange(3, dtype=">i4") - 1,
        "int64": np.arange(-3, 3),
        "uint16": np.arange(4, dtype=np.uint16),
        "bool": np.array([True, False, True]),
        "half": np.arange(3, dtype=np.float16),
        "strided": np.arange(10.0)[::2],
        "special": np.array([np.nan, -0.0, np.inf, -np.inf]),
        # one-byte data is a shared bytes object: pickled once, then fetched from the memo
        "byte_a": np.array([7], dtype=np.uint8),
        "byte_b": np.array([7], dtype=np.uint8),
    }


# -- pickles built opcode by opcode ------------------------------------------------------------
PROTO2 = pickle.PROTO + b"\x02"


def _str(text: str) -> bytes:
    data = text.encode()
    return pickle.BINUNICODE + struct.pack("<I", len(data)) + data


def _int(n: int) -> bytes:
    size = (n.bit_length() + 8) // 8
    return pickle.LONG1 + bytes([size]) + n.to_bytes(size, "little", signed=True)


def _bytes(raw: bytes) -> bytes:
    return pickle.BINBYTES + struct.pack("<I", len(raw)) + raw


def _global(dotted: str) -> bytes:
    module, name = dotted.rsplit(".", 1)
    return pickle.GLOBAL + f"{module}\n{name}\n".encode()


def _stack_global(dotted: str) -> bytes:
    module, name = dotted.rsplit(".", 1)
    return _str(module) + _str(name) + pickle.STACK_GLOBAL


def _tuple(*items: bytes) -> bytes:
    return pickle.MARK + b"".join(items) + pickle.TUPLE


def _call(fn: bytes, *args: bytes) -> bytes:
    return fn + _tuple(*args) + pickle.REDUCE


def _py2str(data: bytes) -> bytes:
    """A Python 2 str, as Python 2 pickles text and bytes alike."""
    return pickle.SHORT_BINSTRING + bytes([len(data)]) + data


def _dtype(descr: str, endian: str = "<", flags: int = 0, text=_str) -> bytes:
    state = _tuple(_int(3), text(endian), pickle.NONE * 3, _int(-1), _int(-1), _int(flags))
    return _call(_global("numpy.dtype"), text(descr), pickle.NEWFALSE, pickle.NEWTRUE) + state \
        + pickle.BUILD


def _reconstruct(cls: str = "numpy.ndarray") -> bytes:
    return _call(_global("numpy.core.multiarray._reconstruct"), _global(cls), _tuple(_int(0)),
                 pickle.SHORT_BINBYTES + b"\x01b")


def _array(shape: tuple, data: bytes, descr: str = "f8", endian: str = "<",
           fortran: bool = False, text=_str) -> bytes:
    """NumPy's pickle of an array; ``data`` is the opcodes that push its bytes."""
    state = _tuple(_int(1), _tuple(*map(_int, shape)), _dtype(descr, endian, text=text),
                   pickle.NEWTRUE if fortran else pickle.NEWFALSE, data)
    return _reconstruct() + state + pickle.BUILD


def _dict(*entries: bytes) -> bytes:
    """A protocol-2 pickle of a dict; each entry is a key's opcodes then its value's."""
    return PROTO2 + pickle.EMPTY_DICT + pickle.MARK + b"".join(entries) + pickle.SETITEMS \
        + pickle.STOP


W = _str("W") + _array((2, 3), _bytes(np.arange(6.0).tobytes()))  # a legitimate entry


def test_hand_built_pickles_are_what_pickle_loads_too():
    f_order = np.arange(6.0).reshape(2, 3).tobytes(order="F")
    data = _dict(W, _str("F") + _array((2, 3), _bytes(f_order), fortran=True),
                 _str("be") + _array((2,), _bytes(np.arange(2, dtype=">i4").tobytes()), "i4", ">"),
                 _str("empty") + _array((0, 5), _call(_global("builtins.bytes"))))
    expected = pickle.loads(data)  # trusted: we wrote every opcode
    assert expected["F"].flags.f_contiguous
    assert_same_arrays(read_bytes(data), expected)


def test_python_2_pickles_read_as_pickle_loads_them_with_latin1():
    """Python 2 pickles its str (keys, dtype names, array data) as BINSTRING."""
    raw = np.arange(4, dtype="<f4").tobytes()
    data = _dict(_py2str(b"W1") + _array((2, 2), _py2str(raw), "f4", text=lambda t: _py2str(
        t.encode())), _str("b1") + _array((1,), _bytes(raw[:4]), "f4"))
    expected = pickle.loads(data, encoding="latin1")  # how NumPy says to read them
    assert_same_arrays(read_bytes(data), expected)


def test_big_endian_arrays_come_back_in_the_byte_order_numpy_unpickles_them_in():
    """ndarray.__setstate__ (protocols 0-4) swaps to native order; protocol 5 keeps '>'."""
    big = np.asfortranarray((np.arange(6).reshape(2, 3) - 2).astype(">i4"))
    for protocol, order in [(2, "="), (4, "="), (5, ">")]:
        data = pickle.dumps({"a": big}, protocol=protocol)
        got = read_bytes(data)["a"]
        assert got.dtype == np.dtype("i4").newbyteorder(order)
        assert_same_arrays({"a": got}, pickle.loads(data))
        np.testing.assert_array_equal(got, big)


# -- the book's files --------------------------------------------------------------------------
@pytest.mark.parametrize("name", BOOK_FILES)
def test_book_weights_read_exactly_as_pickle_load_gives_them(name):
    path = DLFS / name
    require_shared(path)
    with path.open("rb") as fh:
        expected = pickle.load(fh)  # the oracle, on the book's own trusted file
    assert_same_arrays(read_arrays(path), expected)
    with path.open("rb") as fh:  # read_pickled_arrays stops where pickle.load does
        assert_same_arrays(read_pickled_arrays(fh), expected)
        assert fh.tell() == path.stat().st_size


def test_truncated_book_file_is_a_clear_error_naming_it(tmp_path):
    source = DLFS / "ch03" / "sample_weight.pkl"
    require_shared(source)
    cut = tmp_path / "sample_weight.pkl"
    cut.write_bytes(source.read_bytes()[:100_000])
    with pytest.raises(ArraysFileError, match="truncated") as info:
        read_arrays(cut)
    assert str(cut) in str(info.value)


# -- pickles written by the installed NumPy ----------------------------------------------------
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("mapping", [dict, OrderedDict])
def test_arrays_pickled_by_numpy_read_back_bit_for_bit(protocol, mapping):
    data = pickle.dumps(mapping(sample_arrays()), protocol=protocol)
    assert_same_arrays(read_bytes(data), pickle.loads(data))


def test_protocol_5_pickles_use_frombuffer_and_bytearray8():
    """So that the test above covers protocol 5's own way of pickling arrays."""
    data = pickle.dumps(sample_arrays(), protocol=5)
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    assert ("BYTEARRAY8" in {name for name, _ in ops}
            and ("SHORT_BINUNICODE", "_frombuffer") in ops)


def test_reading_stops_after_stop_so_consecutive_pickles_read_one_by_one():
    first, second = {"a": np.arange(3.0)}, {"b": np.ones((2, 2), np.float32)}
    stream = io.BytesIO(pickle.dumps(first, protocol=4) + pickle.dumps(second, protocol=2)
                        + b"trailing bytes")
    assert_same_arrays(read_pickled_arrays(stream), first)
    assert_same_arrays(read_pickled_arrays(stream), second)
    assert stream.read() == b"trailing bytes"


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("mapping", [dict, OrderedDict])
def test_read_arrays_tells_formats_apart_by_content_not_name(tmp_path, protocol, mapping):
    arrays = mapping(sample_arrays())
    pickled = tmp_path / "weights.npz"  # a pickle, whatever its name says
    pickled.write_bytes(pickle.dumps(arrays, protocol=protocol))
    assert_same_arrays(read_arrays(pickled), pickle.loads(pickled.read_bytes()))
    archive = tmp_path / "weights.pkl"  # an .npz archive, whatever its name says
    write_arrays(archive, arrays)
    got = read_arrays(archive)
    assert list(got) == list(arrays)
    for key, want in arrays.items():
        np.testing.assert_array_equal(got[key], want, err_msg=key)
        assert got[key].dtype.str == want.dtype.str


@pytest.mark.parametrize("content", [b"", b"W1,b1\n0.5,0.25\n", b"\x00\x01\x02\x03" * 4,
                                     b"\x93NUMPY\x01\x00v\x00{'descr': '<f8'"],
                         ids=["empty", "csv", "binary", "npy"])
def test_read_arrays_refuses_other_formats_saying_what_it_expected(tmp_path, content):
    path = tmp_path / "params.pkl"
    path.write_bytes(content)
    with pytest.raises(ArraysFileError) as info:
        read_arrays(path)
    message = str(info.value)
    assert str(path) in message and repr(content[:8]) in message
    assert "save_params" in message and "pickle of a dict of arrays" in message


# -- write_arrays ------------------------------------------------------------------------------
def test_write_arrays_writes_exactly_the_given_name_as_a_zip_not_a_pickle(tmp_path):
    path = tmp_path / "params.pkl"
    write_arrays(path, {"W1": np.ones((2, 3)), "b1": np.zeros(3, np.float32)})
    assert os.listdir(tmp_path) == ["params.pkl"]  # no params.pkl.npz, no temporary file left
    content = path.read_bytes()
    assert content.startswith(b"PK\x03\x04") and zipfile.is_zipfile(path)
    with np.load(path, allow_pickle=False) as npz:  # NumPy's own reader
        assert npz.files == ["W1", "b1"]
        np.testing.assert_array_equal(npz["W1"], np.ones((2, 3)))
        assert npz["b1"].dtype == np.float32


@pytest.mark.parametrize("arrays", [
    sample_arrays(),
    {},
    {"file": np.ones(2), "allow_pickle": np.arange(3), "arr_0": np.zeros((1, 1))},  # savez's own
    {"param/W1": np.ones(2), "名前": np.arange(2, dtype=np.int8)},
], ids=["sample", "empty", "savez_argument_names", "slash_and_unicode"])
def test_write_arrays_then_read_arrays_round_trip(tmp_path, arrays):
    path = tmp_path / "params.npz"
    write_arrays(path, arrays)
    got = read_arrays(path)
    assert list(got) == list(arrays)
    for key, want in arrays.items():
        assert got[key].dtype.str == want.dtype.str and got[key].shape == want.shape
        assert got[key].tobytes() == want.tobytes(), key


def test_write_arrays_replaces_a_file_atomically(tmp_path):
    path = tmp_path / "params.pkl"
    write_arrays(path, {"a": np.ones(2)})
    write_arrays(path, {"b": np.zeros(3)})
    assert os.listdir(tmp_path) == ["params.pkl"]
    assert list(read_arrays(path)) == ["b"]


@pytest.mark.parametrize("arrays, error, words", [
    ({"a": np.array([object(), 1], dtype=object)}, ValueError, "object"),
    ({"a": np.zeros(2, dtype=[("x", "f8")])}, ValueError, "dtype"),
    ({"a": np.array(["text"])}, ValueError, "<U4"),
    ({"a": np.ones(2, dtype=complex)}, ValueError, "complex128"),
    ({"a": [1.0, 2.0]}, TypeError, "list"),
    ({1: np.ones(2)}, TypeError, "str"),
], ids=["object", "structured", "str", "complex", "list", "int_key"])
def test_write_arrays_refuses_what_is_not_named_numeric_arrays(tmp_path, arrays, error, words):
    path = tmp_path / "params.npz"
    write_arrays(path, {"old": np.ones(1)})
    with pytest.raises(error, match=words):
        write_arrays(path, arrays)
    assert list(read_arrays(path)) == ["old"]  # untouched
    assert os.listdir(tmp_path) == ["params.npz"]


def test_read_arrays_refuses_an_npz_whose_header_promises_more_than_its_data(tmp_path):
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (10**12,)})
    path = tmp_path / "lying.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("W.npy", member.getvalue() + np.arange(4.0).tobytes())
    with pytest.raises(ArraysFileError, match="8,000,000,000,000 bytes") as info:
        read_arrays(path)
    assert str(path) in str(info.value)


def test_read_arrays_refuses_a_truncated_npz_or_a_zip_of_other_files(tmp_path):
    path = tmp_path / "params.npz"
    write_arrays(path, {"W": np.ones((30, 30))})
    path.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(ArraysFileError, match="truncated or corrupted"):
        read_arrays(path)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("README.txt", "not an array")
    with pytest.raises(ArraysFileError, match="'README.txt' is not a .npy array"):
        read_arrays(path)


def test_read_arrays_refuses_an_npz_of_pickled_objects(tmp_path):
    path = tmp_path / "objects.npz"
    np.savez(path, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ArraysFileError, match="object"):
        read_arrays(path)


# -- hostile pickles ---------------------------------------------------------------------------
class _Exec:
    """The usual attack: unpickling calls ``exec`` (here, to create a file)."""

    def __init__(self, target):
        self.target = str(target)

    def __reduce__(self):
        return exec, (f"open({self.target!r}, 'w').close()",)


class _System(_Exec):
    def __reduce__(self):
        return os.system, (f"touch {self.target}",)


def _payloads(target: Path) -> dict[str, bytes]:
    """Pickles (after PROTO 2) whose loading would create ``target``, by the global named."""
    shell = _str(f"touch {target}")
    code = _str(f"open({str(target)!r}, 'w').close()")
    return {
        "os.system": _call(_global("os.system"), shell),
        "posix.system": _call(_global("posix.system"), shell),
        "nt.system": _call(_global("nt.system"), shell),
        "builtins.eval": _call(_global("builtins.eval"), code),
        "builtins.exec": _call(_global("builtins.exec"), code),
        "__builtin__.eval": _call(_global("__builtin__.eval"), code),
        "subprocess.Popen": _call(_global("subprocess.Popen"),
                                  _tuple(_str("touch"), _str(str(target)))),
        "builtins.getattr": _call(_call(_global("builtins.getattr"),
                                        _call(_global("builtins.__import__"), _str("os")),
                                        _str("system")), shell),
        "numpy.testing._private.utils.runstring": _call(
            _global("numpy.testing._private.utils.runstring"), code, pickle.EMPTY_DICT),
    }


@pytest.mark.parametrize("name", list(_payloads(Path("x"))))
def test_code_running_globals_are_refused_and_never_run(tmp_path, name):
    target = tmp_path / "pwned"
    data = PROTO2 + _payloads(target)[name] + pickle.STOP
    with pytest.raises(UnsafePickleError) as info:
        read_bytes(data)
    assert re.search(rf"global {re.escape(repr(name))} at byte 2\b", str(info.value))
    assert "not a pickle of a dict of NumPy arrays" in str(info.value)
    assert not target.exists()


@pytest.mark.parametrize("name", ["builtins.exec", "os.system", "numpy.load"])
def test_code_running_stack_globals_are_refused_after_a_legitimate_entry(tmp_path, name):
    target = tmp_path / "pwned"
    prefix = PROTO2 + pickle.EMPTY_DICT + pickle.MARK + W + _str("evil") + _stack_global(name)
    data = prefix + _tuple(_str(f"touch {target}")) + pickle.REDUCE + pickle.SETITEMS \
        + pickle.STOP
    with pytest.raises(UnsafePickleError, match=rf"global {re.escape(repr(name))} at byte "
                                                rf"{len(prefix) - 1}\b"):
        read_bytes(data)
    assert not target.exists()


def test_exec_payload_is_live_under_pickle_loads_but_refused_by_kobai(tmp_path):
    """The payloads above are real: pickle runs this one, kobai does not."""
    target = tmp_path / "pwned"
    data = PROTO2 + _payloads(target)["builtins.exec"] + pickle.STOP
    with pytest.raises(UnsafePickleError):
        read_bytes(data)
    assert not target.exists()
    pickle.loads(data)  # creates an empty file, nothing else
    assert target.exists()


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
@pytest.mark.parametrize("evil, name", [(_Exec, "exec"), (_System, os.system.__module__
                                                          + ".system")])
def test_reduce_payload_after_legitimate_arrays_is_refused_unrun(tmp_path, protocol, evil, name):
    target = tmp_path / "pwned"
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones((2, 2)), "b1": np.zeros(2),
                                   "evil": evil(target)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=rf"global '[\w.]*{name}' at byte \d+") as info:
        read_arrays(path)
    assert str(path) in str(info.value)
    assert not target.exists()


@pytest.mark.parametrize("protocol", [2, 5])
def test_object_array_is_refused_before_its_objects_are_unpickled(tmp_path, protocol):
    target = tmp_path / "pwned"
    data = pickle.dumps({"W": np.ones(2), "a": np.array([_Exec(target), 1], dtype=object)},
                        protocol=protocol)
    with pytest.raises(UnsafePickleError, match="dtype 'O8' at byte"):
        read_bytes(data)
    assert not target.exists()


@pytest.mark.parametrize("value, words", [
    ({"a": [np.ones(2)]}, "opcode EMPTY_LIST"),
    ({"a": {"b": np.ones(2)}}, "the value of 'a' is a dict"),
    ({"a": (np.ones(2),)}, "the value of 'a' is a tuple"),
    ({"a": "text"}, "the value of 'a' is str"),
    ({"a": None}, "the value of 'a' is NoneType"),
    ({"a": 1.5}, "opcode BINFLOAT"),
    ({"a": {1, 2}}, "opcode EMPTY_SET|global '__builtin__.set'"),
    ({1: np.ones(2)}, "a key of the dict is int 1"),
    ({b"a": np.ones(2)}, "a key of the dict is a bytes"),
    ({"a": np.float64(1.0)}, "global 'numpy._core.multiarray.scalar'"),
    ({"a": np.ones(2, dtype=complex)}, "dtype 'c16'"),
    ({"a": np.zeros(2, dtype=[("x", "<f8")])}, "dtype 'V8'"),
    ({"a": np.array(["text"])}, "dtype 'U4'"),
    ({"a": np.array(["2020-01-01"], dtype="M8[D]")}, "dtype 'M8'"),
    (np.ones(2), "holds a NumPy array, not a dict"),
    ([np.ones(2)], "opcode EMPTY_LIST"),
    (np.ma.masked_array([1.0]), "global 'numpy.ma.core._mareconstruct'"),
], ids=["list", "nested_dict", "tuple", "str", "none", "float", "set", "int_key", "bytes_key",
        "numpy_scalar", "complex", "structured", "unicode", "datetime", "bare_array",
        "top_list", "masked_array"])
@pytest.mark.parametrize("protocol", [2, 5])
def test_anything_but_a_dict_of_numeric_arrays_is_refused(value, words, protocol):
    with pytest.raises(UnsafePickleError, match=r"at byte \d+") as info:
        read_bytes(pickle.dumps(value, protocol=protocol))
    assert re.search(words, str(info.value))


def _reduce_at_end(fn_and_args: bytes) -> tuple[bytes, bytes]:
    """Split a ``_call`` into what comes before its REDUCE and the REDUCE."""
    assert fn_and_args.endswith(pickle.REDUCE)
    return fn_and_args[:-1], pickle.REDUCE


@pytest.mark.parametrize("before, offending, words", [
    (_str("touch x"), pickle.INST + b"os\nsystem\n", "opcode INST"),
    (pickle.MARK + _global("numpy.ndarray"), pickle.OBJ, "opcode OBJ"),
    (pickle.MARK, _global("os.system") + _str("touch x") + pickle.OBJ, "global 'os.system'"),
    (_global("numpy.ndarray") + _tuple(_tuple(_int(2))), pickle.NEWOBJ, "opcode NEWOBJ"),
    (_global("collections.OrderedDict") + pickle.EMPTY_TUPLE + pickle.EMPTY_DICT,
     pickle.NEWOBJ_EX, "opcode NEWOBJ_EX"),
    (b"", pickle.EXT1 + b"\x01", "opcode EXT1"),
    (b"", pickle.EXT2 + b"\x01\x00", "opcode EXT2"),
    (b"", pickle.PERSID + b"0\n", "opcode PERSID"),
    (_str("0"), pickle.BINPERSID, "opcode BINPERSID"),
    # BUILD that would set attributes (a __dict__ or __setstate__ state) on something
    (_call(_global("collections.OrderedDict")) + pickle.EMPTY_DICT, pickle.BUILD,
     "BUILD at byte"),
    (_reconstruct() + pickle.EMPTY_DICT, pickle.BUILD, "BUILD at byte"),
    (_array((1,), _bytes(b"\0" * 8)) + _tuple(_int(1)), pickle.BUILD, "BUILD at byte"),
    (_dtype("f8") + _tuple(_int(3)), pickle.BUILD, "BUILD at byte"),
    (_call(_global("numpy.dtype"), _str("f8"), pickle.NEWFALSE, pickle.NEWTRUE)
     + _tuple(_int(3), _str("|"), pickle.NONE * 3, _int(-1), _int(-1), _int(63)), pickle.BUILD,
     "BUILD at byte"),  # the flags of object dtype
    # calls of allowed names with arguments NumPy's pickles never use
    _reduce_at_end(_call(_global("numpy.core.multiarray._reconstruct"),
                         _global("numpy.dtype"), _tuple(_int(0)), _bytes(b"b"))) + ("REDUCE",),
    _reduce_at_end(_call(_global("numpy._core.multiarray._reconstruct"),
                         _global("collections.OrderedDict"), _tuple(_int(0)), _bytes(b"b")))
    + ("REDUCE",),
    _reduce_at_end(_call(_global("numpy.core.numeric._frombuffer"), _bytes(b"\0" * 8),
                         _str("f8"), _tuple(_int(1)), _str("C"))) + ("REDUCE",),
    _reduce_at_end(_call(_global("_codecs.encode"), _str("x"), _str("rot13"))) + ("REDUCE",),
    _reduce_at_end(_call(_global("builtins.bytes"), _int(10**9))) + ("REDUCE",),
    _reduce_at_end(_call(_global("numpy.ndarray"), _tuple(_int(10**9)))) + ("REDUCE",),
    _reduce_at_end(_call(_call(_global("collections.OrderedDict")))) + ("REDUCE",),
    (_int(1) + _int(2), pickle.STACK_GLOBAL, "STACK_GLOBAL at byte"),
    (_global("numpy.ndarray") + W, pickle.SETITEM, "SETITEM(S) at byte"),
], ids=["INST", "OBJ", "OBJ_global", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2", "PERSID",
        "BINPERSID", "BUILD_dict_state", "BUILD_array_with_dict", "BUILD_twice",
        "BUILD_dtype_short", "BUILD_object_dtype_flags", "reconstruct_dtype",
        "reconstruct_ordereddict", "frombuffer_str_dtype", "codecs_other_codec",
        "bytes_of_size", "ndarray_called", "call_a_dict", "STACK_GLOBAL_ints",
        "SETITEM_on_class"])
def test_hand_built_hostile_pickles_are_refused_naming_opcode_and_offset(before, offending,
                                                                          words):
    data = PROTO2 + pickle.EMPTY_DICT + before + offending + pickle.STOP
    offset = len(PROTO2 + pickle.EMPTY_DICT + before)
    with pytest.raises(UnsafePickleError) as info:
        read_bytes(data)
    message = str(info.value)
    assert words in message and re.search(rf"at byte {offset}\b", message)


REFUSED_OPCODES = [op for op in pickletools.opcodes if op.name not in ALLOWED_OPCODES]


@pytest.mark.parametrize("opcode", REFUSED_OPCODES, ids=lambda op: op.name)
def test_every_opcode_a_dict_of_arrays_does_not_use_is_refused_unread(opcode):
    prefix = PROTO2 + pickle.EMPTY_DICT + pickle.MARK + W
    data = prefix + opcode.code.encode("latin-1") + b"os\nsystem\n" + b"\0" * 16 + pickle.STOP
    with pytest.raises(UnsafePickleError, match=rf"opcode {opcode.name} at byte {len(prefix)}\b"
                       r" \(kobai interprets only"):
        read_bytes(data)


def test_the_allowed_opcodes_and_names_cannot_import_call_or_extend():
    names = {op.name for op in pickletools.opcodes}
    assert ALLOWED_OPCODES <= names
    assert ALLOWED_OPCODES.isdisjoint({"INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "EXT1", "EXT2",
                                       "EXT4", "PERSID", "BINPERSID", "NEXT_BUFFER",
                                       "READONLY_BUFFER", "APPEND", "APPENDS", "ADDITEMS"})
    assert len(REFUSED_OPCODES) >= 20
    assert ALLOWED_GLOBALS == {
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.ndarray", "numpy.dtype", "numpy.core.numeric._frombuffer",
        "numpy._core.numeric._frombuffer", "collections.OrderedDict", "_codecs.encode",
        "builtins.bytes", "__builtin__.bytes"}


@pytest.mark.parametrize("name", ["numpy.ndarray.tofile", "numpy.load", "numpy.frombuffer",
                                  "numpy.core.multiarray.scalar", "builtins.open",
                                  "builtins.bytearray", "copyreg._reconstructor",
                                  "pickle.loads", "collections.namedtuple", "_codecs.decode"])
@pytest.mark.parametrize("how", [_global, _stack_global])
def test_names_near_the_allowed_ones_are_refused(name, how):
    data = PROTO2 + how(name)
    offset = 2 if how is _global else len(data) - 1  # GLOBAL's start, or STACK_GLOBAL's
    with pytest.raises(UnsafePickleError, match=rf"global {re.escape(repr(name))} at byte "
                                                rf"{offset}\b"):
        read_bytes(data + pickle.STOP)


# -- corrupted pickles -------------------------------------------------------------------------
@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_a_pickle_cut_anywhere_is_a_clear_error(protocol):
    data = pickle.dumps({"W": np.arange(3.0), "b": np.ones(2, np.float32)}, protocol=protocol)
    for cut in range(len(data)):
        with pytest.raises(ArraysFileError, match="truncated|ends"):
            read_bytes(data[:cut])


@pytest.mark.parametrize("data, words", [
    (_dict(_str("W") + _array((10**12,), _bytes(b"\0" * 8))), "8,000,000,000,000 bytes"),
    (_dict(_str("W") + _array((2**62, 2**62), _bytes(b"\0" * 8))), "bytes of data"),
    (_dict(_str("W") + _array((3,), _bytes(b"\0" * 16))), "24 bytes"),
    (_dict(_str("W") + _array((-1,), _bytes(b""))), "shape"),
    (_dict(_str("W") + _array((1,) * 65, _bytes(b"\0" * 8))), "shape"),
    (PROTO2 + pickle.BINBYTES8 + struct.pack("<Q", 2**62) + b"abc", "4,611,686,018,427,387,904"),
    (PROTO2 + pickle.BYTEARRAY8 + struct.pack("<Q", 2**64 - 1) + b"abc", "bytes"),
    (PROTO2 + pickle.BINUNICODE + struct.pack("<I", 2**32 - 1) + b"abc", "bytes"),
    (PROTO2 + pickle.BINSTRING + struct.pack("<i", -5) + b"abc", "negative length"),
    (PROTO2 + pickle.SHORT_BINBYTES + b"\xff" + b"abc", "255 bytes"),
    (PROTO2 + pickle.TUPLE1 + pickle.STOP, "stack underflow"),
    (PROTO2 + pickle.EMPTY_DICT + pickle.NONE + pickle.SETITEM + pickle.STOP, "underflow"),
    (PROTO2 + pickle.STOP, "underflow"),
    (PROTO2 + pickle.NONE + pickle.TUPLE + pickle.STOP, "no MARK"),
    (PROTO2 + pickle.EMPTY_DICT, "before the pickle's STOP"),
    (PROTO2 + pickle.BINGET + b"\x05" + pickle.STOP, "memo key 5"),
    (PROTO2 + b"\xff" + pickle.STOP, "not a pickle opcode"),
    (pickle.PROTO + b"\x06" + pickle.EMPTY_DICT + pickle.STOP, "protocol 6"),
    (b"Iabc\n.", "not an integer"),
    (PROTO2 + pickle.SHORT_BINUNICODE + b"\x02\xff\xfe" + pickle.STOP, "invalid text"),
    (PROTO2 + pickle.NONE * 100_001 + pickle.STOP, "stack grows"),
    (PROTO2 + pickle.NONE + b"".join(pickle.LONG_BINPUT + struct.pack("<I", i)
                                     for i in range(100_001)), "is outside 0 to 99,999"),
], ids=["shape_too_big", "shape_overflowing", "shape_short", "negative_dim", "65_dims",
        "BINBYTES8_huge", "BYTEARRAY8_huge", "BINUNICODE_huge", "BINSTRING_negative",
        "SHORT_BINBYTES_short", "TUPLE1_empty", "SETITEM_empty", "STOP_empty", "no_mark",
        "no_stop", "unset_memo", "unknown_opcode", "protocol_6", "bad_int", "bad_utf8",
        "deep_stack", "huge_memo"])
def test_corrupted_pickles_are_clear_errors_without_allocating(data, words):
    with pytest.raises(ArraysFileError) as info:
        read_bytes(data)
    assert words in str(info.value)


def test_array_data_used_twice_through_the_memo_is_refused():
    """Bounded memory: each array must bring its own bytes (no 1 kB file making 1 GB)."""
    raw = _bytes(b"\0" * 800) + pickle.BINPUT + b"\x07"
    data = _dict(_str("a") + _array((100,), raw),
                 *(_str(f"b{i}") + _array((100,), pickle.BINGET + b"\x07") for i in range(3)))
    with pytest.raises(ArraysFileError, match="used twice"):
        read_bytes(data)


def test_an_empty_dict_and_protocol_0_true_false_are_read():
    assert read_bytes(PROTO2 + pickle.EMPTY_DICT + pickle.STOP) == {}
    data = pickle.dumps({"f": np.asfortranarray(np.ones((2, 2)))}, protocol=0)
    assert b"I01\n" in data  # is_fortran=True, as protocol 0 writes it
    assert read_bytes(data)["f"].flags.f_contiguous


# -- properties --------------------------------------------------------------------------------
_DTYPES = ["<f8", ">f8", "<f4", ">f4", "<f2", "|b1", "|i1", "|u1", "<i2", ">i4", "<i8", ">u8"]
_ARRAYS = st.sampled_from(_DTYPES).flatmap(lambda dt: hnp.arrays(
    np.dtype(dt), hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4)))


@given(arrays=st.dictionaries(st.text(max_size=6), _ARRAYS, max_size=4),
       protocol=st.integers(0, pickle.HIGHEST_PROTOCOL), fortran=st.booleans(),
       ordered=st.booleans())
@settings(max_examples=60, deadline=None)
def test_any_dict_of_numeric_arrays_at_any_protocol_reads_back_bit_for_bit(arrays, protocol,
                                                                             fortran, ordered):
    if fortran:
        arrays = {key: np.asfortranarray(value) for key, value in arrays.items()}
    data = pickle.dumps((OrderedDict if ordered else dict)(arrays), protocol=protocol)
    assert_same_arrays(read_bytes(data), pickle.loads(data))


@given(st.data())
@settings(max_examples=150, deadline=None)
def test_a_damaged_pickle_gives_a_clear_error_or_a_dict_of_arrays(data):
    protocol = data.draw(st.integers(0, pickle.HIGHEST_PROTOCOL))
    damaged = bytearray(pickle.dumps({"W": np.arange(4.0).reshape(2, 2),
                                      "b": np.ones(2, np.float32)}, protocol=protocol))
    for _ in range(data.draw(st.integers(1, 4))):
        damaged[data.draw(st.integers(0, len(damaged) - 1))] = data.draw(st.integers(0, 255))
    try:
        result = read_bytes(bytes(damaged))
    except (ArraysFileError, UnsafePickleError):
        return
    assert isinstance(result, dict)
    for key, value in result.items():
        assert isinstance(key, str) and isinstance(value, np.ndarray)
        assert value.dtype.kind in "biuf"


def test_memo_keys_that_collide_in_a_hash_table_are_refused_at_once():
    """Keys that are multiples of 2**61 - 1 hash alike: 20,000 of them took 9 s to insert
    (quadratic); a pickler numbers its memo from 0, so the first such key is refused."""
    m = (1 << 61) - 1
    payload = b"(d" + b"".join(b"p%d\n" % (i * m) for i in range(1, 20_001)) + b"."
    with pytest.raises(ArraysFileError, match="memo key 2305843009213693951 at byte 2"):
        read_pickled_arrays(io.BytesIO(payload))
