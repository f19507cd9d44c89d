"""Checkpoints: a network, its optimizer state and training history in one ``.npz`` file.

A checkpoint is a plain NumPy ``.npz`` archive, read with ``allow_pickle=False`` (unlike the
book's pickles, loading runs no code):

* ``param/<name>`` — each array of ``net.state_dict()`` (parameters and batch-norm running
  statistics);
* ``optimizer/<slot>/<param>`` — each slot array of ``optimizer.state_dict()``, e.g.
  ``optimizer/m/W1`` for Adam;
* ``meta`` — UTF-8 JSON as a 1-D uint8 array: format and kobai versions, the network's class
  and constructor arguments (``net.get_config()``), its dtype, the optimizer's name,
  hyperparameters, step and slot names, and the training history.

Files are written atomically. Classes are looked up in :data:`NET_CLASSES` and
``kobai.layers.LAYERS``, never imported by a name read from the file.

:func:`load` also reads a safetensors file of ``kobai.export.to_safetensors`` (the arrays of
``net.state_dict()`` under their own names, the same ``meta`` JSON in ``__metadata__["kobai"]``,
no optimizer or history), through the same checks: :mod:`kobai._checkpoint_readers` gives both
formats one reader interface.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from ._checkpoint_readers import META as _META
from ._checkpoint_readers import CheckpointReader, NpzCheckpoint, SafetensorsCheckpoint
from ._files import atomic_write
from ._validate import positive_int, resolve_dtype
from .arrays_file.safetensors import is_safetensors
from .history import History
from .nets import NETWORKS, Network
from .npz import ZIP_MAGIC
from .optimizers import get_optimizer

__all__ = ["NET_CLASSES", "FORMAT", "FORMAT_VERSION", "Checkpoint", "CheckpointError",
           "SaveCheckpoint", "atomic_write", "load", "load_net", "meta_json", "network_meta",
           "save"]

FORMAT = "kobai.checkpoint"
FORMAT_VERSION = 1
#: the network classes a checkpoint may name: ``kobai.nets.NETWORKS`` (the same dict)
NET_CLASSES: dict[str, type[Network]] = NETWORKS

_NPY_MAGIC = b"\x93NUMPY"


class CheckpointError(ValueError):
    """A file cannot be loaded as a kobai checkpoint; the message names the file and why."""


@dataclass
class Checkpoint:
    """What :func:`load` returns.

    Attributes
    ----------
    net : Network
        Rebuilt from the saved constructor arguments (or layer descriptions), with the saved
        parameters and layer state.
    optimizer : kobai.optimizers.Optimizer or None
        Rebuilt with ``get_optimizer(name, **hyper)`` and ``load_state_dict``, so training can
        resume where it stopped; None when none was saved.
    history : kobai.history.History or None
        The saved training history (checked when loading), e.g. to continue with
        ``Trainer(..., history=checkpoint.history)``; None when none was saved.
    meta : dict
        The whole JSON metadata (``kobai_version``, ``class``, ``config``, ``dtype``, ...).
    """

    net: Network
    optimizer: Any
    history: History | None
    meta: dict

    @property
    def data(self) -> dict | None:
        """What the network was trained on (``save(..., data=...)``), or None if not recorded."""
        data = self.meta.get("data")
        return data if isinstance(data, dict) else None


# -- save -------------------------------------------------------------------------------------
def save(net: Network, path: str | os.PathLike[str], *, optimizer: Any = None,
         history: Any = None, data: dict[str, Any] | None = None) -> Path:
    """Save ``net`` (and optionally its optimizer and history) to ``path``, atomically.

    Parameters
    ----------
    net : Network
        A network of :data:`NET_CLASSES` (or a ``Network`` of registered layers).
    path : str or path-like
        Written exactly as given (no ``.npz`` appended), e.g. ``model.npz``.
    optimizer : kobai.optimizers.Optimizer, optional
        Its ``state_dict()`` is saved, so training can resume bit for bit.
    history : kobai.trainer.History or dict, optional
        Saved as JSON (``History.to_dict()`` when given a History; a dict must be one, as
        :func:`load` gives it back as a History).
    data : dict, optional
        What the network was trained on, as JSON (``kobai.datasets.describe(...)``), for
        ``kobai evaluate`` and ``kobai train --resume``.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    TypeError
        ``net`` is not one of :data:`NET_CLASSES`, or the history is not JSON-able or not
        a history.
    ValueError
        The optimizer state does not fit the network.
    """
    meta = network_meta(net)
    meta.update(optimizer=None, history=None)
    arrays = {f"param/{key}": arr for key, arr in net.state_dict().items()}
    if optimizer is not None:
        opt_meta, opt_arrays = _optimizer_entries(optimizer, net)
        meta["optimizer"] = opt_meta
        arrays.update(opt_arrays)
    if history is not None:
        meta["history"] = history.to_dict() if hasattr(history, "to_dict") else history
    if data is not None:
        meta["data"] = dict(data)
    arrays[_META] = np.frombuffer(meta_json(meta).encode("utf-8"), dtype=np.uint8)
    if history is not None and not isinstance(history, History):
        try:  # refuse now what load() could not give back
            History.from_dict(history)
        except ValueError as exc:
            raise TypeError(f"history must be a kobai History or its to_dict(): {exc}") \
                from None
    path = Path(path)
    with atomic_write(path) as fh:
        # numpy's stubs type savez(**kwds) alongside allow_pickle: bool, so mypy matches the
        # dict's values against bool too; the keys are "meta", "param/..." and "optimizer/...".
        np.savez(fh, **arrays)  # type: ignore[arg-type]
    return path


def network_meta(net: Network) -> dict[str, Any]:
    """The metadata of a checkpoint that describes ``net``: ``format``, ``format_version``,
    ``kobai_version``, ``class``, ``config`` (``net.get_config()``) and ``dtype``.

    Raises
    ------
    TypeError
        ``net`` is not one of :data:`NET_CLASSES`, or has a layer that is not registered.
    """
    name = type(net).__name__
    if NET_CLASSES.get(name) is not type(net):
        raise TypeError(f"kobai.io.save can save {', '.join(NET_CLASSES)} networks, got "
                        f"{type(net).__module__}.{type(net).__qualname__}")
    config = net.get_config()  # refuses unregistered layers
    return {"format": FORMAT, "format_version": FORMAT_VERSION, "kobai_version": __version__,
            "class": name, "config": config, "dtype": net.dtype.name}


def meta_json(meta: dict[str, Any]) -> str:
    """``meta`` as the JSON text a checkpoint holds; TypeError for what JSON cannot hold."""
    try:
        return json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"cannot save the checkpoint metadata as JSON ({exc}); the history "
                        "and data must hold only str, int, finite float, list and dict "
                        "values") from None


def _optimizer_entries(optimizer: Any, net: Network) -> tuple[dict, dict]:
    if not callable(getattr(optimizer, "state_dict", None)):
        raise TypeError(f"optimizer must be a kobai optimizer (with state_dict()), got "
                        f"{type(optimizer).__name__}")
    sd = optimizer.state_dict()
    get_optimizer(sd["name"], **sd["hyper"])  # refuse now what load() could not rebuild
    arrays, slots = {}, {}
    for slot, per_param in sd["slots"].items():
        slots[slot] = list(per_param)
        for key, arr in per_param.items():
            param = net.params.get(key)
            if param is None or arr.shape != param.shape or arr.dtype != param.dtype:
                what = "no such parameter" if param is None else \
                    f"the parameter is {param.dtype} of shape {param.shape}"
                raise ValueError(f"optimizer slot {slot!r} for {key!r} is {arr.dtype} of shape "
                                 f"{arr.shape} but {what} in this {type(net).__name__}; was the "
                                 "optimizer used with another network?")
            arrays[f"optimizer/{slot}/{key}"] = arr
    meta = {"name": sd["name"], "hyper": sd["hyper"], "step": sd["step"], "slots": slots}
    return meta, arrays


# -- load -------------------------------------------------------------------------------------
def load(path: str | os.PathLike[str]) -> Checkpoint:
    """Load a checkpoint written by :func:`save`, or a safetensors file written by
    ``kobai.export.to_safetensors`` (then ``optimizer`` and ``history`` are None).

    Everything is checked before it is used: the file is an ``.npz`` archive without pickled
    data (or safetensors whose header fits the file), the format version is one this kobai
    reads, the class is in :data:`NET_CLASSES`, the constructor arguments build a network,
    and every array has the name, shape and dtype that network (and the optimizer) needs.

    Returns
    -------
    Checkpoint

    Raises
    ------
    CheckpointError
        For any reason the file cannot be loaded (missing, unreadable, neither format,
        truncated or corrupted, tampered with, from a newer format, another architecture);
        the message names the file and what is wrong.
    """
    where = os.fspath(path)
    try:
        with open(where, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise CheckpointError(f"{where}: cannot read the checkpoint: "
                              f"{exc.strerror or exc}") from None
    if head.startswith(_NPY_MAGIC):
        raise CheckpointError(f"{where}: is a single .npy array, not a kobai checkpoint (.npz "
                              "written by kobai.io.save)")

    def error(message: str) -> CheckpointError:
        return CheckpointError(f"{where}: {message}")

    try:
        if head.startswith(ZIP_MAGIC):
            with np.load(where, allow_pickle=False) as npz:
                return _load(NpzCheckpoint(npz, error))
        if is_safetensors(head):
            with open(where, "rb") as fh:
                return _load(SafetensorsCheckpoint(fh, error))
    except CheckpointError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
        raise CheckpointError(f"{where}: is truncated or corrupted ({exc})") from None
    raise CheckpointError(f"{where}: is not a kobai checkpoint (expected an .npz archive "
                          "written by kobai.io.save or a safetensors file written by "
                          f"kobai.export.to_safetensors; the file starts with {head[:8]!r})")


def load_net(path: str | os.PathLike[str]) -> Network:
    """Load only the network of a checkpoint: ``load(path).net``."""
    return load(path).net


def _load(rd: CheckpointReader) -> Checkpoint:
    """The checkpoint ``rd`` reads, every array checked before it is read."""
    rd.check_members()
    names = rd.names
    meta = _read_meta(rd)
    _check_sizes(rd, meta)
    opt_meta = meta.get("optimizer")
    if opt_meta is not None and not (
            isinstance(opt_meta, dict) and isinstance(opt_meta.get("slots"), dict)
            and all(isinstance(v, list) for v in opt_meta["slots"].values())):
        raise rd.error("metadata 'optimizer' must be null or a dict with 'name', 'hyper', "
                       "'step' and 'slots' (slot name -> list of parameter names)")
    cls, config = _net_class(rd, meta)
    shapes, dtype = _config_shapes(rd, cls, config)
    expected = _expected_names(shapes, opt_meta)
    if expected == names:
        _check_arrays(rd, shapes, dtype, opt_meta)
    elif _nbytes(shapes, dtype) > _param_bytes(rd):
        raise _mismatch(rd, meta, expected, names)
    # else the network is built (taking no more than the file's arrays) for its own refusal
    net = _build_net(rd, cls, config)
    own = net.state_dict()
    if {key: arr.shape for key, arr in own.items()} != shapes:
        raise rd.error(f"its {cls.__name__} has other arrays than {cls.__name__}.state_shapes "
                       "says, so the file cannot be checked before it is built; fix "
                       "state_shapes")
    if expected != names:
        raise _mismatch(rd, meta, expected, names)
    state = {key: rd.read(f"param/{key}", arr.shape, arr.dtype) for key, arr in own.items()}
    try:
        net.load_state_dict(state)
    except ValueError as exc:
        raise rd.error(f"its parameters cannot be loaded: {exc}") from None
    optimizer = None if opt_meta is None else _build_optimizer(rd, opt_meta, net)
    history = meta.get("history")
    if history is not None and not isinstance(history, dict):
        raise rd.error(f"metadata 'history' must be a dict or null, got "
                       f"{type(history).__name__}")
    try:
        restored = None if history is None else History.from_dict(history)
    except ValueError as exc:
        raise rd.error(f"its training history is invalid: {exc}") from None
    return Checkpoint(net=net, optimizer=optimizer, history=restored, meta=meta)


def _mismatch(rd: CheckpointReader, meta: dict, expected: set[str], names: set[str]) -> Exception:
    missing, extra = sorted(expected - names), sorted(names - expected)
    return rd.error(f"its arrays do not match the {meta['class']} described in the "
                    f"metadata: missing {missing or 'nothing'}, unexpected "
                    f"{extra or 'nothing'}")


def _read_meta(rd: CheckpointReader) -> dict:
    text = rd.meta_text()
    try:
        meta = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise rd.error(f"its metadata is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise rd.error(f"its metadata does not identify a kobai checkpoint (expected "
                       f"format {FORMAT!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise rd.error(f"its format_version is {version!r}; expected an integer >= 1")
    if version > FORMAT_VERSION:
        raise rd.error(f"was written in checkpoint format {version} (by kobai "
                       f"{meta.get('kobai_version', '?')}); this kobai {__version__} reads "
                       f"format {FORMAT_VERSION} at most, so upgrade kobai")
    return meta


def _check_sizes(rd: CheckpointReader, meta: dict) -> None:
    """Refuse constructor arguments that hold a number larger than every dimension of the
    file's ``param/`` arrays, or more numbers than such arrays can need (four per array, plus
    eight): a first, cheap look, which also bounds the work of ``state_shapes``. The exact
    comparison of every array's shape and dtype (:func:`_check_arrays`) follows, still
    before anything is built.
    """
    config = meta.get("config")
    shapes = [shape for key, (shape, _) in rd.headers.items() if key.startswith("param/")]
    largest = max((n for shape in shapes for n in shape), default=0)
    numbers = _whole_numbers(config)
    too_big = [n for n in numbers if n > largest]
    if too_big:
        raise rd.error(f"its metadata describes a {meta.get('class')} with a size of "
                       f"{max(too_big)}, but no array in the file has a dimension larger than "
                       f"{largest}; the metadata does not match the arrays")
    if len(numbers) > 4 * len(shapes) + 8:
        raise rd.error(f"its metadata gives {len(numbers)} sizes for a {meta.get('class')}, "
                       f"too many for the {len(shapes)} parameter arrays in the file")


def _whole_numbers(value: Any) -> list[int]:
    """Every int (not bool) in a JSON value."""
    found, todo = [], [value]
    while todo:
        item = todo.pop()
        if isinstance(item, int) and not isinstance(item, bool):
            found.append(item)
        elif isinstance(item, dict):
            todo.extend(item.values())
        elif isinstance(item, list):
            todo.extend(item)
    return found


def _net_class(rd: CheckpointReader, meta: dict) -> tuple[type[Network], dict]:
    """The network class and constructor arguments of the metadata, checked."""
    name = meta.get("class")
    cls = NET_CLASSES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise rd.error(f"its network class is {name!r}; kobai loads only "
                       f"{', '.join(NET_CLASSES)}")
    config = meta.get("config")
    if not isinstance(config, dict):
        raise rd.error(f"its metadata 'config' must be a dict of {name} constructor "
                       f"arguments, got {type(config).__name__}")
    if "dtype" in config and config.get("dtype") != meta.get("dtype"):
        raise rd.error(f"its metadata says dtype {meta.get('dtype')!r} but the constructor "
                       f"arguments say {config.get('dtype')!r}")
    return cls, config


def _build_net(rd: CheckpointReader, cls: type[Network], config: dict) -> Network:
    try:
        return cls.from_config(config)
    except _CONFIG_ERRORS as exc:
        raise rd.error(f"its constructor arguments do not build a {cls.__name__}: "
                       f"{exc}") from None
    except MemoryError:
        raise rd.error(f"its constructor arguments describe a {cls.__name__} too large to "
                       f"build: {config}") from None


# -- the exact check of the arrays, before the network is built -------------------------------
#: what a network's constructor (or ``state_shapes``) raises for arguments it refuses
_CONFIG_ERRORS = (TypeError, ValueError, OverflowError, KeyError, AttributeError)


def _config_shapes(rd: CheckpointReader, cls: type[Network], config: dict
                   ) -> tuple[dict[str, tuple[int, ...]], np.dtype]:
    """The shapes of the state_dict of ``cls.from_config(config)`` and its dtype, from
    ``cls.state_shapes(config)``: nothing is built."""
    try:
        dtype = resolve_dtype(config.get("dtype", "float64"))
        return dict(cls.state_shapes(config)), dtype
    except _CONFIG_ERRORS as exc:
        raise rd.error(f"its constructor arguments do not build a {cls.__name__}: "
                       f"{exc}") from None


def _expected_names(shapes: dict[str, tuple[int, ...]], opt_meta: Any) -> set[str]:
    """The array names of a checkpoint of a network of these state shapes (not its meta)."""
    expected = {f"param/{key}" for key in shapes}
    if opt_meta is not None:
        expected |= {f"optimizer/{slot}/{key}"
                     for slot, keys in opt_meta["slots"].items() for key in keys}
    return expected


def _check_arrays(rd: CheckpointReader, shapes: dict[str, tuple[int, ...]], dtype: np.dtype,
                  opt_meta: Any) -> None:
    """Every array the network will read, compared with its member's size and ``.npy``
    header as :meth:`_Reader.read` compares them, before anything of those sizes exists."""
    members = [(f"param/{key}", shape) for key, shape in shapes.items()]
    if opt_meta is not None:
        members += [(f"optimizer/{slot}/{key}", shapes[key])
                    for slot, keys in opt_meta["slots"].items() for key in keys
                    if key in shapes]
    for member, shape in members:
        rd.check(member, shape, dtype)


def _nbytes(shapes: dict[str, tuple[int, ...]], dtype: np.dtype) -> int:
    return sum(math.prod(shape) for shape in shapes.values()) * dtype.itemsize


def _param_bytes(rd: CheckpointReader) -> int:
    """The bytes of the file's ``param/`` arrays, from their headers."""
    return sum(math.prod(shape) * dtype.itemsize for key, (shape, dtype) in rd.headers.items()
               if key.startswith("param/"))


