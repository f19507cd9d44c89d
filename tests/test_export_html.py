"""kobai.export.to_html: one self-contained page whose JavaScript gives kobai's probabilities,
and whose drawing pad prepares a drawing as ``kobai predict`` prepares an image.

The page runs in headless Chromium (``browser.py``: one browser for the whole session). The
parity tests hand the page MNIST test images (float32 bytes, base64) in one script call per
network and compare its probabilities with ``predict_proba``.
"""

import base64
import math
import re
from concurrent.futures import ThreadPoolExecutor

import browser
import export_nets
import numpy as np
import pytest
from conftest import require, require_shared

from kobai.datasets import CLASS_NAMES
from kobai.export import ExportError, inference_graph, to_html
from kobai.export.web_page import labels_for
from kobai.layers import (
    Affine,
    BatchNormalization,
    Convolution,
    Dropout,
    Pooling,
    Relu,
    Sigmoid,
)
from kobai.nets import Network, SimpleConvNet, TwoLayerNet

#: the kinds of trained_nets(), written out so that collecting this file trains nothing
KINDS = ["two-layer", "mlp-relu-bn-dropout", "mlp-sigmoid", "mlp-tanh-bn", "simple-convnet",
         "generic", "deep-convnet"]
PARITY_IMAGES = 1000

#: runs kobai.predict on every image of arguments[0] (base64 of float32 (n, 784))
PREDICT_ALL = """
const bytes = Uint8Array.from(atob(arguments[0]), (ch) => ch.charCodeAt(0));
const x = new Float32Array(bytes.buffer);
const out = [];
for (let i = 0; i < x.length; i += 784) out.push(window.kobai.predict(x.subarray(i, i + 784)));
return out;
"""

#: the pad's pixels (the red channel: the drawing is grey) as a list of rows
PAD_PIXELS = """
const pad = document.getElementById("pad");
const rgba = pad.getContext("2d").getImageData(0, 0, pad.width, pad.height).data;
const rows = [];
for (let y = 0; y < pad.height; y++) {
  const row = [];
  for (let x = 0; x < pad.width; x++) row.push(rgba[4 * (y * pad.width + x)]);
  rows.push(row);
}
return rows;
"""


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for every test of the page."""
    driver = browser.start()
    try:
        yield driver
    finally:
        driver.close()


@pytest.fixture(scope="module")
def nets():
    return export_nets.trained_nets()


@pytest.fixture(scope="module")
def deep_page(nets, tmp_path_factory):
    """The page of the pretrained DeepConvNet (the book's weights, 99.35 %)."""
    return to_html(nets["deep-convnet"], tmp_path_factory.mktemp("page") / "deep.html")


def page_probabilities(chromium, path, x):
    """Open the page ``path`` and return its probabilities of ``x`` (n, 784), one call."""
    chromium.open(path)
    encoded = base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode()
    return np.array(chromium.run(PREDICT_ALL, encoded))


def check_parity(chromium, net, path, n):
    x, _ = export_nets.test_images(n)
    to_html(net, path)
    # kobai's probabilities meanwhile, on the other core (the browser call only waits)
    with ThreadPoolExecutor(1) as pool:
        want = pool.submit(net.predict_proba, x.reshape(-1, *net.input_shape))
        got = page_probabilities(chromium, path, x)
        want = want.result()
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(got.argmax(axis=1), want.argmax(axis=1))


def test_every_kind_of_network_is_checked(nets):
    assert sorted(nets) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_page_gives_predict_proba_of_the_test_images(chromium, nets, kind, tmp_path):
    check_parity(chromium, nets[kind], tmp_path / f"{kind}.html", PARITY_IMAGES)


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_page_gives_predict_proba_of_all_10000_test_images(chromium, nets, kind, tmp_path):
    check_parity(chromium, nets[kind], tmp_path / f"{kind}.html", 10_000)


def test_page_gives_predict_proba_with_the_options_no_builder_uses(chromium, tmp_path):
    # the book's dropout (scaled at evaluation), padded and overlapping pooling, a 2-pixel
    # padded 5x5 convolution, a non-square pooling window, sigmoid after batch norm
    rng = np.random.default_rng(1)
    f32 = np.float32
    net = Network([
        Convolution(0.5 * rng.standard_normal((3, 1, 5, 5)).astype(f32),
                    0.1 * rng.standard_normal(3).astype(f32), stride=1, pad=2),
        Pooling(3, 3, stride=2, pad=1),
        Relu(),
        Dropout(0.3, inverted=False),
        Pooling(2, 1, stride=1),
        BatchNormalization(rng.uniform(0.5, 2, 3 * 13 * 14).astype(f32),
                           rng.standard_normal(3 * 13 * 14).astype(f32)),
        Sigmoid(),
        Affine(0.3 * rng.standard_normal((3 * 13 * 14, 10)).astype(f32),
               np.zeros(10, f32)),
    ], input_shape=(1, 28, 28))
    assert [step.op for step in inference_graph(net).steps] == [
        "conv", "maxpool", "relu", "dropout", "maxpool", "batchnorm", "sigmoid", "flatten",
        "linear"]
    check_parity(chromium, net, tmp_path / "options.html", 200)


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(export_nets.BOOK_FILES))
def test_page_gives_predict_proba_of_the_books_networks(chromium, kind, tmp_path):
    require_shared(export_nets.DLFS / export_nets.BOOK_FILES[kind][0])
    check_parity(chromium, export_nets.book_nets()[kind], tmp_path / f"{kind}.html",
                 PARITY_IMAGES)


