"""Size mode's wasm-opt: the [binaryen] pins in the lock, the entry's plan (and the default sysroot key it must not
touch), a clear error on hosts without a pin, and the link + wasm-opt commands through the stand-in toolchain."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.helpers import run_scons
from support.standin import calls, fake_entry, fake_wasm_opt
from test_builders import write_project
from wasi_toolchain.toolchain import sysroot, wasm_opt
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import HostNotSupported, LockError
from wasi_toolchain.toolchain.llvm import DebianProvider
from wasi_toolchain.pins.toolchain_lock import load_lock, parse_lock

SCONSTRUCT = """\
env = Environment(tools=['wasi'])
env.WasiProgram('out/fast', ['app/one.c'], CPPPATH=['include'])
small = env.Clone(WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.size.o')
small.WasiProgram('out/small', ['app/two.c'], CPPPATH=['include'])
small.WasiProgram('out/small-names', ['app/one.c'], CPPPATH=['include'], WASI_STRIP=0, WASI_OBJSUFFIX='.n.o')
small.WasiProgram('out/small-nameless', ['app/one.c'], CPPPATH=['include'], WASI_NAMES=0, WASI_OBJSUFFIX='.nn.o')
"""


def _without_binaryen(text: str) -> str:
    return re.sub(r"\n\[binaryen[^\n]*\n(?:(?!\n\[)[\s\S])*", "\n", text)


def test_the_lock_pins_wasm_opt_for_the_debian_hosts(repo: Path) -> None:
    lock = load_lock(repo / "toolchain.lock")
    assert lock.binaryen_version
    for host in DebianProvider.MULTIARCH:
        names = [a.name for a in lock.wasm_opt_files(host)]
        assert any(n.startswith("binaryen_") for n in names) and any(n.startswith("libc6_") for n in names)
        pinned = [(a.sha256, a.name) for a in lock.all_artifacts()]
        assert all((a.sha256, a.name) in pinned for a in lock.wasm_opt_files(host))  # wasi-fetch-all has them
    assert len(pinned) == len(set(pinned))  # the runtime packages it shares with the debian provider, once


def test_the_default_sysroot_key_does_not_depend_on_the_binaryen_pin(repo: Path, tmp_path: Path) -> None:
    text = (repo / "toolchain.lock").read_text()
    stripped = _without_binaryen(text)
    assert "[binaryen" not in stripped and stripped != text
    without = parse_lock(stripped.encode())
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    for host in DebianProvider.MULTIARCH:
        assert (sysroot.plan(load_lock(repo / "toolchain.lock"), settings, host=host).key
                == sysroot.plan(without, settings, host=host).key)
    with pytest.raises(HostNotSupported, match=r"WASI_OPTIMIZE='size' needs wasm-opt.*pins none for this host"):
        wasm_opt.plan(without, settings, host="linux-x86_64")


def test_a_host_the_pin_does_not_cover_gets_a_clear_error(repo: Path, tmp_path: Path) -> None:
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    with pytest.raises(HostNotSupported) as info:
        wasm_opt.plan(load_lock(repo / "toolchain.lock"), settings, host="macos-arm64")
    assert "runs on linux-x86_64, linux-aarch64 only; this host is macos-arm64" in str(info.value)
    assert "WASI_OPTIMIZE='speed'" in str(info.value)


def test_the_entry_key_follows_the_pin(repo: Path, tmp_path: Path) -> None:
    text = (repo / "toolchain.lock").read_text()
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    a = wasm_opt.plan(parse_lock(text.encode()), settings, host="linux-x86_64")
    sha = load_lock(repo / "toolchain.lock").wasm_opt_files("linux-x86_64")[0].sha256
    b = wasm_opt.plan(parse_lock(text.replace(sha, "0" * 64).encode()), settings, host="linux-x86_64")
    assert a.key != b.key and a.key.startswith("wasm-opt-linux-x86_64-")
    assert a.root.parent == b.root.parent == tmp_path / "sysroots"


def test_a_bad_binaryen_table_is_a_lock_error(repo: Path) -> None:
    text = (repo / "toolchain.lock").read_text().replace("[binaryen.hosts.linux-x86_64]", "[binaryen.hosts.vax-vms]")
    with pytest.raises(LockError, match=r"binaryen\.hosts\.vax-vms: unknown host"):
        parse_lock(text.encode())


def scons(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(cache)})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the pinned wasm-opt is for Linux hosts")
def test_size_mode_links_then_runs_wasm_opt_in_place(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT)
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    tool = fake_wasm_opt(project, cache)
    result = scons(project, cache, ".")
    assert result.returncode == 0, result.stderr
    recorded = [(c["tool"], c["argv"]) for c in calls(cache / "calls.jsonl")]
    link = recorded.index(next(r for r in recorded if r[0] == "clang" and "out/small.wasm" in r[1]))
    assert "-Oz" in recorded[link][1]
    # Names kept (the default): wasm-opt keeps the name section (-g), since it renumbers functions, and the names
    # file comes from its output; then the module loses the section, as with -s.
    assert recorded[link + 1] == ("wasm-opt", [wasm_opt.OPT_LEVEL, *wasm_opt.FEATURES, "-g", "out/small.wasm",
                                               "-o", "out/small.wasm"])
    assert (project / "out/small.wasm.names").read_text() == "0 standin_wasm_opt\n"
    assert b"\x04name" not in (project / "out/small.wasm").read_bytes()
    # Unstripped, wasm-opt keeps the name section (-g) in the module too.
    assert ("wasm-opt", [wasm_opt.OPT_LEVEL, *wasm_opt.FEATURES, "-g", "out/small-names.wasm", "-o",
                         "out/small-names.wasm"]) in recorded
    assert b"\x04name" in (project / "out/small-names.wasm").read_bytes()
    # WASI_NAMES=0: stripped by the link (-s), and wasm-opt has no names to keep.
    assert ("wasm-opt", [wasm_opt.OPT_LEVEL, *wasm_opt.FEATURES, "out/small-nameless.wasm", "-o",
                         "out/small-nameless.wasm"]) in recorded
    assert not (project / "out/small-nameless.wasm.names").exists()
    # speed mode: no wasm-opt for out/fast.
    assert not any(t == "wasm-opt" and "out/fast.wasm" in argv for t, argv in recorded)
    assert "wasi: wasm-opt -Oz out/small.wasm" in result.stdout
    assert (project / ".wasi" / f"{tool.key}.stamp").read_text() == tool.key + "\n"


def test_speed_mode_never_needs_the_wasm_opt_entry(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT)
    cache = tmp_path / "cache"
    fake_entry(project, cache)  # no wasm-opt entry: building it would try the network, which tests refuse
    result = scons(project, cache, "out/fast.wasm")
    assert result.returncode == 0, result.stderr
    assert not list((cache / "sysroots").glob("wasm-opt-*"))
    assert not list((project / ".wasi").glob("wasm-opt-*"))


def test_size_mode_on_a_host_without_a_pin_names_the_sconstruct_line(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, "env = Environment(tools=['wasi'])\n"
                            "env.WasiProgram('out/small', ['app/two.c'], CPPPATH=['include'], WASI_OPTIMIZE='size')\n")
    (project / "toolchain.lock").write_text(_without_binaryen((repo / "toolchain.lock").read_text()))
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    result = scons(project, cache, ".")
    assert result.returncode != 0
    assert "scons: *** SConstruct:2: WASI_OPTIMIZE='size' needs wasm-opt" in result.stderr
