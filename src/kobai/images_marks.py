"""The separate marks of an ink image: a box drawn round the digit, several digits
(:mod:`kobai.images`, between telling the ink from the paper and cropping to it).

The ink's pixels are grouped into connected components (8-neighbours, on a copy of the ink
mask reduced to at most 128 pixels along its longer side, where a pixel is inked when any
pixel of its block is at least a quarter of white). Then

* a **frame** is a component that encloses all the other ink (which is at least 5 % of the
  ink) and covers each of the four sides of its bounding box along at least 60 % of their
  length: a box drawn round the digit, or the edge of a form's field. It is removed;
* **marks** are the remaining components grouped by their columns: components whose
  columns, widened by 15 % of the tallest one's height, overlap belong to one mark (the
  parts of a ``5`` or a ``4`` written in two strokes, one above the other or side by side);
  a group with less than a quarter of the largest one's ink is a speck, not a mark
  ("connected components of comparable size, far apart" are marks: 2 of MNIST's 10,000
  test digits, broken strokes, are read as two). Several marks are several digits, ordered
  left to right by their left edges.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Marks", "find_marks"]

_MAX_SIDE = 128  # the longer side of the mask the components are found on
_FRAME_SIDES = 0.6  # share of each side of its box a frame covers
_ENCLOSED = 0.05  # share of the ink a frame must enclose
_NEAR = 0.15  # of the tallest component's height: parts nearer than this are one mark
_SPECK = 0.25  # of the largest mark's ink: less is a speck
_INKED = 255 / 4  # a pixel of the reduced mask is inked when one of its block is this white


@dataclass
class Marks:
    """What :func:`find_marks` found in an ink image of shape (H, W)."""

    #: the ink without its frame (the input itself when there is none)
    ink: np.ndarray
    #: whether a frame was removed
    framed: bool
    #: one ink image of shape (H, W) per mark, left to right; one mark: ``[ink]``
    marks: list[np.ndarray]
    #: each mark's columns in the image, [start, stop) (its components'; its image holds
    #: the columns up to halfway to the next mark's)
    spans: list[tuple[int, int]]


def _labels(mask: np.ndarray) -> np.ndarray:
    """Connected components of ``mask`` (8-neighbours): -1 off the mask, else the smallest
    flat index of a pixel of the component. Minimum propagation, with pointer jumping."""
    h, w = mask.shape
    big = h * w
    lab = np.where(mask, np.arange(big).reshape(h, w), big)
    while True:
        padded = np.pad(lab, 1, constant_values=big)
        low = lab.copy()
        for dy in (0, 1, 2):
            for dx in (0, 1, 2):
                np.minimum(low, padded[dy:dy + h, dx:dx + w], out=low)
        low = np.where(mask, low, big)
        flat = np.append(low.ravel(), big)
        for _ in range(8):  # a pixel's label's label is as good and smaller: jump
            flat = flat[flat]
        low = flat[:-1].reshape(h, w)
        if np.array_equal(low, lab):
            return np.where(mask, lab, -1)
        lab = low


@dataclass
class _Part:
    label: int
    mass: float
    box: tuple[int, int, int, int]  # y0, y1, x0, x1 on the reduced mask, [start, stop)


def _parts(lab: np.ndarray, mass: np.ndarray) -> list[_Part]:
    parts = []
    for label in np.unique(lab[lab >= 0]):
        ys, xs = np.nonzero(lab == label)
        parts.append(_Part(int(label), float(mass[lab == label].sum()),
                           (int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1)))
    return parts


def _is_frame(part: _Part, lab: np.ndarray, parts: list[_Part], total: float) -> bool:
    y0, y1, x0, x1 = part.box
    others = [p for p in parts if p is not part]
    inside = [p for p in others if y0 < p.box[0] and p.box[1] < y1 and x0 < p.box[2]
              and p.box[3] < x1]
    if len(inside) != len(others) or sum(p.mass for p in inside) < _ENCLOSED * total:
        return False
    on = lab[y0:y1, x0:x1] == part.label
    band_y, band_x = max(1, (y1 - y0) // 10), max(1, (x1 - x0) // 10)
    sides = (on[:band_y].any(axis=0), on[-band_y:].any(axis=0),
             on[:, :band_x].any(axis=1), on[:, -band_x:].any(axis=1))
    return all(side.mean() >= _FRAME_SIDES for side in sides)


def _near(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: float) -> bool:
    """Whether the columns of boxes ``a`` and ``b``, widened by ``gap``, overlap."""
    return a[2] - gap < b[3] and b[2] - gap < a[3]


def _groups(parts: list[_Part], gap: float) -> list[list[_Part]]:
    """``parts`` grouped by nearness (transitively)."""
    groups: list[list[_Part]] = []
    for part in parts:
        joined = [g for g in groups if any(_near(part.box, p.box, gap) for p in g)]
        merged = [part] + [p for g in joined for p in g]
        groups = [g for g in groups if all(g is not j for j in joined)] + [merged]
    return groups


def find_marks(ink: np.ndarray) -> Marks:
    """The frame and the separate marks of ``ink`` (white on black, float, shape (H, W));
    see the module's rules."""
    h, w = ink.shape
    block = max(1, -(-max(h, w) // _MAX_SIDE))
    gh, gw = -(-h // block), -(-w // block)
    padded = np.zeros((gh * block, gw * block))
    padded[:h, :w] = ink
    cells = padded.reshape(gh, block, gw, block)
    mass = cells.sum(axis=(1, 3))
    lab = _labels(cells.max(axis=(1, 3)) >= _INKED)
    parts = _parts(lab, mass)
    total = float(mass.sum())
    frames = np.zeros_like(lab, dtype=bool)
    for part in list(parts):
        if len(parts) > 1 and _is_frame(part, lab, parts, total):
            frames |= lab == part.label
            parts.remove(part)
            total -= part.mass
    framed = bool(frames.any())
    # the frame's blocks become black; faint ink outside every component is kept
    cleaned = ink * ~np.repeat(np.repeat(frames, block, 0), block, 1)[:h, :w] if framed else ink
    gap = _NEAR * max((p.box[1] - p.box[0] for p in parts), default=0)
    groups = _groups(parts, gap)
    largest = max((sum(p.mass for p in g) for g in groups), default=0.0)
    marks = sorted((g for g in groups if sum(p.mass for p in g) >= _SPECK * largest),
                   key=lambda g: min(p.box[2] for p in g))
    spans = [(min(p.box[2] for p in g) * block, min(max(p.box[3] for p in g) * block, w))
             for g in marks]
    if len(marks) < 2:
        return Marks(cleaned, framed, [cleaned], spans)
    # each mark takes the columns up to halfway to its neighbours' (specks and faint ink too)
    cuts = [0] + [(a[1] + b[0]) // 2 for a, b in zip(spans, spans[1:], strict=False)] + [w]
    images = []
    for start, stop in zip(cuts, cuts[1:], strict=False):
        image = np.zeros_like(cleaned)
        image[:, start:stop] = cleaned[:, start:stop]
        images.append(image)
    return Marks(cleaned, framed, images, spans)
