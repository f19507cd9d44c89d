"""kobai.datasets: the bundled MNIST sample, the IDX reader/writer and the mirror downloads.

Download tests talk only to an http.server on 127.0.0.1 serving small IDX files made here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from kobai.datasets import (
    IDX_SHA256,
    IDX_SIZES,
    MNIST_FILES,
    SHA256,
    DatasetError,
    DownloadError,
    default_data_dir,
    download,
    fetch_mnist,
    kobai_home,
    load_mnist,
    parse_idx,
    read_idx,
    write_idx,
)
from kobai.datasets.sources import mirrors_for

N_TRAIN, N_TEST = 20, 10


@pytest.fixture(autouse=True)
def datasets_isolated_env(monkeypatch, tmp_path):
    """No test reads ~/.cache, reaches a real mirror or goes through a proxy."""
    monkeypatch.setenv("KOBAI_HOME", str(tmp_path / "kobai-home"))
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", "")
    monkeypatch.setenv("KOBAI_FASHION_MNIST_MIRRORS", "")
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
                "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


@pytest.fixture
def data_dir(tmp_path):
    """An empty folder of its own, apart from the KOBAI_HOME that tests share tmp_path with."""
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def tiny_mnist():
    """Four small MNIST-format .gz files: name -> bytes, plus the arrays they hold."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": (np.arange(N_TRAIN) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": (np.arange(N_TEST)[::-1] % 10).astype(np.uint8),
    }
    return {name: _idx_gz_bytes(a) for name, a in arrays.items()}, arrays


@pytest.fixture
def tiny_mnist_checksums(monkeypatch, tiny_mnist):
    """Make the tiny files the 'published' MNIST and Fashion-MNIST files."""
    files, _ = tiny_mnist
    sums = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    monkeypatch.setitem(SHA256, "mnist", sums)
    monkeypatch.setitem(SHA256, "fashion-mnist", sums)
    return sums


@pytest.fixture
def tiny_mnist_contents(monkeypatch, tiny_mnist):
    """Make the tiny files' decompressed contents the 'genuine' MNIST contents (SHA-256 and
    size), as sources.IDX_SHA256 and IDX_SIZES record them for the real files."""
    files, _ = tiny_mnist
    contents = {name: gzip.decompress(data) for name, data in files.items()}
    monkeypatch.setitem(IDX_SHA256, "mnist", {name: hashlib.sha256(data).hexdigest()
                                              for name, data in contents.items()})
    monkeypatch.setitem(IDX_SIZES, "mnist", {name: len(data) for name, data in contents.items()})
    return contents


def _recompressed(gz: bytes) -> bytes:
    """The same content gzip'd another way: other bytes, so another SHA-256 of the file."""
    return gzip.compress(gzip.decompress(gz), compresslevel=1, mtime=1234567890)


