"""A WasiProgram with no sources is reported with its SConstruct line, not linked into a module that does nothing
(issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import REPO, run_scons


@pytest.mark.parametrize("sources, line", [("[]", 2), ("Glob('src/*.c')", 3)])
def test_a_program_with_no_sources_names_the_sconstruct_line(tmp_path: Path, sources: str, line: int) -> None:
    (tmp_path / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    padding = "\n" * (line - 2)
    (tmp_path / "SConstruct").write_text(f"env = Environment(tools=['wasi'])\n{padding}"
                                         f"env.WasiProgram('build/x', {sources})\n")
    result = run_scons(tmp_path, "-Q", "build/x.wasm", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert (f"scons: *** SConstruct:{line}: WasiProgram build/x.wasm: no sources; expected at least one C/C++ "
            f"source, object or library node\n  next step: pass the program's sources") in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "build").exists() and not (tmp_path / "cache").exists()  # nothing built or fetched
