"""Which pinned host this machine is, and which C library it runs.

The lock's host names say OS and CPU only. Linux hosts may use glibc or musl: the ziglang wheels are statically
linked and serve both (their wheels are tagged manylinux and musllinux), while Debian's LLVM is linked against
glibc, so that provider asks :func:`detect_libc` before it is planned.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Literal

from .errors import ConfigError, HostNotSupported

KNOWN_HOSTS = ("linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64")

Libc = Literal["glibc", "musl"]

_MACHINES = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "aarch64": "aarch64", "arm64": "aarch64", "aarch64_be": None,
}
# Python on Windows reports "Windows"; Cygwin, MSYS2 and Git Bash report their own names. None of them can run
# wasi-libc's Makefile as the recipe does.
_WINDOWS_PREFIXES = ("Windows", "CYGWIN", "MSYS", "MINGW")


def detect_host(system: str | None = None, machine: str | None = None) -> str:
    """Return this machine's host name in the lock's vocabulary, e.g. ``linux-x86_64``."""
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    cpu = _MACHINES.get(machine.lower())
    if system.startswith(_WINDOWS_PREFIXES):
        raise HostNotSupported(
            f"Windows is not supported yet ({system} on {machine}): the sysroot build runs wasi-libc's Makefile, "
            f"which needs make and a POSIX shell",
            hint="build under WSL2 (it is linux-x86_64 or linux-aarch64), or on Linux or macOS",
        )
    if system == "Linux" and cpu:
        return f"linux-{cpu}"
    if system == "Darwin" and cpu:
        return "macos-arm64" if cpu == "aarch64" else "macos-x86_64"
    raise HostNotSupported(
        f"unsupported host: {system} on {machine}; supported hosts: {', '.join(KNOWN_HOSTS)}",
        hint="run on one of the supported hosts",
    )


def build_host(host: str | None, emulator: str | None) -> str:
    """The host whose pins a build uses: WASI_HOST (``host``) or this machine. Another host than this machine needs
    ``emulator`` (WASI_HOST_EMULATOR) to run its binaries, and an emulator needs WASI_HOST. ConfigError if not."""
    here = detect_host()
    if host is None or host == here:
        if emulator is not None:
            raise ConfigError(f"WASI_HOST_EMULATOR is set ({emulator}) but WASI_HOST is {host or 'not set'}, this "
                              f"machine ({here}): there is nothing to emulate",
                              hint="set WASI_HOST to the host whose pins to build with, e.g. WASI_HOST=linux-aarch64, "
                                   "or unset WASI_HOST_EMULATOR")
        return here
    if emulator is None:
        raise ConfigError(f"WASI_HOST={host} is not this machine ({here}): that host's binaries need an emulator here",
                          hint="set WASI_HOST_EMULATOR, e.g. WASI_HOST_EMULATOR=qemu-aarch64-static for linux-aarch64 "
                               "(Debian: apt-get install qemu-user-static), or unset WASI_HOST")
    return host


def emulator_for(host: str, settings_host: str | None, emulator: str | None) -> str | None:
    """The emulator an entry for ``host`` starts its binaries with: WASI_HOST_EMULATOR, for WASI_HOST's entries."""
    return emulator if host == settings_host else None


def detect_libc(root: Path = Path("/")) -> Libc | None:
    """``glibc`` or ``musl`` for a Linux system, None when neither is recognised.

    Cheap enough for SCons start-up. glibc answers ``confstr`` in a glibc-linked Python (pypa/packaging's
    manylinux detection asks the same way); otherwise musl is recognised by its dynamic loader,
    ``<root>/lib/ld-musl-<arch>.so.1``, which every musl system has. ``root`` other than ``/`` is for tests.
    """
    if root == Path("/"):
        try:
            if (os.confstr("CS_GNU_LIBC_VERSION") or "").startswith("glibc"):
                return "glibc"
        except (AttributeError, ValueError, OSError):  # no confstr, or a C library that does not know the name
            pass
    try:
        if any(p.name.startswith("ld-musl-") for p in (root / "lib").iterdir()):
            return "musl"
    except OSError:
        pass
    return None
