"""Download a file from a list of mirrors, keeping it only if its SHA-256 matches.

Uses ``urllib`` alone. Each attempt writes to a hidden temporary file in the destination
folder and renames it into place (``os.replace``) only once it is complete and verified,
so an interrupted or wrong download never leaves a file under the real name.

Nothing a mirror does can make an attempt hang or fill the disk: each read waits at most
``timeout`` seconds, the whole attempt (connection, headers and body) at most ``deadline``
seconds, and a body larger than ``max_bytes`` is cut off as soon as it says so or sends it.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import socket
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from kobai import __version__
from kobai.datasets.errors import DownloadError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_USER_AGENT = f"kobai/{__version__} (Python urllib)"
#: the default deadline of an attempt: this many seconds, plus 1 s per this many bytes allowed
_DEADLINE_BASE, _DEADLINE_RATE = 60.0, 100_000
_DEADLINE_UNCAPPED = 600.0


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def mirror_url(base: str, filename: str) -> str:
    """``base`` + ``filename``, adding the ``/`` between them when ``base`` lacks it."""
    return base + filename if base.endswith("/") else f"{base}/{filename}"


def download(filename: str, data_dir: str | os.PathLike[str], mirrors: Iterable[str],
             sha256: str, *, timeout: float = 30.0, deadline: float | None = None,
             max_bytes: int | None = None, verify: Callable[[Path], str | None] | None = None,
             progress: bool = False) -> Path:
    """Fetch ``filename`` into ``data_dir`` from the first mirror that serves the right bytes.

    Mirrors are tried in order; any failure (URL, HTTP, connection, deadline, size, checksum)
    moves on to the next.

    Parameters
    ----------
    filename : str
        Name of the file on the mirrors and on disk, e.g. ``"train-images-idx3-ubyte.gz"``.
    data_dir : str or path-like
        Destination folder, created if missing.
    mirrors : iterable of str
        Base URLs; the file's URL is the base followed by ``filename``.
    sha256 : str
        Expected hex SHA-256 of the file.
    timeout : float
        Seconds to wait for a connection or for each read.
    deadline : float, optional
        Seconds one attempt may take in all, connection to last byte. Default: 60 s + 1 s per
        100 kB of ``max_bytes`` (600 s without it).
    max_bytes : int, optional
        The most bytes the file can take (a mirror sending more is left). Default: no limit.
    verify : callable (Path) -> str or None, optional
        For a download whose SHA-256 is not ``sha256``: None accepts the temporary file, a
        string says what is wrong with it.
    progress : bool
        Show a progress bar (:func:`kobai._progress.progress_bar`) while a mirror sends the file.

    Returns
    -------
    Path
        ``data_dir / filename``, complete and verified.

    Raises
    ------
    DownloadError
        No mirror worked (the message lists each URL and its failure).
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    if deadline is None:
        deadline = (_DEADLINE_UNCAPPED if max_bytes is None
                    else _DEADLINE_BASE + max_bytes / _DEADLINE_RATE)
    failures = []
    for base in mirrors:
        url = mirror_url(base, filename)
        logger.info("downloading %s", url)
        attempt = _Attempt(url, target, sha256.lower(), timeout, deadline, max_bytes, verify,
                           progress)
        problem = attempt.run()
        if problem is None:
            return target
        logger.warning("%s: %s", url, problem)
        failures.append(f"  {url}: {problem}")
    if not failures:
        failures.append("  (no mirrors to try)")
    raise DownloadError(f"could not download {filename} from any mirror:\n" + "\n".join(failures))