@pytest.fixture
def idx_http_server(tiny_mnist):
    """A mirror on 127.0.0.1 whose first path part picks its behaviour.

    /good/NAME serves the file, /404/ and /500/ answer that status, /bad/ serves wrong
    bytes, /short/ sends half the file under the full Content-Length, /slow/ waits,
    /recompressed/ serves the same content gzip'd another way, /trickle/ sends a byte of the
    body every 0.2 s and /trickle-headers/ a byte of the headers, /huge/ streams zeros
    without a Content-Length (up to 32 MB) and /announced-huge/ announces 2 GB.
    Yields (base URL, list of requested paths). Every wait ends within 20 s, and at once
    when the test is over.
    """
    files, _ = tiny_mnist
    requests: list[str] = []
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            requests.append(self.path)
            _, mode, name = self.path.split("/", 2)
            if mode in ("404", "500") or name not in files:
                self.send_error(int(mode) if mode in ("404", "500") else 404)
                return
            body = files[name]
            if mode == "bad":
                body = b"<html>not the file</html>"
            if mode == "recompressed":
                body = _recompressed(body)
            if mode == "slow":
                release.wait(5)
            if mode == "trickle-headers":
                self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Slow: ")
                for _ in range(100):
                    if release.wait(0.2):
                        return
                    self.wfile.write(b"z")
                return
            if mode in ("huge", "announced-huge"):
                self.send_response(200)
                if mode == "announced-huge":
                    self.send_header("Content-Length", str(2 * 10**9))
                self.end_headers()
                for _ in range(512 if mode == "huge" else 1):
                    self.wfile.write(bytes(1 << 16))
                release.wait(5 if mode == "announced-huge" else 0)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "trickle":
                for byte in body[:100]:
                    if release.wait(0.2):
                        return
                    self.wfile.write(bytes([byte]))
                return
            self.wfile.write(body[: len(body) // 2] if mode == "short" else body)

        def log_message(self, *args):
            pass

    class QuietServer(http.server.ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # a client that timed out and hung up is expected here

    server = QuietServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", requests
    finally:
        release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _idx_gz_bytes(array):
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return gzip.compress(header + array.tobytes(), mtime=0)


def _closed_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_files(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)


# --- the bundled sample ---------------------------------------------------------------


def test_sample_has_the_books_shapes_and_dtypes():
    (x_train, t_train), (x_test, t_test) = load_mnist()
    assert x_train.shape == (5000, 784) and x_train.dtype == np.float32
    assert x_test.shape == (10000, 784) and x_test.dtype == np.float32
    assert t_train.shape == (5000,) and t_train.dtype == np.int64
    assert t_test.shape == (10000,) and t_test.dtype == np.int64


def test_sample_trains_on_500_per_digit_and_tests_on_mnists_test_set():
    (_, t_train), (_, t_test) = load_mnist()
    np.testing.assert_array_equal(np.bincount(t_train, minlength=10), [500] * 10)
    # MNIST's own test set: its class counts (../shared/mnist/README.md)
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])


def test_sample_labels_are_shuffled_not_grouped_by_digit():
    (_, t_train), _ = load_mnist()
    assert len(np.unique(t_train[:50])) == 10


def test_sample_normalized_pixels_span_zero_to_one():
    (x_train, _), (x_test, _) = load_mnist()
    for x in (x_train, x_test):
        assert x.min() == 0.0 and x.max() == 1.0


def test_sample_unnormalized_is_uint8_and_255_times_normalized():
    (raw, _), _ = load_mnist(normalize=False)
    (scaled, _), _ = load_mnist(dtype=np.float64)
    assert raw.dtype == np.uint8
    np.testing.assert_allclose(scaled * 255, raw, rtol=0, atol=1e-9)


def test_sample_train_and_test_share_no_image():
    (x_train, _), (x_test, _) = load_mnist(normalize=False)
    train_rows = {row.tobytes() for row in x_train}
    assert not any(row.tobytes() in train_rows for row in x_test)


def test_sample_labels_match_real_digits_nearest_mean_beats_70_percent():
    (x_train, t_train), (x_test, t_test) = load_mnist(dtype=np.float64)
    means = np.stack([x_train[t_train == d].mean(axis=0) for d in range(10)])
    dist = ((x_test[:, None, :] - means[None]) ** 2).sum(axis=2)
    assert np.mean(dist.argmin(axis=1) == t_test) > 0.7


def test_one_hot_labels_are_rows_of_dtype_matching_integer_labels():
    (_, hot), (_, hot_test) = load_mnist(one_hot_label=True, dtype=np.float64)
    (_, t_train), (_, t_test) = load_mnist()
    assert hot.shape == (5000, 10) and hot.dtype == np.float64
    np.testing.assert_allclose(hot.sum(axis=1), 1.0)
    np.testing.assert_array_equal(hot.argmax(axis=1), t_train)
    np.testing.assert_array_equal(hot_test.argmax(axis=1), t_test)


def test_flatten_false_gives_n_1_28_28_with_the_same_pixels():
    (x_img, _), (x_img_test, _) = load_mnist(flatten=False)
    (x_flat, _), _ = load_mnist()
    assert x_img.shape == (5000, 1, 28, 28) and x_img_test.shape == (10000, 1, 28, 28)
    np.testing.assert_array_equal(x_img.reshape(5000, 784), x_flat)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"dtype": np.int32}, "floating"),
    ({"source": "cifar"}, "unknown source 'cifar'"),
    ({"data_dir": "/somewhere"}, "data_dir is for"),
])
def test_load_mnist_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_mnist(**kwargs)


