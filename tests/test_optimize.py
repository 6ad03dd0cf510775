"""WASI_OPTIMIZE: the -O flag kept apart from WASI_CCFLAGS/WASI_LINKFLAGS, through the stand-in toolchain."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import run_scons
from support.standin import by_output, calls, fake_entry, fake_wasm_opt
from test_builders import write_project
from wasi_toolchain.targets import buildvars
from wasi_toolchain.errors import ConfigError

SCONSTRUCT = """\
env = Environment(tools=['wasi'])
env.WasiProgram('out/one', ['app/one.c'], CPPPATH=['include'], WASI_CCFLAGS=['-include', 'include/ops.h'],
                WASI_LINKFLAGS=['-Wl,--no-entry'])
small = env.Clone(WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.size.o')
small.WasiProgram('out/two', ['app/two.c'], CPPPATH=['include'])
env.WasiProgram('out/debug', ['lib/add.c'], WASI_CCFLAGS=['-O0', '-g'], WASI_OBJSUFFIX='.debug.o')
"""


def test_optimize_values() -> None:
    assert buildvars.optimize("speed") == "speed" and buildvars.optimize("size") == "size"
    with pytest.raises(ConfigError, match=r"WASI_OPTIMIZE: expected 'speed' or 'size', got 'fast'"):
        buildvars.optimize("fast")


def test_per_call_flags_keep_the_optimisation_and_size_mode_swaps_it(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo, SCONSTRUCT)
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    fake_wasm_opt(project, cache)  # size mode runs wasm-opt after the link (tests/test_wasm_opt.py)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    argv = {output: args for output, args in by_output(cache / "calls.jsonl").items()}
    link_two = next(c["argv"] for c in calls(cache / "calls.jsonl") if c["tool"] == "clang" and "out/two.wasm" in c["argv"])
    # -O2 where WASI_CCFLAGS's default used to put it, then the call's own flags.
    compile_one = argv["app/one.wasi.o"]
    assert compile_one[compile_one.index("-O2"):][:3] == ["-O2", "-include", "include/ops.h"]
    link_one = argv["out/one.wasm"]
    assert link_one[link_one.index("-O2"):][:2] == ["-O2", "-Wl,--no-entry"]
    # size: -Oz in the same places, and no -O2 anywhere.
    for args in (argv["app/two.size.o"], link_two):
        assert "-Oz" in args and "-O2" not in args
    assert argv["app/two.size.o"].index("-Oz") == compile_one.index("-O2")
    # A -O of the user's own comes after the tool's, so it wins (clang takes the last one).
    debug = argv["lib/add.debug.o"]
    assert debug.index("-O0") > debug.index("-O2")


def test_a_bad_value_names_the_sconstruct_line(tmp_path: Path, repo: Path) -> None:
    project = write_project(tmp_path / "proj", repo,
                            "env = Environment(tools=['wasi'])\nenv.WasiProgram('out/one', ['app/one.c'], "
                            "CPPPATH=['include'], WASI_OPTIMIZE='fast')\n")
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "SConstruct:2" in result.stderr and "WASI_OPTIMIZE: expected 'speed' or 'size', got 'fast'" in result.stderr
