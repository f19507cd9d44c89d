"""``kobai train --validation --patience --lr-schedule`` end to end on the bundled sample, their
``--resume``, and ``kobai tune --lr-schedule``."""

import json
import math

import numpy as np
import pytest
from conftest import one_line, run

from kobai.io import load

SMALL = ["--train-size", "1000", "--test-size", "500", "--no-progress"]


@pytest.fixture(scope="module")
def fit_run(tmp_path_factory):
    """`kobai train --validation 0.1 --patience 2 --lr-schedule cosine`, 5 epochs."""
    from kobai.cli import main

    out = tmp_path_factory.mktemp("fit") / "run"
    status = main(["train", "--validation", "0.1", "--patience", "2", "--lr-schedule", "cosine",
                   "--epochs", "5", "--hidden", "20", *SMALL, "--out", str(out)])
    assert status == 0
    return out


def test_a_run_with_validation_early_stopping_and_cosine(fit_run):
    history = json.loads((fit_run / "history.json").read_text())
    epochs = history["epochs"]
    assert 1 <= len(epochs) <= 5
    assert all(r["val_acc"] is not None and r["test_acc"] is None for r in epochs)
    # cosine from lr 0.1 (sgd's default) over the 5 epochs
    np.testing.assert_allclose([r["lr"] for r in epochs],
                               [0.05 * (1 + math.cos(math.pi * e / 5))
                                for e in range(len(epochs))], rtol=1e-12)
    best = int(np.argmin([r["val_loss"] for r in epochs])) + 1
    assert history["test"]["epoch"] == best
    saved = load(fit_run / "best.npz")
    assert saved.history.epoch == best and saved.history.test == history["test"]
    fit = load(fit_run / "model.npz").data["fit"]
    assert fit["validation"] == 0.1 and fit["patience"] == 2
    assert fit["lr_schedule"] == {"name": "cosine", "lr": 0.1, "epochs": 5, "floor": 0.0}
    header = (fit_run / "history.csv").read_text().splitlines()[0]
    assert header == "epoch,iteration,train_loss,train_acc,seconds,lr,val_loss,val_acc"


def test_the_validation_split_holds_out_a_tenth_of_the_training_images(fit_run):
    history = json.loads((fit_run / "history.json").read_text())
    assert history["epochs"][0]["iteration"] == 9  # 900 training images, batches of 100


@pytest.mark.parametrize("args, message", [
    (["--patience", "2"], "--patience needs --validation FRACTION"),
    (["--lr-schedule", "cosine", "--lr-step", "3"],
     "--lr-step does not apply to --lr-schedule cosine; step takes --lr-step, --lr-gamma"),
    (["--validation", "1.5"], "expected a fraction in (0, 1), got 1.5"),
])
def test_misused_options_are_one_line_errors(tmp_path, capsys, args, message):
    status, _, err = run(capsys, "train", *args, "--epochs", "1", *SMALL, "--out",
                         tmp_path / "r")
    assert status == 2 and message in one_line(err)


def test_a_resumed_run_continues_its_schedule_exactly(tmp_path, capsys):
    step = ["--lr-schedule", "step", "--lr-step", "1", "--lr-gamma", "0.5", "--validation",
            "0.1", "--hidden", "20", *SMALL]
    assert run(capsys, "train", *step, "--epochs", "3", "--out", tmp_path / "whole")[0] == 0
    assert run(capsys, "train", *step, "--epochs", "2", "--out", tmp_path / "part")[0] == 0
    status, out, err = run(capsys, "train", "--resume", tmp_path / "part", "--epochs", "3",
                           "--no-progress", "--out", tmp_path / "part")
    assert status == 0, err
    whole, part = (load(tmp_path / name / "model.npz") for name in ("whole", "part"))
    assert [r.lr for r in part.history.epochs] == [0.1, 0.05, 0.025]
    whole_epochs, part_epochs = whole.history.to_dict()["epochs"], part.history.to_dict()["epochs"]
    assert part_epochs == [dict(r, seconds=p["seconds"])
                           for r, p in zip(whole_epochs, part_epochs, strict=True)]
    for key, value in whole.net.state_dict().items():
        np.testing.assert_array_equal(part.net.state_dict()[key], value)
    status, _, err = run(capsys, "train", "--resume", tmp_path / "part", "--epochs", "4",
                         "--lr-schedule", "cosine", "--no-progress", "--out", tmp_path / "x")
    assert status == 2 and "--lr-schedule cosine (the checkpoint has --lr-schedule step)" in (
        one_line(err))


def test_tune_searches_the_schedule_as_a_choice(capsys):
    from kobai.tune.space import Choice, SearchSpace

    space = SearchSpace.from_options({"lr_schedule": "step,cosine"})
    assert space.dims["lr_schedule"] == Choice(("step", "cosine"))
    assert "--lr-schedule step,cosine" in space.describe()
    with pytest.raises(ValueError, match="--lr-schedule linear: expected one of constant"):
        SearchSpace.from_options({"lr_schedule": "linear"})


def test_a_trial_follows_its_schedule():
    from kobai.datasets import load_mnist
    from kobai.tune.trial import TrialData, run_trial

    (x, t), _ = load_mnist(source="sample")
    data = TrialData(x[:150], t[:150], x[150:200], t[150:200])
    config = {"net": "mlp", "hidden": [8], "lr": 0.2, "lr_schedule": "cosine", "seed": 0}
    trainer = run_trial(config, data, epochs=4, report=lambda r: None)
    np.testing.assert_allclose([r.lr for r in trainer.history.epochs],
                               [0.1 * (1 + math.cos(math.pi * e / 4)) for e in range(4)],
                               rtol=1e-12)
