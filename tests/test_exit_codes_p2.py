"""Exit codes of WASI preview-2 components (issue 23): what the pinned wasmtime-py (50) can do, and what the
components this tool builds do.

- The host can: `Linker.add_wasip2()` links `wasi:cli/exit`'s `exit-with-code` (wasmtime's `cli-exit-with-code`
  interface), and a component that calls it ends the run with that code; WasiRun passes it on.
- The components built here never call it: the pinned wasm32-wasip2 libc's `_Exit` calls `exit` with a `result`
  (ok or err), so `exit(3)` reaches the host as 1. tests/test_e2e_components.py checks that on a real build.

The component is written in the component model's text format (wasmtime.wat2wasm reads it), so no toolchain is
needed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import wasmtime

from support.helpers import REPO, run_scons
from wasi_toolchain.targets.run import run_module


def exiting_with(code: int, interface: str = "0.2.12") -> bytes:
    """A command component whose run calls wasi:cli/exit@<interface>'s exit-with-code(code)."""
    return wasmtime.wat2wasm(f"""(component
  (import "wasi:cli/exit@{interface}" (instance $exit
    (export "exit-with-code" (func (param "status-code" u8)))))
  (alias export $exit "exit-with-code" (func $exit-with-code))
  (core func $lowered (canon lower (func $exit-with-code)))
  (core module $m
    (import "host" "exit-with-code" (func $exit (param i32)))
    (func (export "run") (result i32) (call $exit (i32.const {code})) (i32.const 0)))
  (core instance $host (export "exit-with-code" (func $lowered)))
  (core instance $i (instantiate $m (with "host" (instance $host))))
  (func $run (result (result)) (canon lift (core func $i "run")))
  (instance $run-instance (export "run" (func $run)))
  (export "wasi:cli/run@{interface}" (instance $run-instance)))""")


@pytest.mark.parametrize("code", [0, 3, 255])
def test_a_component_calling_exit_with_code_ends_the_run_with_that_code(tmp_path: Path, code: int) -> None:
    component = tmp_path / "exits.wasm"
    component.write_bytes(exiting_with(code))
    assert run_module(component, ["exits.wasm"]) == code


def test_wasirun_passes_the_code_on(tmp_path: Path) -> None:
    (tmp_path / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (tmp_path / "exits.wasm").write_bytes(exiting_with(3))
    (tmp_path / "SConstruct").write_text("env = Environment(tools=['wasi'])\n"
                                         "env.WasiRun('run-3', 'exits.wasm', expect_exit=3)\n"
                                         "env.WasiRun('run-0', 'exits.wasm')\n")
    env = {"WASI_CACHE_DIR": str(tmp_path / "cache")}
    assert run_scons(tmp_path, "-Q", "run-3", env=env).returncode == 0
    wrong = run_scons(tmp_path, "-Q", "run-0", env=env)
    assert wrong.returncode == 3  # scons exits with the program's code
    assert "wasi: exits.wasm exited with 3, expected 0" in wrong.stderr
