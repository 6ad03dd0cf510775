"""The 200-file project of bench/full_build.py compiled through distcc: two workers on loopback ports, each started
with the real `scons wasi-distcc-worker` (tests/support/distcc.py) and a store of its own, against local builds.

What one 2-core machine can measure (the workers share the client's two cores, so no speed-up can show here):

- full builds, `scons -j2` local against `-j2` and `-j4` through the two workers (2 slots each), in rotation;
- the cost distcc adds to each compile: serial builds (`-j1`), local against distributed, the difference / 200;
- the share of a compile that the client still does in plain mode, preprocessing: each of the 200 recorded compile
  commands run alone, as is and with `-E` instead of `-c`.

The CPU time of scons and everything it starts (distcc, the preprocessing, the links; not the workers, which
distccd starts) is measured for each build, U; a worker's job is measured as what it runs, the compile of the
preprocessed text, w (distccd's own share, receiving and writing files, is left out). From those, a
**projection** (not a measurement) of a full build with N remote cores: ``T(N) = max(U / C, F * w / N)`` against
``U_local / C`` for the local build, with C = 2 client cores and F = 200 compiles. It assumes CPU-bound builds with
perfect overlap, a network whose transfer time is small next to a job (about 40 KB of preprocessed text in and
1 KB of object out per file here, plus a round trip), and workers as fast as this machine.

    WASI_CACHE_DIR=<a store> python bench/distributed.py [--runs 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (REPO, Command, fmt_seconds, machine_line, markdown_table, median, record_commands, run,
                    scons_command)
from full_build import FILES_PER_PROGRAM, LIBRARY_FILES, PROGRAMS, clean, generate

sys.path.insert(0, str(REPO / "tests"))
from support.distcc import distcc_installed, link_store, shared_dir, start_worker  # noqa: E402

COMPILES = PROGRAMS * FILES_PER_PROGRAM + LIBRARY_FILES
CLIENT_CORES = 2
PROJECTED_CORES = (2, 4, 8, 16, 32, 64)


def serial_compile_times(root: Path, commands: list[Command]) -> tuple[float, float, float]:
    """CPU seconds per compile, per preprocessing and per compile of the preprocessed text (what a worker runs:
    the same bin/clang wrapper on the file distcc sends), each the mean over the 200 recorded compile commands run
    one at a time. CPU, not wall time: on a shared machine the wall time of a short process is mostly waiting for a
    core."""
    compile_total = preprocess_total = worker_total = 0.0
    preprocessed = root / "bench-preprocessed.i"
    for command in commands:
        words = shlex.split(command.line)
        output = words.index("-o")
        preprocess = [*words[:output], "-o", str(preprocessed), *words[output + 2:]]
        preprocess[preprocess.index("-c")] = "-E"
        source = next(i for i in command.inputs if i.endswith(".c"))
        remote = _without_preprocessor_flags([str(preprocessed) if word == source else word for word in words])
        compile_total += client_cpu(lambda: subprocess.run(words, cwd=root, check=True))
        preprocess_total += client_cpu(lambda: subprocess.run(preprocess, cwd=root, check=True))
        worker_total += client_cpu(lambda: subprocess.run(remote, cwd=root, check=True))
    preprocessed.unlink()
    count = len(commands)
    return compile_total / count, preprocess_total / count, worker_total / count


def _without_preprocessor_flags(words: list[str]) -> list[str]:
    """The command as distcc sends it: it drops -I and -D (joined or with their argument apart), which the
    preprocessed text no longer needs."""
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif word in ("-I", "-D"):
            skip = True
        elif not word.startswith(("-I", "-D")):
            kept.append(word)
    return kept


def client_cpu(action: object) -> float:
    """CPU seconds (user + system) of the processes ``action`` starts and waits for: scons and everything under
    it (distcc, the preprocessing, the links), but not the workers, which distccd starts."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    action()  # type: ignore[operator]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if not distcc_installed():
        raise SystemExit("bench: distcc is not installed (apt-get install distcc)")
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    work = Path(tempfile.mkdtemp(prefix="bench-distcc-"))
    tree = work / "project"
    generate(tree)
    run(scons_command("-Q", "wasi-toolchain"), cwd=tree, env=env)
    commands = [c for c in record_commands(tree, env) if any(i.endswith(".c") for i in c.inputs)]
    if len(commands) != COMPILES:
        raise SystemExit(f"bench: expected {COMPILES} compiles, recorded {len(commands)}")
    reference = work / "reference"
    shutil.copytree(tree, reference)
    run(scons_command("-Q", "-j2"), cwd=reference, env=env)

    shared = shared_dir("bench-distcc-workers-")  # distccd's unprivileged user must reach the stores
    workers = [start_worker(shared, name, link_store(cache, shared / f"{name}-store"), jobs=2) for name in ("w1", "w2")]
    counter = itertools.count()
    cpu: dict[str, list[float]] = {}
    try:
        def build(name: str, jobs: int, distributed: bool) -> float:
            clean(tree)
            state = shared / f"distcc-dir-{next(counter)}"  # no back-off marks from an earlier build
            state.mkdir()
            extra = {"WASI_DISTCC_HOSTS": " ".join(f"{w.host}/2" for w in workers), "WASI_DISTCC_STRICT": "1",
                     "DISTCC_DIR": str(state)} if distributed else {}
            before = [len(w.compiled()) for w in workers]
            started = time.perf_counter()
            cpu.setdefault(name, []).append(
                client_cpu(lambda: run(scons_command("-Q", f"-j{jobs}"), cwd=tree, env={**env, **extra})))
            elapsed = time.perf_counter() - started
            jobs_done = [line for w, b in zip(workers, before) for line in w.compiled()[b:]]
            if len(jobs_done) != (COMPILES if distributed else 0):
                raise SystemExit(f"bench: {len(jobs_done)} compiles reached the workers, expected "
                                 f"{COMPILES if distributed else 0}")
            for wasm in sorted((reference / "out").glob("*.wasm")):
                if (tree / "out" / wasm.name).read_bytes() != wasm.read_bytes():
                    raise SystemExit(f"bench: {wasm.name} differs from the local build's")
            return elapsed

        kinds = {"local, -j2": (2, False), "distcc, 2 loopback workers, -j2": (2, True),
                 "distcc, 2 loopback workers, -j4": (4, True), "local, -j1": (1, False),
                 "distcc, 2 loopback workers, -j1": (1, True)}
        times: dict[str, list[float]] = {name: [] for name in kinds}
        per_compile: list[tuple[float, float, float]] = []
        names = list(kinds)
        for round_number in range(args.runs):
            for name in names[round_number % len(names):] + names[:round_number % len(names)]:
                times[name].append(build(name, *kinds[name]))
            per_compile.append(serial_compile_times(tree, commands))
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(shared, ignore_errors=True)

    local = median(times["local, -j2"])
    print(f"# 200-file project through distcc ({machine_line()}, {args.runs} runs each, rotating)\n")
    print(markdown_table(["build", "median wall time", "vs. local -j2", "client CPU (scons and its children)"],
                         [[name, fmt_seconds(median(values)), f"{median(values) / local:.2f}",
                           fmt_seconds(median(cpu[name]))] for name, values in times.items()]))
    c, p, worker_job = (statistics.median(values) for values in zip(*per_compile))
    client_local, client_distributed = median(cpu["local, -j2"]), median(cpu["distcc, 2 loopback workers, -j2"])
    latency = (median(times["distcc, 2 loopback workers, -j1"]) - median(times["local, -j1"])) / COMPILES
    print()
    print(markdown_table(["per compile (CPU time unless said)", "median"], [
        ["a compile, run alone (c)", fmt_seconds(c)],
        ["its preprocessing, run alone (p)", fmt_seconds(p)],
        ["client CPU, local build, per compile (U_local / 200)", fmt_seconds(client_local / COMPILES)],
        ["client CPU, distributed build, per compile (U / 200)", fmt_seconds(client_distributed / COMPILES)],
        ["share of U that is preprocessing (200 * p / U)", f"{COMPILES * p / client_distributed:.0%}"],
        ["a worker's compile of the preprocessed text, run alone (w)", fmt_seconds(worker_job)],
        ["cost added per compile ((U + 200 * w - U_local) / 200)",
         fmt_seconds((client_distributed + COMPILES * worker_job - client_local) / COMPILES)],
        ["wall time added per compile, one at a time (-j1 distributed - local, / 200)", fmt_seconds(latency)]]))
    baseline = client_local / CLIENT_CORES
    print(f"\nProjection, not a measurement: T(N) = max(U / {CLIENT_CORES}, 200 * w / N), against local -j2 in the "
          f"same model, U_local / {CLIENT_CORES} = {fmt_seconds(baseline)}\n")
    rows = []
    for cores in PROJECTED_CORES:
        projected = max(client_distributed / CLIENT_CORES, COMPILES * worker_job / cores)
        rows.append([str(cores), fmt_seconds(projected), f"{baseline / projected:.1f}x"])
    print(markdown_table(["remote cores (N)", "projected full build", "projected speed-up vs local -j2"], rows))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