def test_page_loads_nothing_but_itself(chromium, deep_page):
    text = deep_page.read_text(encoding="utf-8")
    # nothing that could fetch: no URL, no src/href, no CSS import, no fetch or XHR
    for pattern in (r"https?:", r"\bsrc\s*=", r"\bhref\s*=", r"@import", r"url\(", r"fetch\(",
                    r"XMLHttpRequest", r"import\("):
        assert not re.search(pattern, text), pattern
    chromium.open(deep_page)
    loaded = chromium.run("return [performance.getEntriesByType('resource').length, "
                          "performance.getEntriesByType('navigation').map((e) => e.name), "
                          "typeof window.kobai]")
    assert loaded == [0, [deep_page.resolve().as_uri()], "object"]


def test_page_describes_the_network_in_its_js_api(chromium, nets, deep_page):
    chromium.open(deep_page)
    api = chromium.run("return [window.kobai.labels, window.kobai.model]")
    ops = [step.op for step in inference_graph(nets["deep-convnet"]).steps]
    assert api == [list("0123456789"), {"network": "DeepConvNet", "input_shape": [1, 28, 28],
                                        "output_size": 10, "ops": ops}]


def test_predict_names_what_it_takes(chromium, deep_page):
    chromium.open(deep_page)
    message = chromium.run("try { window.kobai.predict([0.5, 0.5]); } "
                           "catch (e) { return e.message; }")
    assert message == "kobai.predict takes 784 pixels (28x28, MNIST's layout), got 2"


def ring(cx, cy, rx, ry, points=24):
    return [(cx + rx * math.sin(2 * math.pi * k / points),
             cy - ry * math.cos(2 * math.pi * k / points)) for k in range(points + 1)]


#: digit -> strokes on the 280x280 pad, each a list of (x, y)
DRAWN = {
    1: [[(140, y) for y in range(50, 235, 15)]],
    7: [[(80, 60), (140, 60), (200, 60), (170, 120), (140, 180), (120, 230)]],
    0: [ring(140, 140, 60, 85)],
}


@pytest.mark.parametrize("digit", sorted(DRAWN))
def test_a_digit_drawn_on_the_pad_is_recognized(chromium, nets, deep_page, digit):
    chromium.open(deep_page)
    chromium.draw("#pad", DRAWN[digit])
    pixels, result, answer = chromium.run(
        "return [window.kobai.preprocess(), window.kobai.classify(), "
        "document.getElementById('answer').textContent]")
    assert result["label"] == str(digit)
    assert answer == f"{digit} ({100 * result['probability']:.1f} %)"
    np.testing.assert_allclose(result["probabilities"],
                               nets["deep-convnet"].predict_proba(
                                   np.array(pixels).reshape(1, 1, 28, 28))[0],
                               rtol=0, atol=1e-5)


