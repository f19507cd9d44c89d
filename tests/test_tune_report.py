"""Tests for kobai.tune.report: the ranking, results.csv, best.json and the console table."""

import csv
import json
import math

import numpy as np
import pytest

from kobai.tune.records import COMPLETED, DIVERGED, ERROR, STOPPED, UNFINISHED, TrialResult
from kobai.tune.report import (
    best_json,
    error_lines,
    format_value,
    ranked,
    read_results_csv,
    status_summary,
    top_table,
    write_best_json,
    write_results_csv,
)

BOOK_CONFIG = {"net": "mlp", "hidden": [100] * 6, "activation": None, "weight_decay": 1e-6,
               "dropout": None, "batchnorm": False, "optimizer": "sgd", "lr": 3.2e-3,
               "batch_size": 100, "seed": 7}


def trial(trial_id, val_acc=(), status=COMPLETED, error=None, seconds=1.0, **config):
    return TrialResult(trial_id, {**BOOK_CONFIG, **config}, status, list(val_acc),
                       seconds=seconds, error=error)


def mixed_trials():
    """Every status, awkward floats, every form of hidden, None values, an error message
    with a comma, a quote and a newline."""
    return [
        trial("t0", [0.1, 0.2 + 0.1, 1 / 3], lr=1 / 3 * 1e-3, weight_decay=2.5e-7, seconds=3.14159),
        trial("t1", [0.5, 0.875], status=STOPPED, hidden=[100, 50], dropout=0.25,
              activation="sigmoid"),
        trial("t2", [], status=ERROR, error='ValueError: bad "lr", see\nthe log', hidden=[50],
              batchnorm=True, optimizer="adam"),
        trial("t3", [0.9, 0.91, 0.905], lr=0.01, weight_decay=None),
        trial("t4", [0.11, math.nan], status=DIVERGED, error="loss became nan at epoch 2",
              lr=1e-2),
        trial("t5", [], status=UNFINISHED, seconds=0.0),
    ]


def assert_same_trials(got, expected):
    assert [t.trial_id for t in got] == [t.trial_id for t in expected]
    for g, e in zip(got, expected, strict=True):
        assert (g.status, g.config, g.error) == (e.status, e.config, e.error)
        np.testing.assert_array_equal(g.val_acc, e.val_acc)  # exact, NaN == NaN
        assert g.seconds == round(e.seconds, 2)


# -- ranking ------------------------------------------------------------------------------------
def test_ranked_by_final_accuracy_then_best_then_trial_id_and_no_epoch_last():
    trials = [trial("e", []), trial("b", [0.9, 0.8]), trial("a", [0.7, 0.8]),
              trial("d", [0.5, 0.8]), trial("c", [0.9, 0.8]), trial("f", [0.85]),
              trial("g", [0.1, math.nan])]
    # final 0.85 first; then final 0.8: best 0.9 (b, c by id) before best 0.8 (a, d by id);
    # then no final accuracy: a NaN one (best 0.1) before none at all
    assert [t.trial_id for t in ranked(trials)] == ["f", "b", "c", "a", "d", "g", "e"]


def test_ranked_does_not_depend_on_input_order():
    trials = mixed_trials()
    assert [t.trial_id for t in ranked(trials)] == [t.trial_id for t in ranked(trials[::-1])]
    assert [t.trial_id for t in ranked(trials)] == ["t3", "t0", "t1", "t4", "t2", "t5"]


def test_ranked_puts_the_trials_that_ran_every_epoch_first():
    """Rank 1 is the search's choice: a better accuracy from a trial ASHA stopped early or
    one that diverged after a good start does not rank above a trial that finished."""
    trials = [trial("stopped", [0.95], status=STOPPED),
              trial("diverged", [0.96, 0.97], status=DIVERGED, error="loss exploded"),
              trial("done", [0.3, 0.4, 0.45])]
    assert [t.trial_id for t in ranked(trials)] == ["done", "diverged", "stopped"]


# -- results.csv --------------------------------------------------------------------------------
def test_results_csv_round_trip_is_exact(tmp_path):
    trials = mixed_trials()
    path = write_results_csv(trials, tmp_path / "results.csv", searched=["lr", "weight_decay"],
                             epochs=4)
    assert_same_trials(read_results_csv(path), ranked(trials))


