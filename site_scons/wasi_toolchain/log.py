"""The one type for progress lines, ``Log`` (a callable taking one line), and its default: standard error."""

from __future__ import annotations

import sys
from collections.abc import Callable

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
