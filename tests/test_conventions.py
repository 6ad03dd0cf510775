"""SCons's conventions in the WASI builders, through real scons runs against the stand-in toolchain: CCFLAGS & co.
applied in a WASI-only environment and reported (once) where a host compiler owns them; every WASI_* list checked
at the SConstruct line; `scons --help` listing the tool's targets and the project's run aliases; WASI_STACK_SIZE and
WasiRun's max_wasm_stack_kb checked and passed on."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.helpers import make_project, run_scons
from support.standin import by_output, calls, fake_entry

SOURCES = {"src/a.c": "int main(void) { return 0; }\n", "src/b.cpp": "int main() { return 0; }\n"}


def project_with(tmp_path: Path, sconstruct: str) -> tuple[Path, Path, Path]:
    project = make_project(tmp_path / "p", {**SOURCES, "SConstruct": sconstruct})
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    return project, cache, log


def scons(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(cache)})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_a_wasi_only_environment_applies_ccflags_cflags_cxxflags_and_linkflags(tmp_path: Path) -> None:
    project, cache, log = project_with(tmp_path, """\
env = Environment(tools=['wasi'])
env.Append(CCFLAGS=['-DFROM_CCFLAGS'], CFLAGS=['-std=c11'], CXXFLAGS=['-std=c++20'], LINKFLAGS=['-Wl,--no-entry'])
env.WasiProgram('out/a', ['src/a.c'], WASI_CCFLAGS=['-DFROM_WASI'])
env.WasiProgram('out/b', ['src/b.cpp'])
""")
    result = scons(project, cache, ".")
    assert result.returncode == 0, result.stderr
    argv = by_output(log)
    c, cxx, link = argv["src/a.wasi.o"], argv["src/b.wasi.o"], argv["out/a.wasm"]
    # The host-style variable first, its WASI_* one after it (the more specific flag wins).
    assert c.index("-O2") < c.index("-DFROM_CCFLAGS") < c.index("-DFROM_WASI") < c.index("-std=c11") < c.index("-c")
    assert "-std=c11" not in cxx and cxx.index("-fno-exceptions") > cxx.index("-DFROM_CCFLAGS")
    assert "-std=c++20" in cxx and "-std=c++20" not in c
    assert "-Wl,--no-entry" in link and "-Wl,--no-entry" in argv["out/b.wasm"]
    assert "warning" not in result.stderr


def test_a_host_environment_keeps_its_flags_to_the_host_and_says_so_once(tmp_path: Path) -> None:
    # CC set: the environment builds for the host too (as tools=['default', 'wasi'] does), without needing a
    # host compiler on the test machine.
    project, cache, log = project_with(tmp_path, """\
env = Environment(tools=['wasi'], CC='cc')
env.Append(CCFLAGS=['-DHOST_ONLY'], LINKFLAGS=['-Wl,--host-only'])
env.WasiProgram('out/a', ['src/a.c'])
env.WasiProgram('out/b', ['src/b.cpp'])
""")
    result = scons(project, cache, ".")
    assert result.returncode == 0, result.stderr
    everything = [arg for call in calls(log) for arg in call["argv"]]  # type: ignore[union-attr]
    assert "-DHOST_ONLY" not in everything and "-Wl,--host-only" not in everything
    assert result.stderr.count("CCFLAGS=['-DHOST_ONLY'] is not applied to the WASI builders") == 1
    assert result.stderr.count("LINKFLAGS=['-Wl,--host-only'] is not applied to the WASI builders") == 1
    assert "scons: warning: SConstruct:3: CCFLAGS=" in result.stderr
    assert "put WASI flags in WASI_CCFLAGS" in result.stderr and "put WASI flags in WASI_LINKFLAGS" in result.stderr


def test_the_default_command_lines_are_unchanged_when_no_host_flag_is_set(tmp_path: Path) -> None:
    project, cache, log = project_with(tmp_path, "env = Environment(tools=['wasi'])\nenv.WasiObject('src/a.c')\n")
    assert scons(project, cache, ".").returncode == 0
    entry = by_output(log)["src/a.wasi.o"]
    assert entry[entry.index("-O2") + 1:] == ["-c", "-o", "src/a.wasi.o", "src/a.c"]


@pytest.mark.parametrize("name, value, shown", [
    ("WASI_CCFLAGS", "['-DFOO', 3]", "int 3"),
    ("WASI_CFLAGS", "['-std=c11', None]", "NoneType None"),
    ("WASI_CXXFLAGS", "[2.5]", "float 2.5"),
    ("WASI_LINKFLAGS", "['-Wl,--export=f', True]", "bool True"),
    ("WASI_LIBS", "['m', {'x': 1}]", "dict {'x': 1}"),
])
def test_a_bad_wasi_list_stops_at_the_sconstruct_line(tmp_path: Path, name: str, value: str, shown: str) -> None:
    project, cache, log = project_with(tmp_path, f"""\
env = Environment(tools=['wasi'])