@pytest.mark.parametrize("digit", sorted(DRAWN))
def test_the_pad_is_prepared_as_kobai_predict_prepares_an_image(chromium, deep_page, digit):
    require("PIL")
    from kobai.images import to_mnist_layout

    chromium.open(deep_page)
    chromium.draw("#pad", DRAWN[digit])
    pixels = chromium.run("return window.kobai.preprocess()")
    # the very pixels of the pad, prepared by kobai.images (Pillow's fixed-point Lanczos
    # against the page's floating point: a grey level or two apart)
    expected = to_mnist_layout(np.array(chromium.run(PAD_PIXELS), dtype=np.uint8)).ravel()
    np.testing.assert_allclose(pixels, expected, rtol=0, atol=2.5 / 255)


def test_the_same_strokes_drawn_with_pillow_look_alike_to_the_network(chromium, nets,
                                                                      deep_page):
    require("PIL")
    from PIL import Image, ImageDraw

    from kobai.images import to_mnist_layout

    chromium.open(deep_page)
    chromium.draw("#pad", DRAWN[7])
    pixels = np.array(chromium.run("return window.kobai.preprocess()"))
    image = Image.new("L", (280, 280), 0)
    ImageDraw.Draw(image).line(DRAWN[7][0], fill=255, width=20, joint="curve")
    mine = to_mnist_layout(np.asarray(image)).ravel()
    assert np.corrcoef(pixels, mine)[0, 1] > 0.9
    net = nets["deep-convnet"]
    assert net.predict(pixels.reshape(1, 1, 28, 28)).argmax() == \
        net.predict(mine.reshape(1, 1, 28, 28)).argmax() == 7


@pytest.mark.parametrize("pointer", ["touch", "pen"])
def test_a_finger_or_a_pen_draws_too(chromium, deep_page, pointer):
    chromium.open(deep_page)
    chromium.draw("#pad", DRAWN[7], pointer=pointer)
    assert chromium.run("return window.kobai.classify().label") == "7"


def test_a_blank_pad_and_clear_give_no_prediction(chromium, deep_page):
    chromium.open(deep_page)
    assert chromium.run("return [window.kobai.preprocess(), window.kobai.classify()]") == \
        [None, None]
    chromium.draw("#pad", DRAWN[1])
    assert chromium.run("return window.kobai.classify().label") == "1"
    chromium.run("document.getElementById('clear').click()")
    assert chromium.run("return [window.kobai.preprocess(), "
                        "document.getElementById('answer').textContent]") == \
        [None, "Draw something."]


def test_fashion_mnist_pages_show_its_class_names(chromium, nets, tmp_path):
    labels = labels_for({"source": "fashion-mnist", "n_train": 60000})
    assert labels == list(CLASS_NAMES["fashion-mnist"])
    assert labels[0] == "T-shirt/top" and labels[-1] == "Ankle boot"
    path = to_html(nets["two-layer"], tmp_path / "fashion.html", labels=labels,
                   title="Fashion <MNIST> & kobai")
    chromium.open(path)
    shown = chromium.run("return [window.kobai.labels, document.title, "
                         "Array.from(document.querySelectorAll('#bars > span:not(.pct)'), "
                         "(e) => e.textContent)]")
    assert shown == [labels, "Fashion <MNIST> & kobai", labels]
    chromium.draw("#pad", DRAWN[0])
    assert chromium.run("return window.kobai.classify().label") in labels


@pytest.mark.parametrize("data", [None, {}, {"source": "mnist"}, {"source": "sample"}])
def test_labels_for_other_data_are_the_digits(data):
    assert labels_for(data) == [str(k) for k in range(10)]


