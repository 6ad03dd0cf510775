"""The real path: an empty WASI_CACHE_DIR, the real pins through this machine's registries, the real sysroot
build, both samples built by scons and run under wasmtime.

The toolchain is built once per session (the `real` fixture in conftest.py) and shared by every e2e test.
"""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal, localcontext
from pathlib import Path

import pytest

from support.helpers import run_scons
from support.wasm_sections import sections
from wasi_toolchain.targets.run import run_module

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


def test_the_source_flavour_survives_a_kill_during_make_and_runs_the_c_samples(real, source_flavour) -> None:  # type: ignore[no-untyped-def]
    """WASI_LIBC=source: the 2022 wasi-libc source built by the pinned clang 22 with make. kill -9 (the whole process
    group, as a CI timeout does) while that make runs; the store keeps no half-built entry, the next run builds a
    complete one, and the C samples (and the C++ one: libc++ 22 links against it) give the same output as with the
    default flavour. The session's downloads are reused. The build itself is the `source_flavour` fixture
    (conftest.py), which tests/test_e2e_size_libc.py shares."""
    from wasi_toolchain.store.store import STAMP, check_manifest

    project, _, _ = real
    build = source_flavour
    root = build.root
    assert build.killed_returncode == -9
    assert build.entries_after_kill == []
    assert build.leftovers_after_kill != []  # the killed run's temp entry, for the next run to sweep

    source_env = {"WASI_CACHE_DIR": str(build.cache), "WASI_LIBC": "source"}
    result = build.rebuild
    assert result.returncode == 0, result.stderr
    assert "wasi: an earlier run was interrupted while it held sysroot-" in result.stderr
    assert "building wasi-libc from source" in result.stderr
    entries = build.entries_after_rebuild
    assert len(entries) == 1 and (entries[0] / STAMP).is_file() and check_manifest(entries[0]) == []
    assert "-source-" in entries[0].name
    assert build.leftovers_after_rebuild == []

    # The samples: the setjmp one is left out by the SConstruct (the 2022 source has no setjmp), the rest run.
    runs = ("run-first", "run-builtins", "run-gcd", "run-primes", "run-wordfreq", "run-threadlocal")
    with_source = run_scons(root, "-Q", *runs, env=source_env)
    assert with_source.returncode == 0, with_source.stderr
    assert "run-recover" not in with_source.stdout
    default = project.scons("-Q", *runs)
    assert default.returncode == 0, default.stderr

    def program_output(stdout: str) -> list[str]:
        return [line for line in stdout.splitlines() if not line.startswith("wasi: ")]

    assert program_output(with_source.stdout) == program_output(default.stdout)
    assert "Hello, WebAssembly! I got 2 arguments." in with_source.stdout


# -- LLVM 22 and the 2024 wasi-libc: setjmp/longjmp, thread_local, emulations, what clang says ----------------------
RECOVER_OUTPUT = """\
1 + 2 * 3
  = 7
(1 + 2) * 3
  = 9
10 / (5 - 5)
  error: division by zero at 'end'
((((7))))
  = 7
2 * (3 + 
  error: expected a number at 'end'
8 / 2 / 2
  = 2
4 $ 4
  error: unexpected input at '$ 4'
100 - 1
  = 99
outer handler: giving up after the last input at 'end'
3 of 8 failed; sum of the others: 124
"""


