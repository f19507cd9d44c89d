"""The kobai command: each subcommand end to end, and one-line errors with exit status 2."""

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import mnist_digit, one_line, run

from kobai import __version__


def test_version_and_help_through_the_console_script():
    done = subprocess.run([sys.executable, "-m", "kobai.cli", "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == f"kobai {__version__}"
    done = subprocess.run([sys.executable, "-m", "kobai.cli", "--help"], capture_output=True,
                          text=True, check=True)
    for command in ("train", "evaluate", "predict", "simplenet", "gradcheck"):
        assert command in done.stdout


def test_simplenet_prints_the_seed_numbers(capsys):
    status, out, _ = run(capsys, "simplenet")
    assert status == 0
    assert "[-0.87361615  0.31163259  0.34522554]" in out
    assert "np.argmax(p) = 2" in out
    assert "net.loss(x, t) = 0.81648668" in out
    assert "[[ 0.07838251  0.25642842 -0.33481093]" in out
    assert "[ 0.11757377  0.38464263 -0.5022164 ]]" in out


def test_simplenet_with_weights_and_seed(capsys):
    status, out, _ = run(capsys, "simplenet", "--weights", "1,0,0;0,1,0")
    assert status == 0 and "np.argmax(p) = 1" in out
    status, out_a, _ = run(capsys, "simplenet", "--seed", "5")
    status, out_b, _ = run(capsys, "simplenet", "--seed", "5")
    assert status == 0 and out_a == out_b
    W = np.random.default_rng(5).standard_normal((2, 3))
    assert np.array2string(W) in out_a


@pytest.mark.parametrize("argv, message", [
    (["simplenet", "--weights", "1,2;3,4"], "2 rows of 3 numbers"),
    (["simplenet", "--weights", "a,b,c;d,e,f"], "6 numbers"),
    (["train", "--epochs", "-3"], "--epochs: expected a positive integer, got -3"),
    (["train", "--epochs", "many"], "--epochs: expected a positive integer"),
    (["train", "--lr", "0"], "--lr: expected a positive number"),
    (["train", "--optimizer", "adamw"], "invalid choice: 'adamw'"),
    (["train", "--dropout", "1.5"], "--dropout: expected a ratio in [0, 1)"),
    (["train", "--batchnorm", "--no-progress"], "--batchnorm need --net mlp"),
    (["train", "--hidden", "10", "10"], "--net two-layer has one hidden layer"),
    (["nonsense"], "invalid choice: 'nonsense'"),
])
def test_bad_arguments_get_one_line_and_status_2(capsys, argv, message):
    status, out, err = run(capsys, *argv)
    assert status == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_train_writes_all_four_files(relu_run, capsys):
    for name in ("model.npz", "history.csv", "history.json", "learning_curve.png"):
        assert (relu_run / name).stat().st_size > 0, name
    history = json.loads((relu_run / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    assert history["epochs"][-1]["test_acc"] > 0.5  # relu learns fast even in two epochs
    assert (relu_run / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_lines = (relu_run / "history.csv").read_text().splitlines()
    assert len(csv_lines) == 3 and "test_acc" in csv_lines[0]


def test_train_prints_the_epoch_table(tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--net", "mlp", "--hidden", "20", "--optimizer",
                         "adam", "--epochs", "1", "--no-progress", "--batchnorm",
                         "--dropout", "0.1", "--weight-decay", "1e-4", "--dtype", "float64",
                         "--out", str(tmp_path))
    assert status == 0
    assert "epoch" in out and "test acc" in out
    assert "MultiLayerNet(784-20-10, relu, float64, batchnorm" in out


def test_a_run_that_learns_nothing_warns_in_one_line_naming_the_learning_rate(tmp_path, capsys,
                                                                             monkeypatch):
    """The user's --lr 100: losses of 32-48, test accuracy 0.0974. A warning, and status 0 (a
    hard problem is not an error), with the chance level on the learning curve."""
    import kobai.plot

    real_plot, drawn = kobai.plot.plot_learning_curve, []

    def plot_learning_curve(history, path, **kwargs):
        drawn.append(kwargs.get("n_classes"))
        return real_plot(history, path, **kwargs)

    monkeypatch.setattr(kobai.plot, "plot_learning_curve", plot_learning_curve)
    status, out, err = run(capsys, "train", "--lr", "100", "--epochs", "2", "--no-progress",
                           "--out", tmp_path)
    assert status == 0
    line = one_line(err)
    assert line.startswith("kobai: warning: test accuracy 0.") and "at chance" in line
    assert "learning rate 100 is likely too high: try --lr 0.1" in line
    assert "test accuracy" in out  # the usual summary on stdout too
    assert drawn == [10]  # the curve shows chance (test_plot.py: how)


def test_a_run_that_learns_too_slowly_is_told_to_raise_the_learning_rate(tmp_path, capsys):
    status, _, err = run(capsys, "train", "--lr", "1e-5", "--epochs", "1", "--no-progress",
                         "--out", tmp_path)
    assert status == 0
    line = one_line(err)
    assert "at chance" in line and "may be too low (try --lr 0.1)" in line


def test_a_run_that_learns_gets_no_warning(relu_run, tmp_path, capsys):
    status, _, err = run(capsys, "train", "--resume", relu_run, "--epochs", "3",
                         "--no-progress", "--out", tmp_path)
    assert status == 0 and err == ""


def test_train_resume_continues_to_the_total_epochs(relu_run, tmp_path, capsys):
    status, out, _ = run(capsys, "train", "--resume", str(relu_run / "model.npz"),
                         "--epochs", "3", "--no-progress", "--out", str(tmp_path))
    assert status == 0
    history = json.loads((tmp_path / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2, 3]


def test_evaluate_prints_accuracy_metrics_and_writes_confusion_png(relu_run, tmp_path,
                                                                  capsys):
    status, out, _ = run(capsys, "evaluate", str(relu_run / "model.npz"), "--out",
                         str(tmp_path))
    assert status == 0
    assert "accuracy: 0." in out and "precision" in out and "recall" in out
    assert "true\\pred" in out
    assert (tmp_path / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def _digit_png(path, digit, invert=False, size=(140, 100)):
    """Write a sample test image of `digit` as a large PNG (dark-on-light when invert)."""
    Image = pytest.importorskip("PIL.Image")
    img = mnist_digit(digit)
    if invert:
        img = 255 - img
    Image.fromarray(img).resize(size).save(path)
    return path


def test_predict_reads_pngs_of_any_size_and_polarity(relu_run, tmp_path, capsys):
    a = _digit_png(tmp_path / "seven.png", 7)
    b = _digit_png(tmp_path / "seven_on_paper.png", 7, invert=True, size=(300, 300))
    status, out, _ = run(capsys, "predict", str(relu_run / "model.npz"), str(a), str(b))
    assert status == 0
    lines = out.strip().splitlines()
    assert len(lines) == 2
    for line in lines:
        assert "top 3:" in line
        probs = [float(p.split(": ")[1]) for p in line.split("top 3: ")[1].rstrip(")").split(", ")]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001


@pytest.mark.parametrize("make_file, message", [
    (lambda p: p.write_text("this is not an image"), "is not an image"),
    (lambda p: None, "No such file"),
])
def test_predict_bad_image_gets_one_line(relu_run, tmp_path, capsys, make_file, message):
    pytest.importorskip("PIL")
    path = tmp_path / "digit.png"
    make_file(path)
    status, _, err = run(capsys, "predict", str(relu_run / "model.npz"), str(path))
    assert status == 2
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_unreadable_model_gets_one_line(tmp_path, capsys, command):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a checkpoint at all")
    argv = [command, str(bad)] + (["x.png"] if command == "predict" else [])
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_divergence_exits_1_and_keeps_the_last_good_checkpoint(tmp_path, capsys, monkeypatch):
    from kobai.nets import MultiLayerNet

    real_step, calls = MultiLayerNet.train_step, []

    def step_that_turns_nan(self, x, t, optimizer, **kwargs):  # NaN from the 60th batch
        calls.append(1)
        return float("nan") if len(calls) >= 60 else real_step(self, x, t, optimizer, **kwargs)

    monkeypatch.setattr(MultiLayerNet, "train_step", step_that_turns_nan)
    status, _, err = run(capsys, "train", "--epochs", "3", "--no-progress", "--out",
                         str(tmp_path))
    assert status == 1
    assert "diverged at epoch 2, iteration 10" in err and "smaller learning rate" in err
    assert "holds the last good epoch" in err
    from kobai.io import load

    checkpoint = load(tmp_path / "model.npz")
    assert [r.epoch for r in checkpoint.history.epochs] == [1]


def test_gradcheck_prints_the_books_lines_and_the_report(capsys):
    status, out, _ = run(capsys, "gradcheck", "--hidden", "10", "--batch", "2")
    assert status == 0
    for key in ("W1", "b1", "W2", "b2"):
        assert f"{key}: mean |diff|" in out
    assert "PASSED" in out and "max rel err" in out


@pytest.mark.parametrize("argv", [
    ["--net", "mlp", "--hidden", "6", "5", "--activation", "tanh", "--batchnorm",
     "--dropout", "0.2", "--weight-decay", "0.01", "--data", "random", "--mode", "fast"],
    ["--net", "mlp", "--hidden", "6", "--activation", "relu", "--data", "random"],
])
def test_gradcheck_options(capsys, argv):
    status, out, _ = run(capsys, "gradcheck", *argv)
    assert status == 0, out
    assert "PASSED" in out


def test_gradcheck_exits_1_when_backprop_is_wrong(capsys, monkeypatch):
    from kobai.layers import Affine

    real_backward = Affine.backward

    def doubled(self, dout):  # a planted bug: dW twice too large
        dx = real_backward(self, dout)
        self.dW = 2 * self.dW
        return dx

    monkeypatch.setattr(Affine, "backward", doubled)
    status, out, _ = run(capsys, "gradcheck", "--hidden", "4", "--batch", "2", "--mode", "fast")
    assert status == 1
    assert "FAILED" in out and "W1" in out


def test_gradcheck_locate_names_the_wrong_layer_and_eps_sweep_draws_the_v(capsys, monkeypatch,
                                                                          tmp_path):
    from kobai.layers import Affine

    png = tmp_path / "sweep.png"
    status, out, _ = run(capsys, "gradcheck", "--hidden", "4", "--batch", "2", "--locate",
                         "--eps-sweep", png)
    assert status == 0 and "locate: every layer's backward is right" in out
    assert png.stat().st_size > 1000 and "eps sweep of W1[" in out
    real_backward = Affine.backward

    def doubled_dx(self, dout):  # a planted bug: dx twice too large, dW and db right
        dx = real_backward(self, dout)
        return None if dx is None else 2 * dx  # (the first layer computes no dx)

    monkeypatch.setattr(Affine, "backward", doubled_dx)
    status, out, _ = run(capsys, "gradcheck", "--hidden", "4", "--batch", "2", "--locate")
    assert status == 1
    assert "layer 3 (Affine2, Affine): grad of the input wrong, W, b right" in out


def test_predict_without_pillow_says_how_to_install_it(relu_run, tmp_path, capsys,
                                                       monkeypatch):
    image = _digit_png(tmp_path / "three.png", 3)
    monkeypatch.setitem(sys.modules, "PIL", None)  # `import PIL` now raises ImportError
    status, _, err = run(capsys, "predict", str(relu_run / "model.npz"), str(image))
    assert status == 2
    assert "pip install 'kobai[images]'" in err and len(err.strip().splitlines()) == 1
