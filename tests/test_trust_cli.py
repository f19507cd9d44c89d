"""kobai 6, the command line: runs never overwritten, failures reported in one line, predict
separating a digit from its paper, `python -m kobai`, and --resume refusing conflicting options."""

import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import mnist_digit, one_line, run

from kobai import __version__
from kobai.cli import main
from kobai.history import History
from kobai.io import load, save
from kobai.nets import MultiLayerNet, TwoLayerNet


def saved_epochs(model):
    return [r.epoch for r in load(model).history.epochs]


def stop_at_step(monkeypatch, n, exc=None):
    """Make the n-th training step (from 1) raise ``exc``, or with None, return a NaN loss
    (training diverges); 50 steps make an epoch of the bundled sample."""
    real_step, calls = MultiLayerNet.train_step, []

    def step(self, x, t, optimizer, **kwargs):
        calls.append(1)
        if len(calls) == n:
            if exc is None:
                return float("nan")
            raise exc
        return real_step(self, x, t, optimizer, **kwargs)

    monkeypatch.setattr(MultiLayerNet, "train_step", step)


# -- never overwrite a run --------------------------------------------------------------------
def test_runs_started_in_the_same_second_get_folders_of_their_own(tmp_path, capsys,
                                                                 monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "strftime", lambda fmt, *t: "20250101-120000")
    for hidden in ("20", "30"):
        status, _, _ = run(capsys, "train", "--epochs", "1", "--no-progress", "--hidden", hidden)
        assert status == 0
    folders = sorted(p.name for p in (tmp_path / "runs").iterdir())
    assert folders == ["20250101-120000", "20250101-120000-2"]
    sizes = [load(tmp_path / "runs" / name / "model.npz").net.hidden_size for name in folders]
    assert sizes == [20, 30]


def test_train_refuses_to_overwrite_a_run_unless_forced(default_run, tmp_path, capsys):
    out = shutil.copytree(default_run, tmp_path / "run")
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    status, _, err = run(capsys, "train", "--epochs", "1", "--no-progress", "--hidden", "20",
                         "--out", out)
    assert status == 2
    assert f"{out} already holds a run" in one_line(err) and "--force" in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before

    status, out_text, _ = run(capsys, "train", "--epochs", "1", "--no-progress", "--hidden",
                              "20", "--force", "--out", out)
    assert status == 0 and "(--force)" in out_text
    assert load(out / "model.npz").net.hidden_size == 20


def test_resume_may_continue_a_run_in_its_own_folder(default_run, tmp_path, capsys):
    out = shutil.copytree(default_run, tmp_path / "run")
    status, _, err = run(capsys, "train", "--resume", out, "--out", out, "--epochs", "2",
                         "--no-progress")
    assert status == 0, err
    assert saved_epochs(out / "model.npz") == [1, 2]
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]


