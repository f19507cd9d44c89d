"""kobai predict on the images of issue 20: faint ink on a shaded page, strokes on a
transparent background, a digit in a box, several digits in one image. Each is made from a
real MNIST digit and read by the pretrained DeepConvNet (the default model)."""

import warnings

import numpy as np
import pytest
from conftest import mnist_digit, require, run


def pil():
    require("PIL")
    from PIL import Image

    return Image


def ink(digit, size):
    """MNIST's ``digit`` scaled to ``size``×``size``, ink in [0, 1]."""
    Image = pil()
    scaled = Image.fromarray(mnist_digit(digit)).resize((size, size), Image.LANCZOS)
    return np.asarray(scaled, dtype=np.float64) / 255


def save(path, pixels, mode=None):
    pil().fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), mode).save(path)
    return path


def predicted(capsys, path):
    status, out, err = run(capsys, "predict", path)
    assert status == 0 and err == "", err
    prefix = f"{path}: "
    assert out.startswith(prefix) and out.count("\n") == 1, out
    return out[len(prefix):].split()[0], out


def shaded_page(h=300, w=400):
    """A page lit unevenly: grey 250 on the left, 150 on the right."""
    return np.repeat(np.linspace(250, 150, w)[None, :], h, axis=0)


@pytest.mark.parametrize("how", ["40 levels darker than the paper", "grey 40"])
def test_ink_on_a_shaded_page_is_found(capsys, tmp_path, how):
    page, seven = shaded_page(), ink(7, 150)
    where = np.s_[75:225, 125:275]
    if how == "grey 40":
        page[where] = page[where] * (1 - seven) + 40 * seven
    else:
        page[where] -= 40 * seven  # a pencil: faint, and fainter than the shading's span
    digit, _ = predicted(capsys, save(tmp_path / "shaded.png", page))
    assert digit == "7"


def test_an_evenly_lit_image_is_left_as_it_is():
    from kobai.images_background import flatten_shading

    digit = mnist_digit(3).astype(np.float64)
    np.testing.assert_array_equal(flatten_shading(digit), digit)
    page = np.full((300, 400), 200.0)
    page[75:225, 125:275] -= 150 * ink(7, 150)
    np.testing.assert_array_equal(flatten_shading(page), page)


@pytest.mark.parametrize("stroke, background", [(255, "black"), (0, "white")])
def test_strokes_on_a_transparent_background(capsys, tmp_path, stroke, background):
    rgba = np.zeros((140, 140, 4))
    rgba[..., :3] = stroke
    rgba[20:120, 20:120, 3] = 255 * ink(4, 100)  # the strokes are the opaque pixels
    digit, _ = predicted(capsys, save(tmp_path / f"on-{background}.png", rgba, "RGBA"))
    assert digit == "4"


def test_a_page_with_a_transparent_border_keeps_its_polarity(capsys, tmp_path):
    rgba = np.zeros((200, 200, 4))
    rgba[..., :3] = 230  # light paper, dark ink, a transparent margin
    rgba[30:170, 30:170, 3] = 255
    rgba[50:150, 50:150, :3] -= 200 * ink(4, 100)[..., None]
    digit, _ = predicted(capsys, save(tmp_path / "margin.png", rgba, "RGBA"))
    assert digit == "4"


def boxed(digit, thickness=4):
    page = np.full((160, 160), 255.0)
    page[30:130, 30:130] -= 255 * ink(digit, 100)
    for side in (np.s_[10:10 + thickness, 10:150], np.s_[150 - thickness:150, 10:150],
                 np.s_[10:150, 10:10 + thickness], np.s_[10:150, 150 - thickness:150]):
        page[side] = 0
    return page


@pytest.mark.parametrize("digit", [2, 7])
def test_a_box_round_the_digit_is_left_out(capsys, tmp_path, digit):
    got, _ = predicted(capsys, save(tmp_path / "boxed.png", boxed(digit)))
    assert got == str(digit)


def test_a_box_is_left_out_in_the_library_too(tmp_path):
    pil()
    from kobai.images import digits_in, load_digit, to_mnist_layout

    path = save(tmp_path / "boxed.png", boxed(2))
    images, marks = digits_in(boxed(2))
    assert marks.framed and len(images) == 1
    plain = np.full((160, 160), 255.0)
    plain[30:130, 30:130] -= 255 * ink(2, 100)
    unboxed = to_mnist_layout(plain).reshape(784)
    assert np.corrcoef(load_digit(path), unboxed)[0, 1] > 0.95


def two_digits():
    page = np.full((140, 280), 255.0)
    page[20:120, 20:120] -= 255 * ink(4, 100)
    page[20:120, 160:260] -= 255 * ink(7, 100)
    return page


def test_two_digits_in_one_image_are_read_one_by_one(capsys, tmp_path):
    path = save(tmp_path / "two.png", two_digits())
    digits, out = predicted(capsys, path)
    assert digits == "47"
    assert "(2 separate marks (columns " in out and "read one by one, left to right" in out
    status, _, err = run(capsys, "predict", path, "--save-input", tmp_path / "in")
    assert status == 0, err
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == [
        "two-mark1.28x28.png", "two-mark2.28x28.png"]


def test_load_digit_warns_of_several_marks(tmp_path):
    pil()
    from kobai.images import SeveralMarksWarning, load_digit, load_digits

    path = save(tmp_path / "two.png", two_digits())
    with pytest.warns(SeveralMarksWarning, match=r"two.png holds 2 separate marks \(columns "
                                                 r".*\), read as one; load_digits reads each"):
        whole = load_digit(path)
    inputs, marks = load_digits(path)
    assert len(inputs) == 2 and not marks.framed
    assert marks.spans[0][1] < marks.spans[1][0]  # left to right
    assert whole.shape == inputs[0].shape == (784,)


def test_mnist_digits_are_one_mark_without_a_frame():
    pil()
    from kobai.datasets import load_mnist_test
    from kobai.images import digits_in

    x, _ = load_mnist_test(normalize=False, flatten=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for image in x[:300, 0]:
            images, marks = digits_in(image)
            assert len(images) == 1 and not marks.framed
