"""--params FILE: which --net/--hidden fit the file's shapes, and which --activation its
weights score best with (kobai.nets.fitting, kobai evaluate and kobai predict)."""

import pytest
from conftest import DLFS, mnist_digit, needs_shared, one_line, require, run

from kobai.nets import MultiLayerNet, TwoLayerNet
from kobai.nets.options import NETWORK_OPTIONS

SAMPLE_WEIGHT = DLFS / "ch03" / "sample_weight.pkl"


def shapes(net):
    return {key: arr.shape for key, arr in net.state_dict().items()}


@pytest.mark.parametrize("net, fits", [
    (TwoLayerNet(784, 30, 10, rng=0), ["--net two-layer --hidden 30", "--net mlp --hidden 30"]),
    (MultiLayerNet(784, [30, 20], 10, rng=0), ["--net mlp --hidden 30 20"]),
    (MultiLayerNet(784, [40], 10, rng=0), ["--net two-layer --hidden 40", "--net mlp --hidden 40"]),
    (MultiLayerNet(784, [30, 20], 10, use_batchnorm=True, rng=0),
     ["--net mlp --hidden 30 20 --batchnorm"]),
    (MultiLayerNet(100, [30, 20], 10, rng=0), []),  # not 28x28 images
])
def test_options_that_fit_read_the_network_from_the_shapes(net, fits):
    from kobai.nets.fitting import options_that_fit

    assert options_that_fit(shapes(net)) == fits


@needs_shared(SAMPLE_WEIGHT)
def test_activation_scores_tell_a_sigmoid_network_from_a_relu_one():
    from argparse import Namespace

    from kobai.datasets import load_mnist_test
    from kobai.nets.fitting import activation_scores

    x, t = load_mnist_test()
    x, t = x[:500], t[:500]
    net = MultiLayerNet(784, [50, 100], 10, activation="sigmoid", rng=0)
    net.load_params(SAMPLE_WEIGHT)
    options = Namespace(**{**dict.fromkeys(NETWORK_OPTIONS), "net": "mlp", "hidden": [50, 100]})
    scores = activation_scores(options, net.state_dict(), x, t)
    assert sorted(scores) == ["relu", "sigmoid", "tanh"]
    assert scores["sigmoid"] == net.accuracy(x, t)
    assert scores["sigmoid"] > max(scores["relu"], scores["tanh"]) + 0.05


@needs_shared(DLFS)
@pytest.mark.parametrize("file, given, fits", [
    (SAMPLE_WEIGHT, [], "--net mlp --hidden 50 100"),
    (SAMPLE_WEIGHT, ["--net", "mlp"], "--net mlp --hidden 50 100"),
    (DLFS / "ch07" / "params.pkl", ["--net", "mlp"], "--net cnn"),
    (DLFS / "ch08" / "deep_convnet_params.pkl", ["--net", "cnn"], "--net deepcnn"),
    (DLFS / "ch08" / "deep_convnet_params.pkl", ["--net", "deepcnn", "--hidden", "100"],
     "--net deepcnn"),
])
def test_a_shape_mismatch_names_the_options_that_fit(capsys, tmp_path, file, given, fits):
    status, _, err = run(capsys, "evaluate", "--params", file, *given, "--out", tmp_path)
    line = one_line(err)
    assert status == 2
    assert line.startswith(f"kobai: error: cannot load {file}: ")
    assert line.endswith(f"hese weights fit {fits}")


def test_shapes_no_network_has_are_said_to_fit_none(capsys, tmp_path):
    params = tmp_path / "odd.npz"
    MultiLayerNet(784, [30], 7, rng=0).save_params(params)  # seven classes
    status, _, err = run(capsys, "evaluate", "--params", params, "--out", tmp_path)
    assert status == 2
    assert one_line(err).endswith("these shapes fit no --net/--hidden of kobai's networks")


@needs_shared(SAMPLE_WEIGHT)
def test_evaluate_names_the_activation_the_books_sample_weight_needs(capsys, tmp_path):
    status, out, err = run(capsys, "evaluate", "--params", SAMPLE_WEIGHT, "--net", "mlp",
                           "--hidden", "50", "100", "--test-size", "500", "--out", tmp_path)
    assert status == 0
    note = one_line(err)
    assert note.startswith("note: with --activation sigmoid these weights score 0.94 on 500 "
                           "test images, 0.87 with relu (the default of --net mlp): "
                           "sample_weight.pkl looks like a sigmoid network")
    assert "MultiLayerNet(784-50-100-10, relu, float32)" in out  # evaluated as asked
    status, out, err = run(capsys, "evaluate", "--params", SAMPLE_WEIGHT, "--net", "mlp",
                           "--hidden", "50", "100", "--activation", "sigmoid", "--test-size",
                           "500", "--out", tmp_path)
    assert status == 0 and err == ""  # no note for the right activation
    assert "MultiLayerNet(784-50-100-10, sigmoid, float32)" in out


@needs_shared(SAMPLE_WEIGHT)
def test_predict_names_the_activation_the_books_sample_weight_needs(capsys, tmp_path):
    Image = require("PIL.Image")
    image = tmp_path / "three.png"
    Image.fromarray(mnist_digit(3)).save(image)
    status, out, err = run(capsys, "predict", image, "--params", SAMPLE_WEIGHT, "--net", "mlp",
                           "--hidden", "50", "100")
    assert status == 0
    assert one_line(err).startswith("note: with --activation sigmoid these weights score 0.94 "
                                    "on 500 MNIST test images, 0.87 with relu")
    assert out.startswith(f"{image}: ")
