"""The kobai command with the convolutional nets (--net cnn / deepcnn) and the pretrained model:
train, predict, evaluate and gradcheck, end to end."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import DLFS, TINY_TRAIN, needs_shared, one_line, run

from kobai import pretrained
from kobai.io import load

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def digits(tmp_path):
    """MNIST test digits 0-4 as large dark-on-light PNGs: (path, label) pairs."""
    Image = pytest.importorskip("PIL.Image")
    from kobai.datasets import load_mnist

    _, (x, t) = load_mnist(normalize=False, flatten=False)
    found = []
    for i in range(5):
        path = tmp_path / f"digit{i}.png"
        Image.fromarray(255 - x[i, 0]).resize((112, 112)).save(path)
        found.append((path, int(t[i])))
    return found


def interrupted(trainer):
    """Stands in for Trainer.train where only the settings printed before it matter."""
    raise KeyboardInterrupt


def predicted(out):
    """The digit of each `kobai predict` line."""
    return [int(line.split(": ", 1)[1].split()[0]) for line in out.strip().splitlines()]


# -- train ------------------------------------------------------------------------------------
def test_train_cnn_writes_the_run_files_and_the_filters_before_and_after(cnn_run):
    for name in ("model.npz", "history.csv", "history.json"):
        assert (cnn_run / name).stat().st_size > 0, name
    for name in ("learning_curve.png", "filters-before.png", "filters-after.png"):
        assert (cnn_run / name).read_bytes()[:8] == PNG, name
    checkpoint = load(cnn_run / "model.npz")
    assert type(checkpoint.net).__name__ == "SimpleConvNet"
    assert checkpoint.net.dtype == np.float32 and checkpoint.net.input_shape == (1, 28, 28)
    assert checkpoint.meta["optimizer"]["name"] == "Adam"
    assert checkpoint.meta["optimizer"]["hyper"]["lr"] == 0.001
    assert checkpoint.data["n_train"] == 200
    assert (checkpoint.data["train_size"], checkpoint.data["test_size"]) == (200, 200)
    history = json.loads((cnn_run / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1]


def test_train_draws_the_first_layers_filters(tmp_path, capsys, monkeypatch):
    from kobai import plot

    drawn = []
    real = plot.plot_filters

    def spy(filters, path=None, **kwargs):
        drawn.append((np.array(filters), Path(path).name, kwargs.get("title")))
        return real(filters, path, **kwargs)

    monkeypatch.setattr(plot, "plot_filters", spy)
    status, out, _ = run(capsys, "train", "--net", "cnn", *TINY_TRAIN, "--out", tmp_path)
    assert status == 0
    (before, name_b, title_b), (after, name_a, title_a) = drawn
    assert (name_b, name_a) == ("filters-before.png", "filters-after.png")
    assert before.shape == after.shape == (30, 1, 5, 5)
    assert "before training" in title_b and "after epoch 1" in title_a
    assert not np.array_equal(before, after)  # the filters trained
    assert str(tmp_path / "filters-after.png") in out


@pytest.mark.parametrize("net, shown", [
    ("cnn", "SimpleConvNet(1×28×28, 30 filters 5×5, hidden 100, float32)"),
    ("deepcnn", "DeepConvNet(1×28×28, filters 16-16-32-32-64-64, hidden 50, float32)"),
])
def test_conv_nets_default_to_the_books_train_convnet_settings(tmp_path, capsys, monkeypatch,
                                                                net, shown):
    from kobai.trainer import Trainer

    monkeypatch.setattr(Trainer, "train", interrupted)
    status, out, err = run(capsys, "train", "--net", net, "--no-progress", "--out", tmp_path)
    assert status == 130
    assert (f"training {shown} with Adam(lr=0.001) on sample: 5000 training and 10000 test "
            "images, batch 100, 20 epochs") in out
    assert "interrupted in epoch 1 of 20" in err


def test_resume_of_a_cnn_run_continues_to_the_books_20_epochs(cnn_run, tmp_path, capsys,
                                                              monkeypatch):
    from kobai.trainer import Trainer

    monkeypatch.setattr(Trainer, "train", interrupted)
    status, out, err = run(capsys, "train", "--resume", cnn_run, "--no-progress", "--out",
                           tmp_path)
    assert status == 130
    assert "with Adam(lr=0.001) on sample: 200 training and 200 test images, batch 100, " \
           "20 epochs" in out
    assert "interrupted in epoch 2 of 20" in err


def test_other_nets_keep_their_defaults(tmp_path, capsys, monkeypatch):
    from kobai.trainer import Trainer

    monkeypatch.setattr(Trainer, "train", interrupted)
    status, out, _ = run(capsys, "train", "--no-progress", "--out", tmp_path)
    assert status == 130
    assert "with SGD(lr=0.1) on sample" in out and "batch 100, 50 epochs" in out


def test_train_deepcnn_takes_hidden_and_dropout(tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--net", "deepcnn", "--hidden", "20", "--dropout",
                         "0.25", "--epochs", "1", "--train-size", "100", "--test-size", "100",
                         "--no-progress", "--out", tmp_path)
    assert status == 0
    assert "DeepConvNet(1×28×28, filters 16-16-32-32-64-64, hidden 20, float32)" in out
    config = load(tmp_path / "model.npz").meta["config"]
    assert config["hidden_size"] == 20 and config["dropout_ratio"] == 0.25
    assert (tmp_path / "filters-after.png").read_bytes()[:8] == PNG


def test_resume_continues_a_cnn_run_with_its_sizes(cnn_run, tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--resume", cnn_run, "--epochs", "2",
                         "--no-progress", "--out", tmp_path)
    assert status == 0
    assert "200 training and 200 test images" in out  # the checkpoint's --train/test-size
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    # a new folder: its filters-before.png is the filters the run resumed from
    assert (tmp_path / "filters-before.png").is_file()


def test_resume_in_its_own_folder_keeps_the_filters_before_training(cnn_run, tmp_path, capsys):
    out = shutil.copytree(cnn_run, tmp_path / "run")
    before = (out / "filters-before.png").read_bytes()
    status, _, _ = run(capsys, "train", "--resume", out, "--out", out, "--epochs", "2",
                       "--no-progress")
    assert status == 0
    assert (out / "filters-before.png").read_bytes() == before


@pytest.mark.parametrize("option, message", [
    (["--hidden", "50"], "--hidden 50 (the checkpoint has --hidden 100)"),
    (["--net", "deepcnn"], "--net deepcnn (the checkpoint has --net cnn)"),
    (["--train-size", "300"], "--train-size 300 (the checkpoint has --train-size 200)"),
    (["--test-size", "100"], "--test-size 100 (the checkpoint has --test-size 200)"),
    (["--optimizer", "sgd"], "--optimizer sgd (the checkpoint has --optimizer adam)"),
])
def test_resume_refuses_options_that_conflict_with_a_cnn_checkpoint(cnn_run, tmp_path,
                                                                     capsys, option, message):
    status, _, err = run(capsys, "train", "--resume", cnn_run, *option, "--epochs", "2",
                         "--no-progress", "--out", tmp_path)
    assert status == 2
    assert message in one_line(err)


def test_resume_refuses_a_train_size_the_run_did_not_have(tmp_path, capsys):
    assert run(capsys, "train", "--epochs", "1", "--hidden", "10", "--no-progress", "--out",
               tmp_path)[0] == 0
    status, _, err = run(capsys, "train", "--resume", tmp_path, "--train-size", "100",
                         "--epochs", "2", "--no-progress", "--out", tmp_path / "more")
    assert status == 2
    assert "--train-size 100 (the checkpoint has no --train-size)" in one_line(err)


@pytest.mark.parametrize("argv, message", [
    (["--net", "cnn", "--activation", "relu"], "--activation does not apply to --net cnn"),
    (["--net", "cnn", "--batchnorm", "--dropout", "0.5"],
     "--dropout, --batchnorm do not apply to --net cnn"),
    (["--net", "deepcnn", "--weight-decay", "0.1"], "--weight-decay does not apply to --net "
                                                    "deepcnn"),
    (["--net", "deepcnn", "--activation", "tanh"], "--activation does not apply"),
    (["--net", "cnn", "--hidden", "10", "10"], "--net cnn has one hidden layer, got --hidden "
                                               "10 10"),
    (["--net", "cnn", "--train-size", "6000"], "--train-size 6000 is more than the 5000 "
                                               "training images of --dataset sample"),
    (["--test-size", "0"], "--test-size: expected a positive integer, got 0"),
])
def test_train_refuses_options_that_do_not_apply(tmp_path, capsys, argv, message):
    status, _, err = run(capsys, "train", *argv, "--epochs", "1", "--no-progress", "--out",
                         tmp_path / "run")
    assert status == 2
    assert message in one_line(err)
    assert not (tmp_path / "run").exists()


# -- predict ----------------------------------------------------------------------------------
def test_predict_without_a_model_uses_the_pretrained_deep_convnet(digits, capsys):
    status, out, err = run(capsys, "predict", *(path for path, _ in digits))
    assert status == 0, err
    assert predicted(out) == [label for _, label in digits]


def test_predict_takes_model_as_an_option_or_first_argument(cnn_run, digits, capsys):
    image = digits[0][0]
    outputs = []
    for argv in (["--model", cnn_run, image], [cnn_run, image],
                 [cnn_run / "model.npz", image], ["--model", cnn_run / "model.npz", image]):
        status, out, err = run(capsys, "predict", *argv)
        assert status == 0, err
        outputs.append(out)
    assert len(set(outputs)) == 1 and outputs[0].startswith(f"{image}: ")


def test_predict_takes_a_checkpoint_of_any_name_as_first_argument(cnn_run, digits, capsys,
                                                                   tmp_path):
    """A model copied under another name is still the model, never taken for an image (which
    would silently predict with the pretrained one)."""
    image = digits[0][0]
    renamed = tmp_path / "mymodel.ckpt"
    renamed.write_bytes((cnn_run / "model.npz").read_bytes())
    status, out, err = run(capsys, "predict", renamed, image)
    assert status == 0, err
    assert out == run(capsys, "predict", "--model", cnn_run, image)[1]


@pytest.mark.parametrize("argv, message", [
    (["--model", "{run}", "{run}", "{image}"], "names a model (a model file or a folder), and "
                                               "so does --model; give one model"),
    (["--model", "{run}", "--params", "{image}", "{image}"], "give one model, not --model and "
                                                            "--params"),
    (["{run}"], "names a model (a model file or a folder); give the images to predict after it"),
    (["--net", "cnn", "{image}"], "--net describe the network of --params FILE"),
    (["--params", "{image}", "--net", "cnn", "{image}"], "cannot load"),
])
def test_predict_refuses_ambiguous_or_incomplete_models(cnn_run, digits, capsys, argv,
                                                        message):
    image = digits[0][0]
    argv = [a.format(run=cnn_run, image=image) for a in argv]
    status, _, err = run(capsys, "predict", *argv)
    assert status == 2
    assert message in one_line(err)


@needs_shared(DLFS / "weights-2016")
def test_predict_reads_the_books_pickles_with_params(digits, capsys):
    status, out, err = run(capsys, "predict", "--params", DLFS / "weights-2016" / "params.pkl",
                           "--net", "cnn", *(path for path, _ in digits))
    assert status == 0, err
    assert predicted(out) == [label for _, label in digits]


# -- evaluate ---------------------------------------------------------------------------------
def test_evaluate_pretrained_reports_its_accuracy(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    status, out, err = run(capsys, "evaluate", "--pretrained", "--test-size", "1000")
    assert status == 0, err
    assert "trained on MNIST's 60,000 training images by the book's authors" in out
    assert "DeepConvNet(1×28×28, filters 16-16-32-32-64-64, hidden 50, float32) on the sample " \
           "test set (1000 images)" in out
    assert "accuracy: 0.9930 (993 of 1000 samples)" in out
    assert (tmp_path / "confusion.png").read_bytes()[:8] == PNG  # not into the package
    assert not (pretrained.path().parent / "confusion.png").exists()


@pytest.mark.slow
def test_evaluate_pretrained_on_all_10000_test_images_is_the_books_0_9935(tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", "--pretrained", "--out", tmp_path)
    assert status == 0, err
    assert "accuracy: 0.9935 (9935 of 10000 samples)" in out


def test_evaluate_a_cnn_run(cnn_run, tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", cnn_run, "--test-size", "300", "--out", tmp_path)
    assert status == 0, err
    assert "SimpleConvNet(1×28×28" in out and "(300 images)" in out and "accuracy: 0." in out


@needs_shared(DLFS / "ch07")
def test_evaluate_reads_the_books_pickles_with_params(tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", "--params", DLFS / "ch07" / "params.pkl",
                           "--net", "cnn", "--test-size", "1000", "--out", tmp_path)
    assert status == 0, err
    assert "SimpleConvNet(1×28×28, 30 filters 5×5, hidden 100, float32)" in out
    accuracy = float(out.split("accuracy: ")[1].split()[0])
    assert accuracy > 0.95  # the first 1,000 of the 10,000 below


@pytest.mark.slow
@needs_shared(DLFS / "ch07")
def test_evaluate_the_books_simple_convnet_pickle_gives_the_books_accuracy(tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", "--params", DLFS / "ch07" / "params.pkl",
                           "--net", "cnn", "--out", tmp_path)
    assert status == 0, err
    assert "accuracy: 0.9600 (9600 of 10000 samples)" in out  # the book's code: 0.9600


@pytest.mark.parametrize("argv, message", [
    ([], "give the model to evaluate: MODEL (a model.npz or run folder), --pretrained, or "
         "--params FILE --net NET"),
    (["{run}", "--pretrained"], "give one model, not MODEL and --pretrained"),
    (["--pretrained", "--hidden", "10"], "--hidden describe the network of --params FILE"),
])
def test_evaluate_needs_exactly_one_model(cnn_run, capsys, argv, message):
    status, _, err = run(capsys, "evaluate", *(a.format(run=cnn_run) for a in argv))
    assert status == 2
    assert message in one_line(err)


# -- gradcheck --------------------------------------------------------------------------------
def test_gradcheck_cnn_is_the_books_ch07_check(capsys):
    status, out, _ = run(capsys, "gradcheck", "--net", "cnn")
    assert status == 0, out
    assert out.startswith("SimpleConvNet(1×10×10, 10 filters 3×3, hidden 10, float64) on one "
                          "random input")
    for key in ("W1", "b1", "W2", "b2", "W3", "b3"):
        assert f"{key}: mean |diff|" in out
    assert "PASSED: 6 arrays, 1820 elements" in out


@pytest.mark.parametrize("argv, first_line", [
    (["--net", "cnn", "--data", "sample", "--batch", "2", "--hidden", "5"],
     "SimpleConvNet(1×28×28, 10 filters 3×3, hidden 5, float64) on 2 MNIST images"),
    (["--net", "deepcnn", "--hidden", "10"],
     "DeepConvNet(1×28×28, filters 16-16-32-32-64-64, hidden 10, float64) on one random input"),
])
def test_gradcheck_other_conv_configurations(capsys, argv, first_line):
    status, out, _ = run(capsys, "gradcheck", *argv)
    assert status == 0, out
    assert out.splitlines()[0] == first_line
    assert "PASSED" in out


def test_gradcheck_deepcnn_runs_in_fast_mode(capsys):
    status, out, _ = run(capsys, "gradcheck", "--net", "deepcnn")
    assert status == 0, out
    assert "mode=fast" in out and "W8" in out and "mean |diff|" not in out


# -- training accuracy ------------------------------------------------------------------------
def _train_cnn(n_train, epochs):
    """The book's train_convnet.py (SimpleConvNet, Adam lr 0.001, batch 100) on the first
    ``n_train`` bundled training images, in float32; the network and its history."""
    from kobai.datasets import load_mnist
    from kobai.nets import SimpleConvNet
    from kobai.trainer import Trainer

    (x, t), (x_test, t_test) = load_mnist(flatten=False)
    net = SimpleConvNet(rng=0, dtype=np.float32)
    history = Trainer(net, x[:n_train], t[:n_train], x_test, t_test, epochs=epochs,
                      optimizer="Adam", optimizer_param={"lr": 0.001},
                      evaluate_sample_num_per_epoch=1000, rng=0, verbose=False).train()
    return net, history, (x_test, t_test)


def test_simple_convnet_learns_from_1000_images():
    _, history, _ = _train_cnn(1000, 3)
    assert history.test_acc_list[0] < history.test_acc_list[-1]
    assert history.test_acc_list[-1] > 0.65  # measured 0.733 on the first 1,000 test images


@pytest.mark.slow
def test_simple_convnet_with_the_books_settings_on_the_sample_reaches_96_percent():
    net, history, (x_test, t_test) = _train_cnn(5000, 20)
    assert history.test_acc_list[-1] > 0.955
    assert net.accuracy(x_test, t_test) > 0.955  # all 10,000 test images; measured 0.9632
