"""A store whose path holds a space and a quote (issue 11, item 7): the cold build works, through the stand-in
toolchain whose Makefile, like wasi-libc's, uses its paths unquoted in rules and shell commands."""

from __future__ import annotations

import json
from pathlib import Path

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
