"""wasm-opt for WASI_OPTIMIZE='size': Debian trixie's binaryen, in its own store entry, run on its pinned runtime.

Why this binaryen: the Python package index has no wheel that ships the wasm-opt executable (pybinaryen is pure
Python over a libbinaryen it does not ship; icpp-binaryen bundles libbinaryen 116's C API only), and bookworm's 108
predates wasm-opt's support for the exception-handling proposal clang 22 uses for setjmp/longjmp (try_table). trixie's
120 is the real wasm-opt; it needs glibc >= 2.38 (Debian 12 has 2.36), so it runs exactly as the debian LLVM provider
runs trixie's clang: through the pinned glibc's own loader, ``ld-linux… --library-path <entry libs> wasm-opt``, with
the same runtime packages (libc6, libstdc++6, libgcc-s1; `readelf -d usr/bin/wasm-opt` NEEDs libbinaryen.so, which
the binaryen package ships, libstdc++.so.6, libm.so.6, libgcc_s.so.1 and libc.so.6).

The entry is ``sysroots/wasm-opt-<host>-<digest>`` (the store's layout, lock and stamp conventions, so wasi-verify,
prune and the sweep of killed runs treat it like a sysroot entry). It is fetched and unpacked only when a build
uses size mode: the default sysroot key and cold start do not change.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from ..errors import HostNotSupported, ToolchainError
from ..host import build_host, emulator_for
from .launch import GLIBC_LOADER, GLIBC_MULTIARCH
from ..pins.toolchain_lock import Lock
from ..store.store import STAMP, Store
from ..log import Log, log_to_stderr

# Bump when what ends up in the entry changes: it is part of the key.
RECIPE_VERSION = 1
# clang 22 turns these features on by default, and wasm-opt 120 must be told (see DESIGN.md "wasm-opt on LLVM 22
# output"); exception handling is what clang 22's setjmp/longjmp lowering uses (try_table/throw).
FEATURES = ("--enable-bulk-memory", "--enable-sign-ext", "--enable-mutable-globals",
            "--enable-nontrapping-float-to-int", "--enable-multivalue", "--enable-reference-types",
            "--enable-exception-handling")
OPT_LEVEL = "-Oz"
_BINARY = "usr/bin/wasm-opt"


@dataclass(frozen=True)
class WasmOpt:
    key: str
    host: str
    root: Path
    version: str
    emulator: str | None = None  # WASI_HOST_EMULATOR, for another host's entry (WASI_HOST)

    @property
    def multiarch(self) -> str:
        return GLIBC_MULTIARCH[self.host]

    @property
    def library_dir(self) -> Path:
        return self.root / "usr" / "lib" / self.multiarch

    @property
    def loader(self) -> Path:
        return self.library_dir / GLIBC_LOADER[self.host]

    def command(self) -> list[str]:
        """The argv prefix that runs wasm-opt: through the pinned glibc's loader, as DebianProvider runs clang."""
        loader = [str(self.loader), "--library-path", str(self.library_dir), str(self.root / _BINARY)]
        return [self.emulator, *loader] if self.emulator else loader

    def optimize_args(self, source: str, target: str) -> list[str]:
        return [*self.command(), OPT_LEVEL, *FEATURES, source, "-o", target]

    def is_complete(self) -> bool:
        return (self.root / STAMP).is_file() and (self.root / _BINARY).is_file() and self.loader.is_file()


def key_inputs(lock: Lock, host: str, emulator: str | None = None) -> dict[str, object]:
    files = lock.wasm_opt_files(host)
    emulated: dict[str, object] = {"emulator": os.path.basename(emulator)} if emulator else {}
    return {"recipe": RECIPE_VERSION, "tool": "wasm-opt", "host": host, "version": lock.binaryen_version,
            "files": [a.sha256 for a in files], **emulated}


