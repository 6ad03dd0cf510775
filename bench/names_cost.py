"""What keeping function names costs a link (WASI_NAMES, on by default): the samples relinked with names kept
(link with --strip-debug, then the names file split off in Python) and with WASI_NAMES=0 (a plain -s link),
alternately, as medians; plus the bytes of the names files. The modules themselves are identical either way.

    python bench/names_cost.py [RUNS]

Objects are built once; each run removes one variant's modules and relinks them with `scons -Q`.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from common import alternate, copy_project, fmt_seconds, machine_line, markdown_table, median, run, scons_command, timed

PROGRAMS = {"first": "['samples/first.c']", "recover": "['samples/setjmp/recover.c']",
            "wordfreq": "['samples/cxx/wordfreq.cpp', 'samples/cxx/table.cc']"}
SCONSTRUCT = """\
env = Environment(tools=['wasi'])
for variant, names in (('names', True), ('nameless', False)):
    e = env.Clone(WASI_NAMES=names, WASI_OBJSUFFIX=f'.{{variant}}.o')
{programs}
"""


def relink(project: Path, cache: str, variant: str) -> float:
    for name in PROGRAMS:
        for path in (project / "build" / variant).glob(f"{name}.wasm*"):
            path.unlink()
    return timed(lambda: run(scons_command("-Q", f"build/{variant}"), cwd=project, env={"WASI_CACHE_DIR": cache}))


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    cache = os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-")
    project = copy_project(Path(tempfile.mkdtemp(prefix="bench-names-")) / "p")
    programs = "\n".join(f"    e.WasiProgram(f'build/{{variant}}/{name}', {sources})" for name, sources in PROGRAMS.items())
    (project / "SConstruct").write_text(SCONSTRUCT.format(programs=programs))
    run(scons_command("-Q", "."), cwd=project, env={"WASI_CACHE_DIR": cache})
    times = alternate("relink", "names", lambda: relink(project, cache, "names"),
                      "nameless", lambda: relink(project, cache, "nameless"), runs=runs)
    named, nameless = median(times.a), median(times.b)
    rows = []
    for name in PROGRAMS:
        module = (project / "build/names" / f"{name}.wasm").read_bytes()
        same = module == (project / "build/nameless" / f"{name}.wasm").read_bytes()
        names = (project / "build/names" / f"{name}.wasm.names").stat().st_size
        rows.append([name, f"{len(module):,}", "yes" if same else "**NO**", f"{names:,}"])
    print(f"# Keeping function names ({machine_line()}, {runs} alternating runs)\n")
    print(markdown_table(["sample", "module (B)", "same bytes as -s", "names file (B)"], rows))
    print()
    print(markdown_table(["relink of the 3 samples (`scons -Q`)", "median"],
                         [["WASI_NAMES=0 (plain -s link)", fmt_seconds(nameless)],
                          ["names kept (the default)", fmt_seconds(named)],
                          ["difference (median of pairs)", fmt_seconds(times.difference)],
                          ["ratio (median of pairs)", f"{times.ratio:.2f}"]]))


if __name__ == "__main__":
    main()
