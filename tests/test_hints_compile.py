"""Hints where the error happens: clang's own words for a compile that stops before any link (an undeclared function,
wasi-libc's `#error` for an emulation, a libc++ template it lacks, C++ exceptions off) and wasm-ld's for the C++ and
sanitizer runtimes, each turned into the one line of advice. The texts are clang 22's and wasm-ld's as they print
them (tests/test_e2e_own_project.py checks the same against the real toolchain); then, through the stand-in
toolchain, that the line follows a failed compile with no traceback."""

from __future__ import annotations

from pathlib import Path

from support.helpers import make_project, run_scons
from support.standin import fail_when, fake_entry
from wasi_toolchain.targets.hints import PREFIX, hint_for

SYSROOT = "/store/sysroots/ziglang-linux-x86_64-146f/sysroot"
FORK = ("fork.c:1:25: error: call to undeclared function 'fork'; ISO C99 and later do not support implicit function "
        "declarations [-Wimplicit-function-declaration]\n    1 | int main(void) { return fork(); }\n"
        "      |                         ^\n1 error generated.\n")
MMAN = (f"In file included from mman.c:1:\n{SYSROOT}/include/wasm32-wasip1/sys/mman.h:2:2: error: \"WASI lacks a true "
        "mmap; to enable minimal mmap emulation, compile with -D_WASI_EMULATED_MMAN and link with "
        "-lwasi-emulated-mman\"\n    2 | #error \"WASI lacks a true mmap; to enable minimal mmap emulation, \\\n"
        "      |  ^\n1 error generated.\n")
SIGNAL = (f"In file included from sig.c:1:\n{SYSROOT}/include/wasm32-wasip1/signal.h:2:2: error: \"wasm lacks signal "
          "support; to enable minimal signal emulation, compile with -D_WASI_EMULATED_SIGNAL and link with "
          "-lwasi-emulated-signal\"\n1 error generated.\n")
CLOCK = ("clk.c:2:30: error: 'clock' is deprecated: WASI lacks process-associated clocks; to enable emulation of the "
         "`clock` function using the wall clock, which isn't sensitive to whether the program is running or "
         "suspended, compile with -D_WASI_EMULATED_PROCESS_CLOCKS and link with -lwasi-emulated-process-clocks "
         "[-Werror,-Wdeprecated-declarations]\n1 error generated.\n")
THROW = ("thr.cpp:2:23: error: cannot use 'throw' with exceptions disabled\n"
         "thr.cpp:3:30: error: cannot use 'try' with exceptions disabled\n2 errors generated.\n")
CXA = ("wasm-ld: error: thr.x.o: undefined symbol: __cxa_allocate_exception\n"
       "wasm-ld: error: thr.x.o: undefined symbol: __cxa_throw\n"
       "clang: error: linker command failed with exit code 1 (use -v to see invocation)\n")
IFSTREAM = ("ifs.cpp:3:28: error: implicit instantiation of undefined template 'std::basic_ifstream<char>'\n"
            f"{SYSROOT}/include/c++/v1/__fwd/fstream.h:24:7: note: template is declared here\n1 error generated.\n")
ASAN = ("wasm-ld: error: asan.wasi.o: undefined symbol: __asan_report_load4\n"
        "wasm-ld: error: asan.wasi.o: undefined symbol: __asan_init\n"
        "clang: error: linker command failed with exit code 1 (use -v to see invocation)\n")


def test_an_undeclared_function_is_looked_up_like_an_undefined_symbol() -> None:
    hint = hint_for(FORK)
    assert hint is not None and hint.startswith(f"{PREFIX}fork → WASI has no processes")
    cxx = "x.cpp:1:25: error: use of undeclared identifier 'getpid'\n"
    assert hint_for(cxx) == f"{PREFIX}getpid → WASI_EMULATE=['getpid'] provides getpid() (wasi-libc's emulation)"


def test_wasi_libc_s_own_error_texts_become_wasi_emulate() -> None:
    assert hint_for(MMAN) == (f"{PREFIX}_WASI_EMULATED_MMAN → WASI_EMULATE=['mman'] (the tool adds "
                              "-D_WASI_EMULATED_MMAN to every compile and -lwasi-emulated-mman to the link)")
    assert "WASI_EMULATE=['signal']" in (hint_for(SIGNAL) or "")
    assert "WASI_EMULATE=['process-clocks']" in (hint_for(CLOCK) or "")


def test_cxx_exceptions_point_at_the_switch_at_compile_and_at_link() -> None:
    assert hint_for(THROW) == (f"{PREFIX}cannot use 'throw' with exceptions disabled, cannot use 'try' with "
                               "exceptions disabled → C++ exceptions are off: set WASI_CXX_EXCEPTIONS=True "
                               "(docs/cxx-exceptions.md)")
    assert hint_for(CXA) == (f"{PREFIX}__cxa_allocate_exception, __cxa_throw → C++ exceptions are off for this link: "
                             "set WASI_CXX_EXCEPTIONS=True for the program (and its C++ objects)")


def test_file_streams_and_the_address_sanitizer_get_their_line() -> None:
    assert (hint_for(IFSTREAM) or "").startswith(f"{PREFIX}std::basic_ifstream → the default libc++ (Debian's) has no "
                                                 "file streams: set WASI_CXX_EXCEPTIONS=True")
    clang_with_namespace = "error: implicit instantiation of undefined template 'std::__1::basic_ofstream<char>'\n"
    assert (hint_for(clang_with_namespace) or "").startswith(f"{PREFIX}std::basic_ofstream → ")
    assert (hint_for(ASAN) or "").startswith(f"{PREFIX}__asan_init → -fsanitize=address is not supported")


def test_a_failed_compile_ends_with_the_hint_and_no_traceback(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {"SConstruct": "env = Environment(tools=['wasi'])\n"
                                                          "env.WasiObject('fork.c')\n",
                                            "fork.c": "int main(void) { return fork(); }\n"})
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    fail_when(log, "fork.c", FORK)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.splitlines()
    at = lines.index("1 error generated.")
    assert lines[at + 1].startswith(f"{PREFIX}fork → WASI has no processes"), result.stderr
