"""Module sizes at WASI_OPTIMIZE='speed' (-O2) and 'size' (-Oz, then wasm-opt -Oz), each with and without wasm-opt,
for the runnable samples and for zlib's `example` and `minigzip` built from their upstream source; every module is
run and its output checked exactly, and the zlib modules' workloads are timed at speed and at size.

    python bench/size_modes.py [--runs N]

Sizes are bytes, from one build (the builds are reproducible). Each sample's output (exit code, stdout) is compared
with its speed build's; zlib's programs are checked against a native build and Python's gzip (zlib_workload.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

import zlib_workload
from common import alternate, copy_project, fmt_seconds, machine_line, markdown_table, median, run, scons_command, \
    timed

from wasi_toolchain.settings import Settings
from wasi_toolchain.targets.run import run_module

# mode -> construction variables. 'Oz only' is size mode without wasm-opt: -Oz through the flag lists, which come
# after WASI_OPTIMIZE's -O2 and so win.
MODES = {"speed": {}, "oz-only": {"WASI_CCFLAGS": ["-Oz"], "WASI_LINKFLAGS": ["-Oz"]},
         "size": {"WASI_OPTIMIZE": "size"}}
# Not a mode of the tool: the pinned wasm-opt, with exactly the flags size mode gives it, run over the speed module
# (build/speed-wasm-opt/), to tell what wasm-opt does from what -Oz does.
SPEED_WASM_OPT = "speed-wasm-opt"
COLUMNS = ("speed", SPEED_WASM_OPT, "oz-only", "size")
RUNS = {"first": ["first.wasm", "from", "scons"], "builtins": ["builtins.wasm"], "primes": ["primes.wasm", "50"],
        "wordfreq": ["wordfreq.wasm", "3"], "threadlocal": ["threadlocal.wasm"], "recover": ["recover.wasm"]}
SCONSTRUCT = """\
envs = SConscript('samples/modes.SConscript', exports={{'MODES': {modes!r}, 'LIBC': 'debian',
                                                         'SAMPLES': {names!r}}})
