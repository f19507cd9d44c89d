"""Tests for kobai.plot (PNG files) and kobai.metrics (confusion matrix, precision/recall)."""

import subprocess
import sys

import numpy as np
import pytest

import kobai.io as kio
from kobai.metrics import (
    classification_report,
    confusion_matrix,
    format_confusion_matrix,
    per_class_metrics,
)
from kobai.plot import (
    plot_activations,
    plot_confusion,
    plot_digits,
    plot_filters,
    plot_learning_curve,
)
from kobai.trainer import EpochRecord, History

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def small_history(n_epochs=3, iters=4):
    rng = np.random.default_rng(0)
    records = [EpochRecord(epoch=e, iteration=e * iters, train_loss=2.0 / e, train_acc=0.5 + e / 10,
                           test_loss=2.2 / e, test_acc=0.45 + e / 10, seconds=0.1, lr=0.1)
               for e in range(1, n_epochs + 1)]
    losses = list(2.0 + 0.1 * rng.standard_normal(n_epochs * iters))
    return History(train_loss_list=losses, epochs=records, seed=0)


def read_png(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    return imread(path)


def test_learning_curve_is_a_png_of_the_requested_size(tmp_path):
    path = plot_learning_curve(small_history(), tmp_path / "curve.png", title="TwoLayerNet")
    assert path == tmp_path / "curve.png"
    image = read_png(path)
    assert image.shape == (400, 1000, 4)  # 10 x 4 inches at 100 dpi, RGBA
    assert image[..., :3].std() > 0.05  # something was drawn
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png"]


def test_learning_curve_accepts_the_saved_dict_and_one_epoch(tmp_path):
    history = small_history(n_epochs=1).to_dict()
    history["train_loss_list"] = []
    image = read_png(plot_learning_curve(history, tmp_path / "one.png", dpi=50))
    assert image.shape == (200, 500, 4)


def test_learning_curve_refuses_an_empty_history(tmp_path):
    with pytest.raises(ValueError, match="no completed epoch"):
        plot_learning_curve(History(), tmp_path / "empty.png")
    with pytest.raises(TypeError, match="History"):
        plot_learning_curve([1, 2], tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_failed_plot_leaves_the_previous_png(tmp_path, monkeypatch):
    path = plot_learning_curve(small_history(), tmp_path / "curve.png")
    old = path.read_bytes()

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(kio.os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        plot_learning_curve(small_history(n_epochs=5), path)
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == [
        "curve.png"]


def test_confusion_plot_is_a_png(tmp_path):
    cm = np.array([[5, 1, 0], [0, 3, 2], [1, 0, 4]])
    image = read_png(plot_confusion(cm, tmp_path / "cm.png", labels=["a", "b", "c"]))
    assert image.ndim == 3 and image.shape[2] == 4 and image.shape[0] > 100


def test_confusion_plot_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="square"):
        plot_confusion(np.zeros((2, 3), dtype=int), tmp_path / "cm.png")
    with pytest.raises(ValueError, match="2 labels for a 3-class"):
        plot_confusion(np.eye(3, dtype=int), tmp_path / "cm.png", labels=["a", "b"])
    with pytest.raises(ValueError, match="non-negative integer"):
        plot_confusion(np.eye(3) * 0.5, tmp_path / "cm.png")


def test_matplotlib_is_imported_only_when_plotting_and_never_pyplot(tmp_path):
    code = ("import sys, kobai, kobai.plot, kobai.trainer, kobai.io\n"
            "assert 'matplotlib' not in sys.modules, 'imported too early'\n"
            "from kobai.plot import plot_confusion\n"
            "import numpy as np\n"
            f"plot_confusion(np.eye(2, dtype=int), {str(tmp_path / 'c.png')!r})\n"
            "assert 'matplotlib' in sys.modules and 'matplotlib.pyplot' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- metrics ----------------------------------------------------------------------------------
def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    y_true = [0, 0, 1, 1, 1, 2]
    y_pred = [0, 1, 1, 1, 2, 2]
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3),
                                  [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    assert confusion_matrix(np.array([], dtype=int), np.array([], dtype=int), 2).sum() == 0


def test_per_class_metrics_hand_worked():
    # y_true = [0, 0, 1, 1, 1, 2], y_pred = [0, 1, 1, 1, 2, 2]:
    # class 0 is predicted once, rightly (precision 1/1), and found in 1 of its 2 samples;
    # class 1 is predicted 3 times, 2 rightly (2/3), and found in 2 of its 3 samples;
    # class 2 is predicted twice, 1 rightly (1/2), and found in its only sample.
    cm = np.array([[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    metrics = per_class_metrics(cm)
    np.testing.assert_allclose(metrics.precision, [1 / 1, 2 / 3, 1 / 2])
    np.testing.assert_allclose(metrics.recall, [1 / 2, 2 / 3, 1 / 1])
    assert metrics.precision.dtype == metrics.recall.dtype == np.float64
    precision, recall = metrics  # unpacks in that order
    np.testing.assert_array_equal(precision, metrics.precision)
    np.testing.assert_array_equal(recall, metrics.recall)


def test_per_class_metrics_are_zero_where_undefined():
    m = per_class_metrics(np.array([[2, 0], [0, 0]]))  # class 1 never occurs nor is predicted
    np.testing.assert_array_equal(m.precision, [1.0, 0.0])
    np.testing.assert_array_equal(m.recall, [1.0, 0.0])


def test_text_tables():
    cm = np.array([[10, 0], [2, 8]])
    assert format_confusion_matrix(cm, ["cat", "dog"]).splitlines() == [
        "true\\pred cat dog", "      cat  10   0", "      dog   2   8"]
    report = classification_report(cm).splitlines()
    assert report[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert report[1].split() == ["0", "0.8333", "1.0000", "0.9091", "10"]  # f1 = 2pr/(p+r)
    assert report[-1] == "accuracy: 0.9000 (18 of 20 samples)"


@pytest.mark.parametrize("y_true, y_pred, match", [
    ([0, 3], [0, 1], "y_true contains the label 3, outside"),
    ([0, 1], [0, -1], "y_pred contains the label -1"),
    ([0, 1], [0], "y_true has 2 labels but y_pred has 1"),
    ([0.0, 1.0], [0, 1], "integer class labels"),
])
def test_confusion_matrix_refuses_bad_labels(y_true, y_pred, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(y_true, y_pred, 3)


# -- the learning curve for people: a title, an accuracy axis around the data, few markers -----
@pytest.fixture
def drawn_figures(monkeypatch):
    """Every matplotlib Figure saved while the test runs, to look at what was drawn."""
    from matplotlib.figure import Figure

    figures, real_savefig = [], Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return figures


def history_with_accuracies(train_acc, test_acc):
    records = [EpochRecord(epoch=e, iteration=10 * e, train_loss=1.0 / e, train_acc=a,
                           test_loss=1.1 / e, test_acc=b, seconds=0.1)
               for e, (a, b) in enumerate(zip(train_acc, test_acc, strict=True), start=1)]
    return History(train_loss_list=[], epochs=records, seed=0)


@pytest.mark.parametrize("low, high", [(0.96, 0.99), (0.10, 0.55), (0.90, 1.00)])
def test_learning_curve_accuracy_axis_spans_the_data(tmp_path, drawn_figures, low, high):
    history = history_with_accuracies(np.linspace(low + 0.01, high, 8), np.linspace(low, high, 8))
    plot_learning_curve(history, tmp_path / "curve.png")
    bottom, top = drawn_figures[-1].axes[1].get_ylim()
    assert max(0.0, low - 0.1) <= bottom < low and high < top <= min(high + 0.1, 1.01)
    assert (high - low) / (top - bottom) > 0.5  # the data fill the panel, not its top edge


@pytest.mark.parametrize("n_epochs, marked", [(3, [0, 1, 2]), (20, list(range(20))), (60, None)])
def test_learning_curve_markers_stay_readable_at_many_epochs(tmp_path, drawn_figures, n_epochs,
                                                            marked):
    history = history_with_accuracies(np.linspace(0.5, 0.9, n_epochs),
                                      np.linspace(0.45, 0.85, n_epochs))
    plot_learning_curve(history, tmp_path / "curve.png")
    lines = [line for ax in drawn_figures[-1].axes for line in ax.get_lines()
             if line.get_marker() not in (None, "None", "")]
    assert len(lines) == 4  # train and test, loss and accuracy
    for line in lines:
        shown = line.get_markevery()
        if marked is not None:
            assert list(shown) == marked
        else:
            assert len(shown) <= 20 and shown[0] == 0 and shown[-1] == n_epochs - 1
            assert line.get_markersize() <= 4


def chance_lines(fig):
    """The horizontal lines labelled as chance on the accuracy panel, as (label, y)."""
    return [(line.get_label(), line.get_ydata()[0]) for line in fig.axes[1].get_lines()
            if line.get_label().startswith("chance")]


def test_a_run_at_chance_is_a_flat_line_on_the_chance_level_of_the_whole_axis(tmp_path,
                                                                            drawn_figures):
    """`kobai train --lr 100`'s accuracies: 0.0974-0.1028 must not fill the panel."""
    history = history_with_accuracies([0.1, 0.1, 0.1], [0.1028, 0.1009, 0.0974])
    plot_learning_curve(history, tmp_path / "curve.png", n_classes=10)
    accuracy = drawn_figures[-1].axes[1]
    assert accuracy.get_ylim() == (0.0, 1.0)
    assert chance_lines(drawn_figures[-1]) == [("chance (1/10)", 0.1)]
    assert accuracy.get_lines()[-1].get_linestyle() not in ("-", "None")  # dashed
    assert "chance (1/10)" in [t.get_text() for t in accuracy.get_legend().get_texts()]


@pytest.mark.parametrize("low, high, shown", [(0.10, 0.55, True), (0.96, 0.99, False)])
def test_a_learning_run_keeps_its_zoom_and_shows_chance_where_it_falls(tmp_path, drawn_figures,
                                                                       low, high, shown):
    history = history_with_accuracies(np.linspace(low + 0.01, high, 8), np.linspace(low, high, 8))
    plot_learning_curve(history, tmp_path / "curve.png", n_classes=10)
    bottom, top = drawn_figures[-1].axes[1].get_ylim()
    assert (high - low) / (top - bottom) > 0.5  # zoomed on the data, as without n_classes
    assert chance_lines(drawn_figures[-1]) == ([("chance (1/10)", 0.1)] if shown else [])


def test_learning_curve_refuses_a_bad_class_count(tmp_path):
    with pytest.raises(ValueError, match="n_classes must be a positive integer"):
        plot_learning_curve(small_history(), tmp_path / "curve.png", n_classes=0)
    assert not (tmp_path / "curve.png").exists()


def test_kobai_train_titles_the_learning_curve_with_net_optimizer_and_data(tmp_path,
                                                                          drawn_figures):
    from kobai.cli import main

    assert main(["train", "--epochs", "1", "--no-progress", "--optimizer", "adam",
                 "--out", str(tmp_path)]) == 0
    curve = next(fig for fig in drawn_figures if len(fig.axes) == 2)
    title = " ".join(text.get_text() for text in curve.texts)
    assert title == "TwoLayerNet(784-50-10, sigmoid, float32), Adam(lr=0.001), sample"


# -- images: filters, feature maps, digits ----------------------------------------------------
@pytest.fixture(scope="module")
def small_cnn():
    from kobai.nets import SimpleConvNet

    return SimpleConvNet(conv_param={"filter_num": 6, "filter_size": 5, "pad": 0, "stride": 1},
                         hidden_size=10, rng=0, dtype=np.float32)


@pytest.fixture(scope="module")
def digit():
    from kobai.datasets import load_mnist

    _, (x_test, t_test) = load_mnist(flatten=False)
    return x_test[0], int(t_test[0])


def image_axes(fig):
    """The axes of a figure that show an image, in order."""
    return [ax for ax in fig.axes if ax.get_images()]


def test_plot_filters_draws_one_grey_panel_per_filter_and_returns_the_figure(tmp_path,
                                                                           small_cnn):
    from matplotlib.figure import Figure

    W = small_cnn.params["W1"]
    fig = plot_filters(W)
    assert isinstance(fig, Figure) and not list(tmp_path.iterdir())  # no path: nothing written
    panels = image_axes(fig)
    assert len(panels) == 6
    for k, ax in enumerate(panels):
        image = ax.get_images()[0]
        np.testing.assert_array_equal(image.get_array(), W[k, 0])  # the book's filters[i, 0]
        assert image.get_cmap().name == "gray_r"
    fig = plot_filters(W, tmp_path / "filters.png", ncols=4, title="before")
    assert read_png(tmp_path / "filters.png").shape[1] == 4 * 110  # 4 columns of 1.1 in
    assert [text.get_text() for text in fig.texts] == ["before"]


def test_plot_filters_refuses_what_is_not_a_filter_bank(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(filter_num, channels, height, width\).*"
                                         r"got float64 of shape \(784, 50\)"):
        plot_filters(np.zeros((784, 50)))
    with pytest.raises(ValueError, match="channel 1 is not one of the filters' 1 channels"):
        plot_filters(np.zeros((3, 1, 5, 5)), channel=1)
    with pytest.raises(ValueError, match="shape"):
        plot_filters(np.zeros((0, 1, 5, 5)), tmp_path / "none.png")
    assert not (tmp_path / "none.png").exists()


@pytest.mark.parametrize("layer, n_maps, side", [("Conv1", 6, 24), ("Relu1", 6, 24),
                                                 ("Pool1", 6, 12)])
def test_plot_activations_draws_the_input_and_each_map_of_a_layer(tmp_path, small_cnn, digit,
                                                                 layer, n_maps, side):
    x, _ = digit
    fig = plot_activations(small_cnn, x, layer, tmp_path / "maps.png")
    assert read_png(tmp_path / "maps.png").ndim == 3
    panels = image_axes(fig)
    assert len(panels) == 1 + n_maps
    np.testing.assert_array_equal(panels[0].get_images()[0].get_array(), x[0])
    # the maps are the layer's output, computed by hand here with the layers' own forward
    a = x[None].astype(np.float32)
    for name, lyr in small_cnn.layers.items():
        a = lyr.forward(a, train=False)
        if name == layer:
            break
    for c, ax in enumerate(panels[1:]):
        shown = ax.get_images()[0]
        assert shown.get_array().shape == (side, side)
        np.testing.assert_allclose(shown.get_array(), a[0, c], rtol=1e-6)
        assert shown.get_clim() == panels[1].get_images()[0].get_clim()  # one scale for all maps
    assert fig.texts[0].get_text().startswith(f"{layer}: {n_maps} maps {side}×{side}")


def test_plot_activations_takes_a_row_of_pixels_and_does_not_change_the_net(small_cnn, digit):
    x, _ = digit
    before = small_cnn.predict(x)
    fig = plot_activations(small_cnn, x.reshape(784), "Relu1")
    assert len(image_axes(fig)) == 7
    np.testing.assert_array_equal(small_cnn.predict(x), before)


def test_plot_activations_refuses_unknown_or_flat_layers(small_cnn, digit):
    x, _ = digit
    with pytest.raises(ValueError, match="no layer 'Conv9'; its layers are Conv1, Relu1, Pool1,"):
        plot_activations(small_cnn, x, "Conv9")
    with pytest.raises(ValueError, match=r"'Affine1' gives an array of shape \(1, 10\), not "
                                         r"feature maps.*the layers that do are Conv1, Relu1, "
                                         r"Pool1$"):
        plot_activations(small_cnn, x, "Affine1")


def test_plot_digits_draws_images_of_any_layout_with_captions(tmp_path):
    from kobai.datasets import load_mnist

    _, (x_test, t_test) = load_mnist(flatten=False)
    captions = [f"{t} → ?" for t in t_test[:7]]
    for images in (x_test[:7], x_test[:7].reshape(7, 784), x_test[:7, 0]):
        fig = plot_digits(images, captions=captions, ncols=5)
        panels = image_axes(fig)
        assert len(panels) == 7 and len(fig.axes) == 10  # 2 rows of 5, the last 3 empty
        assert [ax.get_title() for ax in panels] == captions
        np.testing.assert_array_equal(panels[3].get_images()[0].get_array(), x_test[3, 0])
    plot_digits(x_test[:3], tmp_path / "d.png", title="three")
    assert read_png(tmp_path / "d.png").ndim == 3


@pytest.mark.parametrize("images, captions, match", [
    (np.zeros((2, 780)), None, "780 pixels are not square"),
    (np.zeros((0, 28, 28)), None, "non-empty"),
    (np.zeros((2, 3, 28, 28)), None, r"\(N, 1, 28, 28\)"),
    (np.zeros((2, 28, 28)), ["a"], "1 captions for 2 images"),
])
def test_plot_digits_refuses_bad_input(images, captions, match):
    with pytest.raises(ValueError, match=match):
        plot_digits(images, captions=captions)


def test_image_plots_import_no_pyplot(tmp_path):
    code = ("import sys, numpy as np\n"
            "from kobai.plot import plot_digits, plot_filters\n"
            f"plot_filters(np.ones((2, 1, 3, 3)), {str(tmp_path / 'f.png')!r})\n"
            f"plot_digits(np.ones((2, 784)), {str(tmp_path / 'd.png')!r})\n"
            "assert 'matplotlib.pyplot' not in sys.modules\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
