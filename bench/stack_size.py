"""What the C stack's size (WASI_STACK_SIZE) and wasmtime's call-stack limit (WasiRun max_wasm_stack_kb) cost and
buy. A measurement, not a test.

    WASI_CACHE_DIR=<a store with the toolchain built> python bench/stack_size.py [--runs 9]

For each stack size (wasm-ld's default 64 KiB, the tool's default 1 MiB, and 8 MiB, Linux's main-thread stack):
the module's size, its linear memory at start, the peak resident memory of a process that runs samples/first.c in
wasmtime (median of --runs fresh processes; a Python with wasmtime loaded is most of it), and how deep a recursion
with a 256-byte buffer per call gets before the stack overflows. Then how deep a recursion that keeps nothing in
linear memory gets under wasmtime's call-stack limit, at its default (512 KiB) and at wasmtime-py's maximum (2 MiB).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STACK_SIZES = {"64 KiB": 64 << 10, "1 MiB": 1 << 20, "8 MiB": 8 << 20}

DEEP_C = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* Each level keeps a 256-byte buffer alive across the call, as an interpreter's eval loop keeps its locals. */
static int depth(int n, int max) {
    char frame[256];
    snprintf(frame, sizeof frame, "%d", n);
    if (n >= max) return n;
    return depth(n + 1, max) + (int)strlen(frame) * 0 + (frame[0] == 'x');
}
int main(int argc, char **argv) { printf("%d\n", depth(0, atoi(argv[1]))); return 0; }
"""
# Recursion through a function pointer (not turned into a loop): its frames are on wasmtime's stack only.
NATIVE_C = r"""
#include <stdio.h>
#include <stdlib.h>
static long rec(long n, long a, long b, long c, long d);
static long (*volatile again)(long, long, long, long, long) = rec;
static long rec(long n, long a, long b, long c, long d) {
    if (n == 0) return a + b + c + d;
    long x = again(n - 1, a * 3 + n, b ^ a, c + b, d - c);
    return x * 7 + (a ^ (b * c)) % 7 + d;
}
int main(int argc, char **argv) { printf("%ld\n", rec(atol(argv[1]), 1, 2, 3, 4)); return 0; }
"""
# VmHWM (the peak RSS of this process's own memory), not getrusage's ru_maxrss, which Linux carries over from the
# parent through fork and exec, so it would count this script's own growth.
RSS = """
import os, sys
sys.path.insert(0, {site!r})
from pathlib import Path
from wasi_toolchain.targets.run import run_module
run_module(Path(sys.argv[1]), ["first"], stdout=Path(os.devnull))
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def build(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    shutil.copy(REPO / "toolchain.lock", root)
    shutil.copy(REPO / "samples" / "first.c", root / "src")
    (root / "src" / "deep.c").write_text(DEEP_C)
    (root / "src" / "native.c").write_text(NATIVE_C)
    lines = ["DefaultEnvironment(tools=[])", "env = Environment(tools=['wasi'])"]
    for label, size in STACK_SIZES.items():
        tag = label.replace(" ", "")
        for name in ("first", "deep"):
            lines.append(f"env.WasiProgram('{name}-{tag}', ['src/{name}.c'], WASI_STACK_SIZE={size}, "
                         f"WASI_OBJSUFFIX='.{tag}.o')")
    lines.append("env.WasiProgram('native', ['src/native.c'])")
    (root / "SConstruct").write_text("\n".join(lines) + "\n")
    subprocess.run([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", "."], cwd=root,
                   check=True, stdout=subprocess.DEVNULL)


def deepest(wasm: Path, max_wasm_stack_kb: int = 512) -> int:
    """The largest depth that still runs (binary search over run_module's exit)."""
    sys.path.insert(0, str(REPO / "site_scons"))
    import os

    from wasi_toolchain.errors import RunError
    from wasi_toolchain.targets.run import run_module

    low, high = 1, 1 << 20
    while high - low > 1:
        middle = (low + high) // 2
        try:
            run_module(wasm, [wasm.name, str(middle)], stdout=Path(os.devnull), max_wasm_stack_kb=max_wasm_stack_kb)
            low = middle
        except RunError:
            high = middle
    return low


def initial_memory(wasm: Path) -> int:
    import wasmtime

    store = wasmtime.Store()
    module = wasmtime.Module.from_file(store.engine, str(wasm))
    memory = next(e.type for e in module.exports if e.name == "memory")
    return memory.limits.min * 65536


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        build(root)
        print(f"{'stack':<8} {'first.wasm':>11} {'memory at start':>16} {'peak RSS (median)':>18} {'deepest':>8}")
        for label in STACK_SIZES:
            tag = label.replace(" ", "")
            first = root / f"first-{tag}.wasm"
            rss = [int(subprocess.run([sys.executable, "-c", RSS.format(site=str(REPO / "site_scons")), str(first)],
                                      check=True, capture_output=True, text=True).stdout) for _ in range(runs)]
            print(f"{label:<8} {first.stat().st_size:>9} B {initial_memory(first) >> 10:>12} KiB "
                  f"{statistics.median(rss) / 1024:>14.1f} MiB {deepest(root / f'deep-{tag}.wasm'):>8}   "
                  f"RSS runs (KiB): {', '.join(map(str, rss))}")
        for kb in (512, 2048):
            print(f"max_wasm_stack_kb={kb}: a recursion with nothing in linear memory reaches depth "
                  f"{deepest(root / 'native.wasm', kb)}")


if __name__ == "__main__":
    main()