# --- IDX reading and writing ----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32,
                                   np.float64])
@pytest.mark.parametrize("name", ["a.idx", "a.idx.gz"])
def test_idx_round_trip_keeps_values_shape_and_dtype(tmp_path, dtype, name):
    offset = 0 if dtype == np.uint8 else 120  # signed types get negative values too
    array = (np.arange(24).reshape(2, 3, 4) * 10 - offset).astype(dtype)
    write_idx(tmp_path / name, array)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.dtype(dtype) and back.shape == (2, 3, 4)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_write_idx_writes_the_mnist_header_big_endian(tmp_path):
    write_idx(tmp_path / "labels.idx", np.array([7, 2, 1], dtype=np.uint8))
    assert (tmp_path / "labels.idx").read_bytes() == bytes.fromhex("00000801 00000003 070201")


def test_read_idx_decompresses_gzip_even_without_gz_suffix(tmp_path):
    (tmp_path / "labels").write_bytes(gzip.compress(bytes.fromhex("00000801000000020509")))
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), [5, 9])


@pytest.mark.parametrize(("array", "match"), [
    (np.zeros(3, dtype=np.int64), "cannot hold dtype int64"),
    (np.zeros(3, dtype=bool), "cannot hold dtype bool"),
    (np.uint8(3), "1 to 255 dimensions"),
])
def test_write_idx_rejects_what_idx_cannot_hold(tmp_path, array, match):
    with pytest.raises(ValueError, match=match):
        write_idx(tmp_path / "x.idx", array)


GOOD = bytes.fromhex("00000803 00000002 00000002 00000002") + bytes(range(8))
CORRUPT_FILES = {
    "bad magic": (b"PK\x03\x04" + GOOD[4:], "magic number is 0x504B0304"),
    "bad dtype code": (GOOD[:2] + b"\x07" + GOOD[3:], "unknown IDX type code 0x07"),
    "zero dimensions": (bytes.fromhex("00000800"), "0 dimensions"),
    "truncated header": (GOOD[:10], "truncated header"),
    "truncated data": (GOOD[:-1], r"truncated: header says shape \(2, 2, 2\)"),
    "extra bytes": (GOOD + b"\x00", "1 unexpected bytes after the data"),
    "empty": (b"", "too short"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_FILES))
def test_corrupt_idx_fails_naming_the_file_and_the_fault(tmp_path, case):
    data, fault = CORRUPT_FILES[case]
    for path, content in ((tmp_path / "broken.idx", data),
                          (tmp_path / "broken.idx.gz", gzip.compress(data))):
        path.write_bytes(content)
        with pytest.raises(DatasetError, match=fault) as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_parse_idx_accepts_the_good_bytes_the_corruptions_start_from():
    np.testing.assert_array_equal(parse_idx(GOOD), np.arange(8).reshape(2, 2, 2))


@pytest.mark.parametrize(("case", "content", "fault"), [
    ("not gzip", GOOD, "not a gzip file"),
    ("truncated gzip", gzip.compress(GOOD)[:-12], "corrupt or truncated gzip"),
    ("flipped byte", gzip.compress(GOOD)[:-5] + b"\xff" + gzip.compress(GOOD)[-4:],
     "corrupt or truncated gzip"),
    ("garbage", b"\x1f\x8b" + b"garbage" * 5, "corrupt or truncated gzip"),
])
def test_bad_gzip_fails_naming_the_file(tmp_path, case, content, fault):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=fault) as info:
        read_idx(path)
    assert str(path) in str(info.value)


