"""Host detection: the lock's host names, the C library on Linux, and the hosts we refuse with a reason."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest

from wasi_toolchain.errors import HostNotSupported
from wasi_toolchain.host import detect_host, detect_libc


@pytest.mark.parametrize("system, machine, host", [
    ("Linux", "x86_64", "linux-x86_64"), ("Linux", "AMD64", "linux-x86_64"), ("Linux", "aarch64", "linux-aarch64"),
    ("Linux", "arm64", "linux-aarch64"), ("Darwin", "arm64", "macos-arm64"), ("Darwin", "x86_64", "macos-x86_64"),
])
def test_supported_hosts_map_to_lock_names(system: str, machine: str, host: str) -> None:
    assert detect_host(system, machine) == host


@pytest.mark.parametrize("system", ["Windows", "CYGWIN_NT-10.0-19045", "MSYS_NT-10.0-22631", "MINGW64_NT-10.0"])
def test_windows_in_every_guise_is_not_supported_yet_and_says_why(system: str) -> None:
    with pytest.raises(HostNotSupported) as info:
        detect_host(system, "AMD64")
    assert str(info.value) == (
        f"Windows is not supported yet ({system} on AMD64): the sysroot build runs wasi-libc's Makefile, which "
        f"needs make and a POSIX shell\n"
        f"  next step: build under WSL2 (it is linux-x86_64 or linux-aarch64), or on Linux or macOS")


@pytest.mark.parametrize("system, machine", [("Linux", "riscv64"), ("Linux", "armv7l"), ("FreeBSD", "amd64"),
                                             ("Linux", "aarch64_be")])
def test_other_hosts_list_the_supported_ones(system: str, machine: str) -> None:
    with pytest.raises(HostNotSupported) as info:
        detect_host(system, machine)
    assert str(info.value).startswith(f"unsupported host: {system} on {machine}; supported hosts: linux-x86_64, "
                                      f"linux-aarch64, macos-x86_64, macos-arm64")


def test_musl_is_recognised_by_its_loader(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "ld-musl-aarch64.so.1").write_bytes(b"")
    assert detect_libc(tmp_path) == "musl"


def test_a_root_without_a_known_loader_is_unknown(tmp_path: Path) -> None:
    assert detect_libc(tmp_path) is None
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "libc.so.6").write_bytes(b"")  # not enough on its own: only a glibc Python's confstr counts
    assert detect_libc(tmp_path) is None


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="a glibc Linux only")
def test_this_glibc_machine_is_recognised() -> None:
    # An independent witness: platform.libc_ver() reads the interpreter binary instead of asking confstr.
    assert detect_libc() == "glibc"