for mode, e in envs.items():
{zlib}"""
# minigzip's input: a few hundred KB of mixed text (zlib_workload.mixed_text).
TEXT_SIZE = 400_000


def output(project: Path, mode: str, name: str) -> tuple[int, bytes]:
    out = project / f"{mode}-{name}.out"
    stdin = project / "samples/cxx/words.txt" if name == "wordfreq" else None
    code = run_module(project / "build" / mode / f"{name}.wasm", RUNS[name], stdin=stdin, stdout=out)
    return code, out.read_bytes()


def percent(value: int, base: int) -> str:
    return f"{value:,} ({(value - base) / base * 100:+.1f} %)"


def speed_with_wasm_opt(project: Path, settings: Settings, names: list[str]) -> None:
    """build/speed-wasm-opt/<name>.wasm: the speed module after the pinned wasm-opt, as size mode runs it."""
    from wasi_toolchain.toolchain import wasm_opt
    from wasi_toolchain.pins.toolchain_lock import load_lock

    lock = load_lock(project / "toolchain.lock")
    optimizer = wasm_opt.ensure(wasm_opt.plan(lock, settings), lock, settings)  # built by the size-mode links
    (project / "build" / SPEED_WASM_OPT).mkdir(parents=True, exist_ok=True)
    for name in names:
        source, target = (project / "build" / mode / f"{name}.wasm" for mode in ("speed", SPEED_WASM_OPT))
        subprocess.run(optimizer.optimize_args(str(source), str(target)), check=True)


def module(project: Path, mode: str, name: str) -> Path:
    return project / "build" / mode / f"{name}.wasm"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each zlib workload per mode (default 5)")
    args = parser.parse_args()
    cache = os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-")
    settings = Settings.from_environ({**os.environ, "WASI_CACHE_DIR": cache})
    project = copy_project(Path(tempfile.mkdtemp(prefix="bench-size-modes-")) / "p")
    tree = zlib_workload.unpack_source(zlib_workload.fetch_source(settings), project)
    (project / "SConstruct").write_text(SCONSTRUCT.format(modes=MODES, names=list(RUNS), zlib=zlib_workload.SCONSTRUCT_LINES))
    run(scons_command("-Q", "."), cwd=project, env={"WASI_CACHE_DIR": cache})
    speed_with_wasm_opt(project, settings, [*RUNS, *zlib_workload.PROGRAMS])
    workdir = project / "runs"
    workdir.mkdir()
    expected = zlib_workload.prepare_expected(tree, workdir, TEXT_SIZE)

    rows, failures = [], []
    totals = {group: dict.fromkeys(COLUMNS, 0) for group in ("samples", "zlib", "total")}
    time_rows: list[list[str]] = []
    for name in [*RUNS, *zlib_workload.PROGRAMS]:
        sizes = {mode: module(project, mode, name).stat().st_size for mode in COLUMNS}
        if name in RUNS:
            wrong = [mode for mode in COLUMNS if output(project, mode, name) != output(project, "speed", name)]
            failures += [f"{name} ({mode}): output differs from the speed build's" for mode in wrong]
        else:
            found = {mode: zlib_workload.problems(name, zlib_workload.run_workload(
                name, module(project, mode, name), workdir, expected), expected) for mode in COLUMNS}
            wrong = [mode for mode, problems in found.items() if problems]
            failures += [f"{name} ({mode}):\n" + "".join(found[mode]) for mode in wrong]
            time_rows += time_workload(project, workdir, expected, name, args.runs)
        for group in ("samples" if name in RUNS else "zlib", "total"):
            for mode in COLUMNS:
                totals[group][mode] += sizes[mode]
        rows.append([name, f"{sizes['speed']:,}", *(percent(sizes[mode], sizes["speed"]) for mode in COLUMNS[1:]),
                     "yes" if not wrong else f"**NO** ({', '.join(wrong)})"])
    for group, sums in totals.items():
        rows.append([f"**{group}**", f"{sums['speed']:,}",
                     *(percent(sums[mode], sums["speed"]) for mode in COLUMNS[1:]), ""])
    flags = {"native": zlib_workload.flags_word(expected.example_stdout),
             "wasm": zlib_workload.flags_word(zlib_workload.run_workload(
                 "example", module(project, "size", "example"), workdir, expected)["example"].stdout.read_text())}
    print(f"# Module sizes, speed vs size ({machine_line()})\n")
    print(markdown_table(["module", "speed: -O2 -s (B)", "speed + wasm-opt -Oz (B)", "-Oz -s, no wasm-opt (B)",
                          "size: -Oz -s + wasm-opt -Oz (B)", "expected output, every mode"], rows))
    print(f"\n# zlib workloads, speed vs size (median of {args.runs}, alternating)\n")
    print(markdown_table(["module", "what", "speed", "size", "size/speed"], time_rows))
    print(f"\nzlib example's compile-flags word: native {flags['native']}, wasm {flags['wasm']} (the one word "
          f"allowed to differ); minigzip's input: {TEXT_SIZE:,} B of mixed text.")
    if failures:
        raise SystemExit("bench: wrong output:\n" + "\n".join(failures))


def compile_seconds(wasm: Path) -> float:
    """wasmtime compiling the module, as run_module does at the start of every run (same engine configuration)."""
    import wasmtime

    from wasi_toolchain.targets.run import _engine_config  # run_module's one engine configuration, not a copy

    data = wasm.read_bytes()
    engine = wasmtime.Engine(_engine_config(wasmtime))
    return timed(lambda: wasmtime.Module(engine, data))


def seconds(value: float) -> str:
    """Like common.fmt_seconds, with a tenth of a millisecond below 0.1 s (the executions take a few ms)."""
    return f"{value * 1000:.1f} ms" if value < 0.1 else fmt_seconds(value)


def time_workload(project: Path, workdir: Path, expected: zlib_workload.Expected, name: str,
                  runs: int) -> list[list[str]]:
    """Rows of the timing table for one zlib module, each measured at speed and size alternately: the whole
    workload through run_module (wasmtime's compile of the module included in every run, as WasiRun pays it),
    wasmtime's compile alone, and the module's own execution alone. Ratios are size/speed, medians of the
    per-pair ratios."""
    wasm = {mode: module(project, mode, name) for mode in ("speed", "size")}
    measures = {
        "whole workload through run_module (compile included)":
            lambda mode: timed(lambda: zlib_workload.run_workload(name, wasm[mode], workdir, expected)),
        "wasmtime compile of the module, once": lambda mode: compile_seconds(wasm[mode]),
        "execution alone (`_start` CPU time, module compiled beforehand)":
            lambda mode: zlib_workload.execution_seconds(name, wasm[mode], workdir, expected),
    }
    rows = []
    for what, measure in measures.items():
        pairs = alternate(name, "size", lambda m=measure: m("size"), "speed", lambda m=measure: m("speed"),
                          runs=runs)
        rows.append([name, what, seconds(median(pairs.b)), seconds(median(pairs.a)), f"{pairs.ratio:.2f}"])
    return rows


if __name__ == "__main__":
    main()
