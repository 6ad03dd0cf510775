"""The linux-aarch64 pins, proven on this x86_64 machine under qemu-user (issue 23): WASI_HOST=linux-aarch64 with
WASI_HOST_EMULATOR=qemu-aarch64-static builds with the aarch64 zig (static) or Debian's arm64 clang (through its
pinned arm64 glibc loader), every tool started through the emulator, and the stripped modules are the x86_64 build's
bytes. Slow: each compile takes about a second under the emulator, and the aarch64 pins are downloaded once.

Skipped where qemu-aarch64-static is missing (.ci/run installs qemu-user-static)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.helpers import run_scons
from test_e2e_size import checkout

EMULATOR = shutil.which("qemu-aarch64-static")
SCONSTRUCT = """\
SConscript('samples/modes.SConscript', exports={{'MODES': {{'speed': {{}}}}, 'LIBC': 'debian', 'SAMPLES': {samples}}})
"""
# Debian's clang is dynamically linked against libLLVM: under qemu one C++ compile takes minutes on a loaded machine
# (zig's static clang about a second), so that provider builds the C sample only. Both gave wordfreq's bytes by hand.
SAMPLES = {"ziglang": ["first", "wordfreq"], "debian": ["first"]}


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(EMULATOR is None, reason="qemu-aarch64-static is not installed (Debian: qemu-user-static)")
@pytest.mark.parametrize("provider", ["ziglang", "debian"])
def test_the_aarch64_pins_under_emulation_give_the_x86_64_bytes(real, tmp_path: Path, repo: Path,  # type: ignore[no-untyped-def]
                                                                provider: str) -> None:
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    sconstruct = SCONSTRUCT.format(samples=SAMPLES[provider])
    native = checkout(tmp_path / "x86_64", repo, sconstruct)
    built = run_scons(native, "-Q", ".", env={"WASI_CACHE_DIR": str(project.cache)})
    assert built.returncode == 0, built.stdout + built.stderr

    arm = checkout(tmp_path / "aarch64", repo, sconstruct)
    store = tmp_path / "aarch64-store"
    env = {"WASI_CACHE_DIR": str(store), "WASI_HOST": "linux-aarch64", "WASI_HOST_EMULATOR": "qemu-aarch64-static",
           "WASI_LLVM_PROVIDER": provider}
    emulated = run_scons(arm, "-Q", ".", env=env)
    assert emulated.returncode == 0, emulated.stdout + emulated.stderr
    entries = [p for p in (store / "sysroots").iterdir() if not p.name.startswith(".")]
    assert [e.name.startswith(f"{provider}-linux-aarch64-") for e in entries] == [True]
    clang = (entries[0] / "bin" / "clang").read_text()
    assert f"{EMULATOR} " in clang  # the wrapper starts the aarch64 binary through the emulator
    for sample in SAMPLES[provider]:
        for module in (f"speed/{sample}.wasm", f"speed/{sample}.wasm.names"):
            assert (arm / "build" / module).read_bytes() == (native / "build" / module).read_bytes(), module


SIZE_AND_P2 = """\
SConscript('samples/modes.SConscript', exports={'MODES': {'size': {'WASI_OPTIMIZE': 'size'}}, 'LIBC': 'debian',
                                                'SAMPLES': ['first']})
p2 = Environment(tools=['wasi'], WASI_TARGET='wasm32-wasip2', WASI_OBJSUFFIX='.p2.o')
p2.WasiProgram('build/p2/first', ['samples/first.c'])
"""


@pytest.mark.e2e
@pytest.mark.slow
@pytest.mark.skipif(EMULATOR is None, reason="qemu-aarch64-static is not installed (Debian: qemu-user-static)")
def test_size_mode_and_a_component_under_emulation_give_the_x86_64_bytes(real, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                          repo: Path) -> None:
    """wasm-opt (size mode) and wasm-tools (a wasm32-wasip2 component) from their arm64 pins, under the emulator."""
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    native = checkout(tmp_path / "x86_64", repo, SIZE_AND_P2)
    built = run_scons(native, "-Q", ".", env={"WASI_CACHE_DIR": str(project.cache)})
    assert built.returncode == 0, built.stdout + built.stderr
    arm = checkout(tmp_path / "aarch64", repo, SIZE_AND_P2)
    env = {"WASI_CACHE_DIR": str(tmp_path / "aarch64-store"), "WASI_HOST": "linux-aarch64",
           "WASI_HOST_EMULATOR": "qemu-aarch64-static"}
    emulated = run_scons(arm, "-Q", ".", env=env)
    assert emulated.returncode == 0, emulated.stdout + emulated.stderr
    assert "wasi: wasm-opt -Oz build/size/first.wasm" in emulated.stdout
    for module in ("size/first.wasm", "size/first.wasm.names", "p2/first.wasm"):
        assert (arm / "build" / module).read_bytes() == (native / "build" / module).read_bytes(), module
