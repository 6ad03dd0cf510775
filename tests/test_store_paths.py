"""A store whose path holds a space and a quote (issue 11, item 7): the cold build works, through the stand-in
toolchain whose Makefile, like wasi-libc's, uses its paths unquoted in rules and shell commands."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, store_leftovers
from wasi_toolchain.store.store import STAMP, check_manifest


def test_a_store_path_with_a_space_and_a_quote_builds_and_verifies(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    odd = tmp_path / "odd dir" / "it's the store"
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    result = rig.run(WASI_CACHE_DIR=str(odd), TMPDIR=str(private_tmp))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    entries = [p for p in (odd / "sysroots").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1
    entry = entries[0]
    assert json.loads((entry / STAMP).read_text())["key"] == entry.name
    assert check_manifest(entry) == []
    assert (entry / "sysroot" / "lib" / "wasm32-wasi" / "libc.a").is_file()
    assert (entry / "sysroot" / "include" / "stdio.h").is_file()
    assert rig.standin.builds() == 1
    assert store_leftovers(odd) == []
    assert list(private_tmp.iterdir()) == []  # the private build dir is gone

    verify = rig.run("wasi-verify", WASI_CACHE_DIR=str(odd))
    assert verify.returncode == 0, verify.stderr
    assert "0 removed" in verify.stdout

    # The builders' command lines keep each store path one word (SCons would split it at the space).
    project = rig.project(0)
    (project / "p.c").write_text("int main(void) { return 0; }\n")
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\nenv.WasiProgram('out/p', ['p.c'])\n")
    built = rig.run("out/p.wasm", WASI_CACHE_DIR=str(odd))
    assert built.returncode == 0, built.stderr
    assert (project / "out" / "p.wasm").is_file() and (project / "p.wasi.o").is_file()


# Every character sh treats specially inside or around a word: ' " $ \ ` a newline, and a space (issue 23).
SHELL_SPECIAL = "it's \"odd\" $HOME \\ `touch pwned`\nline two"
ODD_PROJECT = """\
env = Environment(tools=['wasi'])
lib = env.WasiLibrary('out/util', ['u.c'])
env.WasiProgram('out/p', ['p.c'], LIBS=[lib])
"""
# The same through sh: a SPAWN of the SConstruct's own is left alone by the tool (no direct start of the tools), so
# every command is run by `sh -c` from the words SCons escaped.
THROUGH_SH = """\
import SCons.Platform.posix
env = Environment(tools=['wasi'], SPAWN=lambda *a: SCons.Platform.posix.subprocess_spawn(*a))
lib = env.WasiLibrary('out/util', ['u.c'])
env.WasiProgram('out/p', ['p.c'], LIBS=[lib])
"""


@pytest.mark.parametrize("sconstruct", [ODD_PROJECT, THROUGH_SH], ids=["direct", "through-sh"])
def test_a_store_path_holding_every_shell_special_character_builds(tmp_path: Path, server: LoopbackServer,
                                                                    sconstruct: str) -> None:
    rig = ColdRig.create(tmp_path, server, libc="debian")
    odd = tmp_path / SHELL_SPECIAL / "store"
    project = rig.project(0)
    (project / "p.c").write_text("int util(void);\nint main(void) { return util(); }\n")
    (project / "u.c").write_text("int util(void) { return 0; }\n")
    (project / "SConstruct").write_text(sconstruct)
    built = rig.run("out/p.wasm", WASI_CACHE_DIR=str(odd))
    assert built.returncode == 0, built.stderr
    assert "Traceback" not in built.stderr and "Syntax error" not in built.stderr
    assert (project / "out" / "p.wasm").read_bytes().startswith(b"\0asm")
    assert (project / "out" / "libutil.a").read_bytes().startswith(b"!<arch>")
    assert not (project / "pwned").exists()  # the backquoted command in the path never ran
    assert store_leftovers(odd) == []


def test_a_private_make_killed_halfway_leaves_its_work_in_the_store_for_the_next_build_to_sweep(
        tmp_path: Path, server: LoopbackServer) -> None:
    """With a store path make cannot take, make works through links in a private temp dir, but every byte it writes
    lands in the staged entry, in the store's temp area (issue 23): a kill leaves only the links there, and the next
    build sweeps both."""
    rig = ColdRig.create(tmp_path, server, pause=3)
    odd = tmp_path / "odd dir" / "it's the store"
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    proc = rig.start("wasi-toolchain", WASI_CACHE_DIR=str(odd), TMPDIR=str(private_tmp))
    deadline = time.monotonic() + 60
    while not list(odd.glob("sysroots/.tmp-*/build/obj/.make-midway")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=60)
    assert list(odd.glob("sysroots/.tmp-*/build/obj/*.o"))  # make's objects: in the store's temp area
    left = list(private_tmp.iterdir())
    assert [p.name.startswith("scons-wasi-libc-") for p in left] == [True]
    assert sorted((p.name, p.is_symlink()) for p in left[0].iterdir()) == [("toolchain", True), ("tools", True)]

    again = rig.run(WASI_CACHE_DIR=str(odd), TMPDIR=str(private_tmp))
    assert again.returncode == 0, again.stderr
    assert list(private_tmp.iterdir()) == []
    assert store_leftovers(odd) == []
