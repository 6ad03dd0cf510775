"""libc++ and libc++abi: the pinned Debian packages' headers and static libraries, installed into the sysroot.

Where they go. clang's WebAssembly toolchain adds <sysroot>/include/<triple>/c++/v1 and then
<sysroot>/include/c++/v1, once it finds a c++/v<N> directory; the generic path serves every spelling of the
preview-1 target. The libraries sit beside libc.a in lib/wasm32-wasi (lib/wasm32-wasip1 links to it). Debian built
them against its wasi-libc, without exceptions and without threads (so no __cxa_thread_atexit: extra_symbols adds
one).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import ToolchainError
from ..pins.toolchain_lock import Lock
from .entry import LIB_DIR, Timings, Toolchain, move_tree
from ..log import Log

INCLUDE_DIR = "include/c++/v1"
REQUIRED = (f"{INCLUDE_DIR}/__config", f"{INCLUDE_DIR}/__config_site", f"{INCLUDE_DIR}/cxxabi.h",
            f"{LIB_DIR}/libc++.a", f"{LIB_DIR}/libc++abi.a")


def install(staged: Toolchain, lock: Lock, debs: list[Path], log: Log, timings: Timings) -> None:
    from ..store.archive import unpack

    log(f"wasi: adding libc++ {lock.libcxx.version} to the sysroot")
    pins = lock.libcxx
    scratch = staged.root / "build-libcxx"
    wanted = (pins.headers + "/", pins.libraries + "/")
    with timings.phase("unpack"):
        for deb in debs:
            unpack(deb, scratch, include=lambda name: name.startswith(wanted))
    headers, libraries = scratch / pins.headers, scratch / pins.libraries
    sysroot = staged.sysroot
    with timings.phase("libc++ install"):
        if headers.is_dir():
            move_tree(headers, sysroot / INCLUDE_DIR)
        lib = sysroot / LIB_DIR
        for archive in sorted(libraries.glob("*.a")) if libraries.is_dir() else []:
            shutil.copyfile(archive, lib / archive.name)
    missing = [relative for relative in REQUIRED if not (sysroot / relative).is_file()]
    if missing:
        names = ", ".join(a.name for a in pins.files)
        raise ToolchainError(
            f"the libc++ packages ({names}) did not provide {', '.join(missing)} from libcxx.headers "
            f"{pins.headers!r} and libcxx.libraries {pins.libraries!r}",
            hint="libcxx.headers must name the directory holding __config and cxxabi.h, and libcxx.libraries the "
                 "one holding libc++.a and libc++abi.a, inside those packages; fix them in toolchain.lock",
        )
    shutil.rmtree(scratch)
