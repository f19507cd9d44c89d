"""Tests for kobai.io: checkpoint round trips, exact resume, atomic saves, refused files."""

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import tracemalloc
import warnings
import zipfile

import numpy as np
import pytest
from conftest import blobs

import kobai.io as kio
from kobai.io import CheckpointError, SaveCheckpoint, atomic_write, load, load_net, save
from kobai.layers import Affine, Layer
from kobai.nets import MultiLayerNet, Network, TwoLayerNet
from kobai.optimizers import get_optimizer
from kobai.trainer import History, Trainer

NETS = {
    "two-layer-sigmoid": lambda dtype: TwoLayerNet(6, 5, 3, rng=0, dtype=dtype),
    "two-layer-relu": lambda dtype: TwoLayerNet(6, 5, 3, activation="relu", rng=0,
                                                dtype=dtype),
    "mlp-plain": lambda dtype: MultiLayerNet(6, [7, 5], 3, rng=0, dtype=dtype),
    "mlp-bn-dropout-decay": lambda dtype: MultiLayerNet(
        6, [7, 5], 3, activation="tanh", weight_init_std=0.1, weight_decay_lambda=0.01,
        use_dropout=True, dropout_ratio=0.3, use_batchnorm=True, rng=0, dtype=dtype),
}


def trained(kind, dtype, optimizer="adam"):
    """A net and optimizer after a few steps, so every array (slots, running stats) is set."""
    net = NETS[kind](dtype)
    opt = get_optimizer(optimizer, lr=0.01)
    x, t = blobs(120)
    for i in range(0, 120, 30):
        net.train_step(x[i:i + 30], t[i:i + 30], opt)
    return net, opt, x


def files_in(directory):
    return sorted(p.name for p in directory.iterdir())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(NETS))
def test_round_trip_predicts_bit_identically(tmp_path, kind, dtype):
    net, opt, x = trained(kind, dtype)
    history = {"seed": 1, "train_loss_list": [1.5, 1.25], "epochs": []}
    path = save(net, tmp_path / "model.npz", optimizer=opt, history=history)
    ckpt = load(path)
    assert type(ckpt.net) is type(net) and ckpt.net.dtype == np.dtype(dtype)
    assert ckpt.net.get_config() == net.get_config()
    for key, arr in net.state_dict().items():
        got = ckpt.net.state_dict()[key]
        assert got.dtype == arr.dtype
        np.testing.assert_array_equal(got, arr)
    np.testing.assert_array_equal(ckpt.net.predict(x), net.predict(x))
    saved, restored = opt.state_dict(), ckpt.optimizer.state_dict()
    assert (restored["name"], restored["hyper"], restored["step"]) == \
        (saved["name"], saved["hyper"], saved["step"])
    for slot, per_param in saved["slots"].items():
        assert restored["slots"][slot].keys() == per_param.keys()
        for key, arr in per_param.items():
            np.testing.assert_array_equal(restored["slots"][slot][key], arr)
    assert ckpt.history == History.from_dict(history)
    assert ckpt.meta["class"] == type(net).__name__ and ckpt.meta["dtype"] == net.dtype.name
    assert ckpt.meta["format_version"] == kio.FORMAT_VERSION
    assert files_in(tmp_path) == ["model.npz"]


def test_the_history_comes_back_as_a_history_and_from_dict_still_takes_it(tmp_path):
    x, t = blobs(60)
    net = TwoLayerNet(6, 4, 3, rng=0)
    trainer = Trainer(net, x, t, x, t, epochs=2, mini_batch_size=20, rng=1, verbose=False,
                      callbacks=[SaveCheckpoint(tmp_path / "model.npz")])
    history = trainer.train()
    ckpt = load(tmp_path / "model.npz")
    assert isinstance(ckpt.history, History) and ckpt.history == history
    assert ckpt.history.test_acc_list == history.test_acc_list and ckpt.history.seed == 1
    again = History.from_dict(ckpt.history)  # what callers of the dict it was did
    assert again == ckpt.history and again is not ckpt.history


def test_net_alone_round_trips_and_load_net(tmp_path):
    net, _, x = trained("mlp-plain", np.float64)
    save(net, tmp_path / "m.npz")
    ckpt = load(tmp_path / "m.npz")
    assert ckpt.optimizer is None and ckpt.history is None
    np.testing.assert_array_equal(load_net(tmp_path / "m.npz").predict(x), net.predict(x))


