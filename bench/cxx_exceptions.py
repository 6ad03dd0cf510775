"""C++ exceptions (WASI_CXX_EXCEPTIONS): module bytes of the C++ samples with and without the switch, and the cold
build time of the C++ runtime with exceptions (libc++, libc++abi, libunwind from source).

    python bench/cxx_exceptions.py [--runs N]

The store is a fresh temp dir (or WASI_CACHE_DIR). The default toolchain entry is built first; then the runtime's
entry is built N times from cold (removed before each run) by `scons wasi-toolchain` with WASI_CXX_EXCEPTIONS=1,
which builds only that entry. Module sizes are bytes from one build (the builds are reproducible); each sample built
both ways is run and its output compared. The samples that need exceptions (exceptions.cpp, files.cpp) are built
with the switch only.
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
from wasi_toolchain.store.store import STAMP

MODES = {"off": {}, "on": {"WASI_CXX_EXCEPTIONS": True}}
BOTH = ["first", "wordfreq", "threadlocal"]  # C (which the switch must leave alone) and the C++ samples
SCONSTRUCT = """\
envs = SConscript('samples/modes.SConscript', exports={{'MODES': {modes!r}, 'LIBC': 'debian', 'SAMPLES': {names!r}}})
on = envs['on']
on.WasiLibrary('#build/on/lib/thrower', ['#samples/cxx/thrower.cc'])
on.WasiProgram('#build/on/exceptions', ['#samples/cxx/exceptions.cpp'], LIBS=['thrower'], LIBPATH=['#build/on/lib'])
on.WasiProgram('#build/on/files', ['#samples/cxx/files.cpp'])
"""


def runtime_entries(cache: Path) -> list[Path]:
    return [p for p in (cache / "sysroots").iterdir() if "-cxx-eh-" in p.name and not p.name.startswith(".")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="cold builds of the runtime (default 3)")
    args = parser.parse_args()
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    root = Path(tempfile.mkdtemp(prefix="bench-cxx-exceptions-"))

    toolchain = copy_project(root / "toolchain")
    (toolchain / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    run(scons_command("-Q", "wasi-toolchain"), cwd=toolchain, env=env)
    started_load = machine_line()
    seconds, compile_seconds = [], []
    for _ in range(args.runs):
        for entry in runtime_entries(cache):
            shutil.rmtree(entry)
        seconds.append(timed(lambda: run(scons_command("-Q", "wasi-toolchain"), cwd=toolchain,
                                         env={**env, "WASI_CXX_EXCEPTIONS": "1"})))
        [entry] = runtime_entries(cache)
        compile_seconds.append(json.loads((entry / STAMP).read_text())["timings"]["runtime build"])

    project = copy_project(root / "p")
    (project / "SConstruct").write_text(SCONSTRUCT.format(modes=MODES, names=BOTH))
    run(scons_command("-Q", "."), cwd=project, env=env)
    rows = []
    for name in BOTH:
        off, on = ((project / "build" / mode / f"{name}.wasm").stat().st_size for mode in MODES)
        same = output(project, "on", name) == output(project, "off", name)
        rows.append([name, f"{off:,}", percent(on, off), "yes" if same else "**NO**"])
    for name in ("exceptions", "files"):
        rows.append([name, "(needs exceptions)", f"{(project / 'build/on' / f'{name}.wasm').stat().st_size:,}", ""])
    libraries = [[library, f"{(entry / 'lib' / library).stat().st_size:,}"]
                 for library in ("libc++.a", "libc++abi.a", "libunwind.a")]

    print(f"# C++ exceptions ({started_load} at the start of the cold builds)\n")
    print(markdown_table(["sample", "off (B)", "on (B, vs off)", "same output"], rows))
    print()
    print(markdown_table(["runtime archive", "bytes"], libraries))
    print()
    print(f"Cold build of the runtime (`scons wasi-toolchain` with WASI_CXX_EXCEPTIONS=1, the toolchain entry "
          f"present), median of {args.runs}: {fmt_seconds(median(seconds))} wall, of which the compiles "
          f"{fmt_seconds(median(compile_seconds))} (all runs: {', '.join(fmt_seconds(s) for s in seconds)}).")


if __name__ == "__main__":
    main()