def test_a_failed_run_leaves_no_empty_folder_but_keeps_what_it_saved(tmp_path, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    stop_at_step(monkeypatch, 5)  # diverges in epoch 1: nothing saved
    assert run(capsys, "train", "--epochs", "2", "--no-progress")[0] == 1
    stop_at_step(monkeypatch, 5)
    assert run(capsys, "train", "--epochs", "2", "--no-progress", "--out", "deep/er/run")[0] == 1
    assert sorted(os.listdir(tmp_path)) == []  # neither runs/ nor deep/

    stop_at_step(monkeypatch, 55)  # in epoch 2
    assert run(capsys, "train", "--epochs", "2", "--no-progress", "--out", "run")[0] == 1
    assert sorted(os.listdir(tmp_path / "run")) == ["history.csv", "history.json",
                                                    "learning_curve.png", "model.npz"]
    assert saved_epochs(tmp_path / "run" / "model.npz") == [1]
    assert History.from_csv(tmp_path / "run" / "history.csv").epoch == 1


@pytest.mark.parametrize("error", [OSError(errno.ENOSPC, "No space left on device"),
                                   IsADirectoryError(errno.EISDIR, "Is a directory")])
def test_oserror_while_saving_is_one_line_naming_the_path_and_keeps_the_checkpoint(
        tmp_path, capsys, monkeypatch, error):
    out = tmp_path / "run"
    real_replace, saves = os.replace, []

    def replace(src, dst, *args, **kwargs):  # the second save of model.npz fails
        if Path(dst).name == "model.npz":
            saves.append(dst)
            if len(saves) == 2:
                raise error
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", replace)
    status, _, err = run(capsys, "train", "--epochs", "3", "--no-progress", "--out", out)
    assert status == 1
    line = one_line(err)
    assert f"cannot save {out / 'model.npz'}: {error.strerror}" in line
    assert f"{out / 'model.npz'} holds epoch 1" in line
    # no temporary file left either; the history of epoch 1 was written after it
    assert sorted(os.listdir(out)) == ["history.csv", "history.json", "model.npz"]
    assert saved_epochs(out / "model.npz") == [1]
    assert History.from_json(out / "history.json").epoch == 1


def test_model_npz_that_is_a_folder_is_refused_before_training(tmp_path, capsys):
    (tmp_path / "model.npz").mkdir()
    status, out, err = run(capsys, "train", "--epochs", "1", "--no-progress", "--out", tmp_path)
    assert status == 2
    assert f"{tmp_path / 'model.npz'} is not a file" in one_line(err)
    assert "epoch" not in out  # refused before training


# -- interruption -----------------------------------------------------------------------------
def test_interrupt_mid_epoch_says_where_it_stopped_and_what_model_npz_holds(tmp_path, capsys,
                                                                           monkeypatch):
    out = tmp_path / "run"
    stop_at_step(monkeypatch, 60, KeyboardInterrupt())  # epoch 2, iteration 10
    status, _, err = run(capsys, "train", "--epochs", "3", "--no-progress", "--out", out)
    assert status == 130
    line = one_line(err)
    assert line.startswith("kobai: interrupted in epoch 2 of 3;")
    assert f"{out / 'model.npz'} holds epoch 1, the last completed one" in line
    assert f"kobai train --resume {out} --out {out} --epochs 3" in line
    assert saved_epochs(out / "model.npz") == [1]


def test_interrupt_in_the_first_epoch_saves_nothing_and_leaves_no_folder(tmp_path, capsys,
                                                                        monkeypatch):
    out = tmp_path / "run"
    stop_at_step(monkeypatch, 3, KeyboardInterrupt())
    status, _, err = run(capsys, "train", "--epochs", "3", "--no-progress", "--out", out)
    assert status == 130
    assert "interrupted in epoch 1 of 3; no epoch was completed, so nothing was saved" in (
        one_line(err))
    assert not out.exists()


# -- no tracebacks ----------------------------------------------------------------------------
@pytest.mark.parametrize("command, net, message", [
    ("predict", TwoLayerNet(100, 10, 10, rng=0), "takes 100 inputs per sample, but kobai "
                                                 "predict gives it 28x28 = 784 pixels"),
    ("evaluate", TwoLayerNet(784, 10, 5, rng=0), "scores 5 classes, but the sample test set "
                                                 "has 10"),
    ("evaluate", TwoLayerNet(100, 10, 10, rng=0), "takes 100 inputs per sample, but the "
                                                  "sample images have 784 pixels"),
])
def test_a_model_that_does_not_fit_the_data_gets_one_line(tmp_path, capsys, command, net,
                                                          message):
    model = save(net, tmp_path / "model.npz")
    image = tmp_path / "digit.png"
    image.write_bytes(b"")  # never read: the model is refused first
    argv = [command, model] + ([image] if command == "predict" else [])
    status, _, err = run(capsys, *argv)
    assert status == 2
    assert f"{model} {message}" in one_line(err)


def test_evaluate_and_predict_take_the_model_of_a_run_folder(default_run, tmp_path, capsys):
    status, out, err = run(capsys, "evaluate", default_run, "--out", tmp_path)
    assert status == 0, err
    assert "accuracy: 0." in out and (tmp_path / "confusion.png").is_file()
    image = paper_photo(tmp_path / "seven.png")
    status, out, err = run(capsys, "predict", default_run, image)
    assert status == 0, err
    assert out.startswith(f"{image}: ")
    status, _, err = run(capsys, "evaluate", tmp_path)
    assert status == 2 and "is a folder without a model.npz" in one_line(err)


def test_python_dash_m_kobai_runs_the_command():
    done = subprocess.run([sys.executable, "-m", "kobai", "--version"], capture_output=True,
                          text=True, check=True)
    assert done.stdout.strip() == f"kobai {__version__}"


# -- --resume and conflicting options ---------------------------------------------------------
@pytest.mark.parametrize("option, checkpoint_has", [
    (["--optimizer", "adam"], "--optimizer sgd"),
    (["--lr", "0.5"], "--lr 0.1"),
    (["--hidden", "20"], "--hidden 50"),
    (["--net", "mlp"], "--net two-layer"),
    (["--activation", "relu"], "--activation sigmoid"),
    (["--dtype", "float64"], "--dtype float32"),
    (["--seed", "7"], "--seed 0"),
    (["--batchnorm"], "no --batchnorm"),
])
def test_resume_refuses_options_that_conflict_with_the_checkpoint(default_run, tmp_path, capsys,
                                                                  option, checkpoint_has):
    status, out, err = run(capsys, "train", "--resume", default_run / "model.npz", *option,
                           "--epochs", "2", "--no-progress", "--out", tmp_path / "next")
    assert status == 2
    line = one_line(err)
    assert f"{' '.join(option)} (the checkpoint has {checkpoint_has})" in line
    assert "start a new run without --resume" in line
    assert out == "" and not (tmp_path / "next").exists()


def test_resume_accepts_options_that_agree_with_the_checkpoint(default_run, tmp_path, capsys):
    status, out, err = run(capsys, "train", "--resume", default_run / "model.npz", "--optimizer",
                           "sgd",
                           "--lr", "0.1", "--net", "two-layer", "--hidden", "50", "--seed",
                           "0", "--epochs", "2", "--no-progress", "--out", tmp_path)
    assert status == 0, err
    assert "with SGD(lr=0.1)" in out
    assert saved_epochs(tmp_path / "model.npz") == [1, 2]


def test_resume_names_the_epochs_option_when_it_is_already_reached(default_run, capsys):
    status, _, err = run(capsys, "train", "--resume", default_run / "model.npz", "--epochs", "1")
    assert status == 2
    assert "has trained 1 epochs already; --epochs is the total to reach" in one_line(err)


# -- predict: preprocessing -------------------------------------------------------------------
def paper_photo(path, digit=7, seed=0):
    """A 640x360 photo of ``digit`` in dark ink on shaded, noisy grey paper, as a PNG."""
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(seed)
    ink = np.asarray(Image.fromarray(mnist_digit(digit)).resize((150, 150)), dtype=np.float64)
    paper = 150 + 12 * np.linspace(-1, 1, 640)[None, :] + rng.normal(0, 4, (360, 640))
    paper[100:250, 300:450] -= ink / 255 * 100
    Image.fromarray(np.clip(paper, 0, 255).round().astype(np.uint8)).save(path)
    return path


def test_load_digit_separates_a_digit_from_grey_paper(tmp_path):
    from kobai.images import load_digit, to_mnist_layout

    seen = load_digit(paper_photo(tmp_path / "seven.png"))
    clean = to_mnist_layout(mnist_digit(7)).reshape(784)
    assert np.corrcoef(seen, clean)[0, 1] > 0.9
    assert seen.min() == 0.0 and np.mean(seen == 0.0) > 0.6  # the paper became black


@pytest.mark.parametrize("make", [
    lambda: np.full((60, 80), 255, dtype=np.uint8),  # a white page
    lambda: np.clip(np.random.default_rng(0).normal(150, 6, (360, 640)), 0, 255).astype(
        np.uint8),  # grey paper with noise, no ink
])
def test_predict_says_no_digit_found_for_a_blank_image(default_run, tmp_path, capsys, make):
    Image = pytest.importorskip("PIL.Image")
    blank = tmp_path / "blank.png"
    Image.fromarray(make()).save(blank)
    status, out, err = run(capsys, "predict", default_run / "model.npz", blank)
    assert status == 0 and err == ""
    assert out.startswith(f"{blank}: no digit found: the image is blank")


def test_predict_save_input_writes_the_28x28_image_the_model_saw(default_run, tmp_path, capsys):
    Image = pytest.importorskip("PIL.Image")
    from kobai.images import load_digit

    photo = paper_photo(tmp_path / "seven.png")
    status, _, err = run(capsys, "predict", default_run / "model.npz", photo, "--save-input",
                         tmp_path / "in")
    assert status == 0, err
    with Image.open(tmp_path / "in" / "seven.28x28.png") as im:
        assert (im.size, im.mode) == ((28, 28), "L")
        saved = np.asarray(im)
    np.testing.assert_array_equal(saved, np.rint(load_digit(photo) * 255).reshape(28, 28))


def test_predict_reports_a_bad_file_and_still_predicts_the_rest(default_run, tmp_path, capsys):
    good = paper_photo(tmp_path / "seven.png")
    other = paper_photo(tmp_path / "three.png", digit=3)
    bad = tmp_path / "bad.png"
    bad.write_text("this is not an image")
    missing = tmp_path / "missing.png"
    status, out, err = run(capsys, "predict", default_run / "model.npz", good, bad, missing,
                           other)
    assert status == 2
    assert [line.split(":")[0] for line in out.splitlines()] == [str(good), str(other)]
    errors = err.strip().splitlines()
    assert len(errors) == 2 and "Traceback" not in err
    assert f"cannot read {bad}: " in errors[0] and "is not an image" in errors[0]
    assert f"cannot read {missing}: " in errors[1] and "No such file" in errors[1]


def test_library_messages_show_on_stderr_only_while_a_command_runs(capsys, monkeypatch):
    import logging

    from kobai.cli import simplenet

    logger = logging.getLogger("kobai.datasets")

    def run_that_logs(args):
        logger.info("downloading %s", "x.gz")
        return 0

    monkeypatch.setattr(simplenet, "run", run_that_logs)
    assert main(["simplenet"]) == 0
    assert capsys.readouterr().err == "kobai: downloading x.gz\n"
    logger.info("after the command")  # e.g. a notebook or a test that goes on
    assert capsys.readouterr().err == ""


# -- checkpoints record their data ----------------------------------------------------------

def test_a_checkpoint_records_its_training_data(tmp_path, capsys):
    from kobai.datasets import fingerprint, load_mnist

    assert run(capsys, "train", "--epochs", "1", "--no-progress", "--out", tmp_path / "r")[0] == 0
    data = load(tmp_path / "r" / "model.npz").data
    (x, t), _ = load_mnist()
    assert data == {"source": "sample", "normalize": True, "n_train": 5000,
                    "fingerprint": fingerprint(x, t), "batch_size": 100}


def test_resume_trains_on_the_recorded_data_set_and_refuses_another(tmp_path, capsys,
                                                                     monkeypatch):
    run_dir = tmp_path / "r"
    assert run(capsys, "train", "--epochs", "1", "--no-progress", "--out", run_dir)[0] == 0
    path = run_dir / "model.npz"
    checkpoint = load(path)
    checkpoint.meta["data"]["source"] = "fashion-mnist"  # as if trained on Fashion-MNIST
    save(checkpoint.net, path, optimizer=checkpoint.optimizer, history=checkpoint.history,
         data=checkpoint.meta["data"])
    monkeypatch.setenv("KOBAI_FASHION_MNIST_MIRRORS", "")  # never download in a test
    monkeypatch.setenv("KOBAI_HOME", str(tmp_path / "home"))
    status, _, err = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs", "2",
                         "--dataset", "sample", "--no-progress")
    assert status == 2
    assert "was trained on --dataset fashion-mnist" in one_line(err)
    status, _, err = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs", "2",
                         "--no-progress")
    assert status == 2 and "fashion-mnist" in err  # it went for the recorded set (offline here)


