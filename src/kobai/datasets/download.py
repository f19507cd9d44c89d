"""Download a file from a list of mirrors, keeping it only if its SHA-256 matches.

Uses ``urllib`` alone. Each attempt writes to a hidden temporary file in the destination
folder and renames it into place (``os.replace``) only once it is complete and verified,
so an interrupted or wrong download never leaves a file under the real name.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from pathlib import Path

from kobai import __version__
from kobai.datasets.errors import DownloadError

logger = logging.getLogger(__name__)

_CHUNK = 1 << 16
_USER_AGENT = f"kobai/{__version__} (Python urllib)"


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
             sha256: str, *, timeout: float = 30.0) -> Path:
    """Fetch ``filename`` into ``data_dir`` from the first mirror that serves the right bytes.

    Mirrors are tried in order; an HTTP error, a refused or timed-out connection, or bytes
    whose SHA-256 differs from ``sha256`` move on to the next one.

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

    Returns
    -------
    Path
        ``data_dir / filename``, complete and verified.

    Raises
    ------
    DownloadError
        No mirror worked; the message lists each URL and what went wrong with it.
    """
    folder = Path(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / filename
    failures = []
    for base in mirrors:
        url = mirror_url(base, filename)
        logger.info("downloading %s", url)
        problem = _try_mirror(url, target, sha256.lower(), timeout)
        if problem is None:
            return target
        logger.warning("%s: %s", url, problem)
        failures.append(f"  {url}: {problem}")
    if not failures:
        failures.append("  (no mirrors to try)")
    raise DownloadError(f"could not download {filename} from any mirror:\n" + "\n".join(failures))


def _try_mirror(url: str, target: Path, expected: str, timeout: float) -> str | None:
    """Download ``url`` to ``target``; return None on success, else what went wrong."""
    tmp: str | None  # the temporary file, None once renamed into place
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    try:
        digest, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as out:
            request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
            with urllib.request.urlopen(request, timeout=timeout) as response:
                while chunk := response.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != expected:
            return (f"checksum mismatch: got {size:,} bytes with SHA-256 {actual}, "
                    f"expected {expected}")
        os.replace(tmp, target)
        tmp = None
        return None
    except urllib.error.HTTPError as exc:
        exc.close()
        return f"HTTP {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except TimeoutError:
        return f"timed out after {timeout:g} s"
    except (OSError, http.client.HTTPException) as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
