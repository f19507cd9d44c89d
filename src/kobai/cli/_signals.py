"""Ctrl-C held back while the files of one epoch are written, so they always agree."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def sigint_held() -> Iterator[None]:
    """Hold SIGINT (Ctrl-C) until the block ends, then deliver it as it would have been
    (``KeyboardInterrupt`` under Python's default handler): the block is never cut short.

    Outside the main thread (where no signal handler can be set) the block runs as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and previous is not signal.SIG_IGN:
        signal.raise_signal(signal.SIGINT)