def test_results_csv_columns_and_cells(tmp_path):
    trials = [trial("a", [0.5, 0.75], hidden=[100, 100], seconds=2.0 / 3, dropout=None),
              trial("b", [0.125], status=STOPPED, hidden=[100, 50], extra_key={"k": [1, 2]})]
    path = write_results_csv(trials, tmp_path / "results.csv", searched=["weight_decay", "lr"],
                             epochs=3)
    with open(path, newline="") as fh:
        header, *rows = list(csv.reader(fh))
    assert header == ["rank", "trial_id", "status", "final_val_acc", "best_val_acc",
                      "epochs_completed", "seconds",
                      "weight_decay", "lr",  # the searched dimensions first, in their order
                      "net", "hidden", "activation", "dropout", "batchnorm", "optimizer",
                      "batch_size", "seed", "extra_key",
                      "val_acc_1", "val_acc_2", "val_acc_3", "error"]
    a = dict(zip(header, rows[0], strict=True))
    b = dict(zip(header, rows[1], strict=True))
    assert (a["rank"], a["trial_id"], a["status"]) == ("1", "a", "completed")
    assert (a["final_val_acc"], a["best_val_acc"], a["epochs_completed"]) == ("0.75", "0.75", "2")
    assert a["seconds"] == "0.67"
    assert (a["hidden"], b["hidden"]) == ("100x2", "100-50")
    assert (a["weight_decay"], a["lr"], a["batchnorm"]) == ("1e-06", "0.0032", "false")
    assert a["activation"] == a["dropout"] == ""  # None
    assert (a["val_acc_1"], a["val_acc_2"], a["val_acc_3"]) == ("0.5", "0.75", "")
    assert (a["extra_key"], b["extra_key"]) == ("", '{"k": [1, 2]}')
    assert (b["rank"], b["status"], b["val_acc_2"], b["error"]) == ("2", "stopped early", "", "")


def test_results_csv_reads_missing_config_keys_as_none(tmp_path):
    a = TrialResult("a", {"lr": 0.1, "hidden": [100] * 6}, COMPLETED, [0.5])
    b = TrialResult("b", {"lr": 0.2}, COMPLETED, [0.4])
    path = write_results_csv([a, b], tmp_path / "r.csv", searched=["lr"], epochs=1)
    got = read_results_csv(path)
    assert [t.config for t in got] == [{"lr": 0.1, "hidden": [100] * 6},
                                       {"lr": 0.2, "hidden": None}]


def test_results_csv_without_trials_has_the_header_only(tmp_path):
    path = write_results_csv([], tmp_path / "r.csv", searched=["lr", "optimizer"], epochs=2)
    assert path.read_text() == ("rank,trial_id,status,final_val_acc,best_val_acc,"
                                "epochs_completed,seconds,lr,optimizer,val_acc_1,val_acc_2,"
                                "error\n")
    assert read_results_csv(path) == []


def test_results_csv_widens_to_a_trial_that_ran_more_epochs(tmp_path):
    path = write_results_csv([trial("a", [0.1, 0.2, 0.3])], tmp_path / "r.csv",
                             searched=[], epochs=2)
    assert read_results_csv(path)[0].val_acc == [0.1, 0.2, 0.3]


def test_read_results_csv_accepts_hidden_runs_as_kobai_tune_writes_them(tmp_path):
    path = write_results_csv([trial("a", [0.5])], tmp_path / "r.csv", searched=[], epochs=1)
    path.write_text(path.read_text().replace("100x6", "100x2-50"))
    assert read_results_csv(path)[0].config["hidden"] == [100, 100, 50]


@pytest.mark.parametrize("edit, line, what", [
    (lambda lines: lines[:1] + [lines[1] + ",extra"] + lines[2:], 2, "fields"),
    (lambda lines: [lines[0], lines[1].replace("completed", "finished")], 2, "status"),
    (lambda lines: [lines[0], lines[1], lines[2].replace("0.25", "zero")], 3, "val_acc"),
    (lambda lines: [lines[0], lines[1], lines[2].replace(",0.25,", ",,")], 3, "gap"),
    (lambda lines: [lines[0], lines[1].replace("100x6", "100x")], 2, "hidden"),
    (lambda lines: [lines[0], lines[1].replace(",false,", ",maybe,")], 2, "batchnorm"),
    (lambda lines: [lines[0], lines[1], lines[1].replace("1,a,", "2,a,")], 3, "also on line 2"),
    (lambda lines: [lines[0].replace("trial_id", "id")] + lines[1:], 1, "header"),
    (lambda lines: [lines[0].replace("val_acc_2", "val_acc_3")] + lines[1:], 1, "val_acc_1"),
    (lambda lines: [], 1, "empty"),
])
def test_read_results_csv_refuses_a_malformed_file_naming_file_and_line(tmp_path, edit, line,
                                                                         what):
    trials = [trial("a", [0.5, 0.75]), trial("b", [0.125, 0.25, 0.5], status=STOPPED)]
    path = write_results_csv(trials, tmp_path / "results.csv", searched=["lr"], epochs=3)
    lines = path.read_text().splitlines()
    path.write_text("".join(f"{x}\n" for x in edit(lines)))
    with pytest.raises(ValueError, match=f"line {line}:") as info:
        read_results_csv(path)
    assert str(path) in str(info.value)
    assert what in str(info.value)