env.WasiProgram('out/a', ['src/a.c'], {name}={value})
""")
    result = scons(project, cache, ".")
    assert result.returncode == 2
    assert f"scons: *** SConstruct:3: {name}: expected strings, got {shown} in " in result.stderr
    assert 'File "' not in result.stderr  # the message names the line itself (SConstruct:3)
    assert calls(log) == []  # nothing ran: no clang told `no such file or directory: '3'`


def test_a_wasi_list_that_is_not_a_list_stops_at_the_sconstruct_line(tmp_path: Path) -> None:
    project, cache, log = project_with(tmp_path, "env = Environment(tools=['wasi'], WASI_CCFLAGS=3)\n"
                                                 "env.WasiObject('src/a.c')\n")
    result = scons(project, cache, ".")
    assert result.returncode == 2
    assert "scons: *** SConstruct:2: WASI_CCFLAGS: expected a list of strings, got int 3" in result.stderr


def test_a_bad_ccflags_in_a_wasi_only_environment_is_caught_too(tmp_path: Path) -> None:
    project, cache, log = project_with(tmp_path, "env = Environment(tools=['wasi'], CCFLAGS=['-DA', 3])\n"
                                                 "env.WasiObject('src/a.c')\n")
    result = scons(project, cache, ".")
    assert result.returncode == 2
    assert "scons: *** SConstruct:2: CCFLAGS: expected strings, got int 3 in ['-DA', 3]" in result.stderr


def test_help_lists_the_tool_s_targets_and_the_project_s_run_aliases(tmp_path: Path) -> None:
    project, cache, _ = project_with(tmp_path, """\
env = Environment(tools=['wasi'])
a = env.WasiProgram('out/a', ['src/a.c'])
env.WasiRun('run-a', a)
env.WasiRun('run-a-twice', a, args=['2'])
""")
    result = scons(project, cache, "--help")
    assert result.returncode == 0
    text = result.stdout
    assert "--wasi-offline" in text  # the options are still there
    for target in ("wasi-toolchain", "wasi-cache-key", "wasi-verify", "wasi-prune", "wasi-fetch-all DIR",
                   "wasi-symbolize MODULE [TRAP_FILE]"):
        assert f"\n  {target} " in text or f"\n  {target}\n" in text, target
    assert "\n  run-a                    run out/a.wasm in wasmtime\n" in text
    assert "\n  run-a-twice              run out/a.wasm in wasmtime\n" in text
    assert text.index("Targets of the wasi tool:") < text.index("WasiRun aliases of this project:")


def test_the_stack_size_reaches_the_link_and_a_bad_one_stops_at_the_sconstruct_line(tmp_path: Path) -> None:
    project, cache, log = project_with(tmp_path, """\
env = Environment(tools=['wasi'])
env.WasiProgram('out/a', ['src/a.c'])
env.WasiProgram('out/big', ['src/a.c'], WASI_STACK_SIZE=8 * 1024 * 1024)
""")
    assert scons(project, cache, ".").returncode == 0
    argv = by_output(log)
    assert "-Wl,-z,stack-size=1048576" in argv["out/a.wasm"]
    assert "-Wl,-z,stack-size=8388608" in argv["out/big.wasm"]
    for bad in ("'1M'", "1000", "True", "2 ** 33"):
        (project / "SConstruct").write_text(f"env = Environment(tools=['wasi'])\n"
                                            f"env.WasiProgram('out/a', ['src/a.c'], WASI_STACK_SIZE={bad})\n")
        result = scons(project, cache, ".")
        assert result.returncode == 2, bad
        assert "scons: *** SConstruct:2: WASI_STACK_SIZE: expected bytes, a multiple of 16 from 4096 to " \
               "536870912 (512 MiB), got " in result.stderr, result.stderr


def test_max_wasm_stack_kb_past_wasmtime_py_s_limit_stops_at_the_sconstruct_line(tmp_path: Path) -> None:
    project, cache, _ = project_with(tmp_path, """\
env = Environment(tools=['wasi'])
a = env.WasiProgram('out/a', ['src/a.c'])
env.WasiRun('run-a', a, max_wasm_stack_kb=4096)
""")
    result = scons(project, cache, "run-a")
    assert result.returncode == 2
    assert ("scons: *** SConstruct:3: WasiRun max_wasm_stack_kb: expected a whole number of KiB from 64 to 2048 "
            "(wasmtime-py's limit), got 4096") in result.stderr


def test_a_module_whose_memory_starts_past_max_memory_mb_says_which_two_settings(tmp_path: Path) -> None:
    import wasmtime

    from wasi_toolchain.errors import RunError
    from wasi_toolchain.targets.run import run_module

    # 17 pages at start: a 1 MiB C stack and a little data, as the default WASI_STACK_SIZE links.
    module = tmp_path / "big.wasm"
    module.write_bytes(wasmtime.wat2wasm('(module (memory (export "memory") 17) (func (export "_start")))'))
    with pytest.raises(RunError) as caught:
        run_module(module, ["big.wasm"], max_memory_mb=1)
    message = str(caught.value)
    assert "memory minimum size of 17 pages exceeds memory limits (WasiRun max_memory_mb=1)" in message
    assert "next step: raise max_memory_mb= in the WasiRun call, or link it with a smaller WASI_STACK_SIZE" in message
    assert run_module(module, ["big.wasm"], max_memory_mb=2) == 0
