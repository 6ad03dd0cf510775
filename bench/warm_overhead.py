"""Warm overhead: a null build of the samples with the tool loaded and the sysroot cached, against the same tree
built by plain SCons builders (same clang, same flags, C scanner) with the tool left out.

    python bench/warm_overhead.py [--runs 11]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from common import (Comparison, alternate, copy_project, fmt_seconds, machine_line, markdown_table, median, run,
                    scons_command, timed)

PLAIN_SCONSTRUCT = """\
# The same two programs as ../SConstruct, with plain SCons builders and no wasi tool.
import SCons.Scanner.C
env = Environment(tools=[], ENV={{"PATH": "/usr/bin:/bin"}})
cc = "{bin}/clang"
cflags = "--target=wasm32-wasi --sysroot={sysroot} -ffile-prefix-map={top}=. -O2"
obj = Builder(action=cc + " " + cflags + " -c -o $TARGET $SOURCE", suffix=".o", src_suffix=".c",
              source_scanner=SCons.Scanner.C.CScanner())
link = Builder(action=cc + " --target=wasm32-wasi --sysroot={sysroot} -fuse-ld={bin}/wasm-ld -O2 -s "
               "-o $TARGET $SOURCES $EXTRA", suffix=".wasm")
env.Append(BUILDERS={{"Obj": obj, "Link": link}})
env.VariantDir("build/obj", "samples", duplicate=False)
env.Link("build/first", env.Obj("build/obj/first.c"))
env.Link("build/builtins", env.Obj("build/obj/builtins.c"), EXTRA="-lc-printscan-long-double")
"""


def measure(runs: int, cache: Path) -> tuple[Comparison, str]:
    from wasi_toolchain import sysroot
    from wasi_toolchain.config import Settings
    from wasi_toolchain.lock import load_lock

    env = {"WASI_CACHE_DIR": str(cache)}
    work = Path(tempfile.mkdtemp(prefix="bench-warm-"))
    with_tool = copy_project(work / "with-tool")
    plain = copy_project(work / "plain")
    run(scons_command("-Q", "wasi-toolchain"), cwd=with_tool, env=env)
    toolchain = sysroot.plan(load_lock(with_tool / "toolchain.lock"), Settings.from_environ(env))
    (plain / "SConstruct").write_text(PLAIN_SCONSTRUCT.format(bin=toolchain.bin_dir, sysroot=toolchain.sysroot,
                                                              top=plain))
    run(scons_command("-Q"), cwd=with_tool, env=env)
    run(scons_command("-Q"), cwd=plain, env=env)

    def null_build(project: Path) -> float:
        def go() -> None:
            result = run(scons_command("-Q"), cwd=project, env=env)
            assert "up to date" in result.stdout, result.stdout  # a null build must build nothing
        return timed(go)

    comparison = alternate("null build of the samples", "with the wasi tool", lambda: null_build(with_tool),
                           "plain SCons, no tool", lambda: null_build(plain), runs=runs)
    return comparison, toolchain.key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("WASI_CACHE_DIR", "")) or None,
                        help="a WASI_CACHE_DIR to reuse (default: a fresh one, built once before timing)")
    args = parser.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="bench-cache-"))
    comparison, key = measure(args.runs, cache)
    a, b = median(comparison.a), median(comparison.b)
    print(f"# Warm overhead ({machine_line()}, {args.runs} runs each, alternating)\n")
    print(markdown_table(["figure", "with tool (median)", "plain SCons (median)", "ratio (median of pairs)",
                          "difference"],
                         [[comparison.name, fmt_seconds(a), fmt_seconds(b), f"{comparison.ratio:.2f}",
                           f"{(a - b) * 1000:+.0f} ms"]]))


if __name__ == "__main__":
    main()
