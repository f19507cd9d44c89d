"""The two readers :func:`kobai.io.load` reads a checkpoint through, with one interface.

A checkpoint is an ``.npz`` written by ``kobai.io.save`` (arrays ``param/<name>``,
``optimizer/<slot>/<param>`` and the JSON ``meta`` member) or a safetensors file written by
``kobai.export.to_safetensors`` (tensors ``<name>`` of ``net.state_dict()``, the same JSON in
``__metadata__["kobai"]``). :class:`NpzCheckpoint` and :class:`SafetensorsCheckpoint` give both
the same view, :class:`CheckpointReader`, so that every check of ``kobai.io`` is written once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import BinaryIO, Protocol

import numpy as np

from .arrays_file.safetensors import SafetensorsReader
from .npz import NpzReader

__all__ = ["META", "META_KEY", "CheckpointReader", "NpzCheckpoint", "SafetensorsCheckpoint"]

#: the ``.npz`` member holding the JSON metadata
META = "meta"
#: the ``__metadata__`` key of a safetensors file holding the same JSON
META_KEY = "kobai"
_PARAM = "param/"
_MAX_META_BYTES = 256 * 2**20


class CheckpointReader(Protocol):
    """What ``kobai.io`` reads a checkpoint through (the interface of
    :class:`kobai.npz.NpzReader`, names in the ``.npz``'s terms: ``param/W1``, ...)."""

    error: Callable[[str], Exception]
    #: every array's shape and dtype, by name (after :meth:`check_members`)
    headers: dict[str, tuple[tuple[int, ...], np.dtype]]

    @property
    def names(self) -> set[str]:
        """The names of the arrays (``param/...``, ``optimizer/...``), not the metadata."""

    def check_members(self) -> None:
        """Check every array's header against the file, reading no data."""

    def meta_text(self) -> str:
        """The JSON metadata, as text."""

    def size(self, key: str) -> int:
        """The bytes array ``key`` takes in the file."""

    def check(self, key: str, shape: tuple[int, ...] | None = None,
              dtype: np.dtype | None = None) -> None:
        """Refuse array ``key`` unless it has ``shape`` and ``dtype``, reading no data."""

    def read(self, key: str, shape: tuple[int, ...] | None = None,
             dtype: np.dtype | None = None) -> np.ndarray:
        """Array ``key``, refused unless it has ``shape`` and ``dtype``."""


class NpzCheckpoint(NpzReader):
    """A checkpoint ``.npz`` (``np.load(path, allow_pickle=False)``), read by
    :class:`kobai.npz.NpzReader`."""

    @property
    def names(self) -> set[str]:
        return set(self.npz.files) - {META}

    def check_members(self, max_bytes: int | None = None) -> None:
        if META not in self.npz.files:
            raise self.error(f"has no {META!r} entry; it is an .npz archive but not a kobai "
                             "checkpoint (written by kobai.io.save)")
        super().check_members(max_bytes)

    def meta_text(self) -> str:
        if self.size(META) > _MAX_META_BYTES:
            raise self.error(f"its metadata takes {self.size(META)} bytes; a kobai "
                             "checkpoint's is far smaller")
        raw = self.read(META)
        if raw.dtype == np.uint8 and raw.ndim == 1:
            try:
                return raw.tobytes().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise self.error(f"its metadata is not valid UTF-8 JSON ({exc})") from None
        if raw.dtype.kind == "U" and raw.ndim == 0:
            return str(raw[()])
        raise self.error(f"its {META!r} entry is {raw.dtype} of shape {raw.shape}; expected "
                         "UTF-8 JSON as a 1-D uint8 array")


class SafetensorsCheckpoint:
    """A safetensors file of ``kobai.export.to_safetensors``, read by
    :class:`kobai.arrays_file.safetensors.SafetensorsReader`; its tensor ``W1`` is the
    checkpoint's ``param/W1``."""

    def __init__(self, file: BinaryIO, error: Callable[[str], Exception]):
        self.reader = SafetensorsReader(file, error)
        self.error = error
        self.headers: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    @property
    def names(self) -> set[str]:
        return set(self.headers)

    def check_members(self) -> None:
        self.reader.check_members()
        self.headers = {_PARAM + key: header for key, header in self.reader.headers.items()}

    def meta_text(self) -> str:
        text = self.reader.metadata.get(META_KEY)
        if text is None:
            raise self.error(f"is a safetensors file without kobai's metadata ({META_KEY!r} "
                             "in its __metadata__); kobai.io.load reads those of "
                             "kobai.export.to_safetensors, and net.load_params(path) copies "
                             "the tensors of any into a network you have")
        return text

    def _tensor(self, key: str) -> str:
        return key.removeprefix(_PARAM)

    def size(self, key: str) -> int:
        return self.reader.size(self._tensor(key))

    def check(self, key: str, shape: tuple[int, ...] | None = None,
              dtype: np.dtype | None = None) -> None:
        self.reader.check(self._tensor(key), shape, dtype)

    def read(self, key: str, shape: tuple[int, ...] | None = None,
             dtype: np.dtype | None = None) -> np.ndarray:
        return self.reader.read(self._tensor(key), shape, dtype)
