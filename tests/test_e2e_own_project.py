"""A user's own project with the real toolchain: host flag variables that reach clang, the hints clang's and
wasm-ld's real words get, a C stack that overflows (and the default that holds), and wasmtime's call stack.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store."""

from __future__ import annotations

import pytest

from support.helpers import make_project, run_scons
from wasi_toolchain.targets.hints import PREFIX

pytestmark = pytest.mark.e2e

SCONSTRUCT = """\
DefaultEnvironment(tools=[])
env = Environment(tools=['wasi'])
env.VariantDir('build/obj', 'src', duplicate=False)
greet = env.Clone()
greet.Append(CCFLAGS=['-DGREETING=\\\\"from-ccflags\\\\"'])
env.WasiRun('run-greet', greet.WasiProgram('build/greet', ['build/obj/greet.c']))
for name in ('fork', 'mman', 'sig'):
    env.WasiObject(f'build/obj/{name}.c')
for name in ('throw', 'ifstream'):
    env.WasiObject(f'build/obj/{name}.cpp')
asan = env.WasiProgram('build/asan', ['build/obj/asan.c'], WASI_CCFLAGS=['-fsanitize=address'],
                       WASI_LINKFLAGS=['-fsanitize=address'])
deep = env.WasiProgram('build/deep', ['build/obj/deep.c'])
env.WasiRun('run-deep', deep, args=['2000'])
small = env.WasiProgram('build/deep-small', ['build/obj/deep.c'], WASI_STACK_SIZE=64 * 1024)
env.WasiRun('run-deep-small', small, args=['2000'])
native = env.WasiProgram('build/native', ['build/obj/native.c'])
env.WasiRun('run-native', native, args=['15000'])
env.WasiRun('run-native-2m', native, args=['15000'], max_wasm_stack_kb=2048)
"""
SOURCES = {
    "src/greet.c": '#include <stdio.h>\nint main(void) { puts(GREETING); return 0; }\n',
    "src/fork.c": "int main(void) { return fork(); }\n",
    "src/mman.c": "#include <sys/mman.h>\nint main(void) { return 0; }\n",
    "src/sig.c": "#include <signal.h>\nint main(void) { return 0; }\n",
    "src/throw.cpp": "int f(int x) { if (x) throw 1; return 0; }\nint main(int argc, char **) { return f(argc); }\n",
    "src/ifstream.cpp": '#include <fstream>\nint main() { std::ifstream f("x"); return f.good(); }\n',
    "src/asan.c": "int main(int argc, char **argv) { return argv[argc + 2][0]; }\n",
    # 256 bytes of linear-memory stack per call: 64 KiB holds ~230 calls, the default 1 MiB ~3800.
    "src/deep.c": r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static int depth(int n, int max) {
    char frame[256];
    snprintf(frame, sizeof frame, "%d", n);
    if (n >= max) return n;
    return depth(n + 1, max) + (int)strlen(frame) * 0 + (frame[0] == 'x');
}
int main(int argc, char **argv) { printf("depth %d\n", depth(0, atoi(argv[1]))); return 0; }
""",
    # Frames on wasmtime's stack only: 512 KiB holds ~5400 calls, 2 MiB ~21800.
    "src/native.c": r"""
#include <stdio.h>
#include <stdlib.h>
static long rec(long n, long a, long b, long c, long d);
static long (*volatile again)(long, long, long, long, long) = rec;
static long rec(long n, long a, long b, long c, long d) {
    if (n == 0) return a + b + c + d;
    long x = again(n - 1, a * 3 + n, b ^ a, c + b, d - c);
    return x * 7 + (a ^ (b * c)) % 7 + d;
}
int main(int argc, char **argv) { printf("native %ld\n", rec(atol(argv[1]), 1, 2, 3, 4) != 0); return 0; }
""",
}


@pytest.fixture(scope="module")
def own(real, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    root = make_project(tmp_path_factory.mktemp("own") / "p", {"SConstruct": SCONSTRUCT, **SOURCES})

    def scons(*args: str):  # type: ignore[no-untyped-def]
        result = run_scons(root, "-Q", *args, env={"WASI_CACHE_DIR": str(project.cache)})
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    return scons


def hint_line(stderr: str) -> str:
    return next((line for line in stderr.splitlines() if line.startswith(PREFIX)), "")


def test_ccflags_of_a_wasi_only_environment_reach_the_module(own) -> None:  # type: ignore[no-untyped-def]
    result = own("run-greet")
    assert result.returncode == 0, result.stderr
    assert "from-ccflags" in result.stdout


@pytest.mark.parametrize("target, starts", [
    ("build/obj/fork.wasi.o", f"{PREFIX}fork → WASI has no processes"),
    ("build/obj/mman.wasi.o", f"{PREFIX}_WASI_EMULATED_MMAN → WASI_EMULATE=['mman']"),
    ("build/obj/sig.wasi.o", f"{PREFIX}_WASI_EMULATED_SIGNAL → WASI_EMULATE=['signal']"),
    ("build/obj/throw.wasi.o", f"{PREFIX}cannot use 'throw' with exceptions disabled → C++ exceptions are off"),
    ("build/obj/ifstream.wasi.o", f"{PREFIX}std::basic_ifstream → the default libc++ (Debian's) has no file streams"),
    ("build/asan.wasm", f"{PREFIX}__asan_init → -fsanitize=address is not supported"),
])
def test_the_real_tools_errors_get_their_hint(own, target: str, starts: str) -> None:  # type: ignore[no-untyped-def]
    result = own(target)
    assert result.returncode != 0
    assert hint_line(result.stderr).startswith(starts), result.stderr


def test_a_stack_overflow_says_raise_wasi_stack_size_and_the_default_holds(own) -> None:  # type: ignore[no-untyped-def]
    small = own("run-deep-small")
    assert small.returncode == 2
    assert "memory fault at wasm address 0xffff" in small.stderr, small.stderr
    assert ("next step: stack overflow: raise WASI_STACK_SIZE (this module's: 64 KiB)") in small.stderr
    default = own("run-deep")
    assert default.returncode == 0, default.stderr
    assert "depth 2000" in default.stdout


def test_wasmtime_s_call_stack_says_max_wasm_stack_kb_and_2048_holds(own) -> None:  # type: ignore[no-untyped-def]
    exhausted = own("run-native")
    assert exhausted.returncode == 2
    assert "call stack exhausted" in exhausted.stderr
    assert ("next step: wasmtime's call stack ran out (WasiRun max_wasm_stack_kb=512): raise max_wasm_stack_kb= in "
            "the WasiRun call, up to 2048") in exhausted.stderr
    raised = own("run-native-2m")
    assert raised.returncode == 0, raised.stderr
    assert "native 1" in raised.stdout
