"""Data sets for the book's examples: MNIST, bundled or downloaded, and Fashion-MNIST.

``load_mnist`` is the entry point (``load_mnist_test`` reads the test set alone);
``read_idx``/``write_idx`` handle the IDX files the full sets come in, and ``fetch_mnist``
finds them on disk (compressed or not, checked by the SHA-256 of their content) or downloads
them (see :mod:`kobai.datasets.sources` for the
mirrors, checksums and environment variables ``KOBAI_HOME``, ``KOBAI_MNIST_MIRRORS`` and
``KOBAI_FASHION_MNIST_MIRRORS``).
"""

from kobai.datasets.download import download, sha256_file
from kobai.datasets.errors import DatasetError, DownloadError
from kobai.datasets.fetch import fetch_mnist
from kobai.datasets.idx import parse_idx, read_idx, write_idx
from kobai.datasets.mnist import SOURCES, load_mnist, load_mnist_test
from kobai.datasets.record import describe, fingerprint
from kobai.datasets.sources import (
    CLASS_NAMES,
    DEFAULT_MIRRORS,
    IDX_SHA256,
    IDX_SIZES,
    MIRRORS_ENV,
    MNIST_FILES,
    SHA256,
    default_data_dir,
    kobai_home,
)

__all__ = [
    "CLASS_NAMES",
    "DEFAULT_MIRRORS",
    "IDX_SHA256",
    "IDX_SIZES",
    "MIRRORS_ENV",
    "MNIST_FILES",
    "SHA256",
    "SOURCES",
    "DatasetError",
    "DownloadError",
    "default_data_dir",
    "describe",
    "fingerprint",
    "download",
    "fetch_mnist",
    "kobai_home",
    "load_mnist",
    "load_mnist_test",
    "parse_idx",
    "read_idx",
    "sha256_file",
    "write_idx",
]
