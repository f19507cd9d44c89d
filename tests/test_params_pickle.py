"""``save_params`` under a ``.pkl`` name writes the book's format: a pickle of a dict of arrays
that the book's own ``SimpleConvNet``/``DeepConvNet.load_params`` read (the book's code, run in
a subprocess with its ``sys.path``, is the oracle), and that kobai reads back without
unpickling, with the dropout convention converted both ways."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import DLFS, needs_shared

from kobai.arrays_file import read_arrays
from kobai.nets import DeepConvNet, MultiLayerNet, SimpleConvNet

needs_dlfs = needs_shared(DLFS)

# The book's classes load the file and score the images: what the book's reader makes of it.
BOOK_READER = """
import json, sys
import numpy as np
sys.path[:0] = [{dlfs!r}, {dlfs!r} + "/ch07", {dlfs!r} + "/ch08"]
from simple_convnet import SimpleConvNet
from deep_convnet import DeepConvNet
x = np.load({x!r})
for cls, path, out in json.loads({jobs!r}):
    net = SimpleConvNet() if cls == "simple" else DeepConvNet()
    net.load_params(path)
    np.save(out, net.predict(x) if cls == "simple" else net.predict(x, train_flg=False))
"""


def book_scores(tmp_path, jobs, x):
    """The book's networks' scores of ``x`` after their ``load_params(path)``, per job."""
    np.save(tmp_path / "x.npy", x)
    jobs = [(cls, str(path), str(tmp_path / f"{cls}.npy")) for cls, path in jobs]
    code = BOOK_READER.format(dlfs=str(DLFS), x=str(tmp_path / "x.npy"), jobs=json.dumps(jobs))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    return [np.load(out) for _, _, out in jobs]


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((4, 1, 28, 28))


@needs_dlfs
def test_a_pkl_name_gets_a_pickle_the_books_load_params_reads(tmp_path, images):
    simple = SimpleConvNet(rng=1)
    deep = DeepConvNet(rng=2)  # inverted dropout 0.5: the file holds the book's convention
    simple.save_params(tmp_path / "params.pkl")
    deep.save_params(tmp_path / "deep_convnet_params.pkl")
    assert sorted(os.listdir(tmp_path)) == ["deep_convnet_params.pkl", "params.pkl"]
    for name in os.listdir(tmp_path):
        assert (tmp_path / name).read_bytes()[:2] == b"\x80\x04"  # protocol 4, the book's
    got_simple, got_deep = book_scores(tmp_path, [("simple", tmp_path / "params.pkl"),
                                                  ("deep", tmp_path / "deep_convnet_params.pkl")],
                                       images)
    np.testing.assert_allclose(got_simple, simple.predict(images), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got_deep, deep.predict(images), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("build", [lambda: SimpleConvNet(rng=1), lambda: DeepConvNet(rng=2),
                                   lambda: MultiLayerNet(6, [5, 4], 3, use_dropout=True,
                                                         dropout_ratio=0.5,
                                                         use_batchnorm=True, rng=3)],
                         ids=["simple", "deep", "mlp-dropout-batchnorm"])
def test_kobai_reads_its_own_pickle_back_exactly(tmp_path, build):
    net, other = build(), build()
    other.params["W1"] += 1.0  # somewhere else to start from
    net.save_params(tmp_path / "params.pkl")
    other.load_params(tmp_path / "params.pkl")
    want, got = net.state_dict(), other.state_dict()
    assert list(got) == list(want)
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_the_pickle_holds_the_books_convention_of_dropout(tmp_path):
    """The weight after an inverted dropout of ratio r is divided by 1 - r in the file, the
    rest as they are; ``.npz`` keeps kobai's own values."""
    net = MultiLayerNet(6, [5], 3, use_dropout=True, dropout_ratio=0.5, rng=0)
    net.save_params(tmp_path / "p.pickle")
    net.save_params(tmp_path / "p.npz")
    book, own = read_arrays(tmp_path / "p.pickle"), read_arrays(tmp_path / "p.npz")
    np.testing.assert_array_equal(book["W2"], net.params["W2"] * 2)
    for key in ("W1", "b1", "b2"):
        np.testing.assert_array_equal(book[key], net.params[key])
    for key in net.params:
        np.testing.assert_array_equal(own[key], net.params[key])


def test_a_pickle_of_a_ratio_that_is_no_power_of_two_reads_back_within_a_rounding(tmp_path):
    net = MultiLayerNet(6, [5], 3, use_dropout=True, dropout_ratio=0.3, rng=0)
    net.save_params(tmp_path / "p.pkl")
    other = MultiLayerNet(6, [5], 3, use_dropout=True, dropout_ratio=0.3, rng=1)
    other.load_params(tmp_path / "p.pkl")
    for key in net.params:
        np.testing.assert_allclose(other.params[key], net.params[key], rtol=4e-16, atol=0)
