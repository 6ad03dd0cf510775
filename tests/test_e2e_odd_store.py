"""A store whose path holds every character sh treats specially (' " $ \\ ` a newline, a space), with the real
toolchain: compile, link, C++, size mode (wasm-opt through its loader) and a run, and the same bytes as the session's
store gives (issue 23).

The odd store starts with a copy of the session's downloads (the `real` fixture), so only its entries are built."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.helpers import run_scons
from test_e2e_size import checkout

SHELL_SPECIAL = "it's \"odd\" $HOME \\ `touch pwned`\nline two"
SCONSTRUCT = """\
envs = SConscript('samples/modes.SConscript', exports={
    'MODES': {'speed': {}, 'size': {'WASI_OPTIMIZE': 'size'}}, 'LIBC': 'debian', 'SAMPLES': ['first', 'wordfreq']})
envs['speed'].WasiRun('run-first', 'build/speed/first.wasm', args=['from', 'scons'])
"""


@pytest.mark.e2e
def test_a_store_path_holding_every_shell_special_character_builds_and_runs(real, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                             repo: Path) -> None:
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    odd = tmp_path / SHELL_SPECIAL / "store"
    shutil.copytree(project.cache / "downloads", odd / "downloads")
    root = checkout(tmp_path / "checkout", repo, SCONSTRUCT)
    result = run_scons(root, "-Q", ".", "run-first", env={"WASI_CACHE_DIR": str(odd)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Hello, WebAssembly! I got 2 arguments." in result.stdout
    assert not (root / "pwned").exists()  # the backquoted command in the path never ran

    plain = checkout(tmp_path / "plain", repo, SCONSTRUCT)
    assert run_scons(plain, "-Q", ".", env={"WASI_CACHE_DIR": str(project.cache)}).returncode == 0
    for module in ("speed/first.wasm", "speed/wordfreq.wasm", "size/first.wasm", "size/wordfreq.wasm"):
        assert (root / "build" / module).read_bytes() == (plain / "build" / module).read_bytes(), module
