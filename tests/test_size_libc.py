"""A libc built for size: with WASI_LIBC='source', size-mode programs link with wasi-libc built at -Oz, from an
entry of its own; speed programs and the debian flavour are as before. Offline, with the stand-in toolchain."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, run_scons
from support.standin import calls, fake_entry, fake_size_libc, fake_wasm_opt, output_of
from test_builders import write_project
from test_libc_flavours import added_members
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ToolchainError
from wasi_toolchain.pins.toolchain_lock import parse_lock
from wasi_toolchain.toolchain.entry import LIB_DIR
from wasi_toolchain.store.store import MANIFEST, STAMP

# The fields of key_inputs() before the -Oz libc existed: a speed entry's key must be computed from exactly these,
# so that every store built before keeps its entries.
KEY_FIELDS = {"recipe", "host", "provider", "llvm", "builtins", "wasi-libc", "libcxx", "target"}

needs_linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="size mode's wasm-opt is for Linux")


def _lock_and_settings(repo: Path, tmp_path: Path) -> tuple[object, Settings]:
    return parse_lock((repo / "toolchain.lock").read_bytes()), Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})


# -- keys ----------------------------------------------------------------------------------------------------------
def test_the_speed_keys_do_not_depend_on_the_size_libc(repo: Path, tmp_path: Path) -> None:
    lock, settings = _lock_and_settings(repo, tmp_path)
    for libc in ("debian", "source"):
        inputs = sysroot.key_inputs(lock, "linux-x86_64", "ziglang", libc)  # type: ignore[arg-type]
        assert set(inputs) == KEY_FIELDS
        assert inputs == sysroot.key_inputs(lock, "linux-x86_64", "ziglang", libc, "speed")  # type: ignore[arg-type]
        assert "-Oz" not in json.dumps(inputs) and "size" not in json.dumps(inputs)
    source = sysroot.key_inputs(lock, "linux-x86_64", "ziglang", "source")  # type: ignore[arg-type]
    assert source["wasi-libc"]["make"]["EXTRA_CFLAGS"] == "-O2 -DNDEBUG"  # type: ignore[index]


def test_the_size_key_differs_by_the_make_flags_only_and_follows_the_speed_keys_pins(repo: Path,
                                                                                    tmp_path: Path) -> None:
    lock, settings = _lock_and_settings(repo, tmp_path)
    base = sysroot.plan(lock, settings, host="linux-x86_64", provider="ziglang",  # type: ignore[arg-type]
                        libc="source")
    size = sysroot.plan_size_libc(base, lock, settings)  # type: ignore[arg-type]
    assert size.key != base.key and size.root != base.root and "-source-size-" in size.key
    assert size.base == base and size.libc_optimize == "size" and base.libc_optimize == "speed"
    # Its tools are the base entry's; its sysroot is its own.
    assert size.bin_dir == base.bin_dir and size.resource_dir == base.resource_dir
    assert size.sysroot == size.root / "sysroot" != base.sysroot
    speed_inputs = sysroot.key_inputs(lock, "linux-x86_64", "ziglang", "source")  # type: ignore[arg-type]
    size_inputs = sysroot.key_inputs(lock, "linux-x86_64", "ziglang", "source", "size")  # type: ignore[arg-type]
    assert size_inputs.pop("libc-optimize") == "size"
    assert size_inputs["wasi-libc"]["make"]["EXTRA_CFLAGS"] == "-Oz -DNDEBUG"  # type: ignore[index]
    libc_inputs = size_inputs["wasi-libc"]
    libc_inputs["make"] = dict(libc_inputs["make"], EXTRA_CFLAGS="-O2 -DNDEBUG")  # type: ignore[index]
    assert size_inputs == speed_inputs
    # A new source tarball changes both keys; the debian package's pin changes neither.
    text = (repo / "toolchain.lock").read_text()
    new_source = parse_lock(text.replace(lock.wasi_libc_source.sha256, "0" * 64).encode())  # type: ignore[attr-defined]
    new_base = sysroot.plan(new_source, settings, host="linux-x86_64", provider="ziglang", libc="source")
    assert sysroot.plan_size_libc(new_base, new_source, settings).key != size.key
    new_package = parse_lock(text.replace(lock.wasi_libc.sha256, "1" * 64).encode())  # type: ignore[attr-defined]
    same_base = sysroot.plan(new_package, settings, host="linux-x86_64", provider="ziglang", libc="source")
    assert sysroot.plan_size_libc(same_base, new_package, settings) == size


def test_the_debian_flavour_has_no_size_libc(repo: Path, tmp_path: Path) -> None:
    lock, settings = _lock_and_settings(repo, tmp_path)
    debian = sysroot.plan(lock, settings, host="linux-x86_64", provider="ziglang")  # type: ignore[arg-type]
    with pytest.raises(ToolchainError, match="only the source flavour's default entry has one"):
        sysroot.plan_size_libc(debian, lock, settings)  # type: ignore[arg-type]
    with pytest.raises(ToolchainError, match="Debian's libc is prebuilt"):
        sysroot.key_inputs(lock, "linux-x86_64", "ziglang", "debian", "size")  # type: ignore[arg-type]


# -- which sysroot each link gets (stand-in toolchain) -------------------------------------------------------------
SCONSTRUCT = """\
env = Environment(tools=[('wasi', {{'libc': '{libc}'}})])
env.WasiProgram('out/fast', ['app/one.c'], CPPPATH=['include'])
env.WasiProgram('out/small', ['app/two.c'], CPPPATH=['include'], WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.size.o')
small = env.Clone(WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.clone.o')
small.WasiProgram('out/clone', ['app/one.c'], CPPPATH=['include'])
"""


def _sysroot_of(argv: list[str]) -> str:
    [flag] = [a for a in argv if a.startswith("--sysroot=")]
    return flag[len("--sysroot="):]


def _argv_writing(log: Path, output: str) -> list[str]:
    [argv] = [c["argv"] for c in calls(log) if c["tool"] == "clang" and output_of(c) == output]
    return argv  # type: ignore[return-value]


@needs_linux
def test_size_programs_of_the_source_flavour_link_with_the_oz_libc_and_speed_programs_with_the_default(
        tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT.format(libc="source"))
    cache = tmp_path / "cache"
    base, log = fake_entry(project, cache, libc="source")
    size = fake_size_libc(project, cache, base)
    fake_wasm_opt(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    # Per builder call and per Clone alike: the link names the -Oz libc's sysroot, and runs its base's tools.
    for program in ("out/small.wasm", "out/clone.wasm"):
        link = _argv_writing(log, program)
        assert _sysroot_of(link) == str(size.sysroot)
        assert f"-fuse-ld={base.bin_dir / 'wasm-ld'}" in link
    assert _sysroot_of(_argv_writing(log, "out/fast.wasm")) == str(base.sysroot)
    # Compiles keep the default sysroot (the headers are the same), so their command lines are unchanged.
    for obj in ("app/one.wasi.o", "app/two.size.o", "app/one.clone.o"):
        assert _sysroot_of(_argv_writing(log, obj)) == str(base.sysroot)
    # Size programs depend on the -Oz entry's stamp, whose content is its key; the speed one does not.
    stamp = project / ".wasi" / f"toolchain-{size.key}.stamp"
    assert stamp.read_text() == size.key + "\n"
    tree = run_scons(project, "-Q", "--tree=prune", "out/fast.wasm", env={"WASI_CACHE_DIR": str(cache)})
    assert size.key not in tree.stdout and base.key in tree.stdout


@needs_linux
def test_a_speed_build_never_needs_the_oz_libc(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT.format(libc="source"))
    cache = tmp_path / "cache"
    base, _ = fake_entry(project, cache, libc="source")  # no -Oz entry: building it would need the network
    result = run_scons(project, "-Q", "out/fast.wasm", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert [p.name for p in (cache / "sysroots").iterdir()] == [base.key]
    assert not list((project / ".wasi").glob("toolchain-*-size-*"))


@needs_linux
def test_the_debian_flavour_links_size_programs_with_its_one_sysroot(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT.format(libc="debian"))
    cache = tmp_path / "cache"
    base, log = fake_entry(project, cache)
    fake_wasm_opt(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    for program in ("out/fast.wasm", "out/small.wasm", "out/clone.wasm"):
        assert _sysroot_of(_argv_writing(log, program)) == str(base.sysroot)
    assert sorted(p.name for p in (cache / "sysroots").iterdir() if not p.name.startswith("wasm-opt-")) == [base.key]
    assert not list((project / ".wasi").glob("toolchain-*-size-*"))


def test_prune_keeps_a_built_oz_libc_and_wasi_toolchain_prepares_it_in_size_mode(tmp_path: Path,
                                                                                 repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, "env = Environment(tools=[('wasi', {'libc': 'source'})])\n")
    cache = tmp_path / "cache"
    base, _ = fake_entry(project, cache, libc="source")
    env = {"WASI_CACHE_DIR": str(cache)}
    size = sysroot.plan_size_libc(base, parse_lock((project / "toolchain.lock").read_bytes()),
                                  Settings.from_environ(env))
    # Not built: not mentioned, not made up.
    result = run_scons(project, "-Q", "wasi-prune", env=env)
    assert result.returncode == 0, result.stderr
    assert size.key not in result.stdout and not size.root.exists()
    fake_size_libc(project, cache, base)
    result = run_scons(project, "-Q", "wasi-prune", env=env)
    assert result.returncode == 0, result.stderr
    assert f"wasi-prune: sysroots/{size.key}: kept (the -Oz libc of this SConstruct's size-mode targets)" \
        in result.stdout
    assert size.is_complete() and base.is_complete()
    # `scons wasi-toolchain` prepares what the environment's programs link with: the -Oz libc too, in size mode.
    result = run_scons(project, "-Q", "wasi-toolchain", env=env)
    assert result.returncode == 0, result.stderr
    assert not (project / ".wasi" / f"toolchain-{size.key}.stamp").exists()
    (project / "SConstruct").write_text("env = Environment(tools=[('wasi', {'libc': 'source'})], "
                                        "WASI_OPTIMIZE='size')\n")
    result = run_scons(project, "-Q", "wasi-toolchain", env=env)
    assert result.returncode == 0, result.stderr
    assert (project / ".wasi" / f"toolchain-{size.key}.stamp").read_text() == size.key + "\n"


# -- the cold build of the entry (stand-in pins, real recipe: fetch from the store, make, symbols, libc++) --------
def test_a_cold_wasi_toolchain_in_size_mode_builds_the_oz_libc_on_the_source_entry(tmp_path: Path,
                                                                                  server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="source")
    (rig.project(0) / "SConstruct").write_text("env = Environment(tools=['wasi'], WASI_OPTIMIZE='size')\n")
    real_make = shutil.which("make")
    assert real_make is not None
    wrapped = tmp_path / "make-wrapper"
    wrapped.mkdir()
    make_log = tmp_path / "make-argv.txt"
    (wrapped / "make").write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{make_log}"\nexec "{real_make}" "$@"\n')
    (wrapped / "make").chmod(0o755)
    path = f"{wrapped}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    result = rig.run(PATH=path)
    assert result.returncode == 0, result.stderr
    assert rig.standin.builds() == 2  # the default entry's make, then the -Oz one's
    [speed_make, size_make] = make_log.read_text().splitlines()
    assert "EXTRA_CFLAGS=-O2 -DNDEBUG --sysroot=" in speed_make and "-Oz" not in speed_make
    assert "EXTRA_CFLAGS=-Oz -DNDEBUG --sysroot=" in size_make and "-O2" not in size_make
    assert "(make -j2, -Oz)" in result.stderr
    entries = {p.name: p for p in rig.entries()}
    [size_name] = [name for name in entries if "-source-size-" in name]
    [base_name] = [name for name in entries if name != size_name]
    size_root = entries[size_name]
    # Only a sysroot: the tools are the base entry's.
    assert sorted(p.name for p in size_root.iterdir()) == sorted(["sysroot", STAMP, MANIFEST])
    assert added_members(size_root / "sysroot" / LIB_DIR / "libc.a") == ["stack_protector.o", "cxa_thread_atexit.o"]
    assert (size_root / "sysroot" / LIB_DIR / "libc++.a").is_file()
    stamp = json.loads((size_root / STAMP).read_text())
    assert stamp["base"] == base_name and stamp["libc-optimize"] == "size"
    assert stamp["wasi-libc"]["make"]["EXTRA_CFLAGS"] == "-Oz -DNDEBUG"
    # Warm: nothing is built again; wasi-verify checks the entry like any other.
    assert rig.run(PATH=path).returncode == 0 and rig.standin.builds() == 2
    verify = rig.run("wasi-verify")
    assert verify.returncode == 0, verify.stderr
    assert f"wasi-verify: sysroots/{size_name}: ok" in verify.stdout