@pytest.mark.parametrize("net, message", [
    (TwoLayerNet(100, 8, 10), r"\(784,\) or \(1, 28, 28\); TwoLayerNet takes samples of "
                              r"shape \(100,\)"),
    (SimpleConvNet(input_dim=(3, 32, 32), conv_param={"filter_num": 2, "filter_size": 5,
                                                      "pad": 0, "stride": 1},
                   hidden_size=4), r"shape \(3, 32, 32\)"),
    (TwoLayerNet(784, 8, 12), r"12 classes; the default labels are the digits 0-9"),
])
def test_networks_the_page_cannot_draw_for_are_refused(net, message, tmp_path):
    with pytest.raises(ExportError, match=message) as info:
        to_html(net, tmp_path / "page.html")
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("labels, message", [
    (list("0123456789"), r"10 labels for the 12 classes of TwoLayerNet"),
    ("0123456789AB", r"a sequence of str"),
    ([str(k) for k in range(11)] + [12], r"a sequence of str"),
])
def test_labels_that_do_not_fit_are_refused(labels, message, tmp_path):
    with pytest.raises(ExportError, match=message):
        to_html(TwoLayerNet(784, 8, 12), tmp_path / "page.html", labels=labels)
    assert list(tmp_path.iterdir()) == []


def test_labels_for_more_than_ten_classes_are_written(tmp_path):
    labels = [f"class {k}" for k in range(12)]
    path = to_html(TwoLayerNet(784, 8, 12), tmp_path / "page.html", labels=labels)
    assert path == tmp_path / "page.html"
    assert '"class 11"' in path.read_text(encoding="utf-8")


def test_a_missing_folder_is_named_and_nothing_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="the directory .*missing does not exist"):
        to_html(TwoLayerNet(784, 8, 10), tmp_path / "missing" / "page.html")
    assert list(tmp_path.iterdir()) == []


def test_a_title_cannot_break_out_of_the_page(tmp_path):
    path = to_html(TwoLayerNet(784, 8, 10), tmp_path / "page.html",
                   title="</title><script>alert(1)</script>",
                   labels=[f"</script>{k}" for k in range(10)])
    text = path.read_text(encoding="utf-8")
    assert "<script>alert" not in text
    # the model's, the weights' and the page's three scripts
    assert text.count("</script>") == 5


#: a box round a 1 on the pad, and a 1 beside a 7
BOXED = [[(25, 25), (255, 25), (255, 255), (25, 255), (25, 25)],
         [(140, y) for y in range(70, 215, 15)]]
ONE_SEVEN = [[(60, y) for y in range(80, 205, 15)],
             [(130, 80), (180, 80), (230, 80), (200, 140), (170, 200)]]


def test_a_box_round_the_digit_on_the_pad_is_left_out_as_by_kobai_predict(chromium, deep_page):
    require("PIL")
    from kobai.images import digits_in

    chromium.open(deep_page)
    chromium.draw("#pad", BOXED)
    pixels, result = chromium.run("return [window.kobai.preprocess(), window.kobai.classify()]")
    images, marks = digits_in(np.array(chromium.run(PAD_PIXELS), dtype=np.uint8))
    assert marks.framed and len(images) == 1
    np.testing.assert_allclose(pixels, images[0].ravel(), rtol=0, atol=2.5 / 255)
    assert result["label"] == "1" and result["marks"] == 1


def test_two_digits_on_the_pad_are_said_to_be_two_marks(chromium, deep_page):
    require("PIL")
    from kobai.images import digits_in

    chromium.open(deep_page)
    chromium.draw("#pad", ONE_SEVEN)
    result, answer = chromium.run("return [window.kobai.classify(), "
                                  "document.getElementById('answer').textContent]")
    images, _ = digits_in(np.array(chromium.run(PAD_PIXELS), dtype=np.uint8))
    assert result["marks"] == len(images) == 2
    assert answer.endswith(" \u2014 2 separate marks: the pad reads one digit, draw one at a "
                           "time")