def test_read_results_csv_refuses_inconsistent_summary_columns(tmp_path):
    path = write_results_csv([trial("a", [0.5, 0.75])], tmp_path / "r.csv", searched=[],
                             epochs=2)
    path.write_text(path.read_text().replace(",0.75,0.75,2,", ",0.75,0.75,3,"))
    with pytest.raises(ValueError, match="epochs_completed is '3' but 2 val_acc"):
        read_results_csv(path)


def test_write_results_csv_failure_keeps_the_previous_file(tmp_path):
    path = write_results_csv([trial("a", [0.5])], tmp_path / "r.csv", searched=[], epochs=1)
    before = path.read_bytes()
    with pytest.raises(TypeError):
        write_results_csv([trial("b", [0.5], weird=object())], path, searched=[], epochs=1)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["r.csv"]  # no temporary file left


def test_write_results_csv_refuses_config_keys_named_like_its_own_columns(tmp_path):
    with pytest.raises(ValueError, match=r"\['status'\] would clash"):
        write_results_csv([TrialResult("a", {"lr": 0.1, "status": 1}, COMPLETED, [0.5])],
                          tmp_path / "r.csv", searched=[], epochs=1)
    with pytest.raises(ValueError, match="val_acc_2"):
        write_results_csv([], tmp_path / "r.csv", searched=["val_acc_2"], epochs=1)


# -- best.json ----------------------------------------------------------------------------------
def best_data(**kwargs):
    best = trial("t3", [0.9, 0.93, 0.92], lr=np.float64(0.01), batch_size=np.int64(100))
    args = dict(searched=["lr", "weight_decay"],
                space_lines=["lr: 1e-06 to 0.01, log-uniform",
                             "weight_decay: 1e-08 to 0.0001, log-uniform"],
                test_acc=0.9512, retrain={"epochs": 3, "train_samples": 500},
                extra={"trials": 100, "epochs": 3, "scheduler": "random",
                       "val_fraction": 0.2, "dataset": "mnist", "seed": 0})
    args.update(kwargs)
    return best_json(best, **args)


def test_best_json_holds_the_best_trial_and_how_it_was_chosen(tmp_path):
    data = best_data()
    assert data["trial_id"] == "t3"
    assert data["config"] == {**BOOK_CONFIG, "lr": 0.01, "batch_size": 100}
    assert (data["final_val_acc"], data["best_val_acc"], data["best_val_acc_epoch"]) == \
        (0.92, 0.93, 2)
    assert data["val_acc"] == [0.9, 0.93, 0.92]
    assert data["epochs_completed"] == 3
    assert data["searched"] == ["lr", "weight_decay"]
    assert data["search_space"][0] == "lr: 1e-06 to 0.01, log-uniform"
    assert data["run"]["scheduler"] == "random" and data["run"]["val_fraction"] == 0.2
    assert data["retraining"] == {"epochs": 3, "train_samples": 500}
    path = write_best_json(tmp_path / "best.json", data)
    assert json.loads(path.read_text()) == data
    assert path.read_text().startswith('{\n  "trial_id": "t3",')  # indent 2


def test_best_json_labels_the_test_accuracy_as_measured_after_selection():
    data = best_data()
    assert data["test_acc_after_retraining"] == 0.9512
    assert "test" not in data["selected_by"].replace("the test set is not used", "")
    assert "once" in data["test_acc_note"] and "after the selection" in data["test_acc_note"]
    assert not any(k.startswith("test") for k in best_data(test_acc=None, retrain=None))
    assert "retraining" not in best_data(retrain=None)


def test_best_json_writes_nan_as_null(tmp_path):
    data = best_json(trial("x", [0.1, math.nan], status=DIVERGED), searched=[], space_lines=[],
                     test_acc=None, retrain=None, extra={})
    assert data["final_val_acc"] is None and data["val_acc"] == [0.1, None]
    path = write_best_json(tmp_path / "best.json", data)
    assert json.loads(path.read_text())["final_val_acc"] is None


def test_write_best_json_refuses_nan(tmp_path):
    with pytest.raises(ValueError):
        write_best_json(tmp_path / "best.json", {"acc": math.nan})
    assert list(tmp_path.iterdir()) == []


