"""Link-error and missing-header hints: the table (hints.toml) read by wasi_toolchain.targets.hints, and the one line of
advice the SCons tool adds after a failed link's or compile's own text (through the stand-in toolchain)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.helpers import run_scons
from support.standin import fail_when, fake_entry
from test_builders import write_project
from wasi_toolchain.targets import buildvars
from wasi_toolchain.targets.hints import PREFIX, hint_for, table

LINK_ERROR = ("wasm-ld: error: app/one.wasi.o: undefined symbol: getpid\n"
              "clang: error: linker command failed with exit code 1 (use -v to see invocation)\n")


def scons(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(cache)})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_the_issue_s_examples_are_in_the_table() -> None:
    symbols = table()["symbols"]
    assert "WASI_EMULATE=['getpid']" in symbols["getpid"]
    assert "WASI_EMULATE=['mman']" in symbols["mmap"]
    for name in ("system", "popen", "fork"):
        assert "no processes" in symbols[name]
    for name in ("tmpfile", "tmpnam"):
        assert "no temp directory" in symbols[name] and "preopened dir" in symbols[name]
    for name in ("chmod", "fchmod", "fchown"):
        assert "no file modes" in symbols[name]
    assert "no processes" in table()["headers"]["sys/wait.h"]


def test_every_emulation_hint_names_a_real_emulation() -> None:
    import re

    for advice in table()["symbols"].values():
        for names in re.findall(r"WASI_EMULATE=\[([^\]]*)\]", advice):
            for name in re.findall(r"'([^']+)'", names):
                assert name in buildvars.EMULATIONS, advice


def test_hint_for_one_symbol_and_for_symbols_that_share_advice() -> None:
    hints = {"symbols": {"getpid": "use A", "fork": "no B", "system": "no B"}, "headers": {"pwd.h": "no C"}}
    assert hint_for(LINK_ERROR, hints) == f"{PREFIX}getpid → use A"
    text = ("wasm-ld: error: a.o: undefined symbol: system\nwasm-ld: error: b.o: undefined symbol: fork\n"
            "wasm-ld: error: c.o: undefined symbol: system\nwasm-ld: error: c.o: undefined symbol: getpid\n")
    assert hint_for(text, hints) == f"{PREFIX}system, fork → no B; getpid → use A"


def test_hint_for_a_missing_header_and_through_colour_codes() -> None:
    hints = {"symbols": {}, "headers": {"sys/wait.h": "no processes"}}
    coloured = "\x1b[1mx.c:1:10: \x1b[0;1;31mfatal error: \x1b[0m\x1b[1m'sys/wait.h' file not found\x1b[0m\n"
    assert hint_for(coloured, hints) == f"{PREFIX}sys/wait.h → no processes"


def test_no_hint_for_what_the_table_does_not_know() -> None:
    assert hint_for("wasm-ld: error: a.o: undefined symbol: my_own_function\n") is None
    assert hint_for("x.c:1:10: fatal error: 'myproject.h' file not found\n") is None
    assert hint_for("") is None


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    return write_project(tmp_path / "proj", repo)


def test_a_failed_link_ends_with_the_hint_after_the_linker_s_text(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    fail_when(log, "out/one", LINK_ERROR)
    result = scons(project, cache, "out/one.wasm")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert LINK_ERROR.rstrip("\n") in result.stderr
    hint = lines.index(f"{PREFIX}getpid → {table()['symbols']['getpid']}")
    assert lines[hint - 1] == LINK_ERROR.splitlines()[-1]
    assert result.stderr.count(PREFIX) == 1
    assert "scons: ***" in lines[hint + 1]


def test_a_failed_compile_of_a_missing_header_gets_its_hint(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    fail_when(log, "lib/add.c", "lib/add.c:1:10: fatal error: 'sys/wait.h' file not found\n")
    result = scons(project, cache, "lib/add.wasi.o")
    assert result.returncode != 0
    assert f"{PREFIX}sys/wait.h → {table()['headers']['sys/wait.h']}" in result.stderr.splitlines()


def test_no_hint_when_the_command_succeeds_or_the_error_is_unknown(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    fail_when(log, "out/one", "warning: something\n", code=0)
    ok = scons(project, cache, "out/one.wasm")
    assert ok.returncode == 0 and "warning: something" in ok.stderr and PREFIX not in ok.stderr
    fail_when(log, "out/two", "wasm-ld: error: x.o: undefined symbol: not_in_the_table\n")
    failed = scons(project, cache, "out/two.wasm")
    assert failed.returncode != 0 and "not_in_the_table" in failed.stderr and PREFIX not in failed.stderr
