"""Put on PYTHONPATH by tests, so that every Python process a test starts (scons, pip) is watched by an audit hook
(PEP 578). Two guards, each on when its variable names a notes file; an attempt is noted there and refused:

- WASI_TEST_OFFLINE_GUARD: a WASI_OFFLINE=1 run opens no socket at all and never runs pip (make and the compiler
  may run: they are part of an offline build);
- WASI_TEST_LOOPBACK_ONLY (set for every offline test by tests/conftest.py): nothing but loopback is reached, so a
  test that forgot its loopback mirror fails instead of quietly using the machine's real registries.

The test then asserts the notes file is empty: a refusal may be caught and retried by the code under test, the note
stays.
"""

from __future__ import annotations

import os
import sys

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "", None}


def is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    return host in _LOOPBACK_NAMES or (isinstance(host, str) and (host.startswith("127.") or host == "0:0:0:0:0:0:0:1"))


def refused_loopback_only(event: str, args: tuple[object, ...]) -> str | None:
    """What to refuse when only loopback may be reached: a connection or a name lookup for anything else."""
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple) and address and not is_loopback(address[0]):
            return f"socket.connect {address!r}"
    elif event == "socket.getaddrinfo" and not is_loopback(args[0]):
        return f"socket.getaddrinfo {args[0]!r}"
    return None


def refused_offline(event: str, args: tuple[object, ...]) -> str | None:
    if event == "socket.connect":
        return f"socket.connect {args[1]!r}"
    if event == "subprocess.Popen" and "pip" in " ".join(str(a) for a in (args[1] or [])):
        return f"subprocess {args[1]!r}"
    return None


def install(check, notes: str) -> None:  # type: ignore[no-untyped-def]
    def guard(event: str, args: tuple[object, ...]) -> None:
        what = check(event, args)
        if what is None:
            return
        with open(notes, "a", encoding="utf-8") as file:
            file.write(what + "\n")
        raise RuntimeError(f"test guard: refused {what}")
    sys.addaudithook(guard)


if os.environ.get("WASI_TEST_OFFLINE_GUARD"):
    install(refused_offline, os.environ["WASI_TEST_OFFLINE_GUARD"])
if os.environ.get("WASI_TEST_LOOPBACK_ONLY"):
    install(refused_loopback_only, os.environ["WASI_TEST_LOOPBACK_ONLY"])