def _build_optimizer(rd: CheckpointReader, opt_meta: dict, net: Network) -> Any:
    hyper = opt_meta.get("hyper")
    name: Any = opt_meta.get("name")  # from the JSON metadata; get_optimizer checks it
    try:
        optimizer = get_optimizer(name, **(hyper if isinstance(hyper, dict) else {}))
    except (TypeError, ValueError) as exc:
        raise rd.error(f"its optimizer cannot be rebuilt: {exc}") from None
    slots: dict[str, dict[str, np.ndarray]] = {}
    for slot, keys in opt_meta["slots"].items():
        slots[slot] = {}
        for key in keys:
            param = net.params.get(key)
            if param is None:
                raise rd.error(f"optimizer slot {slot!r} is for parameter {key!r}, which this "
                               f"{type(net).__name__} does not have")
            slots[slot][key] = rd.read(f"optimizer/{slot}/{key}", param.shape, param.dtype)
    state = {"name": opt_meta.get("name"), "hyper": hyper, "step": opt_meta.get("step"),
             "slots": slots}
    try:
        optimizer.load_state_dict(state)
    except (TypeError, ValueError) as exc:
        raise rd.error(f"its optimizer state is invalid: {exc}") from None
    return optimizer


# -- training callback ------------------------------------------------------------------------
class SaveCheckpoint:
    """Trainer callback: save the network, optimizer and history after every epoch.

    Each save is atomic, so if training diverges (or the process is killed) the file holds
    the last completed epoch.

    Parameters
    ----------
    path : str or path-like
    every : int
        Save after epochs ``every, 2·every, ...`` (and never in between).
    data : dict, optional
        Recorded in every checkpoint (see :func:`save`).

    Examples
    --------
    >>> trainer = Trainer(net, ..., callbacks=[SaveCheckpoint("run/model.npz")])  # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike[str], every: int = 1,
                 data: dict[str, Any] | None = None):
        self.path, self.every = Path(path), positive_int(every, "every")
        self.data = data

    def on_epoch_end(self, trainer: Any, record: Any) -> None:
        if record.epoch % self.every == 0:
            save(trainer.network, self.path, optimizer=trainer.optimizer,
                 history=trainer.history, data=self.data)

    def __repr__(self) -> str:
        return f"SaveCheckpoint({str(self.path)!r}, every={self.every})"

