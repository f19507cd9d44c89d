"""safetensors: kobai.export.to_safetensors and kobai.io.load, Network.load_params and
read_arrays on safetensors files, the reference library (``safetensors``) as the oracle for the
format both ways, and crafted files refused before anything of their declared size exists."""

import io
import json
import os
import struct
import tracemalloc

import export_nets
import numpy as np
import pytest
from conftest import require
from export_nets import trained_nets

from kobai.arrays_file import ArraysFileError, read_arrays, write_safetensors
from kobai.export import FORMATS, ExportError, to_safetensors
from kobai.io import CheckpointError, load, network_meta
from kobai.layers import Affine, Relu
from kobai.nets import MultiLayerNet, Network, TwoLayerNet

#: the kinds of trained_nets() (listed, so that collecting the tests trains nothing)
KINDS = ["deep-convnet", "generic", "mlp-relu-bn-dropout", "mlp-sigmoid", "mlp-tanh-bn",
         "simple-convnet", "two-layer"]


def files_in(directory):
    return sorted(os.listdir(directory))


def images_for(net, n=300):
    x, _ = export_nets.test_images(n)
    return x.reshape(-1, *net.input_shape)


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


# -- round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_load_gives_the_same_network_predicting_bit_for_bit(tmp_path, kind):
    net = trained_nets()[kind]
    data = {"source": "sample", "note": kind}
    path = to_safetensors(net, tmp_path / f"{kind}.safetensors", data=data)
    ckpt = load(path)
    assert type(ckpt.net) is type(net) and ckpt.net.get_config() == net.get_config()
    assert ckpt.optimizer is None and ckpt.history is None and ckpt.data == data
    assert_same_state(ckpt.net, net)  # batch norm's running statistics included
    x = images_for(net)
    np.testing.assert_array_equal(ckpt.net.predict(x), net.predict(x))
    assert files_in(tmp_path) == [f"{kind}.safetensors"]


def test_the_round_trips_cover_every_kind_of_trained_net():
    assert sorted(trained_nets()) == KINDS


@pytest.mark.parametrize("kind", ["mlp-relu-bn-dropout", "simple-convnet", "generic"])
def test_float64_networks_round_trip_as_float64(tmp_path, kind):
    net = trained_nets()[kind].astype(np.float64)
    path = to_safetensors(net, tmp_path / "model.safetensors")
    ckpt = load(path)
    assert ckpt.net.dtype == np.float64 and ckpt.meta["dtype"] == "float64"
    assert_same_state(ckpt.net, net)
    x = images_for(net, 100).astype(np.float64)
    np.testing.assert_array_equal(ckpt.net.predict(x), net.predict(x))


def test_dropout_and_batchnorm_settings_survive(tmp_path):
    net = MultiLayerNet(784, [30, 20], 10, use_batchnorm=True, use_dropout=True,
                        dropout_ratio=0.35, rng=1)
    state = net.state_dict()
    state["running_mean1"] += 0.25
    state["running_var2"] *= 3.0
    net.load_state_dict(state)
    ckpt = load(to_safetensors(net, tmp_path / "m.safetensors"))
    assert ckpt.net.get_config()["dropout_ratio"] == 0.35
    assert_same_state(ckpt.net, net)


def test_export_format_table_writes_safetensors_in_the_dtype_asked(tmp_path):
    net = trained_nets()["two-layer"]
    fmt = FORMATS["safetensors"]
    [path] = fmt.write(net, tmp_path / f"m{fmt.suffix}", dtype=np.float64, data=None)
    ckpt = load(path)
    assert ckpt.net.dtype == np.float64
    np.testing.assert_array_equal(ckpt.net.params["W1"], net.params["W1"].astype(np.float64))


@pytest.mark.parametrize("kind", ["mlp-relu-bn-dropout", "deep-convnet"])
def test_load_params_fills_an_existing_network(tmp_path, kind):
    net = trained_nets()[kind]
    path = to_safetensors(net, tmp_path / "weights.pkl")  # told by content, not by name
    fresh = type(net).from_config(net.get_config())
    fresh.load_params(path)
    assert_same_state(fresh, net)  # no dropout rescaling: that is for the book's pickles
    x = images_for(net, 100)
    np.testing.assert_array_equal(fresh.predict(x), net.predict(x))


def test_a_file_named_npz_is_read_as_safetensors(tmp_path):
    net = TwoLayerNet(6, 5, 3, rng=0)
    path = to_safetensors(net, tmp_path / "model.npz")
    assert_same_state(load(path).net, net)
    assert set(read_arrays(path)) == {"W1", "b1", "W2", "b2"}


