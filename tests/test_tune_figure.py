"""Tests for kobai.tune.figure: the book's Figure 6-24 grid and the accuracy scatter."""

import math

import numpy as np
import pytest

from kobai.tune.figure import plot_tune, tune_figure
from kobai.tune.records import COMPLETED, DIVERGED, ERROR, STOPPED, UNFINISHED, TrialResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def search(n, *, epochs=5, seed=0, failed=0, **choices):
    """n trials of the book's search (lr 10^[-6, -2], weight decay 10^[-8, -4]) whose final
    accuracy grows with lr, plus ``failed`` error trials without an epoch; ``choices`` gives
    categorical options a cycle of values, e.g. ``optimizer=["sgd", "adam"]``."""
    rng = np.random.default_rng(seed)
    trials = []
    for i in range(n):
        lr, wd = 10 ** rng.uniform(-6, -2), 10 ** rng.uniform(-8, -4)
        final = 0.1 + 0.8 / (1 + math.exp(-3 * (math.log10(lr) + 3.5)))
        curve = list(0.1 + (final - 0.1) * (1 - np.exp(-np.arange(1, epochs + 1) / 2)))
        config = {"net": "mlp", "hidden": [100] * 6, "lr": lr, "weight_decay": wd,
                  **{k: v[i % len(v)] for k, v in choices.items()}}
        trials.append(TrialResult(f"{i:03d}", config, COMPLETED, curve,
                                  train_acc=[a + 0.03 for a in curve]))
    trials += [TrialResult(f"x{i}", {"lr": 0.1}, ERROR, error="boom") for i in range(failed)]
    return trials


def panels(fig):
    return [ax for ax in fig.axes if ax.get_title().startswith("Best-")]


def scatter_axes(fig):
    found = [ax for ax in fig.axes if ax.get_title().startswith("final validation accuracy")]
    assert len(found) <= 1
    return found[0] if found else None


def dimension_axes(fig):
    """The panels of final accuracy over one search dimension, by their titles' names."""
    return {ax.get_title()[3:]: ax for ax in fig.axes if ax.get_title().startswith("by ")}


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def test_plot_tune_writes_a_png_of_a_readable_size(tmp_path):
    path = plot_tune(search(100, failed=3), tmp_path / "tune.png",
                     searched=["lr", "weight_decay"])
    assert path == tmp_path / "tune.png"
    image = read_png(path)
    height, width, channels = image.shape
    assert channels in (3, 4)
    assert 1200 <= width <= 2000 and 500 <= height <= 1000  # 16x7 in at 100 dpi
    assert image[..., :3].std() > 0.05  # not a blank page


@pytest.mark.parametrize("n, failed, n_best, expected", [
    (100, 3, 20, 20), (20, 0, 20, 20), (3, 2, 20, 3), (1, 0, 20, 1), (30, 0, 7, 7)])
def test_grid_has_one_panel_per_trial_with_an_epoch_up_to_n_best(n, failed, n_best, expected):
    fig = tune_figure(search(n, failed=failed), searched=["lr", "weight_decay"], n_best=n_best)
    assert len(panels(fig)) == expected


def test_grid_panels_follow_the_ranking_as_the_book_draws_them():
    trials = search(30)
    fig = tune_figure(trials, searched=["lr", "weight_decay"])
    best = sorted(trials, key=lambda t: -t.final_acc)[:20]
    for i, (ax, t) in enumerate(zip(panels(fig), best, strict=True)):
        assert ax.get_title() == f"Best-{i + 1}: {t.final_acc:.3f}"
        assert ax.get_xlabel() == (f"epoch\nlr {t.config['lr']:.1e}\n"
                                   f"wd {t.config['weight_decay']:.1e}")
        assert ax.get_ylim() == (0.0, 1.0)
        validation, _, training = ax.get_lines()  # the final point is marked
        np.testing.assert_array_equal(validation.get_ydata(), t.val_acc)
        np.testing.assert_array_equal(training.get_ydata(), t.train_acc)
    labelled = [ax for ax in panels(fig) if any(lb.get_text() for lb in ax.get_yticklabels())]
    assert len(labelled) == 4  # y ticks labelled in the first column only, as in the book


def test_grid_panel_names_a_trial_that_did_not_complete():
    trials = search(3, epochs=6)
    trials[0].status, trials[0].val_acc = STOPPED, [0.95, 0.97]
    trials[1].status, trials[1].val_acc = DIVERGED, [0.96, math.nan]
    fig = tune_figure(trials, searched=["lr"])
    # the completed trial first (it ranks above those that did not run every epoch);
    # the diverged one, with a NaN final accuracy, is left out
    assert [ax.get_xlabel().splitlines()[-1] for ax in panels(fig)] == [
        f"lr {trials[2].config['lr']:.1e}", "stopped early, 2 ep."]


