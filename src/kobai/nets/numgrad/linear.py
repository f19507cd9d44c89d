"""Relu layers are linear while no input crosses 0: a perturbation then reaches the logits
along a fixed direction per sample.

Let stage ``s``'s output change by ``du`` (one number per sample) in unit ``j``. If every later
hidden stage is relu without batch norm and no relu input changes sign, then for
``l = s+1 … L-1``::

    Δz_{s+1} = du · W_{s+1}[j, :]                   =: du · J_{s+1}[n, j, :]
    Δh_l     = Δz_l ⊙ m_l[n, :]                      m_l = [z_l > 0] · dropout mask
    Δz_{l+1} = Δh_l · W_{l+1}                        =: du · J_{l+1}[n, j, :]

so the logits move by ``du · J_L[n, j, :]``, exactly. No relu input ``z_l[n, h]`` changes sign
while ``|du| · |J_l[n, j, h]| < |z_l[n, h]|`` for every later hidden ``l`` and unit ``h``, that is
while ``|du| < τ[n, j] = min_{l,h} |z_l[n, h]| / |J_l[n, j, h]|``; rows with a larger ``|du|``
are recomputed layer by layer.
"""

from __future__ import annotations

import numpy as np

from .stages import Stage, cached

__all__ = ["relu_directions"]

#: Largest (N, n_s, n_l) array the directions may take; beyond it rows are recomputed instead.
MAX_BYTES = 64 * 2**20


def relu_directions(stages: list[Stage], s: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Logit directions ``J_L`` (N, n_s, n_classes) and bounds ``τ`` (N, n_s) for stage ``s``.

    None unless every hidden stage after ``s`` is relu without batch norm (and the arrays fit).
    """
    later = stages[s + 1:-1]
    if not later or any(not st.kinks or st.gamma is not None
                        or not callable(getattr(st.act, "derivatives", None)) for st in later):
        return None
    n, n_s = cached(stages[s].h).shape
    if 8 * n * n_s * max(st.W.shape[1] for st in stages[s + 1:]) > MAX_BYTES:
        return None
    J = np.broadcast_to(later[0].W, (n, *later[0].W.shape))
    tau = np.full((n, n_s), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for st, nxt in zip(later, stages[s + 2:], strict=True):
            # |z| / |J|: 0/0 (no change of a zero input) is nan, which fmin skips
            z = cached(st.z)
            ratio = np.abs(z)[:, None, :] / np.abs(J)
            tau = np.fmin(tau, np.fmin.reduce(ratio, axis=2))
            # the slope of the piecewise-linear activation, from the layer's own derivatives
            m = st.act.derivatives(z, z, 1)[0]
            if st.mask is not None:
                m = m * st.mask
            J = (J * m[:, None, :]) @ nxt.W
    return J, tau
