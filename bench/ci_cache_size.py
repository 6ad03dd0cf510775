"""What a CI job must cache: the whole store against the recipe's paths (sysroots/<key>/ only), with the current lock.

    python bench/ci_cache_size.py [--provider ziglang|debian]

Builds the toolchain cold into an empty store (a fresh temp dir; fetching needs the network), then measures the
store, the entry alone, and the store after `scons wasi-prune`: the bytes of every file and symlink, the file
count, and the size of a zstd-compressed tar of it (what actions/cache uploads: `zstd -T0 --long=30`, level 3).
Sizes, not timings: they do not depend on the machine's load.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from common import copy_project, markdown_table, run, scons_command


def tree_bytes(root: Path) -> tuple[int, int]:
    size = count = 0
    for path in root.rglob("*"):
        if path.is_symlink() or path.is_file():
            size += path.lstat().st_size
            count += 1
    return size, count


def compressed(root: Path, relative: str) -> int | None:
    if shutil.which("zstd") is None:
        return None
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(root / relative, arcname=relative)
    result = subprocess.run(["zstd", "-T0", "--long=30", "-3", "-c"], input=buffer.getvalue(), capture_output=True,
                            check=True)
    return len(result.stdout)


def row(what: str, root: Path, relative: str) -> list[str]:
    size, count = tree_bytes(root / relative)
    packed = compressed(root, relative)
    return [what, f"{size / 1e6:.1f} MB ({size:,} B)", f"{count:,}",
            f"{packed / 1e6:.1f} MB" if packed is not None else "(no zstd)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", default="", help="WASI_LLVM_PROVIDER for the build (default: the lock's)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ci-cache-"))
    store = work / "store"
    project = copy_project(work / "p")
    env = {"WASI_CACHE_DIR": str(store), "WASI_LLVM_PROVIDER": args.provider}
    run(scons_command("-Q", "wasi-toolchain"), cwd=project, env=env)
    key = run(scons_command("-Q", "wasi-cache-key"), cwd=project, env=env).stdout.strip()
    rows = [row("whole store after a cold build", work, "store"),
            row(f"sysroots/{key}/ only (the recipe's path)", work, f"store/sysroots/{key}")]
    run(scons_command("-Q", "wasi-prune"), cwd=project, env=env)
    rows.append(row("whole store after `scons wasi-prune`", work, "store"))
    print(f"# What a CI job caches ({key})\n")
    print(markdown_table(["what", "bytes", "files", "tar + zstd"], rows))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