def test_scatter_over_the_two_main_dimensions_on_log_axes():
    fig = tune_figure(search(97, failed=3), searched=["lr", "weight_decay", "batch_size"])
    ax = scatter_axes(fig)
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("lr (log scale)", "weight decay (log scale)")
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert "97 of 100 trials; 3 without a final accuracy" in ax.get_title()
    assert "also searched: batch size" in ax.get_title()
    points, star = ax.collections[:2]
    assert len(points.get_offsets()) == 97
    np.testing.assert_allclose(sorted(points.get_array()),
                               sorted(t.final_acc for t in search(97)))
    best = max(search(97), key=lambda t: t.final_acc)
    np.testing.assert_allclose(star.get_offsets()[0],
                               [best.config["lr"], best.config["weight_decay"]])
    assert "final validation accuracy" in [a.get_ylabel() for a in fig.axes]  # the colour bar


def test_scatter_axis_is_linear_within_two_decades():
    trials = search(10)
    for i, t in enumerate(trials):
        t.config["lr"], t.config["weight_decay"] = 0.001 * (1 + i), 1e-8 * 10 ** (i / 2)
    ax = scatter_axes(tune_figure(trials, searched=["lr", "weight_decay"]))
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "log")  # 1 vs 4.5 decades


def test_categorical_dimensions_get_named_slots():
    trials = search(40, optimizer=["sgd", "adam", "momentum"], hidden=[[100] * 6, [50, 50], [200]])
    ax = scatter_axes(tune_figure(trials, searched=["optimizer", "hidden"]))
    assert [lb.get_text() for lb in ax.get_xticklabels()] == ["adam", "momentum", "sgd"]
    assert [lb.get_text() for lb in ax.get_yticklabels()] == ["50x2", "100x6", "200"]
    x, y = ax.collections[0].get_offsets().T
    assert np.all(np.abs(x - np.round(x)) < 0.3) and np.all(np.abs(y - np.round(y)) < 0.3)
    assert len(np.unique(x)) == 40  # jittered: equal values do not hide each other


def test_a_numeric_choice_is_drawn_as_categories_in_value_order():
    trials = search(24, dropout=[0.5, None, 0.25], batch_size=[256, 32, 128, 64])
    ax = scatter_axes(tune_figure(trials, searched=["dropout", "batch_size"]))
    assert [lb.get_text() for lb in ax.get_xticklabels()] == ["none", "0.25", "0.5"]
    assert [lb.get_text() for lb in ax.get_yticklabels()] == ["32", "64", "128", "256"]
    assert (ax.get_xscale(), ax.get_yscale()) == ("linear", "linear")


def test_one_searched_dimension_plots_accuracy_over_it():
    trials = search(12, batchnorm=[True, False])
    fig = tune_figure(trials, searched=["batchnorm"])
    ax = scatter_axes(fig)
    assert ax.get_ylabel() == "final validation accuracy"
    assert [lb.get_text() for lb in ax.get_xticklabels()] == ["off", "on"]
    np.testing.assert_allclose(sorted(ax.collections[0].get_offsets()[:, 1]),
                               sorted(t.final_acc for t in trials))
    assert [lb.get_xlabel() for lb in panels(fig)][0] in ("epoch\nbatchnorm on",
                                                          "epoch\nbatchnorm off")
    assert dimension_axes(fig) == {}  # one dimension: the scatter is its panel


def test_no_searched_dimension_draws_the_grid_alone():
    fig = tune_figure(search(7), searched=[])
    assert len(panels(fig)) == 7
    assert scatter_axes(fig) is None
    assert len(fig.axes) == 7


def test_trials_without_a_value_are_left_out_of_the_scatter():
    trials = search(10)
    trials[3].config["weight_decay"] = None
    del trials[4].config["weight_decay"]
    ax = scatter_axes(tune_figure(trials, searched=["lr", "weight_decay"]))
    assert len(ax.collections[0].get_offsets()) == 8
    assert "2 without a value on an axis" in ax.get_title()


@pytest.mark.parametrize("trials", [
    [], [TrialResult("a", {}, ERROR, error="boom"), TrialResult("b", {}, UNFINISHED)]])