def test_resume_refuses_training_data_that_differs_from_the_recorded_fingerprint(tmp_path,
                                                                                 capsys):
    run_dir = tmp_path / "r"
    assert run(capsys, "train", "--epochs", "1", "--no-progress", "--out", run_dir)[0] == 0
    path = run_dir / "model.npz"
    checkpoint = load(path)
    checkpoint.meta["data"]["fingerprint"] = "0" * 16
    save(checkpoint.net, path, optimizer=checkpoint.optimizer, history=checkpoint.history,
         data=checkpoint.meta["data"])
    status, _, err = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs", "2",
                         "--no-progress")
    assert status == 2 and "differs from the data" in one_line(err)


def test_evaluate_defaults_to_the_recorded_data_set_and_says_when_told_another(tmp_path,
                                                                               capsys,
                                                                               monkeypatch):
    run_dir = tmp_path / "r"
    assert run(capsys, "train", "--epochs", "1", "--no-progress", "--out", run_dir)[0] == 0
    status, out, _ = run(capsys, "evaluate", run_dir)
    assert status == 0 and "on the sample test set (10000 images)" in out
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", "")
    monkeypatch.setenv("KOBAI_HOME", str(tmp_path / "home"))
    status, out, err = run(capsys, "evaluate", run_dir, "--dataset", "mnist")
    assert "was trained on --dataset sample; evaluating it on the mnist test set" in out