def test_a_two_line_sconstruct_builds_and_runs_setjmp_longjmp_with_no_flags(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    root = tmp_path / "fresh-project"
    root.mkdir()
    shutil.copy(project.root / "toolchain.lock", root / "toolchain.lock")
    shutil.copy(project.root / "samples/setjmp/recover.c", root / "recover.c")
    (root / "SConstruct").write_text("env = Environment(tools=['wasi'])\n"
                                     "env.WasiRun('run', env.WasiProgram('recover', ['recover.c']))\n")
    result = run_scons(root, "-Q", "run", env=project.env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("wasi: running recover.wasm")
    assert "\n".join(lines[start + 1:]) + "\n" == RECOVER_OUTPUT


@pytest.mark.skipif(shutil.which("cc") is None, reason="no native C compiler to cross-check with")
def test_the_setjmp_sample_matches_a_native_build(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    assert project.scons("-Q", "build/recover.wasm").returncode == 0
    native = tmp_path / "recover"
    subprocess.run(["cc", "-O2", "-o", str(native), str(project.root / "samples/setjmp/recover.c")], check=True)
    expected = subprocess.run([str(native)], capture_output=True, text=True, check=True).stdout
    out = tmp_path / "stdout"
    assert run_module(project.root / "build/recover.wasm", ["recover.wasm"], stdout=out) == 0
    assert out.read_text() == expected == RECOVER_OUTPUT


def test_a_cxx_thread_local_with_a_destructor_links_and_runs_it_at_exit(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    result = project.scons("-Q", "build/threadlocal.wasm")
    assert result.returncode == 0, result.stderr
    out = tmp_path / "stdout"
    assert run_module(project.root / "build/threadlocal.wasm", ["threadlocal.wasm"], stdout=out) == 0
    # The thread_local is made on first use and destroyed at the one thread's exit, before the static object.
    assert out.read_text() == ("main: start\nthread-log: constructed\nthread-log[1]: first\nthread-log[2]: second\n"
                               "main: end\nthread-log: destroyed after 2 lines\nglobal: destroyed\n")


def test_setjmp_support_costs_nothing_in_code_that_does_not_call_it(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    sconstruct = project.root / "SConstruct"
    original = sconstruct.read_text()
    try:
        sconstruct.write_text(original + """
nosj = env.Clone(WASI_SETJMP=0, WASI_OBJSUFFIX='.nosj.o')
nosj.WasiProgram('build/first-nosj', ['build/obj/first.c'])
nosj.WasiProgram('build/wordfreq-nosj', ['build/obj/cxx/wordfreq.cpp', 'build/obj/cxx/table.cc'])
""")
        result = project.scons("-Q", "build/first.wasm", "build/wordfreq.wasm", "build/first-nosj.wasm",
                               "build/wordfreq-nosj.wasm")
    finally:
        sconstruct.write_text(original)
    assert result.returncode == 0, result.stderr
    for name in ("first", "wordfreq"):
        assert ((project.root / f"build/{name}.wasm").read_bytes()
                == (project.root / f"build/{name}-nosj.wasm").read_bytes()), name


def test_emulations_and_both_target_names_build_without_a_warning(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    root = tmp_path / "emulate"
    root.mkdir()
    shutil.copy(project.root / "toolchain.lock", root / "toolchain.lock")
    (root / "uses.c").write_text("""\
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
int main(void) {
    signal(SIGINT, SIG_IGN);
    char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    page[0] = 'w';
    printf("pid>0:%d clock>=0:%d page:%c\\n", getpid() > 0, clock() >= 0, page[0]);
    return munmap(page, 4096);
}
""")
    (root / "SConstruct").write_text("""\
env = Environment(tools=['wasi'], WASI_CCFLAGS=['-O2', '-Werror'],
                  WASI_EMULATE=['signal', 'mman', 'process-clocks', 'getpid'])
env.WasiProgram('p1', ['uses.c'])
env.Clone(WASI_TARGET='wasm32-wasi', WASI_OBJSUFFIX='.old.o').WasiProgram('old-name', ['uses.c'])
""")
    result = run_scons(root, "-Q", env=project.env)
    assert result.returncode == 0, result.stderr
    assert "deprecated" not in result.stderr and "warning" not in result.stderr
    assert (root / "p1.wasm").read_bytes() == (root / "old-name.wasm").read_bytes()
    out = tmp_path / "stdout"
    assert run_module(root / "p1.wasm", ["p1.wasm"], stdout=out) == 0
    assert out.read_text() == "pid>0:1 clock>=0:1 page:w\n"


def test_a_failed_link_speaks_as_clang_never_as_zig(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, _, _ = real
    root = tmp_path / "undefined"
    root.mkdir()
    shutil.copy(project.root / "toolchain.lock", root / "toolchain.lock")
    (root / "main.c").write_text("int missing(void);\nint main(void) { return missing(); }\n")
    (root / "SConstruct").write_text("Environment(tools=['wasi']).WasiProgram('main', ['main.c'])\n")
    result = run_scons(root, "-Q", env=project.env)
    assert result.returncode == 2
    assert "undefined symbol: missing" in result.stderr
    assert "clang: error: linker command failed with exit code 1" in result.stderr
    assert "zig:" not in result.stderr
