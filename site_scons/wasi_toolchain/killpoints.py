"""Test-only kill points, so a test can SIGKILL a cold build at a chosen step and check what it leaves behind.

``WASI_TEST_KILL_AT=<point>[#<n>]`` makes the process kill itself (and its process group, when it leads one, so a
running make dies with it as it would under a CI timeout) the n-th time (default: the first) execution reaches
``kill_point("<point>")``. tests/test_kill.py is the only user. Unset, which is always the case outside that test,
a kill point costs one comparison with None: the variable is read once, at import.
"""

from __future__ import annotations

import os
import signal

_POINT: str | None = None
_NTH = 1
_reached = 0

_value = os.environ.get("WASI_TEST_KILL_AT", "").strip()
if _value:
    _POINT, _, _count = _value.partition("#")
    _NTH = int(_count) if _count.isdigit() else 1


def kill_point(name: str) -> None:
    """SIGKILL this process here if WASI_TEST_KILL_AT names this point (and this is the chosen time)."""
    global _reached
    if _POINT is None or name != _POINT:
        return
    _reached += 1
    if _reached < _NTH:
        return
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpid(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)
