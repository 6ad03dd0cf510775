"""Our errors while the SConstruct is read are one `scons: *** …` message (with its next step), naming the
SConstruct line where that helps, and not followed by SCons's `File "…", line …`, which named the tool's own glue
(issue 23)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import REPO, run_scons

CASES = {
    "a WasiRun argument": ("env.WasiRun('run', 'x.wasm', timeout=0)\n", {},
                           "SConstruct:2: WasiRun timeout: expected seconds above 0 and at most 604800, got 0\n"
                           "  next step: leave it out for the default (300 s) or give a number of seconds"),
    "a construction variable": ("env.WasiProgram('build/x', ['x.c'], WASI_TARGET='wasm64')\n", {},
                                "SConstruct:2: WASI_TARGET: expected one of "),
    "a WASI_* setting": ("", {"WASI_FETCH_TIMEOUT": "inf"},
                         "SConstruct:1: WASI_FETCH_TIMEOUT: expected a number of seconds above 0 and at most 86400, "
                         "got 'inf'\n  next step: unset WASI_FETCH_TIMEOUT or fix it"),
    "no lock file": ("", {"NO_LOCK": "1"}, "SConstruct:1: no toolchain lock at "),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_one_message_and_no_file_line(tmp_path: Path, case: str) -> None:
    body, env, message = CASES[case]
    if not env.pop("NO_LOCK", None):
        (tmp_path / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (tmp_path / "SConstruct").write_text("env = Environment(tools=['wasi'])\n" + body)
    result = run_scons(tmp_path, "-Q", "nothing", env={"WASI_CACHE_DIR": str(tmp_path / "cache"), **env})
    assert result.returncode == 2
    assert result.stderr.startswith(f"\nscons: *** {message}"), result.stderr
    assert result.stderr.count("scons: ***") == 1
    assert 'File "' not in result.stderr and "Traceback" not in result.stderr, result.stderr