def test_file_layout_is_plain_arrays_and_json(tmp_path):
    net, opt, _ = trained("mlp-bn-dropout-decay", np.float32)
    save(net, tmp_path / "m.npz", optimizer=opt)
    with np.load(tmp_path / "m.npz", allow_pickle=False) as npz:
        names = set(npz.files)
        meta = json.loads(npz["meta"].tobytes().decode("utf-8"))
        assert npz["meta"].dtype == np.uint8
    assert {"param/W1", "param/gamma1", "param/running_var2", "optimizer/m/W3",
            "optimizer/v/b1", "meta"} <= names
    assert meta["config"] == net.get_config() and meta["optimizer"]["name"] == "Adam"


@pytest.mark.parametrize("kind, optimizer, dtype", [
    ("two-layer-sigmoid", "SGD", np.float64),
    ("mlp-bn-dropout-decay", "Adam", np.float32),
    ("mlp-bn-dropout-decay", "Momentum", np.float64),
])
def test_resumed_training_equals_uninterrupted_training(tmp_path, kind, optimizer, dtype):
    x, t = blobs(130)
    common = {"mini_batch_size": 25, "optimizer": optimizer, "optimizer_param": {"lr": 0.05},
              "verbose": False}
    straight_net = NETS[kind](dtype)
    straight = Trainer(straight_net, x[:100], t[:100], x[100:], t[100:], epochs=4, rng=11,
                       **common).train()

    first = Trainer(NETS[kind](dtype), x[:100], t[:100], x[100:], t[100:], epochs=2, rng=11,
                    callbacks=[SaveCheckpoint(tmp_path / "model.npz")], **common)
    first.train()
    ckpt = load(tmp_path / "model.npz")
    resumed = Trainer(ckpt.net, x[:100], t[:100], x[100:], t[100:], epochs=4,
                      optimizer=ckpt.optimizer, mini_batch_size=25, verbose=False,
                      history=ckpt.history).train()

    assert resumed.train_loss_list == straight.train_loss_list
    strip = [{**vars(r), "seconds": 0} for r in straight.epochs]
    assert [{**vars(r), "seconds": 0} for r in resumed.epochs] == strip
    for key, arr in straight_net.state_dict().items():
        np.testing.assert_array_equal(ckpt.net.state_dict()[key], arr)


