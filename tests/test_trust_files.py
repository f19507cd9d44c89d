"""Real MNIST files that are genuine but not the published bytes are accepted.

The oracle is the full MNIST in ``../shared/mnist`` (beside the repository): the four files
re-compressed with ``gzip -n``, so their ``.gz`` bytes differ from the published ones while
their content is MNIST's. Skipped where that folder is absent, as in a user's clone (failed
with CI=true).
"""

import gzip
import shutil

import numpy as np
import pytest
from conftest import MNIST, needs_shared

from kobai.datasets import MNIST_FILES, fetch_mnist, load_mnist, sha256_file
from kobai.datasets.sources import SHA256

pytestmark = needs_shared(*(MNIST / name for name in MNIST_FILES))

# from ../shared/mnist/README.md
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """Never download: a file that is refused fails the test instead."""
    monkeypatch.setenv("KOBAI_HOME", str(tmp_path / "kobai-home"))
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", "")


def test_genuine_mnist_compressed_by_another_gzip_is_accepted():
    assert all(sha256_file(MNIST / name) != SHA256["mnist"][name] for name in MNIST_FILES)
    (x, t), (x_test, t_test) = load_mnist(source="mnist", data_dir=MNIST, normalize=False)
    assert x.shape == (60000, 784) and x_test.shape == (10000, 784)
    np.testing.assert_array_equal(np.bincount(t, minlength=10), TRAIN_COUNTS)
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10), TEST_COUNTS)


def test_genuine_mnist_uncompressed_is_accepted_under_the_standard_and_variant_names(tmp_path):
    local = {"train-images-idx3-ubyte.gz": "train-images.idx3-ubyte",
             "train-labels-idx1-ubyte.gz": "train-labels.idx1-ubyte",
             "t10k-images-idx3-ubyte.gz": "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte.gz": "t10k-labels-idx1-ubyte"}
    for name, plain in local.items():
        with gzip.open(MNIST / name) as src, open(tmp_path / plain, "wb") as dst:
            shutil.copyfileobj(src, dst)
    paths = fetch_mnist("mnist", tmp_path)
    assert {name: path.name for name, path in paths.items()} == local
    _, (x_test, t_test) = load_mnist(source="mnist", data_dir=tmp_path, normalize=False)
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10), TEST_COUNTS)
    with gzip.open(MNIST / "t10k-images-idx3-ubyte.gz") as fh:
        np.testing.assert_array_equal(x_test.ravel(), np.frombuffer(fh.read()[16:], np.uint8))
