"""``load_mnist``: the book's MNIST loader (chapter 3.6.1, ``dataset/mnist.py``), without pickle.

``source="sample"`` reads the MNIST digits bundled with kobai: 5,000 of MNIST's training
images (500 per digit) for training and MNIST's whole test set, 10,000 images, for testing
(see ``tools/build_mnist_sample.py``), so accuracy on it is comparable with any published
MNIST result; ``"mnist"`` and
``"fashion-mnist"`` read the full 60,000 / 10,000 sets from their IDX files, downloading
them once into ``$KOBAI_HOME/datasets/<source>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from importlib import resources

import numpy as np
from numpy.typing import DTypeLike

from kobai.datasets.errors import DatasetError
from kobai.datasets.fetch import fetch_mnist
from kobai.datasets.idx import read_idx
from kobai.datasets.sources import SHA256, TEST_IMAGES, TEST_LABELS, TRAIN_IMAGES, TRAIN_LABELS

#: what ``load_mnist(source=...)`` and ``--dataset`` accept: the bundled sample and every data
#: set with checksums in ``kobai.datasets.sources.SHA256`` (the registry of downloadable sets)
SOURCES = ("sample", *SHA256)
SAMPLE = "data/mnist_sample.npz"
N_CLASSES = 10
IMAGE_SHAPE = (28, 28)

Split = tuple[np.ndarray, np.ndarray]


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False, *,
               source: str = "sample", data_dir: str | os.PathLike[str] | None = None,
               dtype: DTypeLike = np.float32, checksums: Mapping[str, str] | None = None,
               progress: bool = True) -> tuple[Split, Split]:
    """Load MNIST (or Fashion-MNIST) as ``(x_train, t_train), (x_test, t_test)``.

    Parameters
    ----------
    normalize : bool
        Scale pixels to [0, 1] as ``dtype``; otherwise keep uint8 values 0..255 (as the book).
    flatten : bool
        Images as rows of 784 pixels; otherwise as ``(N, 1, 28, 28)``.
    one_hot_label : bool
        Labels as one-hot rows of ``dtype``; otherwise as int64 digits 0..9.
    source : {"sample", "mnist", "fashion-mnist"}
        ``"sample"``: the bundled 5,000 training / 10,000 test digits. ``"mnist"``,
        ``"fashion-mnist"``: the full 60,000/10,000 sets (downloaded by
        :func:`~kobai.datasets.fetch.fetch_mnist`).
    data_dir : str or path-like, optional
        Folder of the four IDX files (as for ``fetch_mnist``); not used by ``"sample"``.
    dtype : floating dtype
        Type of normalized images and of one-hot labels.
    checksums, progress
        As for ``fetch_mnist``.

    Returns
    -------
    (x_train, t_train), (x_test, t_test)
        x : ndarray of shape (N, 784) or (N, 1, 28, 28), ``dtype`` or uint8.
        t : ndarray of shape (N,) int64, or (N, 10) ``dtype`` when one-hot.

    Raises
    ------
    DatasetError
        A data file is corrupt or inconsistent (:class:`DownloadError`: not downloadable).
    ValueError
        An unknown ``source`` or a non-floating ``dtype``.

    Example
    -------
    >>> (x, t), (x_test, t_test) = load_mnist(source="sample")
    >>> x.shape, t.shape, x_test.shape
    ((5000, 784), (5000,), (10000, 784))
    """
    dtype = np.dtype(dtype)
    train, test = _read(source, data_dir, checksums, progress, dtype, ("train", "test"))
    return (_convert(*train, normalize, flatten, one_hot_label, dtype),
            _convert(*test, normalize, flatten, one_hot_label, dtype))


def load_mnist_test(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False,
                    *, source: str = "sample", data_dir: str | os.PathLike[str] | None = None,
                    dtype: DTypeLike = np.float32, checksums: Mapping[str, str] | None = None,
                    progress: bool = True) -> Split:
    """Load only the test set, ``(x_test, t_test)``: what :func:`load_mnist` returns second,
    reading (and downloading) the two test files only, not the 60,000 training images.

    The parameters, returned arrays and errors are :func:`load_mnist`'s; ``checksums``
    needs entries for the two test files only.

    Example
    -------
    >>> x_test, t_test = load_mnist_test(source="sample")
    >>> x_test.shape, t_test.shape
    ((10000, 784), (10000,))
    """
    dtype = np.dtype(dtype)
    (test,) = _read(source, data_dir, checksums, progress, dtype, ("test",))
    return _convert(*test, normalize, flatten, one_hot_label, dtype)


#: the IDX files of each split
_SPLIT_FILES = {"train": (TRAIN_IMAGES, TRAIN_LABELS), "test": (TEST_IMAGES, TEST_LABELS)}


def _read(source: str, data_dir: str | os.PathLike[str] | None,
          checksums: Mapping[str, str] | None, progress: bool, dtype: np.dtype,
          splits: tuple[str, ...]) -> list[Split]:
    """The uint8 images and labels of ``splits`` ("train", "test") of ``source``, checked
    (and the arguments, as :func:`load_mnist` promises)."""
    if dtype.kind != "f":
        raise ValueError(f"dtype must be a floating type such as float32; got {dtype}")
    if source == "sample":
        if data_dir is not None:
            raise ValueError("data_dir is for the data sets read from files, source='mnist' or "
                             "'fashion-mnist'; source='sample' is bundled with kobai (on the "
                             "command line: --data-dir needs --dataset mnist or fashion-mnist)")
        if checksums is not None:
            raise ValueError("checksums is for source='mnist' or 'fashion-mnist'; "
                             "source='sample' is bundled with kobai")
        return [_read_sample(split) for split in splits]
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; expected one of {list(SOURCES)}")
    names = [name for split in splits for name in _SPLIT_FILES[split]]
    paths = fetch_mnist(source, data_dir, checksums=checksums, progress=progress, files=names)
    return [_read_split(*(paths[name] for name in _SPLIT_FILES[split])) for split in splits]


def _convert(x: np.ndarray, t: np.ndarray, normalize: bool, flatten: bool, one_hot: bool,
             dtype: np.dtype) -> Split:
    """uint8 images (N, 28, 28) and labels (N,) -> the layout ``load_mnist`` promises."""
    n = len(x)
    x = x.reshape(n, -1) if flatten else x.reshape(n, 1, *IMAGE_SHAPE)
    if normalize:
        x = x.astype(dtype)
        x /= 255
    t = t.astype(np.int64)
    if one_hot:
        hot = np.zeros((n, N_CLASSES), dtype=dtype)
        hot[np.arange(n), t] = 1
        t = hot
    return x, t


def _read_split(images_path: os.PathLike[str], labels_path: os.PathLike[str]) -> Split:
    """Read one split's IDX files and check they are MNIST-shaped and agree."""
    x, t = read_idx(images_path), read_idx(labels_path)
    _check_pair(x, t, str(images_path), str(labels_path))
    return x, t


