"""Symbolized traps with the real toolchain: a deliberate trap in a stripped module (the default build), run through
WasiRun, names its functions, in speed and in size mode; the stripped bytes are those of the plain -s link
(WASI_NAMES=0); the names file serves the command-line entry point.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from support.helpers import REPO, make_project, run_scons
from support.wasm_sections import sections

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
named = env.WasiProgram('build/trap', ['trap.c'])
plain = env.WasiProgram('build/trap-plain', ['trap.c'], WASI_NAMES=0, WASI_OBJSUFFIX='.plain.o')
small = env.WasiProgram('build/trap-small', ['trap.c'], WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.small.o')
small_plain = env.WasiProgram('build/trap-small-plain', ['trap.c'], WASI_OPTIMIZE='size', WASI_NAMES=0,
                              WASI_OBJSUFFIX='.small.o')
env.WasiRun('run-trap', named)
env.WasiRun('run-trap-plain', plain)
env.WasiRun('run-trap-small', small)
"""


@pytest.mark.e2e
def test_a_trap_in_a_stripped_module_names_its_functions(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    root = make_project(tmp_path / "project", {"SConstruct": SCONSTRUCT, "trap.c": TRAP_C})
    env = {"WASI_CACHE_DIR": str(project.cache)}

    named = run_scons(root, "-Q", "run-trap", env=env)
    assert named.returncode != 0
    assert "trapped" in named.stderr
    assert "robust_open (wasm function" in named.stderr and "unix_open (wasm function" in named.stderr, named.stderr

    plain = run_scons(root, "-Q", "run-trap-plain", env=env)
    assert plain.returncode != 0 and "<wasm function" in plain.stderr and "robust_open" not in plain.stderr

    # The shipped module: the very bytes of the plain -s link, no custom section at all; the names are beside it.
    module = root / "build/trap.wasm"
    assert module.read_bytes() == (root / "build/trap-plain.wasm").read_bytes()
    assert [name for section_id, name in sections(module) if section_id == 0] == []
    assert "robust_open" in (root / "build/trap.wasm.names").read_text()
    assert not (root / "build/trap-plain.wasm.names").exists()

    # Size mode: wasm-opt renumbers (and may inline robust_open), so the names come from its own output; the module
    # is as small as without names.
    small = run_scons(root, "-Q", "run-trap-small", env=env)
    assert small.returncode != 0 and "unix_open (wasm function" in small.stderr, small.stderr
    assert "<wasm function" not in small.stderr.replace("(wasm function", ""), small.stderr
    assert run_scons(root, "-Q", "build/trap-small-plain.wasm", env=env).returncode == 0
    small_module = root / "build/trap-small.wasm"
    assert len(small_module.read_bytes()) == len((root / "build/trap-small-plain.wasm").read_bytes())
    assert [name for section_id, name in sections(small_module) if section_id == 0] == []

    # The same lookup for users, on the unnamed backtrace.
    text = plain.stderr
    result = subprocess.run([sys.executable, "-m", "wasi_toolchain.symbolize", str(module)], input=text,
                            capture_output=True, text=True, env={"PYTHONPATH": str(REPO / "site_scons")})
    assert result.returncode == 0 and "robust_open (wasm function" in result.stdout, result.stderr


@pytest.mark.e2e
def test_the_trap_sample_names_its_backtrace_with_scons_run_trap(real) -> None:  # type: ignore[no-untyped-def]
    """The repository's own deliberate trap: samples/trap/calc.c divides by zero two parentheses deep."""
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    works = project.scons("-Q", "run-calc")
    assert works.returncode == 0 and "2*(3+4)-10/5 = 12\n" in works.stdout, works.stderr  # 14 - 2, by hand
    trap = project.scons("-Q", "run-trap")
    assert trap.returncode != 0
    assert "build/calc.wasm trapped" in trap.stderr and "integer divide by zero" in trap.stderr, trap.stderr
    # Every frame named. Which helpers clang inlines is its choice (with LLVM 22: evaluate_term into evaluate_sum),
    # but the recursion through the parentheses and main stay frames of their own.
    frames = [line.split(" - ", 1)[1] for line in trap.stderr.splitlines() if " - " in line and "wasm function" in line]
    names = [frame.split(" (wasm function")[0] for frame in frames]
    assert len(frames) >= 4 and "<unknown>!" not in trap.stderr, trap.stderr
    assert names.count("evaluate_sum") >= 2 and "main" in names and "_start" in names, trap.stderr
    assert [name for section_id, name in sections(project.root / "build/calc.wasm") if section_id == 0] == []
