"""The one type for progress lines, ``Log`` (a callable taking one line), and its default: standard error."""

from __future__ import annotations

import sys
from collections.abc import Callable

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def one_line_at_a_time(log: Log) -> Log:
    """``log``, safe to call from several threads: each line is written whole, never interleaved with another (a
    cold build fetches the LLVM files in a thread of its own; see store/background.py)."""
    import threading

    lock = threading.Lock()

    def locked(message: str) -> None:
        with lock:
            log(message)

    return locked
