"""Cold `scons run-first`, the README's command, from an empty WASI_CACHE_DIR, for each libc flavour side by side:
the default (Debian's prebuilt wasi-libc: no make) and WASI_LIBC=source (the 2022 source built with make). Also the
size of the hello-world module each flavour gives.

    python bench/cold_flavours.py [--runs 3] [--provider ziglang|debian]

The rounds alternate the flavours, so a busy spell of the machine falls on both. Every run starts with an empty
store; downloads come from the network (pip's and the mirror's HTTP caches are what they are for both). The phases
are the ones the entry's stamp records (fetch, unpack, sysroot build, libc++ install, manifest).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from common import base_environ, copy_project, machine_line, markdown_table, median, scons_command, timed

from wasi_toolchain.store.store import STAMP

FLAVOURS = ("debian", "source")
PHASES = ("fetch", "unpack", "sysroot build", "libc++ install", "manifest")


def cold_run(work: Path, flavour: str, provider: str | None) -> tuple[float, dict[str, float], int]:
    project = copy_project(work / f"project-{flavour}")
    cache = work / f"cache-{flavour}"
    shutil.rmtree(cache, ignore_errors=True)
    env = {**base_environ(), "WASI_CACHE_DIR": str(cache), "WASI_LIBC": flavour}
    if provider:
        env["WASI_LLVM_PROVIDER"] = provider
    result: list[subprocess.CompletedProcess[str]] = []
    seconds = timed(lambda: result.append(subprocess.run(scons_command("run-first"), cwd=project,
                                                         capture_output=True, text=True, env=env)))
    if result[0].returncode != 0:
        raise SystemExit(f"bench: {flavour}: scons run-first failed:\n{result[0].stdout}\n{result[0].stderr}")
    stamp = json.loads(next(cache.glob(f"sysroots/*/{STAMP}")).read_text())
    size = (project / "build/first.wasm").stat().st_size
    shutil.rmtree(cache)
    return seconds, {name: stamp["timings"].get(name, 0.0) for name in PHASES}, size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--provider", choices=("ziglang", "debian"))
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {f: [] for f in FLAVOURS}
    phases: dict[str, list[dict[str, float]]] = {f: [] for f in FLAVOURS}
    sizes: dict[str, set[int]] = {f: set() for f in FLAVOURS}
    with tempfile.TemporaryDirectory(prefix="wasi-bench-cold-") as temp:
        for round_ in range(args.runs):
            order = FLAVOURS if round_ % 2 == 0 else tuple(reversed(FLAVOURS))
            for flavour in order:
                took, phase, size = cold_run(Path(temp), flavour, args.provider)
                seconds[flavour].append(took)
                phases[flavour].append(phase)
                sizes[flavour].add(size)
                print(f"round {round_ + 1} {flavour}: {took:.1f} s", flush=True)
    print()
    print(machine_line() + f", provider {args.provider or 'the lock default'}, {args.runs} runs each")
    print()
    rows = []
    for flavour in FLAVOURS:
        per_phase = [f"{median([p[name] for p in phases[flavour]]):.1f} s" for name in PHASES]
        rows.append([f"`{flavour}`", f"**{median(seconds[flavour]):.1f} s**", *per_phase,
                     ", ".join(f"{s:,} B" for s in sorted(sizes[flavour]))])
    print(markdown_table(["WASI_LIBC", "cold `scons run-first` (median)", *PHASES, "first.wasm"], rows))
    ratio = median(seconds["debian"]) / median(seconds["source"])
    print(f"\ndefault / source: {ratio:.2f}")


if __name__ == "__main__":
    main()
