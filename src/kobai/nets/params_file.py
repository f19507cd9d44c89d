"""``load_params`` / ``save_params``: a network's parameters in a file, the book's method names
(§7.5, ``SimpleConvNet.save_params``); the book's pickles written, never unpickled.

``save_params`` writes what the name says, under exactly that name: a ``.pkl`` (or ``.pickle``)
name gets the book's format, a pickle of a dict of NumPy arrays that the book's own
``load_params`` reads (:func:`kobai.arrays_file.write_pickled_arrays`); any other name
kobai's ``.npz`` (:func:`kobai.arrays_file.write_arrays`). ``load_params`` reads those, a
safetensors file of a ``state_dict`` (``kobai.export.to_safetensors``, or the
``safetensors`` library's ``save_file``) or one of the book's pickles, told apart by content
and read by
:func:`kobai.arrays_file.read_arrays`, which never unpickles.

The book's dropout scales by ``1 - ratio`` in evaluation, kobai's is inverted; since ReLU and
max pooling commute with a positive scale, loading a pickle multiplies the weights of the
affine or convolution layer after each ``Dropout`` by ``1 - ratio``, and writing one divides
them by it, so the book's code gets its own convention. Both are exact when ``1 - ratio`` is a
power of two (the book's 0.5); otherwise a pickle written and read back can differ from the
net by one rounding (``.npz`` round-trips exactly).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..arrays_file import (
    PICKLE_SUFFIXES,
    file_format,
    read_arrays,
    write_arrays,
    write_pickled_arrays,
)
from ..layers import Affine, Convolution, Dropout, Flatten, Pooling, Relu

__all__ = ["load_params", "save_params"]

# Layers f with f(s·x) = s·f(x) for s > 0: a scale moves through them unchanged.
_POSITIVELY_HOMOGENEOUS = (Relu, Pooling, Flatten)


def save_params(net: Any, path: str | os.PathLike[str]) -> None:
    """Write ``net.state_dict()`` (parameters and running statistics) to ``path``: the book's
    pickle for a ``.pkl``/``.pickle`` name, else kobai's ``.npz``; atomically, so a failure
    leaves an earlier file whole.

    Raises
    ------
    ValueError
        For a pickle of a net with an inverted ``Dropout`` whose scale has no Affine or
        Convolution layer to go into (nothing is written then).
    """
    state = net.state_dict()
    if os.fspath(path).lower().endswith(PICKLE_SUFFIXES):
        _scale_for_inverted_dropout(net, state, to_book=True)
        write_pickled_arrays(path, state)
    else:
        write_arrays(path, state)


def load_params(net: Any, path: str | os.PathLike[str]) -> None:
    """Copy the arrays of ``path`` (kobai's ``.npz``, safetensors or the book's pickle) into
    ``net``.

    Every parameter of the net must be in the file with its shape; running statistics
    (``running_mean1``, ...) are taken when present. Values are cast to the net's dtype.
    Nothing in the net changes unless the whole file fits.

    Raises
    ------
    ValueError
        Naming the missing, unexpected or misshapen arrays (and what the net expected), or a
        file that is neither format (:class:`kobai.arrays_file.ArraysFileError`) or a pickle of
        anything but arrays (:class:`kobai.arrays_file.UnsafePickleError`; not run).
    """
    where = os.fspath(path)
    with open(where, "rb") as fh:
        book = file_format(fh.read(32)) == "pickle"
    own = net.state_dict()
    # float64 values for every array of the net, plus 64 MB: room for another network's
    # file (refused below with the names it holds), none for a compressed archive that
    # declares gigabytes
    arrays = read_arrays(where, max_bytes=8 * sum(a.size for a in own.values()) + (64 << 20))
    missing = [k for k in net.params if k not in arrays]
    unexpected = [k for k in arrays if k not in own]
    if missing or unexpected:
        have = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
        raise ValueError(f"{where} does not hold the parameters of this {type(net).__name__}: "
                         f"missing {missing or 'nothing'}, unexpected {unexpected or 'nothing'}"
                         f" (the file has {have or 'no arrays'}); is it the weights of another "
                         f"network?")
    for key, arr in arrays.items():
        if arr.shape != own[key].shape:
            raise ValueError(f"{where}: {key} has shape {arr.shape}, but this "
                             f"{type(net).__name__}'s {key} has shape {own[key].shape}")
        if arr.dtype.kind not in "fiub" or not np.all(np.isfinite(arr)):
            raise ValueError(f"{where}: {key} must hold finite numbers (got dtype {arr.dtype}"
                             f"{'' if arr.dtype.kind not in 'fiub' else ' with NaN or inf'})")
    own.update({key: arr.astype(own[key].dtype) for key, arr in arrays.items()})
    if book:
        _scale_for_inverted_dropout(net, own)
    net.load_state_dict(own)


def _scale_for_inverted_dropout(net: Any, state: dict[str, np.ndarray], *,
                                to_book: bool = False) -> None:
    """Weights of the book's (non-inverted) dropout → kobai's inverted dropout, in ``state``
    (with ``to_book``, the other way: divided by the scale instead of multiplied).

    The book's dropout hands ``(1 - r)·h`` to what follows in evaluation (and ``h·mask`` in
    training), kobai's ``h`` (and ``h·mask / (1 - r)``). Scaling ``W`` (not ``b``) of the next
    Affine or Convolution by ``1 - r`` makes both the same, in training and evaluation alike;
    ReLU, max pooling and Flatten in between pass a positive scale through. A dropout with no
    such layer after it (DeepConvNet's, on the logits) has the scale put into ``W`` and ``b``
    of the layer before it instead.
    """
    layers = list(net.layers.items())
    keys = _param_keys(net)
    for i, (name, layer) in enumerate(layers):
        if not (isinstance(layer, Dropout) and layer.inverted and layer.ratio):
            continue
        scale = 1.0 - layer.ratio
        after = _next_linear(layers, i, +1)
        before = None if after is not None else _next_linear(layers, i, -1)
        if after is None and before is None and to_book:
            raise ValueError(
                f"cannot write the book's pickle of this {type(net).__name__}: the book's "
                f"dropout scales by 1 - ratio in evaluation, kobai's {name} is inverted, and "
                f"there is no Affine or Convolution layer after it or before it (with only "
                f"ReLU, pooling or Flatten in between) to carry the scale; save to an .npz "
                f"name instead")
        if after is None and before is None:
            raise ValueError(
                f"these weights come from the book's network, whose dropout scales by "
                f"1 - ratio in evaluation, and kobai's {name} is inverted: the weights can be "
                f"converted by scaling an Affine or Convolution layer after it or before it "
                f"(with only ReLU, pooling or Flatten in between), and {type(net).__name__} "
                f"has none. Read the arrays with kobai.arrays_file.read_arrays, load them "
                f"with net.load_state_dict, and set {name}.inverted = False, the book's "
                f"convention")
        target: Any = after if after is not None else before
        pkeys = ("W",) if after is not None else tuple(target.params)
        for pkey in pkeys:
            key = keys[id(target), pkey]
            factor = state[key].dtype.type(scale)
            state[key] = state[key] / factor if to_book else state[key] * factor


def _next_linear(layers: list[tuple[str, Any]], i: int, step: int) -> Any:
    """The first Affine or Convolution from ``layers[i]`` in direction ``step``, when only
    positively homogeneous layers lie between; else None."""
    j = i + step
    while 0 <= j < len(layers) and isinstance(layers[j][1], _POSITIVELY_HOMOGENEOUS):
        j += step
    found = layers[j][1] if 0 <= j < len(layers) else None
    return found if isinstance(found, (Affine, Convolution)) else None


def _param_keys(net: Any) -> dict[tuple[int, str], str]:
    """(id(layer), "W") -> the net's name for that array ("W7")."""
    by_id = {id(arr): key for key, arr in net.params.items()}
    return {(id(layer), pkey): by_id[id(arr)] for layer in net.layers.values()
            for pkey, arr in getattr(layer, "params", {}).items() if id(arr) in by_id}
