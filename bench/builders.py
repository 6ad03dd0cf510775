"""Time this repository's sample build: compiling everything, retrieving everything from a CacheDir in a fresh
checkout, and a null build. A measurement, not a test.

    WASI_CACHE_DIR=<a store with the toolchain built> python bench/builders.py [--runs 3]

Each scenario runs in fresh copies of SConstruct, toolchain.lock and samples/ under a temp dir; the medians (and
every run) are printed. The toolchain store is reused, so the first-use sysroot build is not part of any number
(run `scons wasi-toolchain` first).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def checkout(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "samples", root / "samples")
    return root


def scons(project: Path, *args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", *args], cwd=project,
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    results: dict[str, list[float]] = {"compile all, -j1": [], "compile all, -j2": [],
                                       "all from CacheDir, fresh checkout": [], "null build": []}
    with tempfile.TemporaryDirectory() as temp:
        base = Path(temp)
        scons(checkout(base / "warm-up"), "wasi-toolchain")
        for run in range(runs):
            cachedir = base / f"cachedir-{run}"
            a = checkout(base / f"a-{run}")
            results["compile all, -j1"].append(scons(a, f"--cache-dir={cachedir}"))
            results["null build"].append(scons(a, f"--cache-dir={cachedir}"))
            results["all from CacheDir, fresh checkout"].append(scons(checkout(base / f"b-{run}"),
                                                                      f"--cache-dir={cachedir}"))
            results["compile all, -j2"].append(scons(checkout(base / f"c-{run}"), "-j2"))
    width = max(map(len, results))
    for name, seconds in results.items():
        print(f"{name:<{width}}  median {statistics.median(seconds):6.2f} s   runs: "
              + ", ".join(f"{s:.2f}" for s in seconds))


if __name__ == "__main__":
    main()
