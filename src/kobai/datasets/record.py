"""What a network was trained on, for its checkpoint: the data set, its preparation and a
fingerprint of the very arrays, so that a resumed run or an evaluation can tell when it is
given other data."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["describe", "fingerprint"]


def fingerprint(x: np.ndarray, t: np.ndarray) -> str:
    """SHA-256 (first 16 hex digits) of the samples as float32 and the labels as int64."""
    digest = hashlib.sha256()
    x32 = np.ascontiguousarray(np.asarray(x, dtype=np.float32).reshape(len(x), -1))
    digest.update(repr(x32.shape).encode())
    digest.update(x32.tobytes())
    digest.update(np.ascontiguousarray(np.asarray(t, dtype=np.int64)).tobytes())
    return digest.hexdigest()[:16]


def describe(source: str, x_train: np.ndarray, t_train: np.ndarray, *, normalize: bool = True,
             data_dir: Any = None) -> dict[str, Any]:
    """The JSON record of a training set: ``{"source", "normalize", "n_train",
    "fingerprint"[, "data_dir"]}`` (``kobai.io.save(..., data=...)``); ``data_dir`` is stored
    resolved, so it means the same from any working folder. ``kobai train`` adds the
    ``batch_size`` a resumed run continues with."""
    record: dict[str, Any] = {"source": source, "normalize": bool(normalize),
                              "n_train": int(len(x_train)),
                              "fingerprint": fingerprint(x_train, t_train)}
    if data_dir is not None:
        record["data_dir"] = str(Path(data_dir).resolve())
    return record
