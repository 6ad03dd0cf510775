"""Put on PYTHONPATH by tests to prove a WASI_OFFLINE=1 scons run opens no socket and never runs pip.

An audit hook (PEP 578) refuses every socket connection and every subprocess that runs pip, and notes the attempt in
the file named by WASI_TEST_OFFLINE_GUARD, so the test can assert the file stays empty. make and the compiler may
run: they are part of an offline build.
"""

from __future__ import annotations

import os
import sys

_NOTES = os.environ.get("WASI_TEST_OFFLINE_GUARD")


def _guard(event: str, args: tuple[object, ...]) -> None:
    if event == "socket.connect":
        what = f"socket.connect {args[1]!r}"
    elif event == "subprocess.Popen" and "pip" in " ".join(str(a) for a in (args[1] or [])):
        what = f"subprocess {args[1]!r}"
    else:
        return
    with open(_NOTES, "a", encoding="utf-8") as notes:  # type: ignore[arg-type]
        notes.write(what + "\n")
    raise RuntimeError(f"offline guard: refused {what}")


if _NOTES:
    sys.addaudithook(_guard)
