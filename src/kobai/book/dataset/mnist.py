"""The book's ``dataset/mnist.py`` (§3.6.1): ``load_mnist`` with the book's signature and
return types, served by :func:`kobai.datasets.load_mnist` (no pickle cache, no book mirror).

Which data
----------
Read from two environment variables at every call (``kobai book run`` sets them):

``KOBAI_BOOK_DATASET``
    ``sample`` (default): the bundled 5,000 training / 10,000 test digits, offline.
    ``mnist``: the full 60,000 / 10,000 set, from ``KOBAI_BOOK_DATA_DIR`` or kobai's cache
    (downloaded and verified when missing, :func:`kobai.datasets.fetch_mnist`).
``KOBAI_BOOK_DATA_DIR``
    The folder of the full MNIST's four IDX files; only with ``KOBAI_BOOK_DATASET=mnist``.

:func:`data_source` returns what they select, checked.

The book's other names
----------------------
``key_file``, ``train_num``, ``test_num``, ``img_dim``, ``img_size`` are the book's constants
(the full set's sizes); ``init_mnist()`` and ``download_mnist()`` fetch the full MNIST with
kobai's verified downloader. ``save_file`` and ``url_base`` are absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ...datasets import fetch_mnist
from ...datasets import load_mnist as _load_mnist

__all__ = ["load_mnist", "data_source", "init_mnist", "download_mnist", "DATASET_ENV",
           "DATA_DIR_ENV", "DATASETS"]

#: environment variable choosing the data: one of :data:`DATASETS`
DATASET_ENV = "KOBAI_BOOK_DATASET"
#: environment variable naming the folder of the full MNIST's files
DATA_DIR_ENV = "KOBAI_BOOK_DATA_DIR"
#: what ``KOBAI_BOOK_DATASET`` may say
DATASETS = ("sample", "mnist")

key_file = {
    "train_img": "train-images-idx3-ubyte.gz",
    "train_label": "train-labels-idx1-ubyte.gz",
    "test_img": "t10k-images-idx3-ubyte.gz",
    "test_label": "t10k-labels-idx1-ubyte.gz",
}
train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784


def data_source() -> tuple[str, Path | None]:
    """``(dataset, data_dir)`` as ``KOBAI_BOOK_DATASET`` and ``KOBAI_BOOK_DATA_DIR`` select them
    (``("sample", None)`` when unset).

    Raises
    ------
    ValueError
        If the data set is not one of :data:`DATASETS`, or a data folder is given for the
        bundled sample.
    """
    source = os.environ.get(DATASET_ENV) or "sample"
    if source not in DATASETS:
        raise ValueError(f"{DATASET_ENV}={source!r}; expected one of {', '.join(DATASETS)} "
                         "(the data sets of kobai book run --dataset)")
    folder = os.environ.get(DATA_DIR_ENV) or None
    if folder is not None and source != "mnist":
        raise ValueError(f"{DATA_DIR_ENV}={folder!r} is a folder of the full MNIST's files, but "
                         f"{DATASET_ENV} is {source!r}; set {DATASET_ENV}=mnist to use it")
    return source, None if folder is None else Path(folder)


def _change_one_hot_label(X: np.ndarray) -> np.ndarray:
    """Labels 0..9 as one-hot rows, float64 (the book's helper)."""
    T = np.zeros((X.size, 10))
    T[np.arange(X.size), X] = 1
    return T


def load_mnist(normalize: bool = True, flatten: bool = True, one_hot_label: bool = False
               ) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Load MNIST as the book's ``load_mnist`` returns it (which data: see the module).

    Parameters
    ----------
    normalize : bool
        Pixels as float32 in [0, 1]; otherwise uint8 values 0..255.
    flatten : bool
        Images as rows of 784 pixels; otherwise as ``(N, 1, 28, 28)``.
    one_hot_label : bool
        Labels as one-hot rows of float64; otherwise uint8 digits 0..9.

    Returns
    -------
    (x_train, t_train), (x_test, t_test)
        x : ndarray of shape (N, 784) or (N, 1, 28, 28), float32 or uint8.
        t : ndarray of shape (N,) uint8, or (N, 10) float64.
    """
    source, data_dir = data_source()
    splits = _load_mnist(normalize=normalize, flatten=flatten, one_hot_label=False,
                         source=source, data_dir=data_dir, dtype=np.float32)
    out = []
    for x, t in splits:
        labels = t.astype(np.uint8)
        out.append((x, _change_one_hot_label(labels) if one_hot_label else labels))
    return out[0], out[1]


def download_mnist() -> None:
    """Make sure the full MNIST's four files are in its data folder (``KOBAI_BOOK_DATA_DIR``,
    else kobai's cache), downloading and verifying the missing ones with kobai's downloader."""
    folder = os.environ.get(DATA_DIR_ENV) or None
    fetch_mnist("mnist", folder)


def init_mnist() -> None:
    """The book's first-run setup: here only :func:`download_mnist` (there is no pickle)."""
    download_mnist()
