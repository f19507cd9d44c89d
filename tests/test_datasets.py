"""kobai.datasets: the bundled MNIST sample, the IDX reader/writer and the mirror downloads.

Download tests talk only to an http.server on 127.0.0.1 serving small IDX files made here.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from kobai.datasets import (
    MNIST_FILES,
    SHA256,
    DatasetError,
    DownloadError,
    default_data_dir,
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
def idx_http_server(tiny_mnist):
    """A mirror on 127.0.0.1 whose first path part picks its behaviour.

    /good/NAME serves the file, /404/ and /500/ answer that status, /bad/ serves wrong
    bytes, /short/ sends half the file under the full Content-Length, /slow/ waits.
    Yields (base URL, list of requested paths).
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
            if mode == "slow":
                release.wait(5)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
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
    assert x_train.shape == (4000, 784) and x_train.dtype == np.float32
    assert x_test.shape == (1000, 784) and x_test.dtype == np.float32
    assert t_train.shape == (4000,) and t_train.dtype == np.int64
    assert t_test.shape == (1000,) and t_test.dtype == np.int64


def test_sample_is_stratified_400_and_100_per_digit():
    (_, t_train), (_, t_test) = load_mnist()
    np.testing.assert_array_equal(np.bincount(t_train, minlength=10), [400] * 10)
    np.testing.assert_array_equal(np.bincount(t_test, minlength=10), [100] * 10)


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
    assert hot.shape == (4000, 10) and hot.dtype == np.float64
    np.testing.assert_allclose(hot.sum(axis=1), 1.0)
    np.testing.assert_array_equal(hot.argmax(axis=1), t_train)
    np.testing.assert_array_equal(hot_test.argmax(axis=1), t_test)


def test_flatten_false_gives_n_1_28_28_with_the_same_pixels():
    (x_img, _), (x_img_test, _) = load_mnist(flatten=False)
    (x_flat, _), _ = load_mnist()
    assert x_img.shape == (4000, 1, 28, 28) and x_img_test.shape == (1000, 1, 28, 28)
    np.testing.assert_array_equal(x_img.reshape(4000, 784), x_flat)


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
