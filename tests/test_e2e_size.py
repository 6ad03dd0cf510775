"""Size mode with the real toolchain and the pinned wasm-opt: smaller modules, the same program output, the same
bytes from another checkout path and another store.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store; the first size-mode
build fetches and unpacks the pinned binaryen into it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from support.helpers import run_scons
from wasi_toolchain.targets.run import run_module

SCONSTRUCT = """\
SConscript('samples/modes.SConscript', exports={
    'MODES': {'speed': {}, 'size': {'WASI_OPTIMIZE': 'size'}}, 'LIBC': 'debian',
    'SAMPLES': ['first', 'builtins', 'primes', 'wordfreq', 'threadlocal', 'recover']})
"""
RUNS = {"first": ["first.wasm", "from", "scons"], "builtins": ["builtins.wasm"], "primes": ["primes.wasm", "50"],
        "wordfreq": ["wordfreq.wasm", "3"], "threadlocal": ["threadlocal.wasm"], "recover": ["recover.wasm"]}


def checkout(root: Path, repo: Path, sconstruct: str = SCONSTRUCT) -> Path:
    shutil.copytree(repo / "samples", root / "samples")
    shutil.copy(repo / "toolchain.lock", root / "toolchain.lock")
    (root / "SConstruct").write_text(sconstruct)
    return root


def build(root: Path, store: Path) -> subprocess.CompletedProcess[str]:
    result = run_scons(root, "-Q", ".", env={"WASI_CACHE_DIR": str(store)})
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def run_output(root: Path, mode: str, name: str, tmp_path: Path) -> tuple[int, str]:
    out = tmp_path / f"{mode}-{name}.out"
    stdin = root / "samples/cxx/words.txt" if name == "wordfreq" else None
    code = run_module(root / "build" / mode / f"{name}.wasm", RUNS[name], stdin=stdin, stdout=out)
    return code, out.read_text()


@pytest.mark.e2e
def test_size_mode_is_smaller_same_output_same_bytes(real, tmp_path: Path, repo: Path) -> None:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    a = checkout(tmp_path / "a" / "project", repo)
    result = build(a, project.cache)
    assert "wasi: wasm-opt -Oz build/size/first.wasm" in result.stdout
    assert list(project.cache.glob("sysroots/wasm-opt-*"))  # its own entry, beside the sysroot

    speed = {n: (a / "build/speed" / f"{n}.wasm").stat().st_size for n in RUNS}
    size = {n: (a / "build/size" / f"{n}.wasm").stat().st_size for n in RUNS}
    assert sum(size.values()) <= 0.85 * sum(speed.values()), (speed, size)
    for name in RUNS:
        assert size[name] < speed[name], name
        assert run_output(a, "size", name, tmp_path) == run_output(a, "speed", name, tmp_path), name

    # wasi-verify checks the wasm-opt entry like a sysroot entry (stamp and manifest) and keeps it.
    verify = run_scons(a, "-Q", "wasi-verify", env={"WASI_CACHE_DIR": str(project.cache)})
    assert verify.returncode == 0 and " 0 removed" in verify.stdout, verify.stdout + verify.stderr
    assert list(project.cache.glob("sysroots/wasm-opt-*"))

    # Another checkout path and another store (a copy of the first, hard-linked): the same bytes.
    store_b = tmp_path / "store b"
    shutil.copytree(project.cache, store_b, copy_function=lambda s, d: __import__("os").link(s, d),
                    ignore=shutil.ignore_patterns("locks"))
    b = checkout(tmp_path / "b" / "elsewhere", repo)
    build(b, store_b)
    for name in RUNS:
        assert (a / "build/size" / f"{name}.wasm").read_bytes() == (b / "build/size" / f"{name}.wasm").read_bytes()
