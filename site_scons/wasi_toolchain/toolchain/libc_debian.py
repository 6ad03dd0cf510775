"""The default libc flavour (WASI_LIBC='debian'): the sysroot assembled from Debian's prebuilt wasi-libc package.

Debian's package already has the multiarch layout clang expects under ``--sysroot``: ``usr/include/<triple>/`` and
``usr/lib/<triple>/`` for wasm32-wasi, wasm32-wasip1 (a link to wasm32-wasi) and wasm32-wasip2. Its ``usr/include``
and ``usr/lib`` become the sysroot's ``include`` and ``lib``, and nothing is compiled, so there is no make.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ToolchainError
from ..pins.toolchain_lock import Lock
from .entry import LIB_DIR, Timings, Toolchain, move_tree
from ..log import Log

PACKAGE_DIRS = ("usr/include/", "usr/lib/")
# What a usable preview-1 sysroot must have after the copy: a missing one means the pinned package is not the
# wasi-libc the recipe knows.
REQUIRED = ("include/wasm32-wasi/stdio.h", "include/wasm32-wasi/setjmp.h", f"{LIB_DIR}/libc.a",
            f"{LIB_DIR}/crt1-command.o", f"{LIB_DIR}/libsetjmp.a", "lib/wasm32-wasip1/libc.a",
            "include/wasm32-wasip1/stdio.h")


def install(staged: Toolchain, lock: Lock, package: Path, log: Log, timings: Timings) -> None:
    from ..store.archive import unpack

    log(f"wasi: assembling the sysroot from Debian's wasi-libc {lock.wasi_libc_version}")
    scratch = staged.root / "build-libc"
    with timings.phase("unpack"):
        unpack(package, scratch, include=lambda name: name.startswith(PACKAGE_DIRS))
    sysroot = staged.sysroot
    with timings.phase("sysroot build"):
        sysroot.mkdir(parents=True, exist_ok=True)
        for name in ("include", "lib"):
            source = scratch / "usr" / name
            if source.is_dir():
                move_tree(source, sysroot / name)
    missing = [relative for relative in REQUIRED if not (sysroot / relative).is_file()]
    if missing:
        raise ToolchainError(
            f"{lock.wasi_libc.name} (sha256 {lock.wasi_libc.sha256}) did not provide {', '.join(missing)} under "
            f"{' or '.join(PACKAGE_DIRS)}",
            hint="[wasi-libc] in toolchain.lock must pin Debian's wasi-libc binary package (with setjmp, December "
                 "2024 or later); or set WASI_LIBC=source")
    shutil.rmtree(scratch)
