"""The toolchain entry: pinned LLVM + private resource dir + a libc flavour + libc++, under one content key.

``plan()`` is pure and cheap (it reads nothing but the already-parsed lock), so SCons can put the key and paths
into every command line at start-up. ``ensure()`` does the cold work once per key, behind a store lock, and
publishes the entry atomically; a warm call only checks the stamp file. The steps are one module each (see
entry.py); this one orders them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..settings import Settings
from ..errors import ToolchainError
from ..host import build_host, detect_libc, emulator_for
from ..killpoints import kill_point
from .llvm import provider_class
from ..pins.toolchain_lock import Lock
from .entry import LIBC_FLAVOURS, TARGET, LibcFlavour, LibcOptimize, Timings, Toolchain, run_tool
from ..store.store import Store, remove_tree
from ..log import Log, log_to_stderr

if TYPE_CHECKING:
    from concurrent.futures import Future

# Only what plan() and a warm ensure() need is imported above: SCons imports this module at every start-up. The
# cold path's modules (fetch pulls in urllib, http.client, ssl and email; archive pulls in tarfile, zipfile and the
# compressors; the recipe steps) are imported inside the functions that use them.

# Bump when anything below changes what ends up in an entry: it is part of the key.
RECIPE_VERSION = 3

__all__ = ["RECIPE_VERSION", "TARGET", "Toolchain", "Timings", "ensure", "key_inputs", "plan", "plan_size_libc"]


def key_inputs(lock: Lock, host: str, provider: str, libc: LibcFlavour = "debian",
               libc_optimize: LibcOptimize = "speed", emulator: str | None = None) -> dict[str, object]:
    """Everything that shapes an entry. The lock's own digest is not used: comments and other hosts' pins must
    not change this host's key, and neither must the pins of the libc flavour not used.

    ``libc_optimize='size'`` (source flavour only) gives the inputs of the -Oz libc's entry: the same, with the -Oz
    make variables, plus a field saying so. The default leaves the inputs, and so every existing key, as they were
    before that entry existed."""
    if libc_optimize == "size" and libc != "source":
        raise ToolchainError("only the source libc flavour can be built for size; Debian's libc is prebuilt",
                             hint="this is a bug in scons-wasi: size mode keeps the debian flavour's libc as is")
    libc_inputs: dict[str, object] = {"flavour": "debian", "sha256": lock.wasi_libc.sha256}
    if libc != "debian":
        from .libc_source import APPENDED_FLAGS, make_variables  # the source flavour's only: not every start-up's

        libc_inputs = {"flavour": "source", "sha256": lock.wasi_libc_source.sha256,
                       "make": make_variables(libc_optimize), "appended-flags": list(APPENDED_FLAGS)}
    size_only: dict[str, object] = {"libc-optimize": "size"} if libc_optimize == "size" else {}
    # The wrappers of an emulated entry (WASI_HOST_EMULATOR) start the emulator: not the host's own entry.
    emulated: dict[str, object] = {"emulator": os.path.basename(emulator)} if emulator else {}
    return {
        **size_only,
        **emulated,
        "recipe": RECIPE_VERSION,
        "host": host,
        "provider": provider,
        "llvm": {"version": lock.llvm_version, "files": [a.sha256 for a in lock.llvm_files(host, provider)]},
        "builtins": {"sha256": lock.builtins.sha256, "member": lock.builtins_member},
        "wasi-libc": libc_inputs,
        "libcxx": {"files": [a.sha256 for a in lock.libcxx.files], "headers": lock.libcxx.headers,
                   "libraries": lock.libcxx.libraries},
        "target": TARGET,
    }


def plan(lock: Lock, settings: Settings, *, host: str | None = None, provider: str | None = None,
         libc: str | None = None) -> Toolchain:
    """Key and paths of the entry for ``host`` (default: this machine), ``provider`` (default: the explicit
    argument, then WASI_LLVM_PROVIDER, then the lock's default for the host) and ``libc`` flavour (the explicit
    argument, then WASI_LIBC, then 'debian')."""
    this_machine = host is None
    host = host or build_host(settings.host, settings.host_emulator)
    emulator = emulator_for(host, settings.host, settings.host_emulator)
    provider = provider or settings.provider or lock.host_pins(host).default_provider
    flavour = libc_flavour(libc or settings.libc or "debian")
    # HostNotSupported if the lock has no such provider
    inputs = key_inputs(lock, host, provider, flavour, emulator=emulator)
    if this_machine:
        provider_class(provider).check_runs_here(host, detect_libc() if host.startswith("linux-") else None)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    key = f"{provider}-{host}-{digest[:24]}" if flavour == "debian" else f"{provider}-{flavour}-{host}-{digest[:24]}"
    return Toolchain(key=key, provider=provider, host=host, root=Store(settings.cache_dir).entry_path(key),
                     libc=flavour, emulator=emulator)


def plan_size_libc(base: Toolchain, lock: Lock, settings: Settings) -> Toolchain:
    """Key and paths of the entry holding the -Oz build of ``base``'s libc (WASI_OPTIMIZE='size' with the source
    flavour). Pure, like plan(). That entry holds only a sysroot (the libc at -Oz, the same headers, libc++); its
    clang, wasm-ld and resource dir are ``base``'s, which it names as its base. Its key is computed from the same
    inputs as ``base``'s plus the -Oz make variables, so anything that changes ``base``'s key changes it too."""
    if base.libc != "source" or base.base is not None:
        raise ToolchainError(f"the toolchain {base.key} has no libc to build for size: only the source flavour's "
                             f"default entry has one (Debian's libc is prebuilt)",
                             hint="this is a bug in scons-wasi: size mode keeps the debian flavour's libc as is")
    inputs = key_inputs(lock, base.host, base.provider, base.libc, "size", emulator=base.emulator)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    key = f"{base.provider}-{base.libc}-size-{base.host}-{digest[:24]}"
    return Toolchain(key=key, provider=base.provider, host=base.host, root=Store(settings.cache_dir).entry_path(key),
                     libc=base.libc, base=base, emulator=base.emulator)


def libc_flavour(value: str) -> LibcFlavour:
    for flavour in LIBC_FLAVOURS:
        if value == flavour:
            return flavour
    raise ToolchainError(f"WASI_LIBC: expected one of {', '.join(repr(f) for f in LIBC_FLAVOURS)}, got {value!r}",
                         hint="'debian' (the default) uses Debian's prebuilt wasi-libc; 'source' builds the 2022 "
                              "wasi-libc source with make")


def ensure(toolchain: Toolchain, lock: Lock, settings: Settings, *, log: Log = log_to_stderr) -> Toolchain:
    """Make sure the entry exists and is complete; build it if not. Returns ``toolchain``."""
    if toolchain.is_complete():
        return toolchain
    if toolchain.base is not None:
        return _ensure_size_libc(toolchain, lock, settings, log)
    from concurrent.futures import ThreadPoolExecutor

    from ..log import one_line_at_a_time
    from ..store.background import BackgroundFetch
    from ..store.fetch import fetch

    log = one_line_at_a_time(log)  # two lanes log below
    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.building_entry(toolchain.key, f"building the sysroot {toolchain.key}", complete=toolchain.is_complete,
                              log=log, kill_points="sysroot") as build:
        if build is None:
            return toolchain  # another process built it while we waited
        store.sweep_stale(log)  # what killed runs left elsewhere in the store (other pins, other keys)
        started = time.monotonic()
        timings = Timings()
        log(f"wasi: preparing toolchain {toolchain.key} (first use; it is cached in {settings.cache_dir})")
        libc_artifact = lock.wasi_libc if toolchain.libc == "debian" else lock.wasi_libc_source
        staged = dataclasses.replace(toolchain, root=build.temp)
        # The LLVM files (the wheel: most of a cold start's download) come in a lane of their own while the small
        # pins are fetched. Debian's libc and libc++ need no clang: they are unpacked into the entry in a thread of
        # their own, beside the LLVM download and then beside LLVM's own unpacking. Either side's error ends both.
        beside = Timings()
        with BackgroundFetch(lock.llvm_files(toolchain.host, toolchain.provider), store, settings,
                             log=log) as llvm_lane, ThreadPoolExecutor(1, thread_name_prefix="wasi-unpack") as pool:
            with timings.phase("fetch"):
                builtins_deb = fetch(lock.builtins, store, settings, log=log)
                libc_file = fetch(libc_artifact, store, settings, log=log)
                libcxx_debs = [fetch(a, store, settings, log=log) for a in lock.libcxx.files]
            llvm_lane.check()
            build.temp.mkdir(parents=True)
            side = (pool.submit(_install_debian_parts, staged, lock, libc_file, libcxx_debs, log, beside)
                    if toolchain.libc == "debian" else None)
            with timings.phase("fetch"):  # what is left of the LLVM download once the rest is under way
                llvm_files = llvm_lane.result(while_waiting=lambda: _raise_if_failed(side))
            _install_llvm(staged, lock, llvm_files, builtins_deb, log, timings)
            if side is not None:
                with timings.phase("unpack"):  # what is left of Debian's libc and libc++ once LLVM is in
                    side.result()
        timings.alongside("LLVM fetch", llvm_lane.seconds)
        if side is not None:
            timings.alongside("libc and libc++", sum(beside.seconds.values()))
        kill_point("sysroot.llvm-installed")
        if toolchain.libc == "source":  # built with the pinned clang: after LLVM
            from . import libc_source

            libc_source.build(staged, libc_file, settings, store, log, timings)
        _add_extra_symbols(staged, log, timings)
        if toolchain.libc == "source":
            _install_libcxx(staged, lock, libcxx_debs, log, timings)
        kill_point("sysroot.built")
        # The timings are a record for bench/cold_floor.py and `scons --wasi-timings`, not an input: the key is
        # computed from key_inputs.
        build.publish(lambda: {"key": toolchain.key,
                               **key_inputs(lock, toolchain.host, toolchain.provider, toolchain.libc,
                                            emulator=toolchain.emulator),
                               **timings.stamp_fields(time.monotonic() - started)}, timed=timings.phase)
        # Where a cold start went, phase by phase (also kept in the entry's stamp, "timings").
        log(f"wasi: toolchain {toolchain.key} ready in {time.monotonic() - started:.1f} s ({timings.summary()})")
    return toolchain


def _ensure_size_libc(toolchain: Toolchain, lock: Lock, settings: Settings, log: Log) -> Toolchain:
    """The -Oz libc's entry: its base first (whose clang builds it), then the libc at -Oz, the extra symbols and
    libc++ into a sysroot of its own, built and published like any entry (Store.building_entry)."""
    from ..store.fetch import fetch

    assert toolchain.base is not None
    ensure(toolchain.base, lock, settings, log=log)
    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.building_entry(toolchain.key, f"building the -Oz libc {toolchain.key}", complete=toolchain.is_complete,
                              log=log, kill_points="size-libc") as build:
        if build is None:
            return toolchain
        started = time.monotonic()
        timings = Timings()
        log(f"wasi: preparing the -Oz libc {toolchain.key} for WASI_OPTIMIZE='size' (first use; it is cached in "
            f"{settings.cache_dir})")
        with timings.phase("fetch"):  # already in the store: the base entry was built from the same files
            libc_file = fetch(lock.wasi_libc_source, store, settings, log=log)
            libcxx_debs = [fetch(a, store, settings, log=log) for a in lock.libcxx.files]
        staged = dataclasses.replace(toolchain, root=build.temp)
        build.temp.mkdir(parents=True)
        _install_libc(staged, lock, libc_file, settings, store, log, timings)
        _install_libcxx(staged, lock, libcxx_debs, log, timings)
        inputs = key_inputs(lock, toolchain.host, toolchain.provider, toolchain.libc, "size",
                            emulator=toolchain.emulator)
        build.publish(lambda: {"key": toolchain.key, "base": toolchain.base.key, **inputs,  # type: ignore[union-attr]
                               "timings": timings.rounded()}, timed=timings.phase)
        log(f"wasi: -Oz libc {toolchain.key} ready in {time.monotonic() - started:.1f} s")
    return toolchain


def _install_llvm(staged: Toolchain, lock: Lock, llvm_files: list[Path], builtins_deb: Path, log: Log,
                  timings: Timings | None = None) -> None:
    from ..store.archive import unpack
    from .llvm import get_provider

    timings = timings or Timings()

    log(f"wasi: unpacking LLVM {lock.llvm_version} ({staged.provider}) and compiler-rt builtins")
    scratch = staged.root / "build-builtins"
    member = lock.builtins_member.lstrip("./")
    with timings.phase("unpack"):
        unpack(builtins_deb, scratch, include=lambda name: name == member)
    builtins_archive = scratch / member
    if not builtins_archive.is_file():
        raise ToolchainError(
            f"{lock.builtins.name} (sha256 {lock.builtins.sha256}) has no member {lock.builtins_member}",
            hint="builtins.member in toolchain.lock must name libclang_rt.builtins-wasm32.a inside that package",
        )
    with timings.phase("unpack"):
        get_provider(staged.provider, staged.host, staged.emulator).install(llvm_files, staged.root, builtins_archive)
    # Ask clang itself where it will look, so a layout mistake surfaces here and never as a wasm-ld error.
    found = run_tool([str(staged.clang), f"--target={TARGET}", "-print-libgcc-file-name"], "locating the builtins",
                     cwd=staged.root).strip()
    if not Path(found).is_file():
        raise ToolchainError(f"clang looks for the builtins at {found}, which the recipe did not create",
                             hint="this is a bug in the recipe; please report it with the clang version")
    remove_tree(scratch)


def _install_libc(staged: Toolchain, lock: Lock, libc_file: Path, settings: Settings, store: Store, log: Log,
                  timings: Timings) -> None:
    """The libc flavour's step, then the symbols the pinned parts need from it."""
    if staged.libc == "debian":
        _install_debian_libc(staged, lock, libc_file, log, timings)
    else:
        from . import libc_source

        libc_source.build(staged, libc_file, settings, store, log, timings)
    _add_extra_symbols(staged, log, timings)


