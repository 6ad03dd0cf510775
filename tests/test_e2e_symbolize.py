"""Symbolized traps with the real toolchain: a deliberate trap in a stripped module, run through WasiRun, names its
functions; the stripped bytes are those of the plain -s link; the names file serves the command-line entry point.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import REPO, run_scons
from wasm_sections import sections

TRAP_C = r"""#include <stdio.h>
__attribute__((noinline)) static int robust_open(volatile int *p) { if (*p == 0) __builtin_trap(); return *p; }
__attribute__((noinline)) int unix_open(int depth) {
    static volatile int zero;
    int r = depth > 0 ? unix_open(depth - 1) : robust_open(&zero);
    return r + 1;
}
int main(void) { printf("start\n"); return unix_open(2); }
"""
SCONSTRUCT = """\
env = Environment(tools=['wasi'])
named = env.WasiProgram('build/trap', ['trap.c'], WASI_NAMES=1)
plain = env.WasiProgram('build/trap-plain', ['trap.c'], WASI_OBJSUFFIX='.plain.o')
env.WasiRun('run-trap', named)
env.WasiRun('run-trap-plain', plain)
"""


@pytest.mark.e2e
def test_a_trap_in_a_stripped_module_names_its_functions(real, tmp_path: Path, repo: Path) -> None:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(repo / "toolchain.lock", root / "toolchain.lock")
    (root / "SConstruct").write_text(SCONSTRUCT)
    (root / "trap.c").write_text(TRAP_C)
    env = {"WASI_CACHE_DIR": str(project.cache)}

    named = run_scons(root, "-Q", "run-trap", env=env)
    assert named.returncode != 0
    assert "trapped" in named.stderr
    assert "robust_open (wasm function" in named.stderr and "unix_open (wasm function" in named.stderr, named.stderr

    plain = run_scons(root, "-Q", "run-trap-plain", env=env)
    assert plain.returncode != 0 and "<wasm function" in plain.stderr and "robust_open" not in plain.stderr

    # The shipped module: the very bytes of the plain -s link, no name section; the names are beside it.
    module = root / "build/trap.wasm"
    assert module.read_bytes() == (root / "build/trap-plain.wasm").read_bytes()
    assert not [name for _, name in sections(module) if name == "name"]
    assert "robust_open" in (root / "build/trap.wasm.names").read_text()
    assert not (root / "build/trap.wasm.names.unstripped").exists()

    # The same lookup for users, on the unnamed backtrace.
    text = plain.stderr
    result = subprocess.run([sys.executable, "-m", "wasi_toolchain.symbolize", str(module)], input=text,
                            capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "site_scons")})
    assert result.returncode == 0 and "robust_open (wasm function" in result.stdout, result.stderr