# --- full-size sources from local files -----------------------------------------------


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_load_mnist_reads_idx_files_from_data_dir(tmp_path, tiny_mnist):
    files, arrays = tiny_mnist
    _write_files(tmp_path / "mnist", files)
    (x, t), (x_test, t_test) = load_mnist(source="mnist", data_dir=tmp_path / "mnist")
    assert x.shape == (N_TRAIN, 784) and x_test.shape == (N_TEST, 784)
    np.testing.assert_allclose(x * 255, arrays["train-images-idx3-ubyte.gz"].reshape(N_TRAIN, -1),
                               atol=1e-4)
    np.testing.assert_array_equal(t, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(t_test, arrays["t10k-labels-idx1-ubyte.gz"])


def _replace_file(monkeypatch, folder: Path, name: str, data: bytes) -> Path:
    """Put ``data`` under ``name`` and make it the file's 'published' checksum."""
    (folder / name).write_bytes(data)
    monkeypatch.setitem(SHA256["mnist"], name, hashlib.sha256(data).hexdigest())
    return folder / name


@pytest.mark.usefixtures("tiny_mnist_checksums")
@pytest.mark.parametrize(("name", "array", "fault"), [
    ("train-labels-idx1-ubyte.gz", np.zeros(N_TRAIN - 1, np.uint8), "has 19 labels"),
    ("t10k-labels-idx1-ubyte.gz", np.full(N_TEST, 10, np.uint8), "labels outside 0..9"),
    ("train-images-idx3-ubyte.gz", np.zeros((N_TRAIN, 28, 27), np.uint8), r"shape \(N, 28, 28\)"),
    ("t10k-labels-idx1-ubyte.gz", np.zeros((N_TEST, 1), np.uint8), r"labels of shape \(N,\)"),
])
def test_inconsistent_mnist_files_fail_naming_the_file(monkeypatch, tmp_path, tiny_mnist, name,
                                                       array, fault):
    _write_files(tmp_path, tiny_mnist[0])
    path = _replace_file(monkeypatch, tmp_path, name, _idx_gz_bytes(array))
    with pytest.raises(DatasetError, match=fault) as info:
        load_mnist(source="mnist", data_dir=tmp_path)
    assert str(path) in str(info.value)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_file_on_disk_with_wrong_checksum_is_refused_and_kept(tmp_path, tiny_mnist):
    files, _ = tiny_mnist
    _write_files(tmp_path, files)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(files["t10k-labels-idx1-ubyte.gz"])
    with pytest.raises(DatasetError, match="SHA-256 is .* expected") as info:
        load_mnist(source="mnist", data_dir=tmp_path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == files["t10k-labels-idx1-ubyte.gz"]


def test_published_checksums_are_distinct_sha256_values():
    assert SHA256["mnist"]["train-images-idx3-ubyte.gz"] == (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609")
    values = [SHA256[s][n] for s in ("mnist", "fashion-mnist") for n in MNIST_FILES]
    assert len(set(values)) == 8
    assert all(len(v) == 64 and int(v, 16) >= 0 for v in values)


# --- downloads from a local mirror ----------------------------------------------------


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_download_fills_kobai_home_and_loads(monkeypatch, tmp_path, tiny_mnist, idx_http_server):
    base, requests = idx_http_server
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", f"{base}/good/")
    (x, t), (x_test, _) = load_mnist(source="mnist", normalize=False)
    folder = tmp_path / "kobai-home" / "datasets" / "mnist"
    assert sorted(p.name for p in folder.iterdir()) == sorted(MNIST_FILES)
    np.testing.assert_array_equal(x.reshape(N_TRAIN, 28, 28),
                                  tiny_mnist[1]["train-images-idx3-ubyte.gz"])
    assert x_test.shape == (N_TEST, 784)
    assert len(requests) == 4
    load_mnist(source="mnist")
    assert len(requests) == 4  # the second load reads the files on disk


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_failing_mirrors_are_skipped_for_a_working_one(data_dir, idx_http_server):
    base, requests = idx_http_server
    mirrors = [f"{base}/500", f"{base}/404/", f"{base}/good/"]
    paths = fetch_mnist("mnist", data_dir, mirrors=mirrors)
    assert sorted(paths) == sorted(MNIST_FILES)
    assert requests[:3] == ["/500/train-images-idx3-ubyte.gz", "/404/train-images-idx3-ubyte.gz",
                            "/good/train-images-idx3-ubyte.gz"]
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MNIST_FILES)


@pytest.mark.usefixtures("tiny_mnist_checksums")
@pytest.mark.parametrize("mode", ["bad", "short"])
def test_checksum_mismatch_leaves_no_file_behind(data_dir, idx_http_server, mode):
    base, _ = idx_http_server
    with pytest.raises(DownloadError, match="checksum mismatch") as info:
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/{mode}/"])
    assert f"{base}/{mode}/train-images-idx3-ubyte.gz" in str(info.value)
    assert list(data_dir.iterdir()) == []


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_checksum_mismatch_moves_on_to_the_next_mirror(data_dir, idx_http_server):
    base, _ = idx_http_server
    fetch_mnist("mnist", data_dir, mirrors=[f"{base}/bad/", f"{base}/good/"])
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MNIST_FILES)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_error_lists_every_mirror_and_what_it_said(data_dir, idx_http_server):
    base, _ = idx_http_server
    with pytest.raises(DownloadError) as info:
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/404/", f"{base}/500/"])
    message = str(info.value)
    assert f"{base}/404/train-images-idx3-ubyte.gz: HTTP 404" in message
    assert f"{base}/500/train-images-idx3-ubyte.gz: HTTP 500" in message


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_slow_mirror_times_out(data_dir, idx_http_server):
    base, _ = idx_http_server
    with pytest.raises(DownloadError, match="timed out"):
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/slow/"], timeout=0.3)
    assert list(data_dir.iterdir()) == []


def test_offline_error_names_the_four_files_and_the_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", f"http://127.0.0.1:{_closed_port()}/mnist/")
    with pytest.raises(DownloadError) as info:
        load_mnist(source="mnist")
    message = str(info.value)
    folder = tmp_path / "kobai-home" / "datasets" / "mnist"
    assert f"put the four published mnist files in {folder}" in message
    assert all(name in message for name in MNIST_FILES)
    assert "KOBAI_MNIST_MIRRORS" in message
    assert [p.name for p in folder.iterdir()] == []
    assert isinstance(info.value, OSError) and isinstance(info.value, DatasetError)


def test_empty_mirror_variable_means_never_download(tmp_path):
    with pytest.raises(DownloadError, match=r"no mirrors to try"):
        load_mnist(source="fashion-mnist", data_dir=tmp_path)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_fashion_mnist_has_its_own_folder_and_mirror_variable(monkeypatch, tmp_path,
                                                              idx_http_server):
    base, _ = idx_http_server
    monkeypatch.setenv("KOBAI_FASHION_MNIST_MIRRORS", f"{base}/good/")
    (x, _), _ = load_mnist(source="fashion-mnist")
    assert x.shape == (N_TRAIN, 784)
    assert (tmp_path / "kobai-home" / "datasets" / "fashion-mnist" / MNIST_FILES[0]).is_file()


def test_mirror_variable_splits_on_commas_and_spaces(monkeypatch):
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", " http://a/x/, http://b/y/\nhttp://c/ ")
    assert mirrors_for("mnist") == ("http://a/x/", "http://b/y/", "http://c/")
    monkeypatch.delenv("KOBAI_MNIST_MIRRORS")
    assert all(url.startswith("https://") for url in mirrors_for("mnist"))


def test_kobai_home_defaults_to_user_cache(monkeypatch, tmp_path):
    assert default_data_dir("mnist") == tmp_path / "kobai-home" / "datasets" / "mnist"
    monkeypatch.delenv("KOBAI_HOME")
    assert kobai_home() == Path.home() / ".cache" / "kobai"


# --- genuine files: checked by their content, compressed or not -----------------------


@pytest.mark.usefixtures("tiny_mnist_checksums", "tiny_mnist_contents")
def test_genuine_content_compressed_by_another_gzip_is_accepted(data_dir, tiny_mnist):
    files, arrays = tiny_mnist
    _write_files(data_dir, {name: _recompressed(data) for name, data in files.items()})
    (x, t), (_, t_test) = load_mnist(source="mnist", data_dir=data_dir, normalize=False)
    np.testing.assert_array_equal(x.reshape(N_TRAIN, 28, 28),
                                  arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(t_test, arrays["t10k-labels-idx1-ubyte.gz"])


UNCOMPRESSED_NAMES = {
    "train-images-idx3-ubyte.gz": "train-images.idx3-ubyte",
    "train-labels-idx1-ubyte.gz": "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte.gz": "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte.gz": "t10k-labels.idx1-ubyte",
}


def test_uncompressed_files_are_accepted_under_the_standard_and_the_variant_names(
        data_dir, tiny_mnist, tiny_mnist_contents):
    _, arrays = tiny_mnist
    for name, local in UNCOMPRESSED_NAMES.items():
        (data_dir / local).write_bytes(tiny_mnist_contents[name])
    paths = fetch_mnist("mnist", data_dir)
    assert {name: path.name for name, path in paths.items()} == UNCOMPRESSED_NAMES
    (x, t), (x_test, t_test) = load_mnist(source="mnist", data_dir=data_dir, normalize=False)
    np.testing.assert_array_equal(x.reshape(N_TRAIN, 28, 28),
                                  arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(t, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(x_test.reshape(N_TEST, 28, 28),
                                  arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(t_test, arrays["t10k-labels-idx1-ubyte.gz"])


@pytest.mark.usefixtures("tiny_mnist_checksums", "tiny_mnist_contents")
def test_published_gz_is_read_before_an_uncompressed_copy_beside_it(data_dir, tiny_mnist,
                                                                    tiny_mnist_contents):
    _write_files(data_dir, tiny_mnist[0])
    (data_dir / "train-images-idx3-ubyte").write_bytes(b"not even IDX")
    assert fetch_mnist("mnist", data_dir)[MNIST_FILES[0]] == data_dir / MNIST_FILES[0]


@pytest.mark.usefixtures("tiny_mnist_checksums", "tiny_mnist_contents")
@pytest.mark.parametrize(("how", "said"), [
    ("gzip", r"decompressed, SHA-256 is \w+ for its 18 bytes, expected"),
    ("plain", r"SHA-256 is \w+ for its 18 bytes, expected"),
    ("inflated", r"decompressed, it is larger than the 18 bytes of the genuine mnist "
                 r"t10k-labels-idx1-ubyte"),
])
def test_file_whose_content_is_not_genuine_is_refused_saying_how_to_go_on(
        data_dir, tiny_mnist, tiny_mnist_contents, how, said):
    _write_files(data_dir, tiny_mnist[0])
    content = bytearray(tiny_mnist_contents["t10k-labels-idx1-ubyte.gz"])
    content[-1] ^= 1
    data = {"gzip": gzip.compress(bytes(content)), "plain": bytes(content),
            "inflated": gzip.compress(bytes(content) + bytes(1 << 20))}[how]
    path = data_dir / ("t10k-labels.idx1-ubyte" if how == "plain" else "t10k-labels-idx1-ubyte.gz")
    (data_dir / "t10k-labels-idx1-ubyte.gz").unlink()
    path.write_bytes(data)
    with pytest.raises(DatasetError, match=said) as info:
        load_mnist(source="mnist", data_dir=data_dir)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert "--data-dir" in message and "data_dir=" in message
    assert "genuine copy (compressed or not)" in message
    assert path.read_bytes() == data


def test_load_mnist_passes_checksums_on_to_fetch_mnist(data_dir, tiny_mnist, tiny_mnist_contents):
    files, _ = tiny_mnist
    _write_files(data_dir, files)
    by_content = {name: hashlib.sha256(data).hexdigest()
                  for name, data in tiny_mnist_contents.items()}
    (x, _), _ = load_mnist(source="mnist", data_dir=data_dir, checksums=by_content)
    assert x.shape == (N_TRAIN, 784)
    by_file = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    (x, _), _ = load_mnist(source="mnist", data_dir=data_dir, checksums=by_file)
    assert x.shape == (N_TRAIN, 784)
    with pytest.raises(DatasetError, match="SHA-256 is"):
        load_mnist(source="mnist", data_dir=data_dir,
                   checksums={**by_file, MNIST_FILES[1]: "0" * 64})
    with pytest.raises(ValueError, match="checksums is for"):
        load_mnist(checksums=by_file)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_without_content_checksums_only_the_published_gz_is_accepted(data_dir, tiny_mnist):
    files, _ = tiny_mnist
    _write_files(data_dir, {name: _recompressed(data) for name, data in files.items()})
    with pytest.raises(DatasetError, match="only the published .gz files are accepted"):
        load_mnist(source="fashion-mnist", data_dir=data_dir)


@pytest.mark.usefixtures("tiny_mnist_checksums", "tiny_mnist_contents")
def test_download_accepts_genuine_content_compressed_by_another_gzip(data_dir, tiny_mnist,
                                                                     idx_http_server):
    base, _ = idx_http_server
    paths = fetch_mnist("mnist", data_dir, mirrors=[f"{base}/recompressed/"])
    for name, data in tiny_mnist[0].items():
        assert paths[name].read_bytes() == _recompressed(data)


@pytest.mark.usefixtures("tiny_mnist_checksums", "tiny_mnist_contents")
def test_download_of_other_content_is_refused_naming_both_checksums(data_dir, idx_http_server):
    base, _ = idx_http_server
    with pytest.raises(DownloadError, match="checksum mismatch: .*; it is not gzip data"):
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/bad/"])


def test_messages_name_the_command_line_options_as_well_as_the_arguments(data_dir):
    with pytest.raises(DownloadError) as info:
        load_mnist(source="mnist", data_dir=data_dir)
    assert "--data-dir on the command line, data_dir= in Python" in str(info.value)
    assert "(--dataset sample, source='sample')" in str(info.value)
    assert "train-images.idx3-ubyte" in str(info.value)
    with pytest.raises(ValueError, match="--data-dir needs --dataset mnist or fashion-mnist"):
        load_mnist(data_dir=data_dir)


# --- no hang, no resource exhaustion --------------------------------------------------


def test_gzip_bomb_is_refused_while_streaming_without_inflating_it(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    with gzip.open(path, "wb") as fh:  # 8 bytes announced, 64 MiB sent: a ~64 KB file
        fh.write(GOOD)
        for _ in range(64):
            fh.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="more than 1,048,576 unexpected bytes") as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(path) in str(info.value)
    assert peak < 16 * 2**20


@pytest.mark.parametrize("mode", ["trickle", "trickle-headers"])
def test_trickling_mirror_is_left_at_the_deadline_for_the_next_one(data_dir, tiny_mnist,
                                                                   tiny_mnist_checksums,
                                                                   idx_http_server, mode):
    base, requests = idx_http_server
    start = time.monotonic()
    with pytest.raises(DownloadError, match=r"gave up at the deadline of 0.3 s"):
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/{mode}/"], deadline=0.3)
    name = MNIST_FILES[-1]
    path = download(name, data_dir, [f"{base}/{mode}/", f"{base}/good/"],
                    tiny_mnist_checksums[name], deadline=0.3)
    assert time.monotonic() - start < 2.5  # two attempts of 0.3 s, then the good mirror
    assert path.read_bytes() == tiny_mnist[0][name]
    assert requests[-2:] == [f"/{mode}/{name}", f"/good/{name}"]


@pytest.mark.usefixtures("tiny_mnist_checksums")
@pytest.mark.parametrize(("mode", "said"), [
    ("huge", r"sent more than 81,\d\d\d bytes, more than the file can take"),
    ("announced-huge", r"announces 2,000,000,000 bytes, more than the 47,\d{3},\d{3} the file "
                       r"can take"),
])
def test_mirror_sending_more_than_the_file_can_take_is_cut_off(monkeypatch, data_dir,
                                                               tiny_mnist, idx_http_server,
                                                               mode, said):
    if mode == "huge":  # the cap is the known size: make it the tiny files'
        sizes = {name: len(gzip.decompress(data)) for name, data in tiny_mnist[0].items()}
        monkeypatch.setitem(IDX_SIZES, "mnist", sizes)
    base, _ = idx_http_server
    start = time.monotonic()
    with pytest.raises(DownloadError, match=said):
        fetch_mnist("mnist", data_dir, mirrors=[f"{base}/{mode}/"])
    assert time.monotonic() - start < 3
    assert list(data_dir.iterdir()) == []
    fetch_mnist("mnist", data_dir, mirrors=[f"{base}/{mode}/", f"{base}/good/"])
    assert sorted(p.name for p in data_dir.iterdir()) == sorted(MNIST_FILES)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_invalid_mirror_url_is_reported_and_the_next_mirrors_are_tried(monkeypatch, data_dir,
                                                                       idx_http_server):
    base, _ = idx_http_server
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", "not-a-url")
    with pytest.raises(DownloadError, match=r"not-a-url/train-images-idx3-ubyte.gz: invalid URL"):
        load_mnist(source="mnist", data_dir=data_dir)
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", f"not-a-url, http://, {base}/good/")
    (x, _), _ = load_mnist(source="mnist", data_dir=data_dir)
    assert x.shape == (N_TRAIN, 784)


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_progress_bar_is_shown_only_while_downloading(tmp_path, idx_http_server, capsys):
    base, _ = idx_http_server
    mirrors = [f"{base}/good/"]
    fetch_mnist("mnist", tmp_path / "a", mirrors=mirrors)
    shown = capsys.readouterr().err
    assert all(f"{name}: 100%" in shown for name in MNIST_FILES), shown
    fetch_mnist("mnist", tmp_path / "a", mirrors=mirrors)  # on disk: nothing to show
    load_mnist(source="mnist", data_dir=tmp_path / "a")
    fetch_mnist("mnist", tmp_path / "b", mirrors=mirrors, progress=False)
    shown = capsys.readouterr().err
    assert shown == ""



# --- the test set alone -----------------------------------------------------------------

TEST_FILES = ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_load_mnist_test_downloads_the_two_test_files_only(monkeypatch, data_dir, tiny_mnist,
                                                           idx_http_server):
    from kobai.datasets import load_mnist_test

    base, requests = idx_http_server
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", f"{base}/good/")
    x, t = load_mnist_test(source="mnist", data_dir=data_dir, normalize=False)
    assert sorted(requests) == [f"/good/{name}" for name in TEST_FILES]
    assert sorted(p.name for p in data_dir.iterdir()) == TEST_FILES
    np.testing.assert_array_equal(x.reshape(N_TEST, 28, 28), tiny_mnist[1][TEST_FILES[0]])
    np.testing.assert_array_equal(t, tiny_mnist[1][TEST_FILES[1]])
    (_, _), (x_both, t_both) = load_mnist(source="mnist", data_dir=data_dir, normalize=False)
    np.testing.assert_array_equal(x_both, x)  # the book's loader, now with the training files
    assert len(requests) == 4


def test_load_mnist_test_of_the_sample_is_load_mnists_test_set():
    from kobai.datasets import load_mnist_test

    x, t = load_mnist_test(normalize=False, flatten=False, one_hot_label=True)
    _, (x_both, t_both) = load_mnist(normalize=False, flatten=False, one_hot_label=True)
    np.testing.assert_array_equal(x, x_both)
    np.testing.assert_array_equal(t, t_both)
    assert (x.dtype, x.shape, t.dtype, t.shape) == (np.uint8, (10000, 1, 28, 28), np.float32,
                                                    (10000, 10))


@pytest.mark.usefixtures("tiny_mnist_checksums")
def test_evaluate_on_mnist_fetches_only_its_test_files(monkeypatch, tmp_path, capsys,
                                                       idx_http_server):
    from conftest import run

    from kobai.nets import TwoLayerNet

    base, requests = idx_http_server
    monkeypatch.setenv("KOBAI_MNIST_MIRRORS", f"{base}/good/")
    params = tmp_path / "params.npz"
    TwoLayerNet(784, 20, 10, rng=0).save_params(params)
    status, out, err = run(capsys, "evaluate", "--params", params, "--hidden", "20",
                           "--dataset", "mnist", "--out", tmp_path)
    assert status == 0, err
    assert f"on the mnist test set ({N_TEST} images)" in out
    assert sorted(requests) == [f"/good/{name}" for name in TEST_FILES]
