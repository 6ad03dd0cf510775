"""A store whose path holds a space and a quote (issue 11, item 7): the cold build works, through the stand-in
toolchain whose Makefile, like wasi-libc's, uses its paths unquoted in rules and shell commands."""

from __future__ import annotations

import json
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