def _install_debian_libc(staged: Toolchain, lock: Lock, libc_file: Path, log: Log, timings: Timings) -> None:
    """Debian's prebuilt libc: unpacked and copied, no clang needed."""
    from . import libc_debian

    libc_debian.install(staged, lock, libc_file, log, timings)


def _install_debian_parts(staged: Toolchain, lock: Lock, libc_file: Path, libcxx_debs: list[Path], log: Log,
                          timings: Timings) -> None:
    """Debian's libc, then libc++ into it: what needs no clang, so it runs beside the LLVM download and unpacking."""
    _install_debian_libc(staged, lock, libc_file, log, timings)
    _install_libcxx(staged, lock, libcxx_debs, log, timings)


def _raise_if_failed(side: Future[None] | None) -> None:
    """Raise the error of the work beside, if it has already failed (so a bad libc does not wait for LLVM)."""
    if side is not None and side.done() and (error := side.exception()) is not None:
        raise error


def _add_extra_symbols(staged: Toolchain, log: Log, timings: Timings) -> None:
    """What the pinned parts need from libc.a, compiled with the pinned clang."""
    from . import extra_symbols

    extra_symbols.add(staged, staged.libc, log, timings)


def _install_libcxx(staged: Toolchain, lock: Lock, debs: list[Path], log: Log, timings: Timings) -> None:
    from . import libcxx

    libcxx.install(staged, lock, debs, log, timings)
