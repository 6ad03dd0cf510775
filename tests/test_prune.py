"""`scons wasi-prune`, offline: against the stand-in toolchain built cold (tests/support/standin_cold.py), and against
stand-in entries of both LLVM providers of this repository's lock."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import REPO, LoopbackServer, run_scons
from support.standin_cold import BUILTINS_NAME, LIBC_NAME, LIBCXX_NAME
from test_store_commands import offline_env
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.toolchain.llvm import BUILTINS_PATHS
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.store.store import MANIFEST, STAMP, STORE_MARKER, Store


def files_under(root: Path) -> dict[str, int]:
    """Every file and symlink under ``root`` with its lstat size (what removing it frees)."""
    return {str(p.relative_to(root)): p.lstat().st_size for p in sorted(root.rglob("*"))
            if p.is_symlink() or p.is_file()} if root.exists() else {}


def summary(stdout: str) -> str:
    lines = [line for line in stdout.splitlines() if line.startswith("wasi-prune: ") and " path(s), " in line]
    assert len(lines) == 1, stdout
    return lines[0]


def freed_bytes(stdout: str) -> int:
    return int(re.search(r"free[sd]? [0-9.]+ MB \(([0-9,]+) bytes\)", summary(stdout)).group(1).replace(",", ""))


@pytest.fixture
def built(tmp_path: Path, server: LoopbackServer) -> ColdRig:
    rig = ColdRig.create(tmp_path, server)
    result = rig.run()
    assert result.returncode == 0, result.stderr
    return rig


def this_hosts_pins(rig: ColdRig) -> list[str]:
    return [rig.standin.host_wheel, BUILTINS_NAME, LIBC_NAME, LIBCXX_NAME]


def test_after_a_cold_build_prune_leaves_only_the_entry_and_an_offline_build_still_works(built: ColdRig,
                                                                                         tmp_path: Path) -> None:
    rig = built
    (entry,) = rig.entries()
    before = files_under(rig.cache / "downloads")
    result = rig.run("wasi-prune")
    assert result.returncode == 0, result.stderr
    for name in this_hosts_pins(rig):
        assert (f"wasi-prune: downloads/{rig.standin.sha(name)}/{name}: unpacked into the complete entry "
                f"{entry.name}; removed, ") in result.stdout
    assert f"wasi-prune: sysroots/{entry.name}: kept (a key this SConstruct uses)" in result.stdout
    assert freed_bytes(result.stdout) == sum(len(rig.standin.files[n]) for n in this_hosts_pins(rig)) \
        == sum(before.values())
    assert summary(result.stdout).startswith("wasi-prune: removed 4 path(s), freed ")
    assert files_under(rig.cache / "downloads") == {}
    # parsed-locks/: the lock's TOML data, read by every build (a few KB a lock), is left as it is.
    assert sorted(p.name for p in rig.cache.iterdir()) == [STORE_MARKER, "downloads", "locks", "parsed-locks",
                                                           "sysroots"]

    # What is left is all a build needs: offline, no socket, no pip, no rebuild.
    again = rig.run(**offline_env(rig, tmp_path))
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "offline-guard.log").read_text() == ""
    assert rig.standin.builds() == 1
    assert rig.run("wasi-prune").stdout.count("; removed") == 0


def test_dry_run_lists_the_same_and_removes_nothing(built: ColdRig) -> None:
    rig = built
    before = files_under(rig.cache)
    dry = rig.run("wasi-prune", "--wasi-dry-run")
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.count("; would remove, ") == 4 and "; removed" not in dry.stdout
    assert summary(dry.stdout).startswith("wasi-prune: would remove 4 path(s), would free ")
    after = files_under(rig.cache)
    # Reading the lock may add its parsed form (parsed-locks/, the first run after the store was made); taking the
    # store lock writes locks/. Nothing else changes.
    ignored = ("locks/", "parsed-locks/")
    assert {k: v for k, v in after.items() if not k.startswith(ignored)} == \
        {k: v for k, v in before.items() if not k.startswith(ignored)}
    real = rig.run("wasi-prune")
    assert freed_bytes(real.stdout) == freed_bytes(dry.stdout)
    assert real.stdout.replace("; removed, ", "; would remove, ").splitlines()[:-1] == dry.stdout.splitlines()[:-1]


def test_temp_paths_partial_downloads_and_symlinks_go_and_nothing_outside_is_touched(built: ColdRig,
                                                                                    tmp_path: Path) -> None:
    rig = built
    (entry,) = rig.entries()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "precious.txt").write_text("not the store's")
    wheel = rig.standin.host_wheel
    wheel_dir = rig.cache / "downloads" / rig.standin.sha(wheel)
    leftovers = {
        f"sysroots/.tmp-{entry.name}-123-abcd": None,
        f"downloads/{wheel_dir.name}/.partial-{wheel}": b"half a download",
        f"downloads/{wheel_dir.name}/.tmp-{wheel}-123-abcd": b"x" * 10,
    }
    for relative, body in leftovers.items():
        path = rig.cache / relative
        if body is None:
            (path / "sysroot").mkdir(parents=True)
            (path / "sysroot" / "libc.a").write_bytes(b"y" * 100)
        else:
            path.write_bytes(body)
    (rig.cache / "sysroots" / "looks-like-an-entry").symlink_to(outside)
    result = rig.run("wasi-prune")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"wasi-prune: sysroots/.tmp-{entry.name}-123-abcd: left by an interrupted run; removed, 0.0 MB (100 bytes)" \
        in out
    assert f"wasi-prune: downloads/{wheel_dir.name}/.partial-{wheel}: the unverified part of an interrupted " \
           f"download; removed, 0.0 MB (15 bytes)" in out
    assert f"wasi-prune: downloads/{wheel_dir.name}/.tmp-{wheel}-123-abcd: left by an interrupted run; removed" in out
    assert "wasi-prune: sysroots/looks-like-an-entry: not a directory (scons-wasi never puts anything else there); " \
           f"removed, 0.0 MB ({len(str(outside))} bytes)" in out
    assert (outside / "precious.txt").read_text() == "not the store's"
    assert [p.name for p in (rig.cache / "sysroots").iterdir()] == [entry.name]
    assert not (rig.cache / "downloads").exists() or files_under(rig.cache / "downloads") == {}


def test_a_symlinked_downloads_directory_is_unlinked_and_never_followed(built: ColdRig, tmp_path: Path) -> None:
    rig = built
    elsewhere = tmp_path / "elsewhere"
    shutil.move(str(rig.cache / "downloads"), elsewhere)
    (rig.cache / "downloads").symlink_to(elsewhere)
    before = files_under(elsewhere)
    result = rig.run("wasi-prune")
    assert result.returncode == 0, result.stderr
    assert "wasi-prune: downloads: a symlink where scons-wasi keeps a directory (never followed); removed" \
        in result.stdout
    assert not os.path.lexists(rig.cache / "downloads")
    assert files_under(elsewhere) == before


def test_what_another_process_holds_is_left_alone(built: ColdRig) -> None:
    rig = built
    (entry,) = rig.entries()
    stale = rig.cache / "sysroots" / ("ziglang-old-pins-" + "0" * 24)
    shutil.copytree(entry, stale, symlinks=True)
    store = Store(rig.cache)
    with store.locked(f"sysroot-{stale.name}", "a test building it"):
        result = rig.run("wasi-prune")
    assert result.returncode == 0, result.stderr
    assert f"wasi-prune: sysroots/{stale.name}: busy (another process holds sysroot-{stale.name}); left alone" \
        in result.stdout
    assert (f"wasi-prune: downloads: left alone, another process is building an entry (sysroot-{stale.name}) and "
            f"may be about to unpack them") in result.stdout
    assert stale.is_dir() and len(files_under(rig.cache / "downloads")) == 4

    libc_dir = rig.cache / "downloads" / rig.standin.sha(LIBC_NAME)
    with store.locked(f"download-{libc_dir.name}", "a test downloading it"):
        result = rig.run("wasi-prune")
    assert f"wasi-prune: downloads/{libc_dir.name}: busy (another process holds download-{libc_dir.name}); " \
           f"left alone" in result.stdout
    assert f"wasi-prune: sysroots/{stale.name}: its key is not kept (kept: {entry.name}); removed" in result.stdout
    assert summary(result.stdout).endswith("; 1 busy (in use by another process, left alone)")
    assert [p.name for p in libc_dir.iterdir()] == [LIBC_NAME] and not stale.exists()


def test_explicit_keys_replace_the_default_and_a_malformed_one_is_refused(built: ColdRig) -> None:
    rig = built
    (entry,) = rig.entries()
    other = rig.cache / "sysroots" / ("ziglang-linux-x86_64-" + "1" * 24)
    shutil.copytree(entry, other, symlinks=True)
    bad = rig.run("wasi-prune", "--wasi-keep", "ziglang-typo")
    assert bad.returncode == 2
    assert "scons: *** [wasi-prune] --wasi-keep: 'ziglang-typo' is not a sysroot key" in bad.stderr
    assert "Traceback" not in bad.stderr and other.is_dir() and entry.is_dir()

    result = rig.run("wasi-prune", f"--wasi-keep={other.name}")
    assert result.returncode == 0, result.stderr
    assert f"wasi-prune: sysroots/{other.name}: kept (named with --wasi-keep)" in result.stdout
    assert f"wasi-prune: sysroots/{entry.name}: its key is not kept (kept: {other.name}); removed" in result.stdout
    assert [p.name for p in (rig.cache / "sysroots").iterdir()] == [other.name]


def test_a_directory_that_is_not_a_store_is_refused(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    home = tmp_path / "home"
    (home / "sysroots" / "something").mkdir(parents=True)
    (home / "thesis.tex").write_text("years of work")
    result = rig.run("wasi-prune", WASI_CACHE_DIR=str(home))
    assert result.returncode == 2
    assert (f"scons: *** [wasi-prune] wasi-prune: {home} is not a scons-wasi store (no .wasi-store marker: the tool "
            f"did not create it; it holds sysroots, thesis.tex); refusing to remove anything in it") in result.stderr
    assert (home / "thesis.tex").exists() and (home / "sysroots" / "something").is_dir()
    assert not (home / STORE_MARKER).exists()


# -- switching LLVM providers, with this repository's lock (both providers pinned for linux hosts) ---------------
def stand_in_store(project: Path, cache: Path, built: tuple[str, ...]) -> dict[str, sysroot.Toolchain]:
    """Stand-in entries for the ``built`` providers, stamped as sysroot.ensure() stamps them, and a download of
    every file either provider pins for this host."""
    lock = load_lock(project / "toolchain.lock")
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(cache)})
    toolchains = {p: sysroot.plan(lock, settings, provider=p) for p in ("ziglang", "debian")}
    store = Store(cache)
    store.claim()  # a store the tool made carries its marker
    for provider, toolchain in toolchains.items():
        stamp = {"key": toolchain.key, **sysroot.key_inputs(lock, toolchain.host, provider), "timings": {}}
        for artifact in lock.all_artifacts():
            if artifact.sha256 in json.dumps(stamp):
                path = store.download_path(artifact)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(b"p" * (len(artifact.name) * 100))
        if provider in built:
            (toolchain.bin_dir).mkdir(parents=True)
            (toolchain.bin_dir / "clang").write_text("#!/bin/sh\n")
            builtins = toolchain.resource_dir / BUILTINS_PATHS[0]
            builtins.parent.mkdir(parents=True)
            builtins.write_bytes(b"!<arch>\n")
            (toolchain.root / STAMP).write_text(json.dumps(stamp))
            (toolchain.root / MANIFEST).write_text("{}")
    return toolchains


@pytest.mark.skipif(sys.platform != "linux", reason="the debian provider is pinned for linux hosts only")
@pytest.mark.parametrize("debian_built", [True, False], ids=["debian-entry-built", "debian-entry-not-built-yet"])
def test_after_switching_providers_prune_removes_the_other_providers_entry_and_downloads(tmp_path: Path,
                                                                                        debian_built: bool) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    shutil.copy(REPO / "toolchain.lock", project / "toolchain.lock")
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    cache = tmp_path / "cache"
    toolchains = stand_in_store(project, cache, ("ziglang", "debian") if debian_built else ("ziglang",))
    zig, deb = toolchains["ziglang"], toolchains["debian"]
    lock = load_lock(project / "toolchain.lock")
    zig_only = {a for a in lock.llvm_files(zig.host, "ziglang")}
    deb_files = [a for a in lock.all_artifacts() if Store(cache).download_path(a).exists() and a not in zig_only]
    before = files_under(cache)

    result = run_scons(project, "-Q", "wasi-prune", env={"WASI_CACHE_DIR": str(cache), "WASI_LLVM_PROVIDER": "debian"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"wasi-prune: sysroots/{zig.key}: its key is not kept (kept: {deb.key}); removed" in out
    for artifact in zig_only:
        assert f"downloads/{artifact.sha256}/{artifact.name}: fed the removed entry {zig.key}; removed" in out
    assert not zig.root.exists()
    if debian_built:
        assert f"wasi-prune: sysroots/{deb.key}: kept (a key this SConstruct uses)" in out
        for artifact in deb_files:
            assert f"downloads/{artifact.sha256}/{artifact.name}: unpacked into the complete entry {deb.key}; " \
                   f"removed" in out
        assert files_under(cache / "downloads") == {}
        assert freed_bytes(out) == sum(size for name, size in before.items()
                                       if not name.startswith("sysroots/" + deb.key) and name != STORE_MARKER)
    else:
        # Debian's entry is not built yet: what it needs stays, so building it needs no download (and works offline).
        for artifact in deb_files:
            assert f"downloads/{artifact.sha256}/{artifact.name}: kept (needed to build {deb.key}, which has no " \
                   f"complete entry here)" in out
        assert sorted(files_under(cache / "downloads")) == sorted(f"{a.sha256}/{a.name}" for a in deb_files)
    assert [p.name for p in (cache / "sysroots").iterdir()] == ([deb.key] if debian_built else [])


@pytest.mark.skipif(sys.platform != "linux", reason="wasm-opt is pinned for linux hosts only")
def test_a_built_wasm_opt_entry_is_kept_and_one_never_built_is_not_made_up(tmp_path: Path) -> None:
    """Size mode's wasm-opt has an entry of its own: a prune keeps it once built, like the component tools, so the
    next size-mode build does not download binaryen again. The same prune keeps the toolchain entry."""
    from wasi_toolchain.toolchain import wasm_opt

    project = tmp_path / "proj"
    project.mkdir()
    shutil.copy(REPO / "toolchain.lock", project / "toolchain.lock")
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    cache = tmp_path / "cache"
    zig = stand_in_store(project, cache, ("ziglang",))["ziglang"]
    lock = load_lock(project / "toolchain.lock")
    optimizer = wasm_opt.plan(lock, Settings.from_environ({"WASI_CACHE_DIR": str(cache)}))
    env = {"WASI_CACHE_DIR": str(cache), "WASI_LLVM_PROVIDER": "ziglang"}

    # Not built: nothing is said of it, and nothing is created for it.
    result = run_scons(project, "-Q", "wasi-prune", env=env)
    assert result.returncode == 0, result.stderr
    assert optimizer.key not in result.stdout and not optimizer.root.exists()

    # Built (a stand-in: the stamp, the binary and the loader are what make it complete): kept, with the reason.
    (optimizer.root / "usr/bin").mkdir(parents=True)
    (optimizer.root / "usr/bin/wasm-opt").write_text("stand-in")
    optimizer.loader.parent.mkdir(parents=True, exist_ok=True)
    optimizer.loader.write_text("stand-in")
    (optimizer.root / STAMP).write_text(json.dumps({"key": optimizer.key, **wasm_opt.key_inputs(lock, optimizer.host)}))
    assert optimizer.is_complete()
    result = run_scons(project, "-Q", "wasi-prune", env=env)
    assert result.returncode == 0, result.stderr
    assert f"wasi-prune: sysroots/{optimizer.key}: kept (wasm-opt for this SConstruct's size-mode targets)" \
        in result.stdout
    assert f"wasi-prune: sysroots/{zig.key}: kept (a key this SConstruct uses)" in result.stdout
    assert optimizer.is_complete() and zig.is_complete()
