"""``kobai.io.load`` compares every array a checkpoint's metadata describes with the file's
``.npy`` headers before it builds the network: a crafted file cannot make it allocate more
than the arrays it holds."""

import json
import tracemalloc

import numpy as np
import pytest

from kobai.io import CheckpointError, load, save
from kobai.layers import Affine, BatchNormalization, Relu
from kobai.nets import NETWORKS, DeepConvNet, MultiLayerNet, Network, SimpleConvNet


def rewrite_config(path, change):
    """Re-save the checkpoint at ``path`` after ``change(config)`` edits its config."""
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    meta = json.loads(arrays["meta"].tobytes())
    change(meta["config"])
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez(path, **arrays)


def peak_bytes_of(fn):
    """The peak of memory traced while ``fn()`` runs, and what it raised."""
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            fn()
        return tracemalloc.get_traced_memory()[1], str(info.value)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("net", [
    MultiLayerNet(6, [7, 5], 3, use_batchnorm=True, rng=0),
    MultiLayerNet(6, [], 3, rng=0),
    SimpleConvNet((1, 10, 10), {"filter_num": 3, "filter_size": 3, "pad": 1, "stride": 1}, 8,
                  4, rng=0),
    DeepConvNet(rng=0),
    Network(MultiLayerNet(6, [5], 3, use_batchnorm=True, rng=0).layers),
])
def test_state_shapes_are_those_of_the_network_the_config_builds(net):
    shapes = type(net).state_shapes(net.get_config())
    assert shapes == {key: arr.shape for key, arr in net.state_dict().items()}


def test_every_checkpoint_class_says_its_state_shapes():
    for name, cls in NETWORKS.items():
        assert "state_shapes" in vars(cls), name


def test_a_huge_hidden_size_within_the_largest_dimension_is_refused_before_it_is_built(tmp_path):
    # W1 is 2000 x 1, so 2000 passes the first look at the sizes; ten layers of 2000 would
    # take 320 MB to build
    path = save(MultiLayerNet(2000, [1], 3, rng=0), tmp_path / "model.npz")
    rewrite_config(path, lambda c: c.update(hidden_size_list=[2000] * 10))
    peak, message = peak_bytes_of(lambda: load(path))
    assert "its arrays do not match the MultiLayerNet" in message
    assert "'param/W11'" in message and "unexpected nothing" in message
    assert peak < 2**20


def test_a_wider_layer_of_the_same_names_is_refused_by_its_header(tmp_path):
    path = save(MultiLayerNet(2000, [1], 3, rng=0), tmp_path / "model.npz")
    rewrite_config(path, lambda c: c.update(hidden_size_list=[2000]))
    peak, message = peak_bytes_of(lambda: load(path))
    assert "array 'param/W1' has shape (2000, 1) but the network described in the metadata " \
           "needs (2000, 2000)" in message
    assert peak < 2**20  # the network of the metadata: 32 MB


def test_a_generic_network_claiming_a_huge_layer_is_refused_before_it_is_built(tmp_path):
    rng = np.random.default_rng(0)
    net = Network([Affine(rng.standard_normal((2000, 1)), np.zeros(1)), Relu(),
                   Affine(rng.standard_normal((1, 3)), np.zeros(3))])
    path = save(net, tmp_path / "model.npz")
    rewrite_config(path, lambda c: c["layers"][0]["params"].update(W=[2000, 2000]))
    peak, message = peak_bytes_of(lambda: load(path))
    assert "'param/W1' has shape (2000, 1) but the network described in the metadata needs " \
           "(2000, 2000)" in message
    assert peak < 2**20


def test_a_generic_network_claiming_more_layers_is_refused_before_it_is_built(tmp_path):
    rng = np.random.default_rng(0)
    net = Network([Affine(rng.standard_normal((2000, 1)), np.zeros(1)), Relu(),
                   Affine(rng.standard_normal((1, 3)), np.zeros(3))])
    path = save(net, tmp_path / "model.npz")
    extra = {"name": "Wide", "type": "Affine", "config": {},
             "params": {"W": [2000, 2000], "b": [2000]}}
    rewrite_config(path, lambda c: c["layers"].insert(0, extra))
    peak, message = peak_bytes_of(lambda: load(path))
    assert "its arrays do not match the Network described in the metadata" in message
    assert peak < 2**20


def test_batch_norm_running_statistics_are_checked_before_building(tmp_path):
    layers = [Affine(np.ones((4, 6)), np.zeros(6)), BatchNormalization(np.ones(6), np.zeros(6)),
              Relu(), Affine(np.ones((6, 2)), np.zeros(2))]
    path = save(Network(layers), tmp_path / "model.npz")
    with np.load(path, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays["param/running_var1"] = np.ones(5)
    np.savez(path, **arrays)
    with pytest.raises(CheckpointError, match=r"'param/running_var1' has shape \(5,\) but the "
                                              r"network described in the metadata needs \(6,\)"):
        load(path)


def test_a_loss_layer_with_parameters_is_refused(tmp_path):
    path = save(Network([Affine(np.ones((4, 2)), np.zeros(2))]), tmp_path / "model.npz")
    rewrite_config(path, lambda c: c["loss"].update(params={"W": [4, 2]}))
    peak, message = peak_bytes_of(lambda: load(path))
    assert "the loss layer ('loss') lists parameters ['W']" in message
    assert peak < 2**20
