"""The builders and the tool's conventions, driven through real scons runs against a stand-in toolchain entry.

What is checked here is which commands run, with which arguments, and when: the toolchain identity in every
signature, libraries, reactors, C++ linking, compile_commands.json, CacheDir across checkouts, options and clean.
tests/test_e2e_builders.py runs the same scenarios with the real toolchain and checks the modules themselves.
"""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import wasmtime

from support.helpers import make_project, run_scons
from support.standin import by_output, calls, fake_entry, output_of
from wasi_toolchain.pins.toolchain_lock import load_lock

# clang >= 20's switches for setjmp/longjmp through Wasm exception handling, without the legacy `try`.
SETJMP_FLAGS = ["-mllvm", "-wasm-enable-sjlj", "-mllvm", "-wasm-use-legacy-eh=false"]

SOURCES = {
    "lib/add.c": "int add(int a, int b) { return a + b; }\n",
    "lib/mul.c": "int mul(int a, int b) { return a * b; }\n",
    "common/util.c": "int util(void) { return 1; }\n",
    "app/one.c": '#include "ops.h"\nint main(void) { return add(1, 2) - 3; }\n',
    "app/two.c": '#include "ops.h"\nint main(void) { return mul(2, 3) - 6; }\n',
    "include/ops.h": "int add(int, int);\nint mul(int, int);\n",
    "cxx/main.cpp": "int main() { return 0; }\n",
    "cxx/part.cc": "int part() { return 1; }\n",
    "cxx/lib.cpp": 'extern "C" int from_cxx(void) { return 2; }\n',
}

SCONSTRUCT = """\
# The project's build.
env = Environment(tools=['wasi'])
util = env.WasiLibrary('out/lib/util', ['lib/add.c', 'lib/mul.c'])
apps = env.Clone(CPPPATH=['include'], LIBS=['util'], LIBPATH=['out/lib'])
common = apps.WasiObject('common/util.c')
apps.WasiProgram('out/one', ['app/one.c', common])
apps.WasiProgram('out/two', ['app/two.c', common], CPPDEFINES=['TWO'])
"""


def write_project(root: Path, repo: Path, sconstruct: str = SCONSTRUCT) -> Path:
    return make_project(root, {**SOURCES, "SConstruct": sconstruct})


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    return write_project(tmp_path / "proj", repo)


