"""Reading a user's digit image as an MNIST-like input (used by ``kobai predict``).

MNIST digits are white strokes on a black background, scaled to fit a 20×20 box and centred
by their centre of mass in a 28×28 image. :func:`load_digit` does the same to any PNG or JPEG:

1. grayscale, transparent pixels made background (:func:`_composite`: strokes of one
   colour on a transparent background are put on black when light, on white when dark);
   uneven lighting, a smooth shading of the page, is fitted and taken out
   (:mod:`kobai.images_background`); the background's level is the median pixel (the ink
   covers less than half the image), its noise a robust standard deviation σ (from the
   median absolute deviation). The ink is on the side of the background where pixels stray
   beyond 3σ, so dark-on-light images (most photos and scans of handwriting) are inverted
   to MNIST's polarity;
2. deviations from the background up to 3σ become black; among the pixels beyond, Otsu's
   threshold (:func:`otsu_threshold`) separates the ink from the background's stray pixels,
   and the ink's 95th-percentile level becomes white;
3. a frame round the digit (a box drawn round it) is removed, and separate marks (several
   digits) are found (:mod:`kobai.images_marks`): :func:`load_digit` reads them as one, with
   a :class:`SeveralMarksWarning`, :func:`load_digits` each;
4. the image is cropped to the ink (leaving out the outermost 0.5 % of the ink on each side,
   so that specks of dust far from the digit do not widen the box), the longer side scaled to
   20 pixels and the result centred.

An image whose ink stands out of the background's noise by less than :data:`MIN_CONTRAST`
grey levels holds no digit: :class:`NoDigitError`. Needs Pillow: ``pip install 'kobai[images]'``.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from .images_background import flatten_shading
from .images_marks import Marks, find_marks

__all__ = ["MIN_CONTRAST", "NoDigitError", "SeveralMarksWarning", "describe_marks",
           "digits_in", "load_digit", "load_digits", "otsu_threshold", "save_digit",
           "to_mnist_layout"]

#: The ink's mean level stands out of the background (beyond 3σ of its noise) by fewer grey
#: levels (of 255) than this: no digit.
MIN_CONTRAST = 32.0
_CROP_TAIL = 0.005  # share of the ink left out on each side when cropping


class NoDigitError(ValueError):
    """The image holds no digit: it is blank, or ink and background are not told apart."""


class SeveralMarksWarning(UserWarning):
    """The image holds several separate marks (digits), read as one by :func:`load_digit`."""


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'kobai[images]' "
                          "(or pip install Pillow)") from None
    return Image


def otsu_threshold(gray: np.ndarray) -> int:
    """Otsu's threshold: the level ``k`` that best splits the pixels into ``<= k`` and ``> k``.

    Parameters
    ----------
    gray : ndarray of any shape
        Grey levels in [0, 255] (rounded to integers).

    Returns
    -------
    int
        The ``k`` in [0, 254] maximizing the between-class variance
        ``σ_B²(k) = (μ_T ω(k) − μ(k))² / (ω(k) (1 − ω(k)))``, where ``ω(k)`` is the share of
        pixels ``<= k``, ``μ(k)`` their first moment and ``μ_T`` the mean level.
    """
    levels = np.clip(np.rint(np.asarray(gray, dtype=np.float64)), 0, 255).astype(np.intp)
    p = np.bincount(levels.ravel(), minlength=256) / max(levels.size, 1)
    omega = np.cumsum(p)
    mu = np.cumsum(p * np.arange(256))
    denom = omega * (1.0 - omega)
    sigma_b = np.divide((mu[-1] * omega - mu) ** 2, denom, out=np.zeros(256), where=denom > 1e-12)
    return int(np.argmax(sigma_b[:255]))


def _ink_span(mass: np.ndarray) -> slice:
    """The rows (or columns) holding all of ``mass`` but the outer ``_CROP_TAIL`` each side."""
    c = np.cumsum(mass)
    start = int(np.searchsorted(c, _CROP_TAIL * c[-1], side="right"))
    stop = int(np.searchsorted(c, (1.0 - _CROP_TAIL) * c[-1], side="left")) + 1
    return slice(start, max(stop, start + 1))


def _ink_image(gray: np.ndarray) -> np.ndarray:
    """White ink on a black background, float64 in [0, 255], or NoDigitError."""
    img = flatten_shading(gray)
    level = float(np.median(img))  # the background's: the ink covers less than half the image
    noise = 1.4826 * float(np.median(np.abs(img - level)))  # its robust std (MAD), with shading
    lighter = np.clip(img - level - 3.0 * noise, 0.0, None).sum()
    darker = np.clip(level - 3.0 * noise - img, 0.0, None).sum()
    # the deviation from the background, on the ink's side: dark strokes on paper are inverted
    ink_level = np.clip(img - level if lighter >= darker else level - img, 0.0, 255.0)
    black = 3.0 * noise
    candidates = ink_level > black  # stand out of the background's noise
    if not candidates.any():
        raise NoDigitError("no digit found: the image is blank (nothing stands out of its "
                           "background)")
    # Otsu among those only: the ink may be under 1 % of a photo, too little to split it
    # from the paper's shading over the whole image
    ink = candidates & (ink_level > otsu_threshold(ink_level[candidates]) + 0.5)
    if not ink.any():
        ink = candidates
    contrast = float(ink_level[ink].mean()) - black
    if contrast < MIN_CONTRAST:
        raise NoDigitError(f"no digit found: the image is blank (its strongest marks stand "
                           f"out of the background's noise by {contrast:.0f} grey levels; a "
                           f"digit needs {MIN_CONTRAST:.0f})")
    white = float(np.percentile(ink_level[ink], 95))
    if white <= black:  # ink hardly stands out of the noise: keep Otsu's ink class only
        return np.where(ink, 255.0, 0.0)
    return np.clip((ink_level - black) * (255.0 / (white - black)), 0.0, 255.0)


def _layout(img: np.ndarray) -> np.ndarray:
    """Ink (white on black, [0, 255]) -> 28×28 in [0, 1]: cropped, scaled, centred."""
    Image = _pil()
    img = img[_ink_span(img.sum(axis=1)), _ink_span(img.sum(axis=0))]
    h, w = img.shape
    scale = 20.0 / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = np.asarray(Image.fromarray(img.astype(np.uint8)).resize(size, Image.LANCZOS),
                       dtype=np.float64)
    out = np.zeros((28, 28))
    top, left = (28 - size[1]) // 2, (28 - size[0]) // 2
    out[top:top + size[1], left:left + size[0]] = small
    # Shift so the centre of mass sits at the centre, as in MNIST's preprocessing.
    total = out.sum()
    if total > 0:
        ys, xs = np.indices(out.shape)
        dy = int(round(13.5 - (ys * out).sum() / total))
        dx = int(round(13.5 - (xs * out).sum() / total))
        out = np.roll(out, (dy, dx), axis=(0, 1))
    return np.clip(out / 255.0, 0.0, 1.0)


def to_mnist_layout(gray: np.ndarray) -> np.ndarray:
    """Turn a 2-D grayscale array (0 = black, 255 = white) into a 28×28 MNIST-like image.

    A frame round the digit is left out. An image of several separate marks is laid out
    whole, with a :class:`SeveralMarksWarning`; :func:`digits_in` lays out each mark.

    Returns
    -------
    ndarray of shape (28, 28), float64 in [0, 1], white strokes on black

    Raises
    ------
    NoDigitError
        If the image is blank: its ink would stand out of the background's noise by less
        than :data:`MIN_CONTRAST` grey levels.
    """
    found = find_marks(_ink_image(gray))
    if len(found.marks) > 1:
        warnings.warn(SeveralMarksWarning(f"the image holds {describe_marks(found)}, read as "
                                          "one; digits_in reads each"), stacklevel=2)
    return _layout(found.ink)


def digits_in(gray: np.ndarray) -> tuple[list[np.ndarray], Marks]:
    """Each separate mark of a 2-D grayscale array as a 28×28 MNIST-like image, left to right
    (one for an image of one digit, then ``[to_mnist_layout(gray)]``), and what was found.

    Returns
    -------
    images : list of ndarray of shape (28, 28), float64 in [0, 1]
    marks : kobai.images_marks.Marks
        The frame removed (``framed``), each mark's columns (``spans``).

    Raises
    ------
    NoDigitError
        If the image is blank.
    """
    found = find_marks(_ink_image(gray))
    return [_layout(mark) for mark in found.marks], found


def describe_marks(found: Marks) -> str:
    """``"3 separate marks (columns 20-120, 160-260, 300-390)"``: for messages."""
    spans = ", ".join(f"{a}-{b}" for a, b in found.spans)
    return f"{len(found.marks)} separate marks (columns {spans} of the image)"


def _composite(la: np.ndarray) -> np.ndarray:
    """Grey levels of an image with transparency, ``la`` of shape (H, W, 2) (grey, alpha):
    transparent pixels become the background.

    When the opaque pixels are of one colour, they are the strokes (drawn on a transparent
    background): the background is of the other polarity, black under light strokes and
    white under dark ones. When they hold contrast of their own (a page with ink, with a
    transparent margin), the background is the page's level, their median.
    """
    grey, alpha = la[..., 0], la[..., 1] / 255.0
    opaque = grey[alpha > 0.5]
    if opaque.size == 0:
        return np.full(grey.shape, 255.0)
    level = float(np.median(opaque))
    if np.mean(np.abs(opaque - level) > 64) >= 0.01:
        background = level
    else:
        background = 0.0 if level > 127.5 else 255.0
    return grey * alpha + background * (1.0 - alpha)


def _read_gray(path: str | os.PathLike[str]) -> np.ndarray:
    """The grey levels of a PNG/JPEG, transparency composited (:func:`_composite`)."""
    Image = _pil()
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                return _composite(np.asarray(im.convert("LA"), dtype=np.float64))
            return np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"{os.fspath(path)} is not an image Pillow can read ({exc})") from None


def load_digit(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG digit of any size as an MNIST-like input (see the module's steps).

    Returns
    -------
    ndarray of shape (784,), float64 in [0, 1]

    Raises
    ------
    NoDigitError
        If the image is blank (a ValueError).
    ValueError
        If the file is not an image Pillow can read.
    """
    found = find_marks(_ink_image(_read_gray(path)))
    if len(found.marks) > 1:
        warnings.warn(SeveralMarksWarning(f"{os.fspath(path)} holds {describe_marks(found)}, "
                                          "read as one; load_digits reads each"), stacklevel=2)
    return _layout(found.ink).reshape(784)


