"""Which pinned host this machine is."""

from __future__ import annotations

import platform


from .errors import HostNotSupported

KNOWN_HOSTS = ("linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64")

_MACHINES = {
    "x86_64": "x86_64", "amd64": "x86_64",
    "aarch64": "aarch64", "arm64": "aarch64",
}


def detect_host(system: str | None = None, machine: str | None = None) -> str:
    """Return this machine's host name in the lock's vocabulary, e.g. ``linux-x86_64``."""
    system = system if system is not None else platform.system()
    machine = machine if machine is not None else platform.machine()
    cpu = _MACHINES.get(machine.lower())
    if system == "Windows":
        raise HostNotSupported(
            "Windows is not supported yet: the sysroot build runs wasi-libc's Makefile, which needs make and a "
            "POSIX shell",
            hint="build under WSL2 (linux-x86_64), or on Linux or macOS",
        )
    if system == "Linux" and cpu:
        return f"linux-{cpu}"
    if system == "Darwin" and cpu:
        return "macos-arm64" if cpu == "aarch64" else "macos-x86_64"
    raise HostNotSupported(
        f"unsupported host: {system} on {machine}; supported hosts: {', '.join(KNOWN_HOSTS)}",
        hint="run on one of the supported hosts",
    )


