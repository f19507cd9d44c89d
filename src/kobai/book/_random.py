"""The book's randomness as a ``np.random.Generator``: NumPy's global stream.

:func:`global_stream` is a Generator whose ``standard_normal(size)`` is
``np.random.randn(*size)`` and whose ``random(size)`` is ``np.random.rand(*size)`` (the two
methods kobai's layers and networks call), so kobai's classes given it as ``rng`` draw the
book's numbers in the book's order. Its other methods follow ``np.random.seed`` too, but are
the Generator's own algorithms, not the legacy functions'.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["global_stream"]


def _global_bit_generator() -> np.random.BitGenerator:
    """The bit generator of NumPy's global ``RandomState`` (what ``np.random.seed`` seeds)."""
    get = getattr(np.random, "get_bit_generator", None)  # NumPy >= 1.25
    if get is not None:
        return get()  # type: ignore[no-any-return]
    return np.random.mtrand._rand._bit_generator  # type: ignore[attr-defined,no-any-return]


def _size(size: Any) -> tuple[int, ...] | None:
    if size is None:
        return None
    return tuple(size) if np.iterable(size) else (int(size),)


class _GlobalStream(np.random.Generator):
    """A Generator drawing like ``np.random.randn``/``np.random.rand`` (see the module)."""

    def __init__(self) -> None:
        super().__init__(_global_bit_generator())

    def standard_normal(self, size: Any = None, dtype: Any = np.float64,  # type: ignore[override]
                        out: np.ndarray | None = None) -> Any:
        return self._draw(np.random.standard_normal, size, dtype, out)  # randn(*size)

    def random(self, size: Any = None, dtype: Any = np.float64,  # type: ignore[override]
               out: np.ndarray | None = None) -> Any:
        return self._draw(np.random.random_sample, size, dtype, out)  # rand(*size)

    @staticmethod
    def _draw(legacy: Any, size: Any, dtype: Any, out: np.ndarray | None) -> Any:
        shape = out.shape if out is not None else _size(size)
        values = legacy(shape)  # the legacy functions draw float64 only
        if out is not None:
            out[...] = values
            return out
        if shape is None:
            return values if np.dtype(dtype) == np.float64 else np.dtype(dtype).type(values)
        return values.astype(dtype, copy=False)

    # A handle on the global state, not a state of its own: copies are the same handle (a
    # plain Generator's copy would carry a snapshot of the stream and the wrong algorithms).
    def __deepcopy__(self, memo: dict[int, Any]) -> _GlobalStream:
        return self

    def __copy__(self) -> _GlobalStream:
        return self

    def __reduce__(self) -> Any:  # type: ignore[override]
        return (_GlobalStream, ())

    def __repr__(self) -> str:
        return "GlobalStream(np.random)"


def global_stream() -> np.random.Generator:
    """A ``np.random.Generator`` that draws from NumPy's global stream as the book does:
    ``standard_normal(size)`` is ``np.random.randn(*size)`` and ``random(size)`` is
    ``np.random.rand(*size)`` (see the module docstring)."""
    return _GlobalStream()