def scons(project: Path, cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # One clang run per object (WASI_BATCH_SIZE=1): these tests check each object's own command. Batches:
    # tests/test_batch.py and tests/test_e2e_batch.py.
    result = run_scons(project, "-Q", *args, env={"WASI_CACHE_DIR": str(cache), "WASI_BATCH_SIZE": "1"})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def outputs_in(log: Path) -> list[str]:
    return sorted(output_of(c) for c in calls(log))


EVERY_OUTPUT = sorted(["lib/add.wasi.o", "lib/mul.wasi.o", "out/lib/libutil.a", "common/util.wasi.o",
                       "app/one.wasi.o", "app/two.wasi.o", "out/one.wasm", "out/two.wasm"])
# ... and the targets: each program's function names beside it (WASI_NAMES), written by the tool, not a compiler.
EVERY_TARGET = sorted([*EVERY_OUTPUT, "out/one.wasm.names", "out/two.wasm.names"])


# -- signatures --------------------------------------------------------------------------------------------------
def test_a_new_pin_rebuilds_everything_and_a_comment_rebuilds_nothing(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    old, log = fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    assert outputs_in(log) == EVERY_OUTPUT

    # Comments, in the SConstruct and in the lock, change no signature.
    log.unlink()
    sconstruct = project / "SConstruct"
    sconstruct.write_text(sconstruct.read_text().replace("# The project's build.", "# Reworded.\n# Twice."))
    lock = project / "toolchain.lock"
    lock.write_text("# A new comment at the top of the lock.\n" + lock.read_text())
    assert scons(project, cache, ".").returncode == 0
    assert calls(log) == []

    # A new wasi-libc pin is a new toolchain: every object, archive and program is rebuilt with it.
    text = lock.read_text()
    old_sha = load_lock(lock).wasi_libc.sha256
    assert text.count(old_sha) == 1
    lock.write_text(text.replace(old_sha, "0" * 64))
    new, new_log = fake_entry(project, tmp_path / "cache-for-new-key", lock=lock)
    assert new.key != old.key
    shutil.move(str(new.root), str(cache / "sysroots" / new.key))  # its tools still log to new_log
    assert scons(project, cache, ".").returncode == 0
    assert outputs_in(new_log) == EVERY_OUTPUT
    assert calls(log) == []


def test_another_checkout_and_store_get_every_target_from_the_cachedir(project: Path, tmp_path: Path,
                                                                       repo: Path) -> None:
    shared = tmp_path / "shared-cachedir"
    cache_a, cache_b = tmp_path / "store-a", tmp_path / "elsewhere" / "store-b"
    _, log_a = fake_entry(project, cache_a)
    assert scons(project, cache_a, f"--cache-dir={shared}", ".").returncode == 0
    assert outputs_in(log_a) == EVERY_OUTPUT

    other = write_project(tmp_path / "another" / "checkout", repo)
    _, log_b = fake_entry(other, cache_b)
    result = scons(other, cache_b, f"--cache-dir={shared}", ".")
    assert result.returncode == 0, result.stderr
    assert calls(log_b) == []
    assert sorted(line for line in result.stdout.splitlines() if line.startswith("Retrieved")) == sorted(
        f"Retrieved `{name}' from cache" for name in EVERY_TARGET)
    for name in EVERY_TARGET:
        assert (other / name).read_bytes() == (project / name).read_bytes()


# -- libraries ---------------------------------------------------------------------------------------------------
def test_one_library_is_archived_once_and_linked_into_two_programs(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)
    assert scons(project, cache, "-j2", ".").returncode == 0
    order = [output_of(c) for c in calls(log)]
    assert order.count("out/lib/libutil.a") == 1
    assert order.index("out/lib/libutil.a") < min(order.index("out/one.wasm"), order.index("out/two.wasm"))
    argv = by_output(log)
    assert argv["out/lib/libutil.a"] == ["rcsD", "out/lib/libutil.a", "lib/add.wasi.o", "lib/mul.wasi.o"]
    for name in ("one", "two"):
        assert argv[f"out/{name}.wasm"][-7:] == ["-o", f"out/{name}.wasm", f"app/{name}.wasi.o",
                                                 "common/util.wasi.o", "-Lout/lib", "-lutil", "-lsetjmp"]
    assert "-DTWO" in argv["app/two.wasi.o"] and "-DTWO" not in argv["app/one.wasi.o"]
    assert "-Iinclude" in argv["app/one.wasi.o"]

    # LIBS/LIBPATH make the archive a dependency of both programs: a change to the library relinks both.
    log.unlink()
    (project / "lib/mul.c").write_text("int mul(int a, int b) { return b * a; }\n")
    assert scons(project, cache, "-j2", ".").returncode == 0
    assert outputs_in(log) == ["lib/mul.wasi.o", "out/lib/libutil.a", "out/one.wasm", "out/two.wasm"]


# -- exec model, target, C++ -------------------------------------------------------------------------------------
def test_reactor_exports_target_and_strip(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("""\
env = Environment(tools=['wasi'])
env.WasiProgram('out/reactor', ['lib/add.c'], WASI_EXECMODEL='reactor', WASI_EXPORTS=['add'])
env.WasiProgram('out/command', ['lib/mul.c', 'common/util.c'], WASI_EXPORTS=['mul', 'util'], WASI_STRIP='no',
                WASI_TARGET='wasm32-wasi', WASI_OBJSUFFIX='.p1.o')
""")
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    argv = by_output(log)
    entry = toolchain.root
    assert argv["out/reactor.wasm"] == [
        "--target=wasm32-wasip1", f"--sysroot={entry}/sysroot", f"-fuse-ld={entry}/bin/wasm-ld",
        "-Wl,-z,stack-size=1048576", "-O2", "-mexec-model=reactor", "-Wl,--export=add", "-Wl,--strip-debug", "-o",
        "out/reactor.wasm", "lib/add.wasi.o", "-lsetjmp"]
    # The older name of the target reaches clang as the one it does not warn about.
    assert argv["out/command.wasm"] == [
        "--target=wasm32-wasip1", f"--sysroot={entry}/sysroot", f"-fuse-ld={entry}/bin/wasm-ld",
        "-Wl,-z,stack-size=1048576", "-O2", "-Wl,--export=mul", "-Wl,--export=util", "-o", "out/command.wasm",
        "lib/mul.p1.o", "common/util.p1.o", "-lsetjmp"]
    assert argv["lib/mul.p1.o"][0] == "--target=wasm32-wasip1"


def test_cxx_compiles_with_cxxflags_and_links_through_gxx_mode(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("""\
env = Environment(tools=['wasi'])
env.WasiProgram('out/cxx', ['cxx/main.cpp', 'cxx/part.cc'], WASI_CXXFLAGS=['-fno-exceptions', '-std=c++20'])
env.WasiProgram('out/c', ['app/one.c'], CPPPATH=['include'])
env.WasiLibrary('out/lib/cxxlib', ['cxx/lib.cpp'])
env.WasiProgram('out/c-with-cxx-lib', ['common/util.c'], LIBS=['cxxlib'], LIBPATH=['out/lib'])
env.WasiProgram('out/forced-c', ['cxx/part.cc'], WASI_LINK_CXX=0, WASI_OBJSUFFIX='.forced.o')
""")
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)
    result = scons(project, cache, ".")
    assert result.returncode == 0, result.stderr
    argv = by_output(log)
    assert argv["cxx/main.wasi.o"][5:] == [*SETJMP_FLAGS, "-O2", "-fno-exceptions", "-std=c++20", "-c", "-o",
                                           "cxx/main.wasi.o", "cxx/main.cpp"]
    assert argv["cxx/lib.wasi.o"][9:12] == ["-O2", "-fno-exceptions", "-c"]
    assert "-fno-exceptions" not in argv["app/one.wasi.o"]
    assert argv["out/cxx.wasm"][0] == "--driver-mode=g++"
    assert argv["out/c-with-cxx-lib.wasm"][0] == "--driver-mode=g++"  # found through LIBS/LIBPATH
    assert "--driver-mode=g++" not in argv["out/c.wasm"] + argv["out/forced-c.wasm"]
    assert "wasi: compiling cxx/part.cc" in result.stdout


def test_setjmp_is_on_by_default_and_off_with_wasi_setjmp_0(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("""\
env = Environment(tools=['wasi'])
env.WasiProgram('out/on', ['lib/add.c'])
env.WasiProgram('out/off', ['lib/mul.c'], WASI_SETJMP=0)
env.WasiProgram('out/cxx', ['cxx/main.cpp'])
""")
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    argv = by_output(log_of(cache))
    for compiled in ("lib/add.wasi.o", "cxx/main.wasi.o"):  # C and C++ alike
        assert argv[compiled][5:9] == SETJMP_FLAGS
    assert argv["out/on.wasm"][-1] == "-lsetjmp" and argv["out/cxx.wasm"][-1] == "-lsetjmp"
    assert not set(SETJMP_FLAGS + ["-lsetjmp"]) & set(argv["lib/mul.wasi.o"] + argv["out/off.wasm"])


def test_wasi_emulate_adds_each_define_and_library(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("""\
env = Environment(tools=['wasi'])
env.WasiProgram('out/emulated', ['lib/add.c'], WASI_EMULATE=['signal', 'process-clocks', 'signal'])
env.WasiProgram('out/plain', ['lib/mul.c'])
""")
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    argv = by_output(log_of(cache))
    compiled = argv["lib/add.wasi.o"]
    assert compiled[compiled.index("-c") - 2:compiled.index("-c")] == ["-D_WASI_EMULATED_SIGNAL",
                                                                       "-D_WASI_EMULATED_PROCESS_CLOCKS"]
    assert argv["out/emulated.wasm"][-3:] == ["-lwasi-emulated-signal", "-lwasi-emulated-process-clocks",
                                              "-lsetjmp"]
    assert not [a for a in argv["lib/mul.wasi.o"] + argv["out/plain.wasm"] if "EMULATED" in a or "emulated" in a]


def log_of(cache: Path) -> Path:
    return cache / "calls.jsonl"


@pytest.mark.parametrize("call, message", [
    ("env.WasiProgram('p', ['lib/add.c'], WASI_EMULATE=['signals'])",
     "WASI_EMULATE: expected names from 'signal', 'mman', 'process-clocks', 'getpid', got 'signals'"),
    ("env.WasiProgram('p', ['lib/add.c'], WASI_SETJMP='sometimes')",
     "WASI_SETJMP: expected a boolean (True/False, 1/0, yes/no), got 'sometimes'"),
    ("env.WasiProgram('p', ['lib/add.c'], WASI_EXECMODEL='library')",
     "WASI_EXECMODEL: expected 'command' or 'reactor', got 'library'"),
    ("env.WasiProgram('p', ['lib/add.c'], WASI_TARGET='wasm32-wasip3')",
     "WASI_TARGET: expected one of wasm32-wasip1, wasm32-wasi, wasm32-wasip2, got 'wasm32-wasip3'"),
    ("env.WasiProgram('p', ['lib/add.c'], WASI_EXPORTS=['add', 'bad-name'])",
     "WASI_EXPORTS: expected C identifiers, got 'bad-name'"),
    ("env.WasiProgram('p', ['lib/add.c'], WASI_STRIP='maybe')",
     "WASI_STRIP: expected a boolean (True/False, 1/0, yes/no), got 'maybe'"),
])
def test_a_bad_builder_variable_names_the_sconstruct_line(project: Path, tmp_path: Path, call: str,
                                                          message: str) -> None:
    (project / "SConstruct").write_text(f"env = Environment(tools=['wasi'])\n\n{call}\n")
    result = scons(project, tmp_path / "cache")
    assert result.returncode == 2
    assert f"scons: *** SConstruct:3: {message}\n  next step: " in result.stderr


# -- compile_commands.json ---------------------------------------------------------------------------------------
def test_compile_commands_lists_every_wasi_compile_and_each_entry_reruns_it(project: Path, tmp_path: Path) -> None:
    sconstruct = project / "SConstruct"
    sconstruct.write_text(sconstruct.read_text().replace(
        "env = Environment(tools=['wasi'])",
        "env = Environment(tools=['wasi', 'compilation_db'])\nenv.CompilationDatabase()",
    ) + "env.WasiProgram('out/cxx', ['cxx/main.cpp'])\n")
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    built = {output_of(c): c for c in calls(log) if c["tool"] == "clang" and "-c" in c["argv"]}
    entries = json.loads((project / "compile_commands.json").read_text())
    assert sorted(e["output"] for e in entries) == sorted(built)
    log.unlink()
    for entry in entries:
        assert entry["directory"] == str(project)
        command = shlex.split(entry["command"])
        assert command[0] == str(toolchain.bin_dir / "clang")
        assert entry["file"] == command[-1]
        subprocess.run(command, cwd=entry["directory"], check=True)
    # Each entry ran exactly the command the build ran, from the same directory.
    assert {output_of(c): c for c in calls(log)} == built
    assert "-fno-exceptions" in built["cxx/main.wasi.o"]["argv"]


# -- options and conventions -------------------------------------------------------------------------------------
def test_help_lists_the_tool_options(project: Path, tmp_path: Path) -> None:
    result = scons(project, tmp_path / "cache", "--help")
    assert result.returncode == 0
    local = result.stdout[result.stdout.index("Local Options:"):]
    assert "--wasi-offline" in local and "--cache-dir=DIR" in local


def test_wasi_offline_option_sets_the_environment_variable(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("import os\nenv = Environment(tools=['wasi'])\n"
                                        "print('WASI_OFFLINE=' + os.environ.get('WASI_OFFLINE', 'unset'))\n")
    assert "WASI_OFFLINE=unset" in scons(project, tmp_path / "cache", "-n").stdout
    assert "WASI_OFFLINE=1" in scons(project, tmp_path / "cache", "-n", "--wasi-offline").stdout


def test_an_option_the_sconstruct_already_defines_is_left_to_it(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("AddOption('--cache-dir', dest='mine', help='the project own option')\n"
                                        "env = Environment(tools=['wasi'])\nprint('mine=%s' % GetOption('mine'))\n")
    result = scons(project, tmp_path / "cache", "-n", "--cache-dir=somewhere")
    assert result.returncode == 0, result.stderr
    assert "mine=somewhere" in result.stdout
    assert not (project / "somewhere").exists()


def test_clean_removes_outputs_and_never_touches_the_store(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    assert scons(project, cache, ".").returncode == 0
    before = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()}
    result = scons(project, cache, "-c", ".")
    assert result.returncode == 0
    assert [name for name in EVERY_TARGET if (project / name).exists()] == []
    assert {p: p.read_bytes() for p in cache.rglob("*") if p.is_file()} == before


# -- WasiRun -----------------------------------------------------------------------------------------------------
EXIT_WITH_3 = """(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start") (call $exit (i32.const 3))))"""


@pytest.mark.parametrize("expect_exit, returncode", [(3, 0), (0, 3)])
def test_wasirun_fails_the_build_on_an_unexpected_exit_code(project: Path, tmp_path: Path, expect_exit: int,
                                                            returncode: int) -> None:
    (project / "exit3.wasm").write_bytes(wasmtime.wat2wasm(EXIT_WITH_3))
    (project / "in.txt").write_text("")
    (project / "SConstruct").write_text(
        "env = Environment(tools=['wasi'])\n"
        f"env.WasiRun('run', 'exit3.wasm', args=['a'], env={{'K': 'v'}}, dirs={{'.': '/work'}}, stdin='in.txt', "
        f"expect_exit={expect_exit})\n")
    result = scons(project, tmp_path / "cache", "run")
    assert result.returncode == returncode, result.stderr
    assert "wasi: running exit3.wasm" in result.stdout
    if returncode:
        assert "wasi: exit3.wasm exited with 3, expected 0" in result.stderr


# -- how commands are started ------------------------------------------------------------------------------------
# A stand-in zig behind the provider's real wrapper scripts: it records the path it was started as, its arguments
# and its whole environment, and writes the -o output.
RECORDING_ZIG = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps({{"argv0": sys.argv[0], "argv": sys.argv[1:], "env": dict(os.environ)}}) + "\\n")
if "-o" in sys.argv:
    with open(sys.argv[sys.argv.index("-o") + 1], "w") as out:
        out.write("object\\n")
"""


def test_a_compile_starts_the_compiler_exactly_as_its_wrapper_would(tmp_path: Path, repo: Path) -> None:
    import sys

    from wasi_toolchain.toolchain.llvm import ZiglangProvider

    # A space in the checkout's path: -ffile-prefix-map=<top>=. must still reach clang as one argument.
    project = write_project(tmp_path / "a checkout", repo)
    cache = tmp_path / "cache"
    toolchain, _ = fake_entry(project, cache)
    for tool, text in ZiglangProvider().scripts().items():  # the wrappers a real ziglang entry has
        (toolchain.bin_dir / tool).write_text(text)
        (toolchain.bin_dir / tool).chmod(0o755)
    log = tmp_path / "zig.jsonl"
    zig = toolchain.root / "llvm/ziglang/zig"
    zig.parent.mkdir(parents=True)
    zig.write_text(RECORDING_ZIG.format(python=sys.executable, log=str(log)))
    zig.chmod(0o755)
    ZiglangProvider.link_clang(toolchain.root)
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'], ENV={'PATH': '/usr/bin:/bin', "
                                        "'CPATH': '/usr/include'})\nenv.WasiObject('lib/add.c')\n")
    scons(project, cache, "lib/add.wasi.o")
    [from_scons] = [json.loads(line) for line in log.read_text().splitlines()]
    bin_dir = str(toolchain.bin_dir)
    # Through the link named clang, so that clang's diagnostics say `clang:`, not `zig:`.
    assert from_scons["argv0"] == f"{bin_dir}/../libexec/clang"
    assert f"-ffile-prefix-map={project}=." in from_scons["argv"]
    assert from_scons["argv"][:3] == ["clang", "-resource-dir", f"{bin_dir}/../resource"]
    # The same program, arguments and environment as when the wrapper runs it.
    subprocess.run([f"{bin_dir}/clang", *from_scons["argv"][3:]], cwd=project, check=True,
                   env={"PATH": "/usr/bin:/bin", "CPATH": "/usr/include"})
    by_hand = json.loads(log.read_text().splitlines()[1])
    assert from_scons == by_hand
    assert {k: v for k, v in from_scons["env"].items() if k != "LC_CTYPE"} == {"PATH": bin_dir,
                                                                               "SOURCE_DATE_EPOCH": "0"}


def test_a_wrapper_that_is_not_the_providers_own_is_run_as_it_is(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)  # bin/clang is a recorder, not a wrapper script
    scons(project, cache, "lib/add.wasi.o")
    assert [c["tool"] for c in calls(log)] == ["clang"]


def test_a_spawn_of_the_users_own_runs_every_command(project: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    (project / "SConstruct").write_text(
        "import SCons.Platform.posix\n"
        "def logged(sh, escape, cmd, args, env):\n"
        "    with open('spawned.txt', 'a') as f:\n"
        "        f.write(args[0].rsplit('/', 1)[-1] + '\\n')\n"
        "    return SCons.Platform.posix.subprocess_spawn(sh, escape, cmd, args, env)\n"
        "env = Environment(tools=['wasi'], SPAWN=logged)\n"
        "env.WasiLibrary('out/lib/util', ['lib/add.c', 'lib/mul.c'])\n")
    assert scons(project, cache, ".").returncode == 0
    assert sorted((project / "spawned.txt").read_text().split()) == ["clang", "clang", "llvm-ar"]
