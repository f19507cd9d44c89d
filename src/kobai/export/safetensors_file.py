"""A network's parameters and state as safetensors, which :func:`kobai.io.load` reads back.

The tensors are ``net.state_dict()`` under their own names (``W1``, ``b1``, ``gamma1``,
``beta1``, ``running_mean1``, ``running_var1``, ...; ``W`` as kobai keeps it, (in, out) for an
Affine, (FN, C, FH, FW) for a Convolution), in the network's dtype. ``__metadata__`` holds
``"format": "kobai.safetensors"`` and, under ``"kobai"``, the JSON metadata of a checkpoint
(:func:`kobai.io.network_meta`: class, constructor arguments, dtype, versions, and ``data``
when given): ``kobai.io.load(path).net`` predicts exactly as ``net`` did. No optimizer state
and no history: for resuming training, save a checkpoint (``kobai.io.save``).

Written by kobai with NumPy alone (:mod:`kobai.arrays_file.safetensors`); the ``safetensors``
library, PyTorch's ``safetensors.torch.load_file`` and other tools read the file too.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .._checkpoint_readers import META_KEY
from ..arrays_file.safetensors import write_safetensors
from ..io import meta_json, network_meta
from .graph import check_finite

__all__ = ["FORMAT", "to_safetensors"]

#: ``__metadata__["format"]`` of kobai's safetensors files
FORMAT = "kobai.safetensors"


def to_safetensors(net: Any, path: str | os.PathLike[str], *,
                   data: dict[str, Any] | None = None) -> Path:
    """Write ``net``'s parameters and state to ``path`` as safetensors, atomically.

    Parameters
    ----------
    net : Network
        A network ``kobai.io.save`` can save (one of ``kobai.io.NET_CLASSES``, or a
        ``Network`` of registered layers).
    path : str or path-like
        Written exactly as given, e.g. ``model.safetensors``; an earlier file there stays
        whole if anything fails.
    data : dict, optional
        What the network was trained on (``kobai.datasets.describe(...)``), as in
        ``kobai.io.save``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        ``net`` is not a network ``kobai.io.save`` can save, or ``data`` is not JSON-able.
    kobai.export.ExportError
        A parameter or running statistic holds NaN or infinity (naming it).
    FileNotFoundError, IsADirectoryError
        ``path``'s folder does not exist, or ``path`` is a folder.
    """
    meta = network_meta(net)
    if data is not None:
        meta["data"] = dict(data)
    text = meta_json(meta)
    check_finite(net)
    write_safetensors(path, net.state_dict(), {"format": FORMAT, META_KEY: text})
    return Path(path)