# -- the reference library as the oracle ----------------------------------------------------------
def every_dtype():
    rng = np.random.default_rng(3)
    arrays = {f"{np.dtype(dt).name}": (rng.standard_normal((3, 2)) * 50).astype(dt)
              for dt in (np.float16, np.float32, np.float64, np.int8, np.int16, np.int32,
                         np.int64, np.uint8, np.uint16, np.uint32, np.uint64)}
    arrays.update(flags=np.array([True, False, True]), scalar=np.array(2.5),
                  empty=np.zeros((0, 4), np.float32), big=np.arange(12.0).reshape(2, 3, 2))
    return arrays


def test_kobai_writes_what_the_reference_library_writes_byte_for_byte():
    st = require("safetensors.numpy")
    arrays, meta = every_dtype(), {"kobai": "é"}
    buf = io.BytesIO()
    write_safetensors(buf, arrays, meta)
    assert buf.getvalue() == st.save(arrays, metadata=meta)
    # of several metadata keys, the reference writes them in a hash map's order, kobai sorted
    meta = {"b": "2", "a": "1", "c": "3"}
    write_safetensors(buf := io.BytesIO(), arrays, meta)
    assert st.load(buf.getvalue()).keys() == arrays.keys()
    raw = buf.getvalue()
    header = json.loads(raw[8:8 + int.from_bytes(raw[:8], "little")])
    assert list(header["__metadata__"].items()) == sorted(meta.items())
    buf = io.BytesIO()
    write_safetensors(buf, {"x": np.ones(3, np.float32)})
    assert buf.getvalue() == st.save({"x": np.ones(3, np.float32)})


def test_the_reference_library_reads_kobais_file(tmp_path):
    st = require("safetensors.numpy")
    from safetensors import safe_open

    net = trained_nets()["mlp-tanh-bn"]
    path = to_safetensors(net, tmp_path / "m.safetensors", data={"source": "sample"})
    theirs = st.load_file(path)
    assert_same_state(_net_of(net, theirs), net)
    with safe_open(path, "np") as fh:
        meta = fh.metadata()
    assert meta["format"] == "kobai.safetensors"
    assert json.loads(meta["kobai"]) == {**network_meta(net), "data": {"source": "sample"}}


def _net_of(like, state):
    net = type(like).from_config(like.get_config())
    net.load_state_dict(state)
    return net


def test_kobai_reads_what_the_reference_library_writes(tmp_path):
    st = require("safetensors.numpy")
    net = trained_nets()["simple-convnet"]
    path = tmp_path / "theirs.safetensors"
    st.save_file(net.state_dict(), path)
    fresh = type(net).from_config(net.get_config())
    fresh.load_params(path)
    assert_same_state(fresh, net)
    st.save_file(every_dtype(), path)
    got = read_arrays(path)
    for key, arr in every_dtype().items():
        assert got[key].dtype == arr.dtype and got[key].shape == arr.shape, key
        np.testing.assert_array_equal(got[key], arr, err_msg=key)
    with pytest.raises(CheckpointError, match="without kobai's metadata.*load_params"):
        load(path)


def test_bfloat16_is_widened_to_float32_exactly(tmp_path):
    # bfloat16 is a float32's upper 16 bits: 1.0 = 0x3F80, -2.5 = 0xC020, 0.15625 = 0x3E20
    path = tmp_path / "bf16.safetensors"
    path.write_bytes(crafted({"w": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}},
                             struct.pack("<3H", 0x3F80, 0xC020, 0x3E20)))
    w = read_arrays(path)["w"]
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w, [1.0, -2.5, 0.15625])


def test_bfloat16_of_torch_reads_as_torch_widens_it(tmp_path):
    torch = require("torch")
    require("safetensors")
    from safetensors.torch import save_file

    t = torch.randn(4, 5, generator=torch.Generator().manual_seed(0)).to(torch.bfloat16)
    save_file({"t": t}, tmp_path / "t.safetensors")
    np.testing.assert_array_equal(read_arrays(tmp_path / "t.safetensors")["t"],
                                  t.float().numpy())


