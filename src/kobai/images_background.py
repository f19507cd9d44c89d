"""A page's shading, fitted and taken out before the ink is told from the paper
(:mod:`kobai.images`, step 1).

A photo of a page is lit unevenly: its grey level drifts by tens of levels across the image,
so one background level and one noise σ for the whole image take the drift for noise, and
faint ink (a pencil 40 levels darker than the paper) is lost in it. :func:`flatten_shading`
fits a smooth surface (a cubic polynomial in x and y) to the background and subtracts it.
The fit is robust to the ink: it is made on the medians of blocks of pixels (thin strokes
cover less than half a block), and blocks that stray from the fit by more than 3σ (thick
ink) are left out, three times over.
"""

from __future__ import annotations

import numpy as np

__all__ = ["flatten_shading"]

_GRID = 32  # blocks along the longer side
_DEGREE = 3  # of the polynomial surface
_MIN_DRIFT = 8.0  # grey levels the surface must span to be taken out


def _design(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The monomials ``y^i x^j``, ``i + j <= _DEGREE``, of coordinates in [-1, 1]."""
    return np.stack([y ** i * x ** j for i in range(_DEGREE + 1)
                     for j in range(_DEGREE + 1 - i)], axis=-1)


def _mad_sigma(values: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(values - np.median(values))))


def flatten_shading(gray: np.ndarray) -> np.ndarray:
    """``gray`` with its background's smooth shading subtracted (the mean level kept).

    Parameters
    ----------
    gray : ndarray of shape (H, W)
        Grey levels, float.

    Returns
    -------
    ndarray of shape (H, W), float64
        A new array; ``gray`` itself (as float64) when the fitted shading spans fewer than
        8 grey levels or does not at least halve the background's robust σ, so an evenly lit
        image (a drawing pad, an MNIST digit) is left exactly as it is.
    """
    img = np.asarray(gray, dtype=np.float64)
    h, w = img.shape
    # the statistics are taken on every step-th pixel: at most 8 per block side
    step = max(1, max(h, w) // (8 * _GRID))
    sub = img[::step, ::step]
    block = max(1, -(-max(sub.shape) // _GRID))
    gh, gw = sub.shape[0] // block, sub.shape[1] // block
    if gh < 4 or gw < 4:
        return img
    cells = sub[:gh * block, :gw * block].reshape(gh, block, gw, block)
    medians = np.median(cells.transpose(0, 2, 1, 3).reshape(gh, gw, -1), axis=2).ravel()
    cy = ((np.arange(gh) + 0.5) * block * step / h) * 2 - 1
    cx = ((np.arange(gw) + 0.5) * block * step / w) * 2 - 1
    design = _design(*(a.ravel() for a in np.meshgrid(cy, cx, indexing="ij")))
    keep = np.ones(medians.size, dtype=bool)
    coef = np.zeros(design.shape[1])
    for _ in range(3):
        if keep.sum() < 2 * design.shape[1]:
            return img
        a = design[keep]  # least squares by the normal equations: 10 unknowns
        coef = np.linalg.solve(a.T @ a, a.T @ medians[keep])
        residual = medians - design @ coef
        keep = np.abs(residual) <= 3.0 * max(_mad_sigma(residual[keep]), 1.0)
    if np.ptp(design @ coef) < _MIN_DRIFT:
        return img
    surface = _surface(coef, h, w)
    level = float(np.median(surface[::step, ::step]))
    if _mad_sigma(sub - surface[::step, ::step]) > 0.5 * _mad_sigma(sub):
        return img
    return img - surface + level


def _surface(coef: np.ndarray, h: int, w: int) -> np.ndarray:
    """The polynomial of ``_design``'s coefficients at every pixel's centre, (H, W):
    sum of c_ij y^i x^j = Y C X^T with Y = [y^i], X = [x^j]."""
    powers = np.arange(_DEGREE + 1)
    y_pow = (((np.arange(h) + 0.5) / h * 2 - 1)[:, None]) ** powers
    x_pow = (((np.arange(w) + 0.5) / w * 2 - 1)[:, None]) ** powers
    table = np.zeros((_DEGREE + 1, _DEGREE + 1))
    terms = [(i, j) for i in range(_DEGREE + 1) for j in range(_DEGREE + 1 - i)]
    table[tuple(np.array(terms).T)] = coef  # _design's order
    return y_pow @ table @ x_pow.T
