"""Reading a user's digit image as an MNIST-like input (used by ``kobai predict``).

MNIST digits are white strokes on a black background, scaled to fit a 20×20 box and centred
by their centre of mass in a 28×28 image. :func:`load_digit` does the same to any PNG or JPEG:
it converts to grayscale, inverts dark-on-light images (most photos and scans of handwriting),
crops to the strokes, scales the longer side to 20 pixels and centres the result.
Needs Pillow: ``pip install 'kobai[images]'``.
"""

from __future__ import annotations

import os

import numpy as np

__all__ = ["load_digit", "to_mnist_layout"]


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'kobai[images]' "
                          "(or pip install Pillow)") from None
    return Image


def to_mnist_layout(gray: np.ndarray) -> np.ndarray:
    """Turn a 2-D grayscale array (0 = black, 255 = white) into a 28×28 MNIST-like image.

    Returns
    -------
    ndarray of shape (28, 28), float64 in [0, 1], white strokes on black
    """
    Image = _pil()
    img = gray.astype(np.float64)
    if img.mean() > 127.5:  # dark strokes on a light background: invert to MNIST's polarity
        img = 255.0 - img
    img -= img.min()
    if img.max() <= 0:
        return np.zeros((28, 28))
    img *= 255.0 / img.max()
    ink = img > 0.1 * 255
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    img = img[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
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


def load_digit(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG/JPEG digit of any size as an MNIST-like input.

    Returns
    -------
    ndarray of shape (784,), float64 in [0, 1]

    Raises
    ------
    ValueError
        If the file is not an image Pillow can read.
    """
    Image = _pil()
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                # Transparent pixels count as background: composite onto white.
                rgba = im.convert("RGBA")
                background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
                im = Image.alpha_composite(background, rgba)
            gray = np.asarray(im.convert("L"))
    except FileNotFoundError:
        raise
    except (OSError, Image.DecompressionBombError, SyntaxError) as exc:
        raise ValueError(f"{os.fspath(path)} is not an image Pillow can read ({exc})") from None
    return to_mnist_layout(gray).reshape(784)