def plan(lock: Lock, settings: Settings, *, host: str | None = None) -> WasmOpt:
    """Key and paths of the wasm-opt entry for ``host`` (default: this machine). Pure; raises HostNotSupported
    when the lock pins no wasm-opt for the host."""
    host = host or build_host(settings.host, settings.host_emulator)
    emulator = emulator_for(host, settings.host, settings.host_emulator)
    if host not in GLIBC_MULTIARCH:
        raise HostNotSupported(
            f"WASI_OPTIMIZE='size' needs wasm-opt, and the pinned one (Debian's binaryen {lock.binaryen_version}) "
            f"runs on {', '.join(GLIBC_MULTIARCH)} only; this host is {host}",
            hint="use WASI_OPTIMIZE='speed' on this host, or build size-mode modules on a Linux host")
    inputs = key_inputs(lock, host, emulator)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    key = f"wasm-opt-{host}-{digest[:24]}"
    return WasmOpt(key=key, host=host, root=Store(settings.cache_dir).entry_path(key), version=lock.binaryen_version,
                   emulator=emulator)


# What wasm-opt loads (its NEEDED, and the loader): the rest of the runtime packages (gconv, libstdc++'s Python
# helpers, …) would be 30 MB of the entry for nothing.
_LIBRARIES = ("libbinaryen.so", "libstdc++.so.6", "libm.so.6", "libgcc_s.so.1", "libc.so.6")


def _wanted(multiarch: str, loader: str) -> Callable[[str], bool]:
    def wanted(name: str) -> bool:
        directory, _, base = name.rpartition("/")
        return name == _BINARY or (directory == f"usr/lib/{multiarch}"
                                   and (base == loader or base.startswith(_LIBRARIES)))
    return wanted


def ensure(wasm_opt: WasmOpt, lock: Lock, settings: Settings, *, log: Log = log_to_stderr) -> WasmOpt:
    """Fetch, verify and unpack the pinned binaryen and its runtime into the entry, once; check that it starts."""
    if wasm_opt.is_complete():
        return wasm_opt
    from ..store.archive import unpack
    from ..store.fetch import fetch

    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.building_entry(wasm_opt.key, f"preparing wasm-opt {wasm_opt.key}", complete=wasm_opt.is_complete,
                              log=log, kill_points="wasm-opt") as build:
        if build is None:
            return wasm_opt
        log(f"wasi: preparing wasm-opt (binaryen {wasm_opt.version}) for size mode (first use; cached in "
            f"{settings.cache_dir})")
        debs = [fetch(a, store, settings, log=log) for a in lock.wasm_opt_files(wasm_opt.host)]
        staged = WasmOpt(wasm_opt.key, wasm_opt.host, build.temp, wasm_opt.version, wasm_opt.emulator)
        for deb in debs:
            unpack(deb, build.temp, include=_wanted(staged.multiarch, staged.loader.name))
        _check_starts(staged, [d.name for d in debs])
        build.publish({"key": wasm_opt.key, **key_inputs(lock, wasm_opt.host, wasm_opt.emulator)})
    return wasm_opt


def _check_starts(staged: WasmOpt, debs: Sequence[str]) -> None:
    if not (staged.root / _BINARY).is_file() or not staged.loader.is_file():
        raise ToolchainError(f"the pinned binaryen packages ({', '.join(debs)}) have no {_BINARY} or no "
                             f"{staged.loader.name}",
                             hint="[binaryen] in toolchain.lock must pin Debian's binaryen and, as its runtime, "
                                  "libc6, libstdc++6 and libgcc-s1")
    result = subprocess.run([*staged.command(), "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise ToolchainError(
            f"Debian's wasm-opt from the pinned packages does not start through their own loader: it exited with "
            f"{result.returncode}: {result.stderr.strip()[-500:]}",
            hint="add the package that ships the missing library to `runtime` of [components.binaryen] in "
                 "toolchain.in.toml and regenerate the lock, or use WASI_OPTIMIZE='speed'")
