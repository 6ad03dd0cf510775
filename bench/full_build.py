"""200 generated C files: a full `scons -j2` build against a generated Makefile run with `make -j2` that invokes
the same clang with identical flags; the null build of both; and a rebuild from CacheDir in a fresh checkout at
another path.

    python bench/full_build.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
from pathlib import Path

from common import (Comparison, alternate, fmt_seconds, machine_line, markdown_table, median, run, scons_command,
                    timed)

PROGRAMS = 20
FILES_PER_PROGRAM = 9  # main.c + 8 helpers
LIBRARY_FILES = 20  # 20 * 9 + 20 = 200 C files


def generate(root: Path) -> None:
    """Write the sources and an SConstruct: 20 programs of 9 files each, all linking one 20-file library."""
    (root / "lib").mkdir(parents=True)
    for i in range(LIBRARY_FILES):
        (root / "lib" / f"lib{i:02d}.c").write_text(
            f"int lib{i:02d}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i + 1} ^ (s >> 3); "
            f"return s; }}\n")
    (root / "lib" / "lib.h").write_text("".join(f"int lib{i:02d}(int x);\n" for i in range(LIBRARY_FILES)))
    for p in range(PROGRAMS):
        d = root / f"prog{p:02d}"
        d.mkdir()
        calls = " + ".join(f"f{p:02d}_{h}(argc)" for h in range(FILES_PER_PROGRAM - 1))
        (d / "main.c").write_text(
            '#include <stdio.h>\n#include "lib.h"\n'
            + "".join(f"int f{p:02d}_{h}(int);\n" for h in range(FILES_PER_PROGRAM - 1))
            + f'int main(int argc, char **argv) {{ (void)argv; printf("%d\\n", {calls} + lib{p % LIBRARY_FILES:02d}'
              f'(argc)); return 0; }}\n')
        for h in range(FILES_PER_PROGRAM - 1):
            (d / f"h{h}.c").write_text(
                f'#include <string.h>\nint f{p:02d}_{h}(int x) {{ char b[32]; memset(b, x, sizeof b); '
                f"int s = 0; for (unsigned k = 0; k < sizeof b; k++) s += b[k] * {h + 1}; return s; }}\n")
    (root / "SConstruct").write_text(
        "env = Environment(tools=['wasi'], CPPPATH=['#lib'])\n"
        "lib = env.WasiLibrary('out/bench', Glob('lib/*.c'))\n"
        f"for p in range({PROGRAMS}):\n"
        "    env.WasiProgram(f'out/prog{p:02d}', Glob(f'prog{p:02d}/*.c'), LIBS=['bench'], LIBPATH=['out'])\n")


def makefile(root: Path, bin_dir: Path, sysroot: Path) -> str:
    """The same commands SCons runs, as a Makefile."""
    cc = f"{bin_dir}/clang"
    cflags = f"--target=wasm32-wasi --sysroot={sysroot} -ffile-prefix-map={root}=. -O2 -Ilib"
    lines = [f"CC := {cc}", f"CFLAGS := {cflags}", "", "all: " + " ".join(f"out/prog{p:02d}.wasm"
                                                                        for p in range(PROGRAMS)), ""]
    lib_objects = [f"lib/lib{i:02d}.wasi.o" for i in range(LIBRARY_FILES)]
    lines += [f"out/libbench.a: {' '.join(lib_objects)}", "\tmkdir -p out",
              f"\t{bin_dir}/llvm-ar rcsD $@ $^", ""]
    for p in range(PROGRAMS):
        objects = [f"prog{p:02d}/main.wasi.o"] + [f"prog{p:02d}/h{h}.wasi.o" for h in range(FILES_PER_PROGRAM - 1)]
        lines += [f"out/prog{p:02d}.wasm: {' '.join(objects)} out/libbench.a", "\tmkdir -p out",
                  f"\t$(CC) --target=wasm32-wasi --sysroot={sysroot} -fuse-ld={bin_dir}/wasm-ld -O2 -s -o $@ "
                  f"{' '.join(objects)} -Lout -lbench", ""]
    lines += ["%.wasi.o: %.c lib/lib.h", "\t$(CC) $(CFLAGS) -c -o $@ $<", ""]
    return "\n".join(lines)


def clean(root: Path) -> None:
    for pattern in ("**/*.wasi.o", "out/*"):
        for path in root.glob(pattern):
            path.unlink()
    for name in (".sconsign.dblite",):
        (root / name).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    work = Path(tempfile.mkdtemp(prefix="bench-full-"))
    scons_tree, make_tree = work / "scons", work / "make"
    generate(scons_tree)
    generate(make_tree)
    shutil.copy(Path(__file__).resolve().parent.parent / "toolchain.lock", scons_tree / "toolchain.lock")
    run(scons_command("-Q", "wasi-toolchain"), cwd=scons_tree, env=env)

    from wasi_toolchain import sysroot
    from wasi_toolchain.config import Settings
    from wasi_toolchain.lock import load_lock

    toolchain = sysroot.plan(load_lock(scons_tree / "toolchain.lock"), Settings.from_environ(env))
    (make_tree / "Makefile").write_text(makefile(make_tree, toolchain.bin_dir, toolchain.sysroot))

    def scons_full() -> float:
        return timed(lambda: run(scons_command("-Q", "-j2"), cwd=scons_tree, env=env))

    def make_full() -> float:
        return timed(lambda: run(["make", "-s", "-j2"], cwd=make_tree))

    def clean_both() -> None:
        clean(scons_tree)
        clean(make_tree)

    full = alternate("full build, 200 C files, -j2", "scons", scons_full, "make", make_full, runs=args.runs,
                     prepare=clean_both)
    null = alternate("null build, 200 C files", "scons", scons_full, "make", make_full, runs=args.runs)

    # CacheDir: fill it from one checkout, then build a fresh copy at another path from it.
    cache_dir = work / "cachedir"
    clean(scons_tree)
    run(scons_command("-Q", "-j2", f"--cache-dir={cache_dir}"), cwd=scons_tree, env=env)
    retrievals: list[float] = []
    compiler_runs: list[int] = []
    for i in range(args.runs):
        fresh = work / f"elsewhere-{i}" / "checkout"
        shutil.copytree(scons_tree, fresh, ignore=shutil.ignore_patterns("*.wasi.o", "out", ".sconsign.dblite"))
        result: list[str] = []

        def rebuild() -> None:
            output = run(scons_command("-j2", f"--cache-dir={cache_dir}"), cwd=fresh, env=env).stdout
            result.append(output)
        retrievals.append(timed(rebuild))
        compiler_runs.append(sum(1 for line in result[0].splitlines()
                                 if line.startswith(("wasi: compiling", "wasi: linking", "wasi: archiving"))))

    print(f"# 200-file build ({machine_line()}, {args.runs} runs each, alternating)\n")
    rows = []
    for c in (full, null):
        rows.append([c.name, fmt_seconds(median(c.a)), fmt_seconds(median(c.b)), f"{c.ratio:.2f}"])
    print(markdown_table(["figure", "scons (median)", "make (median)", "scons/make (median of pairs)"], rows))
    print()
    print(markdown_table(["figure", "median", "compiler/linker runs", "vs. full scons build"],
                         [["rebuild from CacheDir in a fresh checkout at another path",
                           fmt_seconds(median(retrievals)), str(max(compiler_runs)),
                           f"{median(retrievals) / median(full.a):.2f}"]]))


if __name__ == "__main__":
    main()