def test_resume_continues_with_the_recorded_batch_size_and_refuses_another(tmp_path, capsys):
    run_dir = tmp_path / "r"
    assert run(capsys, "train", "--epochs", "1", "--batch-size", "250", "--no-progress",
               "--out", run_dir)[0] == 0
    status, _, err = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs",
                         "2", "--batch-size", "7", "--no-progress")
    assert status == 2 and "--batch-size 7 (the checkpoint has --batch-size 250)" in err
    status, out, _ = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs",
                         "2", "--no-progress")
    assert status == 0 and "batch 250" in out


def test_evaluate_and_resume_read_the_recorded_data_dir(tmp_path, capsys, monkeypatch):
    from kobai.datasets import write_idx

    data_dir = tmp_path / "digits"  # a tiny MNIST-shaped set under the standard names
    data_dir.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 60), ("t10k", 20)):
        write_idx(data_dir / f"{name}-images-idx3-ubyte",
                  rng.integers(0, 256, (n, 28, 28)).astype(np.uint8))
        write_idx(data_dir / f"{name}-labels-idx1-ubyte",
                  (np.arange(n) % 10).astype(np.uint8))
    from kobai.datasets import MNIST_FILES, sha256_file, sources

    stand_ins = {name: sha256_file(data_dir / name.removesuffix(".gz")) for name in MNIST_FILES}
    monkeypatch.setitem(sources.SHA256, "mnist", stand_ins)  # accept these stand-in files
    monkeypatch.setitem(sources.IDX_SHA256, "mnist", {})
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", "")
    monkeypatch.setenv("KOBAI_HOME", str(tmp_path / "home"))
    run_dir = tmp_path / "r"
    status, _, err = run(capsys, "train", "--dataset", "mnist", "--data-dir", data_dir,
                         "--epochs", "1", "--batch-size", "20", "--no-progress", "--out",
                         run_dir)
    assert status == 0, err
    assert load(run_dir / "model.npz").data["data_dir"] == str(data_dir.resolve())
    status, out, err = run(capsys, "evaluate", run_dir)
    assert status == 0, err
    assert "the --data-dir the model was trained from" in err and "(20 images)" in out
    status, _, err = run(capsys, "train", "--resume", run_dir, "--out", run_dir, "--epochs",
                         "2", "--no-progress")
    assert status == 0, err


def test_force_keeps_the_earlier_run_when_the_new_one_saves_nothing(tmp_path, capsys,
                                                                    monkeypatch):
    run_dir = tmp_path / "run"
    assert run(capsys, "train", "--epochs", "1", "--no-progress", "--out", run_dir)[0] == 0
    before = (run_dir / "model.npz").read_bytes()
    stop_at_step(monkeypatch, 5)  # the replacement diverges in its first epoch
    status, _, _ = run(capsys, "train", "--epochs", "1", "--no-progress", "--out", run_dir,
                       "--force")
    assert status == 1
    assert (run_dir / "model.npz").read_bytes() == before  # the earlier run is back
    assert sorted(p.name for p in run_dir.iterdir() if p.name.startswith(".")) == []


def test_a_save_that_fails_after_an_epoch_says_the_epoch_completed(tmp_path, capsys,
                                                                   monkeypatch):
    from kobai import io

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io, "save", full_disk)
    status, _, err = run(capsys, "train", "--epochs", "2", "--no-progress", "--out",
                         tmp_path / "run")
    assert status == 1
    assert "epoch 1 completed but could not be saved; nothing was saved" in one_line(err)