def _read_sample(split: str) -> Split:
    """The bundled sample's ``split`` ("train" or "test"), checked."""
    ref = resources.files(__package__).joinpath(SAMPLE)
    name = f"kobai/datasets/{SAMPLE}"
    keys = (f"x_{split}", f"t_{split}")
    try:
        with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
            x, t = (npz[key] for key in keys)
    except (OSError, KeyError, ValueError) as exc:
        raise DatasetError(f"{name}: cannot read the bundled sample ({exc}); "
                           "reinstall kobai") from exc
    _check_pair(x, t, f"{name}:{keys[0]}", f"{name}:{keys[1]}")
    return x, t


def _check_pair(x: np.ndarray, t: np.ndarray, x_name: str, t_name: str) -> None:
    """Images uint8 (N, 28, 28), labels uint8 (N,) in 0..9, one label per image."""
    if x.dtype != np.uint8 or x.shape[1:] != IMAGE_SHAPE or x.ndim != 3:
        raise DatasetError(f"{x_name}: holds {x.dtype} of shape {x.shape}; "
                           "expected uint8 images of shape (N, 28, 28)")
    if t.dtype != np.uint8 or t.ndim != 1:
        raise DatasetError(f"{t_name}: holds {t.dtype} of shape {t.shape}; "
                           "expected uint8 labels of shape (N,)")
    if len(x) != len(t):
        raise DatasetError(f"{x_name} has {len(x)} images but {t_name} has {len(t)} labels "
                           "(expected one label per image)")
    bad = np.flatnonzero(t >= N_CLASSES)
    if bad.size:
        raise DatasetError(f"{t_name}: {bad.size} labels outside 0..9, the first {t[bad[0]]} "
                           f"at index {bad[0]}")
