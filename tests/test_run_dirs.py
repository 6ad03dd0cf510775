"""WasiRun(dirs=…): a preopened directory may be made after the SConstruct is read (issue 23, item 1).

SCons reads the SConstruct first and runs the aliases later, so whether a directory exists is checked when the alias
runs, with the SConstruct line recorded when it was declared; wrong types and values still stop the read (see
tests/test_run_limits.py). The module is written in WebAssembly text: it exits with what fd_prestat_get says of
file descriptor 3, the first preopen, so 0 means the directory was preopened, and 8 (EBADF) that it was not.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import wasmtime

from support.helpers import REPO, run_scons

PREOPENED = """(module
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (call $prestat (i32.const 3) (i32.const 16)))))"""
DECLARE = "env.WasiRun('run-check', 'check.wasm', dirs={'build/runcheck': '.'})\n"
OTHER = "env.Command('other.txt', [], Touch('$TARGET'))\n"  # a target of the build that is not the run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (root / "check.wasm").write_bytes(wasmtime.wat2wasm(PREOPENED))
    return root


def scons(project: Path, sconstruct: str, *args: str) -> subprocess.CompletedProcess[str]:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n" + sconstruct)
    return run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(project.parent / "cache")}, timeout=120)


def test_a_missing_directory_does_not_stop_a_build_that_does_not_run_the_alias(project: Path) -> None:
    result = scons(project, DECLARE + OTHER, "other.txt")
    assert result.returncode == 0, result.stderr
    assert "WasiRun" not in result.stderr and (project / "other.txt").is_file()


def test_a_directory_made_after_the_sconstruct_is_read_is_preopened(project: Path) -> None:
    """As a script would do it: fill build/runcheck, then `scons run-check`; the module sees the preopen."""
    assert scons(project, DECLARE + OTHER, "other.txt").returncode == 0
    (project / "build" / "runcheck").mkdir(parents=True)
    result = scons(project, DECLARE, "run-check")
    assert result.returncode == 0, result.stderr


def test_a_directory_the_build_makes_before_the_run_is_preopened(project: Path) -> None:
    sconstruct = ("run = " + DECLARE +
                  "env.Depends(run, env.Command('build/runcheck/input.txt', [], Touch('$TARGET')))\n")
    result = scons(project, sconstruct, "run-check")
    assert result.returncode == 0, result.stderr
    assert (project / "build" / "runcheck" / "input.txt").is_file()


@pytest.mark.parametrize("make, what", [(None, "no such directory"), ("file", "a file, not a directory")])
def test_a_directory_still_missing_when_the_alias_runs_is_our_error_with_the_declaring_line(
        project: Path, make: str | None, what: str) -> None:
    if make == "file":
        (project / "build").mkdir()
        (project / "build" / "runcheck").write_text("not a directory\n")
    result = scons(project, "\n" + DECLARE, "run-check")  # declared on line 3
    assert result.returncode == 2, result.stderr
    assert (f"scons: *** [run-check] SConstruct:3: WasiRun dirs: 'build/runcheck' ({project}/build/runcheck, to "
            f"preopen as .): {what}\n  next step: create it before the run (the build may put a target in it, or a "
            f"step before `scons run-check` make it), or fix dirs= in that WasiRun call\n") in result.stderr
    assert "Traceback" not in result.stderr


def test_a_program_the_build_makes_named_as_a_directory_stops_the_read(project: Path) -> None:
    """SCons itself knows that path as a file (a target of a builder), so that is known when the SConstruct is read."""
    sconstruct = ("env.WasiProgram('build/app', ['app.c'])\n"
                  "env.WasiRun('run-check', 'check.wasm', dirs={'build/app.wasm': '/data'})\n")
    result = scons(project, sconstruct, "run-check")
    assert result.returncode == 2
    assert (f"scons: *** SConstruct:3: WasiRun dirs: 'build/app.wasm' ({project}/build/app.wasm, to preopen as "
            f"/data): a file the build makes, not a directory\n  next step: name a directory in dirs=") \
        in result.stderr
    assert "Traceback" not in result.stderr