class _Attempt:
    """One mirror's try at one file; :meth:`run` returns None on success, else what failed."""

    def __init__(self, url: str, target: Path, expected: str, timeout: float, deadline: float,
                 max_bytes: int | None, verify: Callable[[Path], str | None] | None,
                 progress: bool):
        self.url, self.target, self.expected = url, target, expected
        self.timeout, self.max_bytes, self.verify = timeout, max_bytes, verify
        self.progress = progress
        self.watchdog = _Watchdog(deadline)
        self.received, self.digest = 0, ""

    def run(self) -> str | None:
        tmp: str | None  # the temporary file, None once renamed into place
        fd, tmp = tempfile.mkstemp(dir=self.target.parent, prefix=f".{self.target.name}.",
                                   suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out:
                problem = self._fetch(out)
                if problem is not None:
                    return problem
                out.flush()
                os.fsync(out.fileno())
            problem = self._check(Path(tmp))
            if problem is not None:
                return problem
            os.replace(tmp, self.target)
            tmp = None
            return None
        finally:
            if tmp is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def _fetch(self, out: Any) -> str | None:
        """Write the body into ``out``, or say why not."""
        try:
            request = urllib.request.Request(self.url, headers={"User-Agent": _USER_AGENT})
        except ValueError as exc:  # "not-a-url": urllib knows no such URL type
            return f"invalid URL ({exc}); expected a base URL such as https://host/path/"
        opener = urllib.request.build_opener(_WatchedHTTPHandler(self.watchdog),
                                             _WatchedHTTPSHandler(self.watchdog))
        digest = hashlib.sha256()
        try:
            with self.watchdog, opener.open(request, timeout=self.timeout) as response:
                length = _content_length(response)
                if self.max_bytes is not None and length is not None and length > self.max_bytes:
                    return (f"announces {length:,} bytes, more than the {self.max_bytes:,} the "
                            "file can take")
                with _progress_bar(self.progress, length, self.target.name) as advance:
                    while chunk := response.read(_CHUNK):
                        self.received += len(chunk)
                        if self.max_bytes is not None and self.received > self.max_bytes:
                            return (f"sent more than {self.max_bytes:,} bytes, more than the "
                                    "file can take; gave up")
                        digest.update(chunk)
                        out.write(chunk)
                        advance(len(chunk))
        except urllib.error.HTTPError as exc:
            exc.close()
            return f"HTTP {exc.code} {exc.reason}"
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return self._expired() or _describe(exc, self.timeout)
        if self._expired():
            return self._expired()
        self.digest = digest.hexdigest()
        return None

    def _expired(self) -> str | None:
        if not self.watchdog.expired:
            return None
        return (f"gave up at the deadline of {self.watchdog.seconds:g} s, after "
                f"{self.received:,} bytes")

    def _check(self, tmp: Path) -> str | None:
        if self.digest == self.expected:
            return None
        why = "" if self.verify is None else self.verify(tmp)
        if why is None:
            return None
        return (f"checksum mismatch: got {self.received:,} bytes with SHA-256 {self.digest}, "
                f"expected {self.expected}" + (f"; {why}" if why else ""))


def _describe(exc: BaseException, timeout: float) -> str:
    if isinstance(exc, urllib.error.URLError):
        if isinstance(exc.reason, TimeoutError):
            return f"timed out after {timeout:g} s"
        return str(exc.reason)
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    if isinstance(exc, ValueError):
        return f"invalid URL ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _content_length(response: Any) -> int | None:
    try:
        length = int(response.headers.get("Content-Length", ""))
    except ValueError:
        return None
    return length if length >= 0 else None


@contextlib.contextmanager
def _progress_bar(enabled: bool, total: int | None, name: str) -> Iterator[Callable[[int], Any]]:
    """``advance(n)`` for a progress bar (:func:`kobai._progress.progress_bar`: a clean one in
    Jupyter too), or a no-op."""
    if not enabled:
        yield lambda n: None
        return
    from .._progress import progress_bar

    with progress_bar(total=total, desc=name, unit="B", unit_scale=True, unit_divisor=1024) as bar:
        yield bar.update


class _Watchdog:
    """Shuts down the sockets of one attempt when its deadline passes.

    A read blocked on a socket that was shut down returns at once, so a mirror that sends a
    byte now and then (each read within ``timeout``) cannot keep the attempt alive past the
    deadline, whether it trickles the headers or the body.
    """

    def __init__(self, seconds: float):
        self.seconds, self.expired = seconds, False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None

    def __enter__(self) -> _Watchdog:
        self._timer = threading.Timer(self.seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._timer is not None:
            self._timer.cancel()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)

    def wrap(self, connection_class: Callable[..., Any]) -> Callable[..., Any]:
        """A factory of ``connection_class`` connections whose sockets are watched."""

        def make(*args: Any, **kwargs: Any) -> Any:
            conn = connection_class(*args, **kwargs)
            connect = conn.connect

            def watched_connect() -> None:
                connect()
                self.watch(conn.sock)

            conn.connect = watched_connect
            return conn

        return make


def _shut(sock: socket.socket) -> None:
    # socket.socket.shutdown, not SSLSocket.shutdown: only wake the reader, leave TLS alone
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _WatchedHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(self.watchdog.wrap(http_class), req, **kwargs)


class _WatchedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: _Watchdog):
        super().__init__()
        self.watchdog = watchdog

    def do_open(self, http_class: Any, req: Any, **kwargs: Any) -> Any:
        return super().do_open(self.watchdog.wrap(http_class), req, **kwargs)