def test_a_search_without_a_completed_epoch_still_gets_a_figure(tmp_path, trials):
    fig = tune_figure(trials, searched=["lr", "weight_decay"])
    assert panels(fig) == [] and scatter_axes(fig) is None
    assert "no completed trial" in [t.get_text() for t in fig.texts]
    height, width, _ = read_png(plot_tune(trials, tmp_path / "tune.png",
                                          searched=["lr"])).shape
    assert width >= 400 and height >= 150


@pytest.mark.parametrize("n_best", [0, -1, 2.5, True])
def test_n_best_must_be_a_positive_int(n_best):
    with pytest.raises(ValueError, match="n_best must be a positive int"):
        tune_figure(search(3), searched=["lr"], n_best=n_best)


def test_title_goes_over_the_whole_figure():
    fig = tune_figure(search(3), searched=["lr"], title="mnist, 3 trials")
    assert fig.get_suptitle() == "mnist, 3 trials"


def test_a_failed_drawing_leaves_the_previous_file(tmp_path):
    path = plot_tune(search(3), tmp_path / "tune.png", searched=["lr"])
    before = path.read_bytes()
    with pytest.raises(ValueError, match="dpi"):
        plot_tune(search(5), path, searched=["lr"], dpi=0)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["tune.png"]


MIXED = ["lr", "weight_decay", "optimizer", "hidden"]


def test_every_searched_dimension_names_each_grid_panel_and_gets_a_panel():
    trials = search(8, optimizer=["sgd", "adam"], hidden=[[100] * 6, [50, 50]])
    fig = tune_figure(trials, searched=MIXED)
    by_title = {f"Best-{i + 1}: {t.final_acc:.3f}": t
                for i, t in enumerate(sorted(trials, key=lambda t: -t.final_acc))}
    for ax in panels(fig):  # Adam and SGD trials told apart in the grid
        t = by_title[ax.get_title()]
        hidden = "x".join(map(str, (t.config["hidden"][0], len(t.config["hidden"]))))
        assert ax.get_xlabel().splitlines()[-2:] == [f"optimizer {t.config['optimizer']}",
                                                     f"hidden {hidden}"]
    dims = dimension_axes(fig)
    assert list(dims) == ["lr", "weight decay", "optimizer", "hidden"]
    optimizer = dims["optimizer"]
    assert optimizer.get_xlabel() == "optimizer"
    assert optimizer.get_ylabel() == "final val. accuracy"
    assert [lb.get_text() for lb in optimizer.get_xticklabels()] == ["adam", "sgd"]
    x = optimizer.collections[0].get_offsets()[:, 0]
    colours = optimizer.collections[0].get_facecolors()
    adam, sgd = colours[np.round(x) == 0], colours[np.round(x) == 1]
    assert len(adam) == len(sgd) == 4
    assert len(np.unique(adam, axis=0)) == len(np.unique(sgd, axis=0)) == 1
    assert not np.array_equal(adam[0], sgd[0])  # a colour per category
    assert dims["lr"].get_xscale() == "log" and dims["lr"].get_xlabel() == "lr (log scale)"


def test_grid_panels_have_axis_labels():
    fig = tune_figure(search(10), searched=["lr", "weight_decay"])
    grid = panels(fig)
    assert all(ax.get_xlabel().startswith("epoch\n") for ax in grid)
    assert [ax.get_ylabel() for ax in grid] == (["val. accuracy"] + [""] * 4) * 2
    assert all(len(ax.get_xticks()) > 1 and np.all(np.asarray(ax.get_xticks()) % 1 == 0)
               for ax in grid)


@pytest.mark.parametrize("n, shape", [(4, (2, 2)), (3, (2, 2)), (2, (2, 1)), (1, (1, 1)),
                                      (7, (2, 5)), (20, (4, 5))])
def test_the_grid_has_two_rows_for_a_few_trials_and_the_books_five_columns_else(n, shape):
    fig = tune_figure(search(n), searched=["lr", "weight_decay"])
    assert {ax.get_subplotspec().get_gridspec().get_geometry()[1] for ax in panels(fig)} == {
        shape[1]}
    assert max(ax.get_subplotspec().rowspan.stop for ax in panels(fig)) == shape[0]


def test_a_few_trials_fill_the_height_beside_the_scatter():
    fig = tune_figure(search(4, optimizer=["sgd", "adam"]), searched=MIXED[:3])
    fig.canvas.draw()  # the constrained layout places the axes
    boxes = [ax.get_position() for ax in panels(fig)]
    assert max(b.y1 for b in boxes) - min(b.y0 for b in boxes) > 0.6
