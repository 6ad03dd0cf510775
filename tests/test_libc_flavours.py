"""The two libc flavours, offline against the stand-in pins: Debian's package (the default, no make) and the source
built with make. Each has its own sysroot key; each gets the symbols the pinned parts need."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, run_scons
from support.standin_cold import write_project
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ToolchainError
from wasi_toolchain.pins.toolchain_lock import parse_lock


ADDED = ("stack_protector.o", "cxa_thread_atexit.o")


def added_members(archive: Path) -> list[str]:
    """Which of the recipe's own objects the stand-in `ar` appended to an archive (each member is written as its
    name on a line, then its bytes), in the order they were added."""
    data = archive.read_bytes()
    found = [(data.find(f"{name}\n".encode()), name) for name in ADDED]
    return [name for position, name in sorted(found) if position >= 0]


def test_the_default_flavour_assembles_the_sysroot_from_the_package_without_make(tmp_path: Path,
                                                                                 server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="debian")
    no_make = tmp_path / "bin-without-make"
    no_make.mkdir()
    result = rig.run(PATH=str(no_make))  # make is nowhere on PATH: this flavour must not need it
    assert result.returncode == 0, result.stderr
    assert "assembling the sysroot from Debian's wasi-libc 0.0~git20241209.574b88d-2" in result.stderr
    assert rig.standin.builds() == 0  # the stand-in Makefile never ran
    rig.assert_complete_and_clean()
    [entry] = rig.entries()
    root = entry / "sysroot"
    assert (root / "include/wasm32-wasi/setjmp.h").is_file() and (root / "include/wasm32-wasip2/stdio.h").is_file()
    assert os.readlink(root / "lib/wasm32-wasip1") == "wasm32-wasi"
    assert os.readlink(root / "include/wasm32-wasip1") == "wasm32-wasi"
    assert not (root / "share").exists() and not (entry / "build-libc").exists()
    # Debian's libc.a defines __stack_chk_*; only __cxa_thread_atexit is added (stand-in ar: names appended).
    assert added_members(root / "lib/wasm32-wasi/libc.a") == ["cxa_thread_atexit.o"]
    assert sorted(p.name for p in entry.iterdir() if p.name.startswith("build")) == []


def test_the_source_flavour_builds_with_make_and_adds_both_symbol_sets(tmp_path: Path,
                                                                       server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="source")
    result = rig.run()
    assert result.returncode == 0, result.stderr
    assert "building wasi-libc from source with the pinned clang" in result.stderr
    assert rig.standin.builds() == 1
    [entry] = rig.entries()
    assert entry.name.startswith("ziglang-source-")
    assert added_members(entry / "sysroot/lib/wasm32-wasi/libc.a") == ["stack_protector.o", "cxa_thread_atexit.o"]
    assert os.readlink(entry / "sysroot/lib/wasm32-wasip1") == "wasm32-wasi"


def test_the_source_flavour_without_make_says_what_to_do(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="source")
    no_make = tmp_path / "bin-without-make"
    no_make.mkdir()
    result = rig.run(PATH=str(no_make))
    assert result.returncode == 2
    assert "building wasi-libc needs make, and no make is on PATH" in result.stderr
    assert "use the default WASI_LIBC=debian, which needs no make" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_flavour_has_its_own_key_and_only_its_own_pins_shape_it(tmp_path: Path, repo: Path) -> None:
    text = (repo / "toolchain.lock").read_text()
    lock = parse_lock(text.encode())
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    debian = sysroot.plan(lock, settings, host="linux-x86_64")
    source = sysroot.plan(lock, settings, host="linux-x86_64", libc="source")
    from_environment = sysroot.plan(lock, Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path),
                                                                 "WASI_LIBC": "source"}), host="linux-x86_64")
    assert (debian.libc, source.libc) == ("debian", "source") and from_environment == source
    assert debian.key != source.key and "-source-" in source.key and "-source-" not in debian.key
    # A new source tarball changes only the source flavour's key, and a new package only the default's.
    new_source = parse_lock(text.replace(lock.wasi_libc_source.sha256, "0" * 64).encode())
    assert sysroot.plan(new_source, settings, host="linux-x86_64") == debian
    assert sysroot.plan(new_source, settings, host="linux-x86_64", libc="source").key != source.key
    new_package = parse_lock(text.replace(lock.wasi_libc.sha256, "1" * 64).encode())
    assert sysroot.plan(new_package, settings, host="linux-x86_64").key != debian.key
    assert sysroot.plan(new_package, settings, host="linux-x86_64", libc="source") == source


def test_an_unknown_flavour_is_a_clear_error(tmp_path: Path, repo: Path) -> None:
    lock = parse_lock((repo / "toolchain.lock").read_bytes())
    with pytest.raises(ToolchainError) as info:
        sysroot.plan(lock, Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)}), libc="musl")
    assert str(info.value).startswith("WASI_LIBC: expected one of 'debian', 'source', got 'musl'")
    project = tmp_path / "project"
    project.mkdir()
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    (project / "toolchain.lock").write_text((repo / "toolchain.lock").read_text())
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_LIBC": "musl"})
    assert result.returncode == 2
    assert "scons: *** WASI_LIBC: expected one of 'debian', 'source', got 'musl'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_sconstruct_reads_the_resolved_flavour(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="source")
    project = write_project(tmp_path / "reader", rig.standin)
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\nprint('flavour', env['WASI_LIBC_FLAVOUR'])\n"
                                        "other = Environment(tools=[('wasi', {'libc': 'debian'})])\n"
                                        "print('flavour', other['WASI_LIBC_FLAVOUR'])\n")
    result = run_scons(project, "-Q", "-n", env=rig.env())
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["flavour source", "flavour debian"]
