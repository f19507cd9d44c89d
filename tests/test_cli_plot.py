"""kobai plot RUN: a run's learning curve drawn again from the files in its folder."""

import shutil

import pytest
from conftest import one_line, run

import kobai.plot
from kobai.history import History
from kobai.io import load

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def drawn(monkeypatch):
    """What kobai.plot.plot_learning_curve was given: (history, path, keywords) per call."""
    real_plot, calls = kobai.plot.plot_learning_curve, []

    def plot_learning_curve(history, path, **kwargs):
        calls.append((history, path, kwargs))
        return real_plot(history, path, **kwargs)

    monkeypatch.setattr(kobai.plot, "plot_learning_curve", plot_learning_curve)
    return calls


def contents(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def test_plot_redraws_the_learning_curve_of_a_run_as_kobai_train_drew_it(relu_run, tmp_path,
                                                                         capsys, drawn):
    out = shutil.copytree(relu_run, tmp_path / "run")
    (out / "learning_curve.png").unlink()
    before = contents(out)
    status, stdout, err = run(capsys, "plot", out)
    assert status == 0, err
    assert stdout.strip() == f"wrote {out / 'learning_curve.png'} (epochs 1-2)"
    assert (out / "learning_curve.png").read_bytes()[:8] == PNG_SIGNATURE
    after = contents(out)
    assert {k: v for k, v in after.items() if k != "learning_curve.png"} == before
    (history, path, kwargs), = drawn
    assert history == History.from_json(out / "history.json") and history.train_loss_list
    assert kwargs == {"title": "TwoLayerNet(784-50-10, relu, float32), SGD(lr=0.1), sample",
                      "n_classes": 10}


def test_plot_draws_a_run_that_kept_only_model_npz(relu_run, tmp_path, capsys, drawn):
    """What an interrupted run of kobai 0.6 left: the history is the checkpoint's."""
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(relu_run / "model.npz", out)
    status, _, err = run(capsys, "plot", out)
    assert status == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["learning_curve.png", "model.npz"]
    assert drawn[0][0] == load(out / "model.npz").history


def test_plot_draws_from_history_csv_alone(relu_run, tmp_path, capsys, drawn):
    out = tmp_path / "run"
    out.mkdir()
    shutil.copy(relu_run / "history.csv", out)
    status, _, err = run(capsys, "plot", out)
    assert status == 0, err
    history, _, kwargs = drawn[0]
    assert history.epochs == History.from_json(relu_run / "history.json").epochs
    assert kwargs == {"title": None, "n_classes": 10}


def test_plot_takes_the_longer_of_history_json_and_model_npz(relu_run, tmp_path, capsys, drawn):
    out = shutil.copytree(relu_run, tmp_path / "run")
    History.from_json(out / "history.json").until(1).to_json(out / "history.json")  # stale
    assert run(capsys, "plot", out)[0] == 0
    assert drawn[0][0].epoch == 2


def written(name, text):
    """A maker of a folder holding ``name`` with ``text`` (the folder), or for ``name``
    "model.npz", of that file (the target)."""
    def make(folder):
        (folder / name).write_text(text)
        return folder / name if name == "model.npz" else folder
    return make


@pytest.mark.parametrize("make, message", [
    (lambda d: d, "is not a run folder of kobai train: it holds none of model.npz, "
                  "history.csv, history.json"),
    (lambda d: d / "missing", "does not exist; kobai plot takes a run folder"),
    (written("model.npz", ""), "is not a folder; kobai plot takes a run folder"),
    (written("history.json", "{"), "history.json is not JSON"),
    (written("history.csv", "a,b\n1,2\n"), "expected the header 'epoch,iteration,"),
    (written("history.csv", "epoch,iteration,train_loss,train_acc,test_loss,test_acc,seconds,"
                            "lr\n"), "holds no completed epoch to draw"),
], ids=["empty", "missing", "a-file", "bad-json", "bad-csv", "no-epoch"])
def test_plot_refuses_what_is_not_a_run_in_one_line_and_writes_nothing(tmp_path, capsys, make,
                                                                       message):
    target = make(tmp_path)
    before = contents(tmp_path)
    status, _, err = run(capsys, "plot", target)
    assert status == 2
    line = one_line(err)
    assert line.startswith(f"kobai: error: {target}") and message in line
    assert contents(tmp_path) == before
