"""Side by side: how long each LLVM provider takes to build the toolchain entry, and to compile + link a sample.

    python bench/providers.py [--runs 3] [--downloads STORE]

Each run starts from an empty store into which the already-verified downloads are copied (from STORE, default
WASI_CACHE_DIR), so network time is left out: what is measured is unpacking LLVM and building wasi-libc with that
provider's clang. Prints medians and the debian/ziglang ratio. A measurement, not a test: nothing is asserted.
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
sys.path.insert(0, str(REPO / "site_scons"))

from wasi_toolchain.toolchain import sysroot  # noqa: E402
from wasi_toolchain.settings import Settings  # noqa: E402
from wasi_toolchain.store.fetch import fetch  # noqa: E402
from wasi_toolchain.pins.toolchain_lock import load_lock  # noqa: E402
from wasi_toolchain.store.store import Store  # noqa: E402

PROVIDERS = ("ziglang", "debian")


def quiet(_: str) -> None:
    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--downloads", type=Path, help="a store whose downloads/ to copy (default: WASI_CACHE_DIR)")
    args = parser.parse_args()
    lock = load_lock(REPO / "toolchain.lock")
    source = Settings.from_environ() if args.downloads is None else \
        Settings.from_environ({"WASI_CACHE_DIR": str(args.downloads)})
    # Make sure every pin is in the source store once (this may download; it is not timed).
    for provider in PROVIDERS:
        plan = sysroot.plan(lock, source, provider=provider)
        for artifact in [lock.builtins, lock.wasi_libc, *lock.libcxx.files, *lock.llvm_files(plan.host, provider)]:
            fetch(artifact, Store(source.cache_dir), source, log=quiet)
    results: dict[str, dict[str, list[float]]] = {p: {"entry": [], "sample": []} for p in PROVIDERS}
    for run in range(args.runs):
        for provider in PROVIDERS:
            with tempfile.TemporaryDirectory(prefix="wasi-bench-") as temp:
                cache = Path(temp) / "store"
                shutil.copytree(source.cache_dir / "downloads", cache / "downloads")
                settings = Settings.from_environ({"WASI_CACHE_DIR": str(cache)})
                toolchain = sysroot.plan(lock, settings, provider=provider)
                started = time.monotonic()
                sysroot.ensure(toolchain, lock, settings, log=quiet)
                results[provider]["entry"].append(time.monotonic() - started)
                started = time.monotonic()
                subprocess.run([str(toolchain.clang), "--target=wasm32-wasi", f"--sysroot={toolchain.sysroot}", "-O2",
                                "-s", f"-fuse-ld={toolchain.wasm_ld}", str(REPO / "samples/builtins.c"),
                                "-lc-printscan-long-double", "-o", str(Path(temp) / "builtins.wasm")], check=True)
                results[provider]["sample"].append(time.monotonic() - started)
        print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    print(f"median of {args.runs} run(s), seconds")
    print(f"{'':28}{'ziglang':>10}{'debian':>10}{'ratio':>8}")
    for what, label in (("entry", "toolchain entry (cold)"), ("sample", "compile+link builtins.c")):
        z, d = (statistics.median(results[p][what]) for p in PROVIDERS)
        print(f"{label:28}{z:10.2f}{d:10.2f}{d / z:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
