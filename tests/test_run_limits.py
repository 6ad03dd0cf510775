"""WasiRun bounded and stoppable, and bad input stopped with the SConstruct line (issue 11, items 8 and 9).

The modules are written in WebAssembly text here, so no toolchain is needed: one that never ends, and one that
grows its memory until it cannot and exits with how far it got.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import wasmtime

from support.helpers import REPO, run_scons

SPIN = '(module (memory (export "memory") 1) (func (export "_start") (loop (br 0))))'
# Grows by 16 pages (1 MiB) until memory.grow fails, then exits with the size reached in units of 64 MiB.
GROW = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 0)
  (func (export "_start")
    (block $full (loop $more
      (br_if $full (i32.eq (memory.grow (i32.const 16)) (i32.const -1)))
      (br $more)))
    (call $exit (i32.shr_u (memory.size) (i32.const 10)))))"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (root / "spin.wasm").write_bytes(wasmtime.wat2wasm(SPIN))
    (root / "grow.wasm").write_bytes(wasmtime.wat2wasm(GROW))
    return root


def scons(project: Path, sconstruct: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n" + sconstruct)
    return run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(project.parent / "cache"), **env},
                     timeout=120)


# -- item 8: a timeout, a memory cap, and Ctrl-C / SIGTERM ---------------------------------------------------------
def test_a_module_that_never_ends_is_stopped_at_its_timeout(project: Path) -> None:
    result = scons(project, "env.WasiRun('spin', 'spin.wasm', timeout=1)\n", "spin")
    assert result.returncode == 2
    assert "scons: *** [spin] spin.wasm did not finish within 1 s, so it was stopped (WasiRun timeout=1)\n" \
           "  next step: if it needs longer, raise timeout= in the WasiRun call" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("limit, reached", [("max_memory_mb=128, ", 2), ("", 16)])
def test_memory_cannot_grow_past_the_cap(project: Path, limit: str, reached: int) -> None:
    """128 MiB is 2 units of 64 MiB; the default cap, 1024 MiB, is 16."""
    result = scons(project, f"env.WasiRun('grow', 'grow.wasm', {limit}expect_exit={reached})\n", "grow")
    assert result.returncode == 0, result.stderr


def _start_scons(project: Path, sconstruct: str, jobs: int) -> subprocess.Popen[str]:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n" + sconstruct)
    return subprocess.Popen([sys.executable, "-u", "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q",
                             f"-j{jobs}", "spin"], cwd=project, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "WASI_CACHE_DIR": str(project.parent / "cache")})


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_to_scons_stops_a_module_that_never_ends(project: Path, jobs: int, signum: int) -> None:
    proc = _start_scons(project, "env.WasiRun('spin', 'spin.wasm', timeout=3600)\n", jobs)
    try:
        started = threading.Event()

        def wait_for_the_run() -> None:
            for line in proc.stdout:  # type: ignore[union-attr]
                if "wasi: running spin.wasm" in line:
                    started.set()
                    return

        threading.Thread(target=wait_for_the_run, daemon=True).start()
        assert started.wait(60), "the run never started"
        threading.Event().wait(0.5)  # let the module get into its loop
        proc.send_signal(signum)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scons -j{jobs} was still running 30 s after {signal.Signals(signum).name}")
        stderr = proc.stderr.read()  # type: ignore[union-attr]
        assert proc.returncode == 2, stderr
        # SCons reports the task as "Build interrupted." once its own handler has seen the signal.
        assert "scons: *** [spin] spin.wasm was stopped: " in stderr or "scons: *** [spin] Build interrupted." \
            in stderr, stderr
        assert "Traceback" not in stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


# -- item 9: bad WasiRun arguments and settings name the SConstruct line, without a traceback -------------------
@pytest.mark.parametrize("call, message", [
    ("expect_exit='abc'", "WasiRun expect_exit: expected a whole number from 0 to 255, got 'abc'"),
    ("expect_exit=None", "WasiRun expect_exit: expected a whole number from 0 to 255, got None"),
    ("env={'A': 1}", "WasiRun env: the value of A must be a string, got int 1"),
    ("env=['A=1']", "WasiRun env: expected a dict of strings, got list ['A=1']"),
    # Whether a preopened directory exists is checked when the alias runs (tests/test_run_dirs.py); its type now.
    ("dirs=['data']", "WasiRun dirs: expected a dict of host directory to guest path, got ['data']"),
    ("dirs={'data': ''}", "WasiRun dirs: expected a non-empty host directory and guest path as strings, got "
                          "'data': ''"),
    ("timeout=-1", "WasiRun timeout: expected seconds above 0 and at most 604800, got -1"),
    ("timeout=float('inf')", "WasiRun timeout: expected seconds above 0 and at most 604800, got inf"),
    ("timeout=0", "WasiRun timeout: expected seconds above 0 and at most 604800, got 0"),
    ("max_memory_mb=0", "WasiRun max_memory_mb: expected a whole number of MiB from 1 to 4096, got 0"),
])
def test_a_bad_wasirun_argument_names_the_sconstruct_line(project: Path, call: str, message: str) -> None:
    result = scons(project, f"env.WasiRun('spin', 'spin.wasm', {call})\n", "spin")
    assert result.returncode == 2, result.stderr
    assert f"scons: *** SConstruct:2: {message.format(project=project)}\n  next step: " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_directory_as_wasi_lock_names_the_sconstruct_line(project: Path) -> None:
    (project / "adir").mkdir()
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'], WASI_LOCK='#adir')\n")
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(project.parent / "cache")})
    assert result.returncode == 2
    assert "scons: *** SConstruct:1: WASI_LOCK: '#adir' is a directory; expected the lock file\n  next step: " \
        in result.stderr
    assert "Traceback" not in result.stderr and "TypeError" not in result.stderr


@pytest.mark.parametrize("name, value, expected", [
    ("WASI_FETCH_TIMEOUT", "inf", "a number of seconds above 0 and at most 86400"),
    ("WASI_FETCH_TIMEOUT", "1e999", "a number of seconds above 0 and at most 86400"),
    ("WASI_FETCH_TIMEOUT", "nan", "a number of seconds above 0 and at most 86400"),
    ("WASI_LOCK_TIMEOUT", "1e12", "a number of seconds above 0 and at most 604800"),
    ("WASI_JOBS", "99999999999999999999", "a whole number from 1 to 1024"),
    ("WASI_FETCH_RETRIES", "1000000000", "a whole number from 0 to 100"),
    ("WASI_FETCH_MIN_RATE", "-1", "bytes per second from 0 (no minimum) to 1e+12"),
    ("WASI_FETCH_MIN_RATE", "inf", "bytes per second from 0 (no minimum) to 1e+12"),
    ("WASI_FETCH_GRACE", "1e999", "a number of seconds above 0 and at most 86400"),
])
def test_an_out_of_range_number_stops_at_start_up_with_the_variable_named(project: Path, name: str, value: str,
                                                                           expected: str) -> None:
    result = scons(project, "", "wasi-cache-key", **{name: value})  # a target that never builds the toolchain
    assert result.returncode == 2, result.stderr
    assert f"scons: *** SConstruct:1: {name}: expected {expected}, got {value!r}\n  next step: unset {name} or " \
           f"fix it" in result.stderr
    assert "Traceback" not in result.stderr
