"""Cold start of the from-source libc flavour: `WASI_LIBC=source scons run-first` from an empty WASI_CACHE_DIR, broken
into phases, against the same raw steps done directly (pip download of the LLVM wheel, plain GETs of the Debian
files, unzip + ar/tar, `make -j2` of wasi-libc with zig's clang, copying libc++ into the sysroot, one clang call, one
run). bench/cold_flavours.py measures the default flavour, which has no make, beside it.

    python bench/cold_start.py [--runs 5]

The phases of the tool's side come from the toolchain entry's stamp (fetch, unpack, sysroot build, libc++
install, manifest), from `scons --debug=time` (compile+link, run, the toolchain action as a whole) and the wall
clock (the rest: Python and SCons start-up, reading the SConstruct, locks and checks). Both sides fetch through the
same pip configuration and the same Debian mirror; one untimed fetch first warms pip's HTTP cache for both alike.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from common import (REPO, alternate, base_environ, copy_project, fmt_seconds, machine_line, markdown_table, median,
                    pip_download, scons_command, timed)

from wasi_toolchain.settings import Settings
from wasi_toolchain.host import detect_host
from wasi_toolchain.toolchain.llvm import BUILTINS_PATHS
from wasi_toolchain.pins.toolchain_lock import Artifact, load_lock
from wasi_toolchain.pins.locators import UrlSource, sources_for
from wasi_toolchain.store.store import STAMP

PHASES = ["fetch", "unpack", "sysroot build", "libc++ install", "manifest", "compile+link", "run", "the rest"]
_EXECUTION_TIME = re.compile(r"^Command execution time: (.+): ([0-9.]+) seconds$", re.M)

ours_phases: list[dict[str, float]] = []
raw_phases: list[dict[str, float]] = []


def ours(work: Path) -> float:
    project = copy_project(work / "ours")
    cache = work / "ours-cache"
    shutil.rmtree(cache, ignore_errors=True)
    result: list[subprocess.CompletedProcess[str]] = []
    seconds = timed(lambda: result.append(subprocess.run(
        scons_command("--debug=time", "run-first"), cwd=project, capture_output=True, text=True,
        env={**base_environ(), "WASI_CACHE_DIR": str(cache), "WASI_LIBC": "source"})))
    if result[0].returncode != 0:
        raise SystemExit(f"bench: scons run-first failed:\n{result[0].stdout}\n{result[0].stderr}")
    stamp = json.loads(next(cache.glob(f"sysroots/*/{STAMP}")).read_text())
    commands = {target: float(value) for target, value in _EXECUTION_TIME.findall(result[0].stdout)}
    phases = {name: stamp["timings"].get(name, 0.0) for name in PHASES[:5]}
    phases["compile+link"] = commands["build/obj/first.wasi.o"] + commands["build/first.wasm"]
    phases["run"] = commands["run-first"]
    phases["the rest"] = seconds - sum(phases.values())
    ours_phases.append(phases)
    return seconds


def raw(work: Path, lock_path: Path) -> float:
    """What a person would type, minus the typing."""
    lock = load_lock(lock_path)
    settings = Settings.from_environ()
    root = work / "raw"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    steps: dict[str, float] = {}
    host = detect_host()
    wheel = lock.llvm_files(host, "ziglang")[0]
    debs = [lock.builtins, *lock.libcxx.files]

    def fetch() -> None:
        pip_download(wheel, root)
        import requests

        for artifact in (*debs, lock.wasi_libc_source):
            (root / artifact.name).write_bytes(requests.get(debian_url(artifact, settings), timeout=60).content)
    steps["fetch"] = timed(fetch)

    def unpack() -> None:
        with zipfile.ZipFile(root / wheel.name) as zf:
            zf.extractall(root, [n for n in zf.namelist() if n == "ziglang/zig" or n.startswith("ziglang/lib/include/")])
        (root / "ziglang/zig").chmod(0o755)
        for deb in debs:
            data = subprocess.run(["ar", "p", str(root / deb.name), "data.tar.xz"], check=True,
                                  capture_output=True).stdout
            (root / "data.tar.xz").write_bytes(data)
            with tarfile.open(root / "data.tar.xz") as tar:
                tar.extractall(root / "deb", filter="data")
        resource = root / "resource"
        resource.mkdir()
        (resource / "include").symlink_to(root / "ziglang/lib/include")
        for relative in BUILTINS_PATHS:
            (resource / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(root / "deb" / lock.builtins_member, resource / relative)
        with tarfile.open(root / lock.wasi_libc_source.name) as tar:
            tar.extractall(root / "src", filter="data")
        (root / "bin").mkdir()
        # clang 22 needs these after the Makefile's -Werror for the 2022 source (see wasi_toolchain/toolchain/libc_source.py).
        for name, sub, tail in (("clang", f"clang -resource-dir {resource}",
                                 " -Wno-deprecated -Wno-unterminated-string-initialization"),
                                ("llvm-ar", "ar", ""), ("wasm-ld", "wasm-ld", "")):
            (root / "bin" / name).write_text(f'#!/bin/sh\nexec {root}/ziglang/zig {sub} "$@"{tail}\n')
            (root / "bin" / name).chmod(0o755)
    steps["unpack"] = timed(unpack)

    source_dir = next((root / "src").glob("*/Makefile")).parent
    sysroot = root / "sysroot"

    def build_libc() -> None:
        subprocess.run(["make", "-j2", f"CC={root}/bin/clang", f"SYSROOT={sysroot}", "-o", "check-symbols"],
                       cwd=source_dir, check=True, capture_output=True)
        # clang 22 looks in lib/wasm32-wasip1 for --target=wasm32-wasip1; the 2022 Makefile installs lib/wasm32-wasi.
        (sysroot / "lib" / "wasm32-wasip1").symlink_to("wasm32-wasi")
    steps["sysroot build"] = timed(build_libc)

    def install_libcxx() -> None:
        shutil.copytree(root / "deb" / lock.libcxx.headers, sysroot / "include/c++/v1", symlinks=True)
        for archive in (root / "deb" / lock.libcxx.libraries).glob("*.a"):
            shutil.copy(archive, sysroot / "lib/wasm32-wasi" / archive.name)
    steps["libc++ install"] = timed(install_libcxx)
    steps["compile+link"] = timed(lambda: subprocess.run(
        [f"{root}/bin/clang", "--target=wasm32-wasip1", f"--sysroot={sysroot}", "-O2", "-s",
         f"-fuse-ld={root}/bin/wasm-ld", str(REPO / "samples/first.c"), "-o", str(root / "first.wasm")], check=True))
    # In a new process, as `scons run-first` imports wasmtime in its own.
    steps["run"] = timed(lambda: subprocess.run(
        [sys.executable, "-c", "import sys; from pathlib import Path; "
                               "from wasi_toolchain.targets.run import run_module; "
                               "sys.exit(run_module(Path(sys.argv[1]), ['first.wasm', 'from', 'raw']))",
         str(root / "first.wasm")], check=True, capture_output=True, env={**base_environ(),
                                                                           "PYTHONPATH": str(REPO / "site_scons")}))
    raw_phases.append(steps)
    return sum(steps.values())


def debian_url(artifact: Artifact, settings: Settings) -> str:
    source = sources_for(artifact.locators[0], settings)[0]
    assert isinstance(source, UrlSource)
    return source.url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    lock_path = REPO / "toolchain.lock"
    lock = load_lock(lock_path)
    warm_up = work / "pip-warm-up"
    warm_up.mkdir()
    pip_download(lock.llvm_files(detect_host(), "ziglang")[0], warm_up)  # pip's HTTP cache, for both sides
    shutil.rmtree(warm_up)
    comparison = alternate("cold `scons run-first`", "scons run-first", lambda: ours(work),
                           "sum of raw steps", lambda: raw(work, lock_path), runs=args.runs)
    print(f"# Cold start ({machine_line()}, {args.runs} runs each, alternating)\n")
    rows = []
    for name in PHASES:
        raw_values = [p[name] for p in raw_phases if name in p]
        rows.append([name, fmt_seconds(median([p[name] for p in ours_phases])),
                     fmt_seconds(median(raw_values)) if raw_values else "–"])
    rows.append(["**total**", fmt_seconds(median(comparison.a)), fmt_seconds(median(comparison.b))])
    print(markdown_table(["phase", "scons run-first (median)", "raw steps (median)"], rows))
    print(f"\nratio scons/raw (median of pairs): {comparison.ratio:.2f}; "
          f"difference (median of pairs): {comparison.difference:+.2f} s")


if __name__ == "__main__":
    main()