# -- crafted and damaged files ------------------------------------------------------------------
def crafted(header, data=b"", length=None):
    """A safetensors file of ``header`` (a dict, or the header's exact bytes) and ``data``."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw) if length is None else length) + raw + data


def f32(begin, end, shape=None):
    return {"dtype": "F32", "shape": [(end - begin) // 4] if shape is None else shape,
            "data_offsets": [begin, end]}


CRAFTED = {
    "huge tensor": (crafted({"W": f32(0, 4 * 10**12, [10**12])}, bytes(900)),
                    r"tensor 'W' takes bytes 0 to 4,000,000,000,000 of the data area, which "
                    r"holds 900"),
    "shape not its bytes": (crafted({"W": f32(0, 8, [3])}, bytes(8)),
                            r"F32 of shape \(3,\) \(12 bytes\), but its data_offsets \[0, 8\]"),
    "overlap": (crafted({"a": f32(0, 8), "b": f32(4, 12)}, bytes(12)),
                "tensor 'b' .* overlaps tensor 'a'"),
    "hole": (crafted({"a": f32(0, 4), "b": f32(8, 12)}, bytes(12)),
             "bytes 4 to 8 of the data area belong to no tensor"),
    "bytes left over": (crafted({"a": f32(0, 4)}, bytes(8)),
                        "end at byte 4 of the data area, which holds 8"),
    "dtype F8_E4M3": (crafted({"a": {"dtype": "F8_E4M3", "shape": [1], "data_offsets": [0, 1]}},
                              bytes(1)), "tensor 'a' has dtype 'F8_E4M3'; kobai reads F16"),
    "dtype XYZ": (crafted({"a": {"dtype": "XYZ", "shape": [1], "data_offsets": [0, 1]}},
                          bytes(1)), "dtype 'XYZ'"),
    "empty but huge": (crafted({"a": f32(0, 0, [0, 2**62])}), r"too large for any array"),
    "negative size": (crafted({"a": f32(0, 4, [-1])}, bytes(4)), r"shape \[-1\]"),
    "offsets backwards": (crafted({"a": f32(8, 4, [1])}, bytes(8)), r"data_offsets \[8, 4\]"),
    "entry not an object": (crafted({"a": 7}), "described by a JSON int"),
    "header beyond the file": (crafted({"a": f32(0, 4)}, bytes(4), length=5000),
                               "header length is 5,000 bytes, but only 65 bytes follow"),
    "200 MB header": (crafted({}, length=200_000_000),
                      "200,000,000 bytes, more than the 100,000,000"),
    "not JSON": (crafted(b"{W1: [1, 2]}"), "not valid JSON"),
    "NaN in JSON": (crafted(b'{"a": NaN}'), "not valid JSON"),
    "not UTF-8": (crafted(b'{"\xff": 1}'), "not UTF-8"),
    "duplicate name": (crafted(b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
                               b' "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}',
                               bytes(4)), "names 'a' twice"),
    "metadata not str": (crafted({"__metadata__": {"kobai": 1}}), "maps 'kobai' to a int"),
    "metadata a list": (crafted({"__metadata__": ["x"]}), "__metadata__ is a JSON list"),
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
@pytest.mark.parametrize("reader", ["read_arrays", "load"])
def test_crafted_file_is_refused_in_one_line_naming_it(tmp_path, case, reader):
    content, match = CRAFTED[case]
    path = tmp_path / "crafted.safetensors"
    path.write_bytes(content)
    error, read = (ArraysFileError, read_arrays) if reader == "read_arrays" else \
        (CheckpointError, load)
    with pytest.raises(error, match=match) as info:
        read(path)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


@pytest.mark.parametrize("read", [read_arrays, load])
def test_a_header_declaring_a_terabyte_allocates_nothing_of_it(tmp_path, read):
    path = tmp_path / "lying.safetensors"
    path.write_bytes(crafted({"W": f32(0, 4 * 10**12, [10**6, 10**6])}, bytes(1000)))
    assert path.stat().st_size < 1100
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="data area"):
            read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_max_bytes_refuses_a_larger_file_before_reading_it(tmp_path):
    path = tmp_path / "m.safetensors"
    write_safetensors(path, {"W": np.zeros((100, 100))})
    with pytest.raises(ArraysFileError, match="declare 80,000 bytes, more than the 1,000"):
        read_arrays(path, max_bytes=1000)
    assert read_arrays(path, max_bytes=80_000)["W"].shape == (100, 100)


@pytest.mark.parametrize("cut", ["in the length", "in the header", "in the last tensor"])
def test_truncated_file_is_refused(tmp_path, cut):
    net = trained_nets()["two-layer"]
    path = to_safetensors(net, tmp_path / "m.safetensors")
    data = path.read_bytes()
    keep = {"in the length": 12, "in the header": 8 + len(data[8:]) // 500,
            "in the last tensor": len(data) - 3}[cut]
    path.write_bytes(data[:keep])
    with pytest.raises(ArraysFileError, match="truncated|not safetensors"):
        read_arrays(path)
    with pytest.raises(CheckpointError, match="truncated|not a kobai checkpoint"):
        load(path)


def edited(path, change):
    """Rewrite kobai's safetensors file at ``path`` with ``change(tensors, meta)`` applied."""
    from safetensors import safe_open

    tensors = read_arrays(path)
    with safe_open(path, "np") as fh:
        metadata = fh.metadata()
    meta = json.loads(metadata["kobai"])
    change(tensors, meta)
    write_safetensors(path, tensors, {**metadata, "kobai": json.dumps(meta)})