def test_interrupted_rename_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save(trained("two-layer-sigmoid", np.float64)[0], path)
    old = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash between write and rename")

    monkeypatch.setattr(kio.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        save(trained("mlp-plain", np.float64)[0], path)
    assert path.read_bytes() == old
    assert files_in(tmp_path) == ["model.npz"]


def test_interrupted_write_leaves_the_old_file_and_no_temp_file(tmp_path, monkeypatch):
    path = tmp_path / "model.npz"
    save(trained("two-layer-sigmoid", np.float64)[0], path)
    old = path.read_bytes()

    def half_write(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(kio.np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        save(trained("mlp-plain", np.float64)[0], path)
    assert path.read_bytes() == old
    assert files_in(tmp_path) == ["model.npz"]
    assert load(path).meta["class"] == "TwoLayerNet"


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "a.txt"
    with atomic_write(path) as fh:
        fh.write(b"first")
    with pytest.raises(RuntimeError), atomic_write(path) as fh:
        fh.write(b"second")
        raise RuntimeError
    assert path.read_bytes() == b"first" and files_in(tmp_path) == ["a.txt"]
    with pytest.raises(FileNotFoundError, match="the directory .*nowhere does not exist"):
        save(TwoLayerNet(6, 5, 3), tmp_path / "nowhere" / "m.npz")


# -- refused files ----------------------------------------------------------------------------
def rewrite(path, change):
    """Re-save the checkpoint at ``path`` after ``change(arrays, meta)`` edits it in place."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    original = arrays["meta"]
    meta = json.loads(original.tobytes())
    change(arrays, meta)
    if arrays.get("meta") is original:
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def edit_meta(fn):
    return lambda arrays, meta: fn(meta)


TAMPERING = {
    "hidden size edited": (edit_meta(lambda m: m["config"].update(hidden_size_list=[7, 6])),
                           r"'param/W2' has shape \(7, 5\) but .* needs \(7, 6\)"),
    "class edited": (edit_meta(lambda m: m.update({"class": "os.system"})),
                     "class is 'os.system'; kobai loads only .*TwoLayerNet, MultiLayerNet"),
    "newer format": (edit_meta(lambda m: m.update(format_version=99)),
                     "format 99 .* upgrade kobai"),
    "unknown argument": (edit_meta(lambda m: m["config"].update(colour="red")),
                         "constructor arguments do not build a MultiLayerNet"),
    "dtype edited": (edit_meta(lambda m: m.update(dtype="float32")),
                     "metadata says dtype 'float32' but the constructor arguments say"),
    "bad optimizer": (edit_meta(lambda m: m["optimizer"].update(name="AdamW")),
                      "optimizer cannot be rebuilt"),
    "optimizer step": (edit_meta(lambda m: m["optimizer"].update(step=-3)),
                       "optimizer state is invalid"),
    "not json": (lambda a, m: a.__setitem__("meta", np.frombuffer(b"{oops", np.uint8)),
                 "not valid UTF-8 JSON"),
    "wrong shape": (lambda a, m: a.__setitem__("param/W1", np.zeros((6, 8))),
                    r"'param/W1' has shape \(6, 8\) but .* needs \(6, 7\)"),
    "wrong dtype": (lambda a, m: a.__setitem__("param/b1", a["param/b1"].astype(np.float32)),
                    "'param/b1' is float32 but the metadata says float64"),
    "oversized array": (lambda a, m: a.__setitem__("param/W1", np.zeros((600, 700))),
                        r"'param/W1' takes 3360128 bytes but should be a float64 array of "
                        r"shape \(6, 7\)"),
    "missing array": (lambda a, m: a.pop("param/b2"), r"missing \['param/b2'\]"),
    "extra array": (lambda a, m: a.__setitem__("evil", np.zeros(3)), r"unexpected \['evil'\]"),
    "missing slot": (lambda a, m: a.pop("optimizer/m/W1"), r"missing \['optimizer/m/W1'\]"),
    "non-finite": (lambda a, m: a["param/W1"].__setitem__((0, 0), np.nan),
                   r"parameters cannot be loaded: state\['W1'\] must hold finite floats"),
    "history edited": (edit_meta(lambda m: m.update(history={
        "seed": 0, "train_loss_list": [], "epochs": [{"epoch": 2}]})),
        r"its training history is invalid: history epochs\[0\] has \['epoch'\]"),
    "no meta": (lambda a, m: a.pop("meta"), "no 'meta' entry"),
    "object meta": (lambda a, m: a.__setitem__("meta", np.array("{}")),
                    "does not identify a kobai checkpoint"),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_tampered_file_is_refused_with_a_clear_message(tmp_path, case):
    change, match = TAMPERING[case]
    net, opt, _ = trained("mlp-plain", np.float64)
    path = save(net, tmp_path / "model.npz", optimizer=opt)
    rewrite(path, change)
    with pytest.raises(CheckpointError, match=match) as info:
        load(path)
    assert str(info.value).startswith(str(path))


def test_pickle_containing_npz_is_refused(tmp_path):
    path = save(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "model.npz")
    rewrite(path, lambda a, m: a.__setitem__("param/W1", np.array([{"x": 1}], dtype=object)))
    with pytest.raises(CheckpointError, match="pickled"):
        load(path)
    with open(path, "wb") as fh:  # a plain pickle, which np.load would run with allow_pickle
        fh.write(b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00]\x94.")
    with pytest.raises(CheckpointError, match="not a kobai checkpoint"):
        load(path)


@pytest.mark.parametrize("cut", [0.05, 0.5, 0.99])
def test_truncated_file_is_refused(tmp_path, cut):
    path = save(trained("mlp-plain", np.float64)[0], tmp_path / "model.npz")
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * cut)])
    with pytest.raises(CheckpointError, match="truncated or corrupted"):
        load(path)


def test_flipped_byte_is_refused(tmp_path):
    net = trained("mlp-plain", np.float64)[0]
    path = save(net, tmp_path / "model.npz")
    data = bytearray(path.read_bytes())
    i = data.find(net.params["W2"].tobytes()[:16])
    data[i + 3] ^= 0x10
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="Bad CRC-32"):
        load(path)


def test_random_bytes_npy_and_missing_files_are_refused(tmp_path):
    junk = tmp_path / "junk.npz"
    junk.write_bytes(np.random.default_rng(0).bytes(1000))
    with pytest.raises(CheckpointError, match="junk.npz: is not a kobai checkpoint"):
        load(junk)
    npy = tmp_path / "w.npz"
    np.save(npy, np.zeros(3))
    (tmp_path / "w.npz.npy").rename(npy)
    with pytest.raises(CheckpointError, match="single .npy array"):
        load(npy)
    with pytest.raises(CheckpointError, match="nothing.npz: cannot read"):
        load(tmp_path / "nothing.npz")


def test_save_refuses_what_it_cannot_reload(tmp_path):
    class MyNet(MultiLayerNet):
        pass

    with pytest.raises(TypeError, match="can save .*TwoLayerNet, MultiLayerNet"):
        save(MyNet(6, [5], 3), tmp_path / "a.npz")
    class Square(Layer):  # a user's layer, not registered
        def forward(self, x, *, train=True):
            self.x = x
            return x * x

        def backward(self, dout):
            return 2 * self.x * dout

    with pytest.raises(TypeError, match="'Square1'.*not registered.*kobai.layers.register"):
        save(Network([Affine(np.ones((6, 3)), np.zeros(3)), Square()]), tmp_path / "a.npz")
    _, other_opt, _ = trained("mlp-plain", np.float64)
    with pytest.raises(ValueError, match="used with another network"):
        save(TwoLayerNet(6, 5, 3), tmp_path / "a.npz", optimizer=other_opt)
    with pytest.raises(TypeError, match="JSON"):
        save(TwoLayerNet(6, 5, 3), tmp_path / "a.npz", history={"loss": [float("nan")]})
    with pytest.raises(TypeError, match="history must be a kobai History or its to_dict"):
        save(TwoLayerNet(6, 5, 3), tmp_path / "a.npz", history={"loss": [1.0]})
    assert files_in(tmp_path) == []


def test_checkpoints_written_by_kobai_0_1_0_still_load_and_resume():
    """Files saved by kobai 0.1.0 (commit e6ced30) before the layer protocol: same predictions,
    same loss, and training resumes from their optimizer state."""
    from pathlib import Path

    data = Path(__file__).parent / "data"
    expected = np.load(data / "kobai-0.1.0-expected.npz")
    x, t = expected["x"], expected["t"]
    mlp = load(data / "kobai-0.1.0-mlp.npz")
    assert mlp.meta["kobai_version"] == "0.1.0" and type(mlp.net) is MultiLayerNet
    np.testing.assert_allclose(mlp.net.predict(x), expected["mlp_predict"], rtol=1e-12)
    assert mlp.net.loss(x, t, train=False) == pytest.approx(float(expected["mlp_loss"]),
                                                           rel=1e-12)
    history = mlp.history
    Trainer(mlp.net, x, t, x, t, epochs=3, mini_batch_size=10, optimizer=mlp.optimizer,
            history=history, verbose=False).train()
    assert history.epoch == 3 and mlp.optimizer.iter == 12
    two = load_net(data / "kobai-0.1.0-two-layer.npz")
    assert type(two) is TwoLayerNet and two.dtype == np.float32
    np.testing.assert_allclose(two.predict(x.astype(np.float32)), expected["two_layer_predict"],
                               rtol=1e-6)


GENERIC_TAMPERING = {
    "params a list": (lambda m: m["config"]["layers"][0].update(params=[]), "params as a dict"),
    "params null": (lambda m: m["config"]["layers"][0].update(params=None), "params as a dict"),
    "params empty": (lambda m: m["config"]["layers"][0].update(params={}), "cannot be built"),
    "name a list": (lambda m: m["config"]["layers"][0].update(name=["x"]), "a str name"),
    "unknown type": (lambda m: m["config"]["layers"][1].update(type="os.system"),
                     "unknown layer type 'os.system'"),
    "negative eps": (lambda m: m["config"]["layers"][1]["config"].update(eps=-1e6),
                     "eps must be a finite number > 0"),
    "nan guard": (lambda m: m["config"]["loss"].update(config={"guard": float("nan")}),
                  "guard must be"),
    "wrong input_shape": (lambda m: m["config"].update(input_shape=[5]),
                          r"input_shape \(5,\) has 5 features"),
}


@pytest.mark.parametrize("case", list(GENERIC_TAMPERING))
def test_a_tampered_generic_network_is_refused_with_a_checkpoint_error(tmp_path, case):
    change, match = GENERIC_TAMPERING[case]
    layers = MultiLayerNet(6, [5], 3, use_batchnorm=True, rng=0).layers
    path = save(Network(layers), tmp_path / "model.npz")
    rewrite(path, edit_meta(change))
    with pytest.raises(CheckpointError, match=match):
        load(path)


# -- files that would cost more than they hold ------------------------------------------------
def replace_member(path, name, data):
    """Rewrite the archive at ``path`` with member ``name`` holding ``data``."""
    with zipfile.ZipFile(path) as zin:
        members = [(info, zin.read(info.filename)) for info in zin.infolist()]
    with zipfile.ZipFile(path, "w") as zout:
        for info, blob in members:
            zout.writestr(info, data if info.filename == name else blob)


@pytest.mark.parametrize(("sizes", "match"), [
    ({"hidden_size_list": [500000, 8]}, "a size of 500000, but no array in the file has a "
                                        "dimension larger than 7"),
    ({"input_size": 10**9}, "a size of 1000000000"),
    ({"hidden_size_list": [7] * 500}, "gives 502 sizes .* too many for the 6 parameter arrays"),
])
def test_metadata_claiming_a_huge_network_is_refused_before_it_is_built(tmp_path, sizes, match):
    path = save(MultiLayerNet(6, [7, 5], 3, rng=0), tmp_path / "model.npz")
    rewrite(path, edit_meta(lambda m: m["config"].update(sizes)))
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError, match=match):
            load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # building [500000, 8] alone would take 28 MB here (3 GB for MNIST)


@pytest.mark.parametrize("member", ["param/W1.npy", "meta.npy"])
def test_npy_header_claiming_more_than_its_member_holds_is_refused(tmp_path, member):
    path = save(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "model.npz")
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (20_000_000_000, 9)})
    with zipfile.ZipFile(path) as zf:
        data = zf.read(member)[128:]  # np.save's version 1.0 header is 128 bytes here
    replace_member(path, member, header.getvalue() + data)
    key = member.removesuffix(".npy")
    with pytest.raises(CheckpointError, match=rf"array '{key}': its header says float64 of shape "
                                              r"\(20000000000, 9\) \(1,440,000,000,000 bytes\) "
                                              rf"but the file holds {len(data):,} bytes"):
        load(path)


def test_duplicate_member_names_are_refused(tmp_path):
    net = TwoLayerNet(6, 5, 3, rng=0)
    path = save(net, tmp_path / "model.npz")
    second = io.BytesIO()
    np.save(second, np.zeros_like(net.params["W1"]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zipfile.ZipFile(path, "a") as zf:
            zf.writestr("param/W1.npy", second.getvalue())
    with pytest.raises(CheckpointError, match=r"names \['param/W1'\] more than once"):
        load(path)


# -- temporary files of saves that died -------------------------------------------------------
KILLED_SAVE = """
import os, signal, sys
from kobai.io import atomic_write
with atomic_write(sys.argv[1]) as fh:
    fh.write(b"PK half a checkpoint")
    fh.flush()
    os.kill(os.getpid(), signal.SIGKILL)
"""


def age(path, seconds):
    """Make ``path`` look last modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs kill -9")
def test_temporary_file_of_a_killed_save_is_removed_by_a_later_save(tmp_path):
    path = tmp_path / "model.npz"
    save(TwoLayerNet(6, 5, 3, rng=0), path)
    killed = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(path)], timeout=60)
    assert killed.returncode == -signal.SIGKILL
    [leftover] = [p for p in tmp_path.iterdir() if p != path]
    assert re.fullmatch(r"\.model\.npz\.[0-9a-f]{12}\.tmp", leftover.name)
    save(TwoLayerNet(6, 5, 3, rng=1), path)  # seconds later: its writer might still be alive
    assert leftover.exists()
    age(leftover, 61)
    save(TwoLayerNet(6, 5, 3, rng=2), path)
    assert files_in(tmp_path) == ["model.npz"]
    assert load(path).net.get_config() == TwoLayerNet(6, 5, 3).get_config()


def test_cleanup_leaves_fresh_and_other_temporary_files_alone(tmp_path):
    spared = {  # name -> age in seconds
        ".model.npz.0123456789ab.tmp": 0,  # fresh: its writer may be at work
        ".other.npz.0123456789ab.tmp": 3600,  # another target's
        ".model.npz.0123456789.tmp": 3600,  # not the pattern: 10 digits,
        ".model.npz.0123456789abcd.tmp": 3600,  # 14 digits,
        ".model.npz.0123456789AB.tmp": 3600,  # upper case,
        "model.npz.0123456789ab.tmp": 3600,  # not hidden
    }
    for name, seconds in spared.items():
        (tmp_path / name).write_bytes(b"x")
        age(tmp_path / name, seconds)
    folder = tmp_path / ".model.npz.fedcba987654.tmp"  # a folder is never removed
    folder.mkdir()
    age(folder, 3600)
    stale = tmp_path / ".model.npz.aaaaaaaaaaaa.tmp"
    stale.write_bytes(b"x")
    age(stale, 3600)
    save(TwoLayerNet(6, 5, 3, rng=0), tmp_path / "model.npz")
    assert files_in(tmp_path) == sorted([*spared, folder.name, "model.npz"])
