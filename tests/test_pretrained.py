"""The book's trained DeepConvNet that ships with kobai (kobai.pretrained), and the tool that
rebuilds it from the book's pickle byte for byte."""

import hashlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import DLFS, needs_shared

from kobai import io, pretrained
from kobai.datasets import load_mnist
from kobai.nets import DeepConvNet

ROOT = Path(__file__).resolve().parent.parent
BOOK_PICKLE = DLFS / pretrained.SOURCE


@pytest.fixture(scope="module")
def net():
    return pretrained.load()


@pytest.fixture(scope="module")
def test_set():
    _, (x_test, t_test) = load_mnist(flatten=False)
    return x_test, t_test


def test_the_packaged_model_is_a_float32_deep_convnet_of_the_books_shapes(net):
    assert pretrained.path().is_file() and pretrained.path().name == "deep_convnet.npz"
    assert 400_000 < pretrained.path().stat().st_size < 600_000  # about 0.5 MB
    assert type(net) is DeepConvNet and net.dtype == np.float32
    assert net.input_shape == (1, 28, 28) and net.output_size == 10
    shapes = {key: arr.shape for key, arr in net.params.items()}
    assert shapes == {
        "W1": (16, 1, 3, 3), "b1": (16,), "W2": (16, 16, 3, 3), "b2": (16,),
        "W3": (32, 16, 3, 3), "b3": (32,), "W4": (32, 32, 3, 3), "b4": (32,),
        "W5": (64, 32, 3, 3), "b5": (64,), "W6": (64, 64, 3, 3), "b6": (64,),
        "W7": (64 * 4 * 4, 50), "b7": (50,), "W8": (50, 10), "b8": (10,)}
    assert all(arr.dtype == np.float32 for arr in net.params.values())
    assert list(net.layers)[:5] == ["Conv1", "Relu1", "Conv2", "Relu2", "Pool1"]


def test_load_gives_a_new_network_each_time(net):
    other = pretrained.load()
    assert other is not net
    other.params["b8"][...] = 0
    assert np.any(pretrained.load().params["b8"] != 0)


def test_the_checkpoint_says_honestly_what_it_was_trained_on():
    checkpoint = pretrained.checkpoint()
    assert checkpoint.meta["class"] == "DeepConvNet" and checkpoint.meta["dtype"] == "float32"
    assert checkpoint.optimizer is None and checkpoint.history is None
    data = checkpoint.data
    assert data == pretrained.TRAINED_ON
    assert data["source"] == "mnist" and data["n_train"] == 60000 and data["normalize"]
    assert "fingerprint" not in data  # kobai never saw the training arrays
    assert "Koki Saitoh" in data["weights"] and "MIT License" in data["weights"]
    assert data["weights_sha256"] == pretrained.SOURCE_SHA256
    license_text = pretrained.path().with_name("LICENSE.md").read_text(encoding="utf-8")
    assert "Copyright (c) 2016 Koki Saitoh" in license_text


def test_accuracy_on_the_first_1000_test_images(net, test_set):
    x, t = test_set
    assert net.accuracy(x[:1000], t[:1000]) == 0.993  # 993 of 1000: the measured value


def test_accuracy_on_mnists_10000_test_images_is_the_books_0_9935(net, test_set):
    x, t = test_set
    assert len(x) == 10000
    accuracy = net.accuracy(x, t, batch_size=500)
    assert accuracy >= 0.993
    assert accuracy == pretrained.TEST_ACCURACY == 0.9935  # 9935 of 10000, as the book says


def test_rows_of_784_pixels_and_single_images_give_the_same_scores(net, test_set):
    x, _ = test_set
    batch = net.predict(x[:3])
    np.testing.assert_array_equal(net.predict(x[:3].reshape(3, 784)), batch)
    np.testing.assert_allclose(net.predict(x[0]), batch[0], rtol=1e-5, atol=1e-5)


def _build_tool():
    spec = importlib.util.spec_from_file_location("build_pretrained",
                                                  ROOT / "tools" / "build_pretrained.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@needs_shared(BOOK_PICKLE)
def test_the_tool_rebuilds_the_packaged_file_byte_for_byte(tmp_path, capsys):
    tool = _build_tool()
    packaged = pretrained.path().read_bytes()
    rebuilt = tool.build(BOOK_PICKLE)
    assert hashlib.sha256(rebuilt).hexdigest() == hashlib.sha256(packaged).hexdigest(), (
        "the packaged checkpoint differs from what tools/build_pretrained.py makes of the "
        "book's pickle (a new kobai version records itself in it): rebuild it with "
        "python tools/build_pretrained.py")
    assert tool.main(["--source", str(BOOK_PICKLE), "--check"]) == 0
    out = tmp_path / "copy.npz"
    assert tool.main(["--source", str(BOOK_PICKLE), "--out", str(out)]) == 0
    assert out.read_bytes() == packaged
    assert "wrote" in capsys.readouterr().out


@needs_shared(BOOK_PICKLE)
def test_the_tool_check_fails_on_another_file_and_refuses_another_pickle(tmp_path, capsys):
    tool = _build_tool()
    other = tmp_path / "other.npz"
    changed = bytearray(pretrained.path().read_bytes())
    changed[len(changed) // 2] ^= 1  # one bit of one weight
    other.write_bytes(bytes(changed))
    assert tool.main(["--source", str(BOOK_PICKLE), "--out", str(other), "--check"]) == 1
    assert "DIFFERS" in capsys.readouterr().out
    wrong = BOOK_PICKLE.parent / "params.pkl"  # the 2016 SimpleConvNet, not the DeepConvNet
    with pytest.raises(SystemExit, match="SHA-256"):
        tool.build(wrong)


@needs_shared(BOOK_PICKLE)
def test_the_packaged_weights_are_the_books_converted_for_inverted_dropout(net):
    from kobai.arrays_file import read_arrays

    book = read_arrays(BOOK_PICKLE)  # never unpickles
    for key, arr in net.params.items():
        # Dropout1 halves W8 (the layer after it); Dropout2, on the logits, halves W8 and b8
        # (the layer before it): 0.5 is exact
        scale = {"W8": 0.25, "b8": 0.5}.get(key, 1.0)
        np.testing.assert_array_equal(arr, (book[key].astype(np.float32) * np.float32(scale)),
                                      err_msg=key)


def test_the_pretrained_module_does_not_import_the_networks_until_asked():
    import subprocess

    code = ("import sys, kobai.pretrained as p\n"
            "assert 'kobai.io' not in sys.modules and 'kobai.nets' not in sys.modules\n"
            "print(p.path().name)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "deep_convnet.npz"


def test_a_saved_copy_loads_like_the_packaged_one(net, tmp_path):
    io.save(net, tmp_path / "copy.npz", data=pretrained.TRAINED_ON)
    copy = io.load(tmp_path / "copy.npz")
    for key, arr in net.state_dict().items():
        np.testing.assert_array_equal(copy.net.state_dict()[key], arr)