TAMPERING = {
    "wrong shape": (lambda t, m: t.__setitem__("W1", np.zeros((6, 8))),
                    r"tensor 'W1' has shape \(6, 8\) but \(6, 5\) is expected"),
    "wrong dtype": (lambda t, m: t.__setitem__("b1", t["b1"].astype(np.float32)),
                    "tensor 'b1' is float32 but float64 is expected"),
    "missing tensor": (lambda t, m: t.pop("b2"), r"missing \['param/b2'\]"),
    "non-finite": (lambda t, m: t["W2"].__setitem__((0, 0), np.inf), "must hold finite"),
    "newer format": (lambda t, m: m.update(format_version=99), "upgrade kobai"),
    "sizes beyond the arrays": (lambda t, m: m["config"].update(hidden_size=10**9),
                                "a size of 1000000000, but no array"),
    "another class": (lambda t, m: m.update({"class": "os.system"}),
                      "network class is 'os.system'"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_kobai_file_meets_the_checks_of_a_checkpoint(tmp_path, case):
    require("safetensors")
    change, match = TAMPERING[case]
    path = to_safetensors(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "m.safetensors")
    edited(path, change)
    with pytest.raises(CheckpointError, match=match) as info:
        load(path)
    assert str(info.value).startswith(str(path))


# -- refused networks and paths; nothing half-written -------------------------------------------
def test_a_network_holding_nan_is_refused_naming_the_array(tmp_path):
    path = to_safetensors(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "m.safetensors")
    old = path.read_bytes()
    net = TwoLayerNet(6, 5, 3, rng=1)
    net.params["b2"][1] = np.nan
    with pytest.raises(ExportError, match="TwoLayerNet's b2 holds 1 NaN or infinite value"):
        to_safetensors(net, path)
    assert path.read_bytes() == old and files_in(tmp_path) == ["m.safetensors"]


def test_a_network_kobai_io_cannot_save_is_refused_as_io_save_refuses_it(tmp_path):
    class MyNet(TwoLayerNet):
        pass

    with pytest.raises(TypeError, match="kobai.io.save can save .*got .*MyNet"):
        to_safetensors(MyNet(6, 5, 3), tmp_path / "m.safetensors")

    class Square(Relu):
        pass

    net = Network([Affine(np.ones((4, 3)), np.zeros(3)), Square(),
                   Affine(np.ones((3, 2)), np.zeros(2))])
    with pytest.raises(TypeError, match="not registered"):
        to_safetensors(net, tmp_path / "m.safetensors")
    assert files_in(tmp_path) == []


def test_data_that_json_cannot_hold_is_refused_before_writing(tmp_path):
    with pytest.raises(TypeError, match="as JSON .*the history and data must hold only"):
        to_safetensors(TwoLayerNet(6, 5, 3), tmp_path / "m.safetensors", data={"x": {1, 2}})
    assert files_in(tmp_path) == []


def test_a_missing_folder_or_a_folder_as_path_is_refused_clearly(tmp_path):
    net = TwoLayerNet(6, 5, 3, rng=0)
    with pytest.raises(FileNotFoundError, match="the directory .*nowhere does not exist"):
        to_safetensors(net, tmp_path / "nowhere" / "m.safetensors")
    with pytest.raises(IsADirectoryError, match="it is a folder; give a file name"):
        to_safetensors(net, tmp_path)
    assert files_in(tmp_path) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = to_safetensors(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "m.safetensors")
    old = path.read_bytes()
    with pytest.raises(ValueError, match="complex128"):
        write_safetensors(path, {"a": np.ones(2), "z": np.ones(2, complex)})

    def crash(src, dst):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        to_safetensors(TwoLayerNet(6, 5, 3, rng=1), path)
    assert path.read_bytes() == old and files_in(tmp_path) == ["m.safetensors"]


@pytest.mark.parametrize("arrays, metadata, error, words", [
    ({"__metadata__": np.ones(1)}, None, ValueError, "cannot be named '__metadata__'"),
    ({"a": [1.0]}, None, TypeError, "must be a NumPy array, got list"),
    ({"a": np.array(["x"])}, None, ValueError, "<U1"),
    ({"a": np.ones(1)}, {"k": 1}, TypeError, "maps str to str"),
], ids=["metadata name", "list", "str array", "metadata value"])
def test_write_safetensors_refuses_what_the_format_cannot_hold(arrays, metadata, error, words):
    buf = io.BytesIO()
    with pytest.raises(error, match=words):
        write_safetensors(buf, arrays, metadata)
    assert buf.getvalue() == b""
