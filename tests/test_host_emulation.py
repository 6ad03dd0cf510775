"""Building with another host's pins through an emulator (issue 23): WASI_HOST and WASI_HOST_EMULATOR, checked and
planned offline. tests/test_e2e_aarch64.py builds with them under qemu-user."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from support.helpers import REPO
from wasi_toolchain.errors import ConfigError
from wasi_toolchain.host import detect_host
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.settings import Settings
from wasi_toolchain.toolchain import component_tools, sysroot, wasm_opt
from wasi_toolchain.toolchain.launch import wrapper_script
from wasi_toolchain.toolchain.llvm import get_provider

OTHER = "linux-aarch64" if detect_host() != "linux-aarch64" else "linux-x86_64"


@pytest.fixture
def emulator(tmp_path: Path) -> Path:
    """An executable named like the real one, on a PATH of its own (never run here)."""
    path = tmp_path / "bin dir" / "qemu-aarch64-static"
    path.parent.mkdir()
    path.write_text("#!/bin/sh\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), **env})


def test_the_emulator_is_found_on_path_and_kept_as_an_absolute_path(tmp_path: Path, emulator: Path) -> None:
    s = settings(tmp_path, WASI_HOST=OTHER, WASI_HOST_EMULATOR=emulator.name, PATH=str(emulator.parent))
    assert (s.host, s.host_emulator) == (OTHER, str(emulator))


@pytest.mark.parametrize("env, message", [
    ({"WASI_HOST": "linux-riscv64"}, "WASI_HOST: expected one of linux-x86_64, linux-aarch64, macos-x86_64, "
                                     "macos-arm64, got 'linux-riscv64'"),
    ({"WASI_HOST_EMULATOR": "no-such-emulator", "PATH": "/nonexistent"},
     "WASI_HOST_EMULATOR: 'no-such-emulator' is not an executable file (looked on PATH too)"),
])
def test_a_bad_value_is_our_error(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings(tmp_path, **env)
    assert str(info.value).startswith(message)


def test_another_host_without_an_emulator_and_an_emulator_without_another_host_are_refused(
        tmp_path: Path, emulator: Path) -> None:
    lock = load_lock(REPO / "toolchain.lock")
    with pytest.raises(ConfigError, match=f"WASI_HOST={OTHER} is not this machine .*: that host's binaries need an "
                                          f"emulator here"):
        sysroot.plan(lock, settings(tmp_path, WASI_HOST=OTHER))
    with pytest.raises(ConfigError, match="WASI_HOST_EMULATOR is set .* but WASI_HOST is not set"):
        sysroot.plan(lock, settings(tmp_path, WASI_HOST_EMULATOR=str(emulator)))


def test_emulated_entries_have_keys_of_their_own_and_the_default_keys_are_unchanged(tmp_path: Path,
                                                                                     emulator: Path) -> None:
    lock = load_lock(REPO / "toolchain.lock")
    plain = settings(tmp_path)
    emulated = settings(tmp_path, WASI_HOST=OTHER, WASI_HOST_EMULATOR=str(emulator))
    for plan in (sysroot.plan, wasm_opt.plan, component_tools.plan):
        native, other = plan(lock, plain), plan(lock, emulated)
        assert (native.host, other.host) == (detect_host(), OTHER)
        assert other.emulator == str(emulator) and native.emulator is None
        # The same host's pins planned without an emulator (what a real aarch64 machine plans) get another key.
        assert plan(lock, plain, host=OTHER).key != other.key
    # Without WASI_HOST, nothing about a key changed: the inputs hold no emulator field at all.
    assert "emulator" not in sysroot.key_inputs(lock, detect_host(), "ziglang")


def test_every_tool_of_an_emulated_entry_is_started_through_the_emulator(tmp_path: Path) -> None:
    """The wrapper scripts run: an emulator at a path with a quote and a space says what it was asked to start."""
    emulator = tmp_path / "it's an emulator"
    emulator.write_text("#!/bin/sh\nprintf '%s\\n' \"$@\"\n")
    emulator.chmod(0o755)
    for provider in ("ziglang", "debian"):
        entry = tmp_path / provider
        (entry / "bin").mkdir(parents=True)
        for tool, spec in get_provider(provider, OTHER, str(emulator)).specs().items():
            if spec is None:
                continue
            wrapper = entry / "bin" / tool
            wrapper.write_text(wrapper_script(spec))
            wrapper.chmod(0o755)
            started = subprocess.run([str(wrapper), "--an-argument"], capture_output=True, text=True, check=True)
            words = started.stdout.splitlines()
            assert words[-1] == "--an-argument", (provider, tool)
            assert words[0].startswith(f"{entry}/bin/../"), (provider, tool, words)  # the arm64 binary or loader
    tool = wasm_opt.plan(load_lock(REPO / "toolchain.lock"),
                         settings(tmp_path, WASI_HOST=OTHER, WASI_HOST_EMULATOR=str(emulator)))
    assert tool.command()[0] == str(emulator)
