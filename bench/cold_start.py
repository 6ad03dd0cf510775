"""Cold start: `scons run-first` from an empty WASI_CACHE_DIR, broken into phases, against the same raw steps done
directly by hand (pip download of the wheel, plain GETs of the two Debian files, unzip + ar/tar, `make -j2` of
wasi-libc with zig's clang, one clang call, one run).

    python bench/cold_start.py [--runs 5]

Both sides fetch through the same pip configuration and the same Debian mirror, so a warm pip HTTP cache helps
both alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from common import (REPO, Comparison, alternate, copy_project, fmt_seconds, machine_line, markdown_table, median,
                    run, scons_command, timed)

from wasi_toolchain.config import Settings
from wasi_toolchain.llvm import BUILTINS_PATHS
from wasi_toolchain.lock import load_lock
from wasi_toolchain.locators import UrlSource, sources_for
from wasi_toolchain.store import STAMP

phases: list[dict[str, float]] = []
raw_phases: list[dict[str, float]] = []


def ours(work: Path) -> float:
    project = copy_project(work / "ours")
    cache = work / "ours-cache"
    shutil.rmtree(cache, ignore_errors=True)
    seconds = timed(lambda: run(scons_command("run-first"), cwd=project, env={"WASI_CACHE_DIR": str(cache)}))
    stamps = list(cache.glob(f"sysroots/*/{STAMP}"))
    timings = json.loads(stamps[0].read_text()).get("timings", {}) if stamps else {}
    phases.append({**timings, "total": seconds})
    return seconds


def raw(work: Path) -> float:
    """What a person would type, minus the typing."""
    lock = load_lock(REPO / "toolchain.lock")
    settings = Settings.from_environ()
    root = work / "raw"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    steps: dict[str, float] = {}
    wheel = lock.llvm_files("linux-x86_64", "ziglang")[0]

    def fetch() -> None:
        (root / "req.txt").write_text(f"ziglang==0.14.1 --hash=sha256:{wheel.sha256}\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                        "--require-hashes", "-r", str(root / "req.txt"), "-d", str(root)], check=True)
        import requests

        for artifact in (lock.builtins, lock.wasi_libc):
            source = sources_for(artifact.locators[0], settings)[0]
            assert isinstance(source, UrlSource)
            (root / artifact.name).write_bytes(requests.get(source.url, timeout=60).content)
    steps["fetch"] = timed(fetch)

    def unpack() -> None:
        with zipfile.ZipFile(root / wheel.name) as zf:
            zf.extractall(root, [n for n in zf.namelist() if n == "ziglang/zig" or n.startswith("ziglang/lib/include/")])
        (root / "ziglang/zig").chmod(0o755)
        data = subprocess.run(["ar", "p", str(root / lock.builtins.name), "data.tar.xz"], check=True,
                              capture_output=True).stdout
        (root / "data.tar.xz").write_bytes(data)
        with tarfile.open(root / "data.tar.xz") as tar:
            tar.extractall(root / "deb", filter="data")
        resource = root / "resource"
        (resource / "include").parent.mkdir(parents=True, exist_ok=True)
        (resource / "include").symlink_to(root / "ziglang/lib/include")
        for relative in BUILTINS_PATHS:
            (resource / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "deb" / lock.builtins_member, resource / relative)
        with tarfile.open(root / lock.wasi_libc.name) as tar:
            tar.extractall(root / "src", filter="data")
        (root / "bin").mkdir()
        for name, sub in (("clang", f"clang -resource-dir {resource}"), ("llvm-ar", "ar"), ("wasm-ld", "wasm-ld")):
            (root / "bin" / name).write_text(f'#!/bin/sh\nexec {root}/ziglang/zig {sub} "$@"\n')
            (root / "bin" / name).chmod(0o755)
    steps["unpack"] = timed(unpack)

    source_dir = next((root / "src").glob("*/Makefile")).parent
    sysroot = root / "sysroot"
    steps["sysroot build"] = timed(lambda: subprocess.run(
        ["make", "-j2", f"CC={root}/bin/clang", f"SYSROOT={sysroot}", "-o", "check-symbols"], cwd=source_dir,
        check=True, capture_output=True))
    # (The stack-protector symbols are not needed by first.c, so the raw path skips them.)
    steps["compile+link"] = timed(lambda: subprocess.run(
        [f"{root}/bin/clang", "--target=wasm32-wasi", f"--sysroot={sysroot}", "-O2", "-s",
         f"-fuse-ld={root}/bin/wasm-ld", str(REPO / "samples/first.c"), "-o", str(root / "first.wasm")], check=True))

    def run_it() -> None:
        from wasi_toolchain.run import run_module

        run_module(root / "first.wasm", ["first.wasm"], stdout=root / "out.txt")
    steps["run"] = timed(run_it)
    raw_phases.append(steps)
    return sum(steps.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    comparison = alternate("cold `scons run-first`", "scons run-first", lambda: ours(work),
                           "sum of raw steps", lambda: raw(work), runs=args.runs)
    print(f"# Cold start ({machine_line()}, {args.runs} runs each, alternating)\n")
    names = ["fetch", "unpack", "sysroot build", "compile+link", "run"]
    rows = []
    for name in names:
        ours_values = [p[name] for p in phases if name in p]
        rows.append([name, fmt_seconds(median(ours_values)) if ours_values else "n/a",
                     fmt_seconds(median([p[name] for p in raw_phases]))])
    rows.append(["**total**", fmt_seconds(median(comparison.a)), fmt_seconds(median(comparison.b))])
    print(markdown_table(["phase", "scons run-first (median)", "raw steps (median)"], rows))
    print(f"\nratio scons/raw (median of pairs): {comparison.ratio:.2f}")


if __name__ == "__main__":
    main()
