"""A libc built for size (WASI_LIBC=source): module bytes in size mode linked with the -O2 libc vs the -Oz libc,
the libc.a of both entries, and the cold build time of the -Oz libc's entry.

    python bench/libc_size.py [--runs N]

The store is a fresh temp dir (or WASI_CACHE_DIR). The source flavour's default entry is built first; then the -Oz
entry is built N times from cold (removed before each run) by `scons wasi-toolchain` in an environment created in
size mode, which builds only that entry. Module sizes are bytes, not timings: one build gives them (the builds are
reproducible). "size, -O2 libc" is size mode (clang -Oz, wasm-opt -Oz) with the link's --sysroot put back to the
environment's own, which is what size mode gave the source flavour before the -Oz libc.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path

from common import copy_project, fmt_seconds, machine_line, markdown_table, median, run, scons_command, timed

from size_modes import RUNS, output, percent
from wasi_toolchain.toolchain.entry import LIB_DIR
from wasi_toolchain.store.store import STAMP

MODES = {"speed": {}, "size-o2libc": {"WASI_OPTIMIZE": "size", "_WASI_LINKSYSROOT": "--sysroot=$WASI_SYSROOT"},
         "size": {"WASI_OPTIMIZE": "size"}}
# The runnable samples the 2022 source libc builds (it has no setjmp, so no recover).
NAMES = [name for name in RUNS if name != "recover"]
SCONSTRUCT = """\
SConscript('samples/modes.SConscript', exports={{'MODES': {modes!r}, 'LIBC': 'source', 'SAMPLES': {names!r}}})
"""
SIZE_TOOLCHAIN = "env = Environment(tools=[('wasi', {'libc': 'source'})], WASI_OPTIMIZE='size')\n"


def entries(cache: Path) -> tuple[Path, Path]:
    """(the source flavour's default entry, the -Oz libc's entry)."""
    found = [p for p in (cache / "sysroots").iterdir() if "-source-" in p.name and not p.name.startswith(".")]
    [size] = [p for p in found if "-source-size-" in p.name]
    [speed] = [p for p in found if p != size]
    return speed, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold builds of the -Oz entry (default 3)")
    args = parser.parse_args()
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    root = Path(tempfile.mkdtemp(prefix="bench-libc-size-"))

    # The cold -Oz entry: its base is built once, then the entry itself from cold, --runs times.
    toolchain = copy_project(root / "toolchain")
    (toolchain / "SConstruct").write_text("env = Environment(tools=[('wasi', {'libc': 'source'})])\n")
    run(scons_command("-Q", "wasi-toolchain"), cwd=toolchain, env=env)
    (toolchain / "SConstruct").write_text(SIZE_TOOLCHAIN)
    seconds, make_seconds = [], []
    for _ in range(args.runs):
        for entry in (cache / "sysroots").glob("*-source-size-*"):
            shutil.rmtree(entry)
        seconds.append(timed(lambda: run(scons_command("-Q", "wasi-toolchain"), cwd=toolchain, env=env)))
        speed_entry, size_entry = entries(cache)
        make_seconds.append(json.loads((size_entry / STAMP).read_text())["timings"]["sysroot build"])
    speed_make = json.loads((speed_entry / STAMP).read_text())["timings"]["sysroot build"]

    project = copy_project(root / "p")
    (project / "SConstruct").write_text(SCONSTRUCT.format(modes=MODES, names=NAMES))
    run(scons_command("-Q", "."), cwd=project, env=env)
    rows, totals = [], {mode: 0 for mode in MODES}
    for name in NAMES:
        sizes = {mode: (project / "build" / mode / f"{name}.wasm").stat().st_size for mode in MODES}
        same = all(output(project, mode, name) == output(project, "speed", name) for mode in MODES)
        for mode in MODES:
            totals[mode] += sizes[mode]
        rows.append([name, f"{sizes['speed']:,}", percent(sizes["size-o2libc"], sizes["speed"]),
                     percent(sizes["size"], sizes["speed"]), percent(sizes["size"], sizes["size-o2libc"]),
                     "yes" if same else "**NO**"])
    rows.append(["**total**", f"{totals['speed']:,}", percent(totals["size-o2libc"], totals["speed"]),
                 percent(totals["size"], totals["speed"]), percent(totals["size"], totals["size-o2libc"]), ""])

    print(f"# A libc built for size, WASI_LIBC=source ({machine_line()})\n")
    print(markdown_table(["sample", "speed (B)", "size, -O2 libc (B, vs speed)", "size, -Oz libc (B, vs speed)",
                          "-Oz libc vs -O2 libc", "same output"], rows))
    print()
    libraries = []
    for library in ("libc.a", "libc-printscan-long-double.a", "crt1-command.o"):
        o2, oz = ((e / "sysroot" / LIB_DIR / library) for e in (speed_entry, size_entry))
        if o2.is_file() and oz.is_file():
            libraries.append([library, f"{o2.stat().st_size:,}", percent(oz.stat().st_size, o2.stat().st_size)])
    print(markdown_table(["file", "-O2 entry (B)", "-Oz entry (B)"], libraries))
    print()
    print(f"Cold build of the -Oz entry (`scons wasi-toolchain`, its base entry present), median of {args.runs}: "
          f"{fmt_seconds(median(seconds))} wall, of which make {fmt_seconds(median(make_seconds))}. The default "
          f"source entry's make took {fmt_seconds(speed_make)} when it was built (its stamp; possibly under another "
          f"load, or by an earlier run with this store).")


if __name__ == "__main__":
    main()