def load_digits(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], Marks]:
    """Read each separate mark of a PNG/JPEG (several digits in one image) as an MNIST-like
    input, left to right (:func:`digits_in`).

    Returns
    -------
    inputs : list of ndarray of shape (784,), float64 in [0, 1]
        One for an image of one digit (then ``load_digit(path)``).
    marks : kobai.images_marks.Marks

    Raises
    ------
    NoDigitError, ValueError
        As :func:`load_digit`.
    """
    images, found = digits_in(_read_gray(path))
    return [image.reshape(784) for image in images], found


def save_digit(image: np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write a 28×28 input (e.g. from :func:`load_digit`) as an 8-bit grayscale PNG.

    Parameters
    ----------
    image : ndarray of shape (784,) or (28, 28)
        Values in [0, 1], white strokes on black: what the model sees.
    path : str or path-like

    Returns
    -------
    pathlib.Path
    """
    Image = _pil()
    arr = np.asarray(image, dtype=np.float64)
    if arr.size != 784:
        raise ValueError(f"image has shape {arr.shape}; expected a 28x28 input of shape (784,) "
                         "or (28, 28)")
    pixels = np.clip(np.rint(arr.reshape(28, 28) * 255.0), 0, 255).astype(np.uint8)
    path = Path(path)
    Image.fromarray(pixels).save(path, format="PNG")
    return path