# -- the console --------------------------------------------------------------------------------
def many_trials(n=100):
    rng = np.random.default_rng(0)
    trials = [trial(f"{i:03d}", [0.1, 0.1 + 0.8 * rng.random()], lr=10 ** rng.uniform(-6, -2),
                    weight_decay=10 ** rng.uniform(-8, -4)) for i in range(n - 3)]
    trials += [trial("d1", [0.1, math.nan], status=DIVERGED, error="diverged"),
               trial("d2", [math.nan], status=DIVERGED, error="diverged"),
               trial("e1", [], status=ERROR, error="RuntimeError: " + "x" * 300)]
    return trials


def test_status_summary_counts_each_status_present():
    assert status_summary(many_trials()) == "100 trials: 97 completed, 2 diverged, 1 error"
    assert status_summary(mixed_trials()) == ("6 trials: 2 completed, 1 stopped early, "
                                              "1 diverged, 1 error, 1 unfinished")
    assert status_summary([trial("a", [0.5])]) == "1 trial: 1 completed"
    assert status_summary([]) == "0 trials"


def test_top_table_shows_the_ten_best_aligned_with_the_searched_values():
    trials = many_trials()
    text = top_table(trials, searched=["lr", "weight_decay"])
    lines = text.splitlines()
    assert lines[0] == "best 10 of 100 trials by final validation accuracy:"
    assert lines[1].split() == ["rank", "trial", "final", "val", "acc", "best", "val", "acc",
                                "epochs", "status", "lr", "weight", "decay"]
    rows = lines[2:12]
    best = ranked(trials)[:10]
    for rank, (row, t) in enumerate(zip(rows, best, strict=True), start=1):
        assert row.split() == [str(rank), t.trial_id, f"{t.final_acc:.4f}", f"{t.best_acc:.4f}",
                               "2", "completed", format_value("lr", t.config["lr"]),
                               format_value("weight_decay", t.config["weight_decay"])]
    assert len({len(r) for r in lines[1:12]}) == 1  # aligned columns
    assert lines[12:14] == ["", "100 trials: 97 completed, 2 diverged, 1 error"]
    assert lines[14] == "errors:"
    message = lines[15].removeprefix("  e1: ")
    assert message == "RuntimeError: " + "x" * (120 - 14 - 3) + "..."  # 120 characters
    assert len(lines) == 16


def test_top_table_formats_dimensions_for_people():
    trials = [trial("a", [0.9], lr=0.0032, weight_decay=1e-6, hidden=[100] * 6,
                    batchnorm=True, dropout=None),
              trial("b", [0.8], lr=0.05, hidden=[100, 50], batchnorm=False, dropout=0.25)]
    text = top_table(trials, searched=["lr", "weight_decay", "hidden", "batchnorm", "dropout"])
    assert text.splitlines()[2].split()[-5:] == ["3.2e-03", "1.0e-06", "100x6", "on", "none"]
    assert text.splitlines()[3].split()[-5:] == ["5.0e-02", "1.0e-06", "100-50", "off", "0.25"]
    assert format_value("activation", None) == "-"  # the net's default


def test_top_table_with_fewer_trials_than_n_and_with_none():
    assert len(top_table(mixed_trials(), searched=[], n=10).splitlines()) == 1 + 1 + 6 + 2 + 2
    assert top_table([], searched=["lr"]) == ("best 0 of 0 trials by final validation "
                                              "accuracy:\n\n0 trials")


def test_error_lines_list_error_trials_cut_to_one_short_line():
    trials = [trial(f"e{i}", [], status=ERROR, error=f"boom {i}\nsecond line") for i in range(12)]
    lines = error_lines(trials)
    assert lines[:2] == ["e0: boom 0 second line", "e1: boom 1 second line"]
    assert lines[10:] == ["... and 2 more (see the error column of results.csv)"]
    assert len(error_lines(trials, limit=None)) == 12
    assert error_lines([trial("d", [0.1], status=DIVERGED, error="nan")]) == []


def test_a_trial_listed_twice_by_ray_is_kept_once_as_it_got_furthest():
    # after a Ctrl-C, Ray Tune's result grid listed trial 00000 twice: completed, and as a
    # stale entry with no epochs after the others
    from kobai.tune.engine import unique_trials

    config = {"lr": 0.01}
    done = TrialResult("a_00000", config, COMPLETED, val_acc=[0.5, 0.6])
    running = TrialResult("a_00001", config, UNFINISHED, val_acc=[0.4])
    stale = TrialResult("a_00000", config, UNFINISHED)
    assert unique_trials([done, running, stale]) == [done, running]
    assert unique_trials([stale, running, done]) == [done, running]
