"""Module sizes at WASI_OPTIMIZE='speed' (-O2) and 'size' (-Oz, then wasm-opt -Oz), with -Oz alone in between, for
the runnable samples; each module is run and its output compared with the speed build's (exit code, stdout).

    python bench/size_modes.py

Sizes are bytes, not timings: one build gives them (the builds are reproducible).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from common import copy_project, machine_line, markdown_table, run, scons_command

from wasi_toolchain.run import run_module

# mode -> construction variables. 'Oz only' is size mode without wasm-opt: -Oz through the flag lists, which come
# after WASI_OPTIMIZE's -O2 and so win.
MODES = {"speed": {}, "oz-only": {"WASI_CCFLAGS": ["-Oz"], "WASI_LINKFLAGS": ["-Oz"]},
         "size": {"WASI_OPTIMIZE": "size"}}
SCONSTRUCT = """\
MODES = {modes!r}
env = Environment(tools=['wasi'])
for mode, settings in MODES.items():
    e = env.Clone(WASI_OBJSUFFIX=f'.{{mode}}.o', **settings)
    e.WasiProgram(f'build/{{mode}}/first', ['samples/first.c'])
    e.WasiProgram(f'build/{{mode}}/builtins', ['samples/builtins.c'], WASI_LIBS=['c-printscan-long-double'])
    e.WasiProgram(f'build/{{mode}}/primes', ['samples/apps/primes.c', 'samples/common/args.c',
                  'samples/mathlib/gcd.c', 'samples/mathlib/primes.c'], CPPPATH=['samples/mathlib', 'samples/common'])
    e.WasiProgram(f'build/{{mode}}/wordfreq', ['samples/cxx/wordfreq.cpp', 'samples/cxx/table.cc'])
    e.WasiProgram(f'build/{{mode}}/threadlocal', ['samples/cxx/threadlocal.cpp'])
    e.WasiProgram(f'build/{{mode}}/recover', ['samples/setjmp/recover.c'])
"""
RUNS = {"first": ["first.wasm", "from", "scons"], "builtins": ["builtins.wasm"], "primes": ["primes.wasm", "50"],
        "wordfreq": ["wordfreq.wasm", "3"], "threadlocal": ["threadlocal.wasm"], "recover": ["recover.wasm"]}


def output(project: Path, mode: str, name: str) -> tuple[int, bytes]:
    out = project / f"{mode}-{name}.out"
    stdin = project / "samples/cxx/words.txt" if name == "wordfreq" else None
    code = run_module(project / "build" / mode / f"{name}.wasm", RUNS[name], stdin=stdin, stdout=out)
    return code, out.read_bytes()


def percent(value: int, base: int) -> str:
    return f"{value:,} ({(value - base) / base * 100:+.1f} %)"


def main() -> None:
    cache = os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-")
    project = copy_project(Path(tempfile.mkdtemp(prefix="bench-size-modes-")) / "p")
    (project / "SConstruct").write_text(SCONSTRUCT.format(modes=MODES))
    run(scons_command("-Q", "."), cwd=project, env={"WASI_CACHE_DIR": cache})
    rows, totals = [], {mode: 0 for mode in MODES}
    for name in RUNS:
        sizes = {mode: (project / "build" / mode / f"{name}.wasm").stat().st_size for mode in MODES}
        same = all(output(project, mode, name) == output(project, "speed", name) for mode in MODES)
        for mode in MODES:
            totals[mode] += sizes[mode]
        rows.append([name, f"{sizes['speed']:,}", percent(sizes["oz-only"], sizes["speed"]),
                     percent(sizes["size"], sizes["speed"]), "yes" if same else "**NO**"])
    rows.append(["**total**", f"{totals['speed']:,}", percent(totals["oz-only"], totals["speed"]),
                 percent(totals["size"], totals["speed"]), ""])
    print(f"# Module sizes, speed vs size ({machine_line()})\n")
    print(markdown_table(["sample", "speed: -O2 -s (B)", "-Oz -s, no wasm-opt (B)", "size: -Oz -s + wasm-opt -Oz (B)",
                          "same output"], rows))


if __name__ == "__main__":
    main()
