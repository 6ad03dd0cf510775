"""The real path: an empty WASI_CACHE_DIR, the real pins through this machine's registries, the real sysroot
build, both samples built by scons and run under wasmtime.

The toolchain is built once per session (the `real` fixture in conftest.py) and shared by every e2e test.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from helpers import run_scons
from wasm_sections import sections
from wasi_toolchain.run import run_module

pytestmark = pytest.mark.e2e


def test_run_first_from_an_empty_cache_prints_the_programs_output(real) -> None:  # type: ignore[no-untyped-def]
    project, result, seconds = real
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"cold scons run-first: {seconds:.1f} s")
    assert "wasi: preparing toolchain" in result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("wasi: running build/first.wasm")
    assert lines[start + 1:start + 5] == [
        "Hello, WebAssembly! I got 2 arguments.",
        "argv[0] = first.wasm",
        "argv[1] = from",
        "argv[2] = scons",
    ]


def test_warm_run_reuses_the_sysroot(real) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    shutil.rmtree(project.root / "build")
    result = project.scons("run-first")
    assert result.returncode == 0, result.stderr
    assert "preparing toolchain" not in result.stderr and "fetching" not in result.stderr
    assert "Hello, WebAssembly! I got 2 arguments." in result.stdout


def c_division(a: int, b: int) -> tuple[int, int]:
    """C's truncating division and remainder (Python's // floors)."""
    q = abs(a) // abs(b) * (1 if (a < 0) == (b < 0) else -1)
    return q, a - q * b


def percent_lf(value: Decimal) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        return f"{value:.6f}"


def expected_builtins_output() -> str:
    big = (0x0123456789ABCDEF << 64) | 0x0FEDCBA987654321
    q, r = c_division(big, 1000000007)
    nq, nr = c_division(-big, 1000000007)
    x, y = Decimal("12345.6875"), Decimal("0.0625")
    return "".join([
        f"big = {big}\n", f"big / 1000000007 = {q}\n", f"big % 1000000007 = {r}\n",
        f"-big / 1000000007 = {nq}\n", f"-big % 1000000007 = {nr}\n",
        f"x * y = {percent_lf(x * y)}\n", f"x + y = {percent_lf(x + y)}\n", f"x / y = {percent_lf(x / y)}\n",
        f"2^60 + 1 = {percent_lf(Decimal(2 ** 60 + 1))}\n",
    ])


def test_builtins_sample_runs_with_exact_output(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    result = project.scons("-Q", "build/builtins.wasm")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "stdout"
    assert run_module(project.root / "build/builtins.wasm", ["builtins.wasm"], stdout=out) == 0
    assert out.read_text() == expected_builtins_output()


@pytest.mark.skipif(shutil.which("cc") is None, reason="no native C compiler to cross-check with")
def test_builtins_sample_matches_a_native_build(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    assert project.scons("-Q", "build/builtins.wasm").returncode == 0
    native = tmp_path / "builtins"
    subprocess.run(["cc", "-O2", "-o", str(native), str(project.root / "samples/builtins.c")], check=True)
    expected = subprocess.run([str(native)], capture_output=True, text=True, check=True).stdout
    out = tmp_path / "stdout"
    run_module(project.root / "build/builtins.wasm", ["builtins.wasm"], stdout=out)
    assert out.read_text() == expected


def test_modules_are_stripped(real) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    assert project.scons("-Q", "build/first.wasm", "build/builtins.wasm").returncode == 0
    for name in ("first", "builtins"):
        found = sections(project.root / "build" / f"{name}.wasm")
        assert (0, "name") not in found, found
        assert any(section_id == 10 for section_id, _ in found)  # it does have code


def test_the_programs_exit_code_becomes_scons_exit_code(real) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    (project.root / "samples" / "exit3.c").write_text("int main(void) { return 3; }\n")
    sconstruct = project.root / "SConstruct"
    original = sconstruct.read_text()
    try:
        sconstruct.write_text(original + "env.WasiRun('run-exit3', env.WasiProgram('build/exit3', "
                                         "['build/obj/exit3.c']))\n")
        result = project.scons("-Q", "run-exit3")
    finally:
        sconstruct.write_text(original)
    assert result.returncode == 3
    assert "wasi: build/exit3.wasm exited with 3, expected 0" in result.stderr
    assert "scons: *** [run-exit3] Explicit exit, status 3" in result.stderr


def test_clean_never_touches_the_store(real) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    before = sorted(str(p) for p in project.cache.rglob("*"))
    assert project.scons("-c", ".").returncode == 0
    assert not (project.root / "build/first.wasm").exists()
    assert sorted(str(p) for p in project.cache.rglob("*")) == before


def test_a_real_build_killed_during_make_is_finished_by_the_next_run(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """kill -9 (the whole process group, as a CI timeout does) while the real wasi-libc make runs; the store keeps
    no half-built entry and the next run builds a complete one. The session's downloads are reused."""
    import os
    import signal
    import sys

    from helpers import REPO, store_leftovers
    from wasi_toolchain.store import STAMP, check_manifest

    project, _, _ = real
    root = tmp_path / "checkout"
    root.mkdir()
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(project.root / name, root / name)
    cache = tmp_path / "cache"
    shutil.copytree(project.cache / "downloads", cache / "downloads")
    env = {**os.environ, "WASI_CACHE_DIR": str(cache)}
    proc = subprocess.Popen([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q",
                             "wasi-toolchain"], cwd=root, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list(cache.glob("sysroots/.tmp-*/build/obj/**/*.o"))) < 100:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -9
    assert [p for p in (cache / "sysroots").iterdir() if not p.name.startswith(".")] == []
    assert store_leftovers(cache) != []  # the killed run's temp entry, for the next run to sweep

    result = run_scons(root, "-Q", "wasi-toolchain", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert "wasi: an earlier run was interrupted while it held sysroot-" in result.stderr
    assert "fetching" not in result.stderr
    entries = list((cache / "sysroots").iterdir())
    assert len(entries) == 1 and (entries[0] / STAMP).is_file() and check_manifest(entries[0]) == []
    assert store_leftovers(cache) == []
