"""The errors of :mod:`kobai.arrays_file`: a file that is not one of arrays, and a pickle that
asks for more than a dict of NumPy arrays."""

from __future__ import annotations

__all__ = ["EXPECTED", "ArraysFileError", "UnsafePickleError"]

#: what a file of arrays is, for the end of every message
EXPECTED = ("a NumPy .npz written by kobai's save_params, a safetensors file, or the book's "
            "pickle of a dict of arrays")


class ArraysFileError(ValueError):
    """A file is not a readable file of arrays: unknown format, truncated or corrupted."""


class UnsafePickleError(ValueError):
    """A pickle asks for something other than a dict of NumPy arrays; it was not run."""
