"""The store commands' actions: `scons wasi-verify`, `scons wasi-prune` and `scons wasi-fetch-all DIR`. Imported only
when one of them runs (aliases.py defines the aliases, with small actions that call these)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SCons.Errors

from wasi_toolchain.errors import WasiError
from wasi_toolchain.settings import Settings

from .command_line import prune_options
from .nodes import component_tools_plan, cxx_runtime, size_libc_toolchain


def report(message: str) -> None:
    print(message, flush=True)


def verify(target: Sequence[Any], env: Any) -> int:
    """`scons wasi-verify`: re-hash the store against the lock."""
    from wasi_toolchain.store.store import Store
    from wasi_toolchain.store.verify import verify_store

    settings: Settings = env["WASI_SETTINGS"]
    try:
        verify_store(Store(settings.cache_dir, lock_timeout=settings.lock_timeout), env["WASI_LOCK_DATA"],
                     log=report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    return 0


def prune(target: Sequence[Any], planned: Mapping[str, Any]) -> int:
    """`scons wasi-prune`: keep what the ``planned`` environments' keys (or --wasi-keep's) need."""
    from wasi_toolchain.toolchain import sysroot
    from wasi_toolchain.store.prune import Keep, check_key, needs_of, prune_store
    from wasi_toolchain.store.store import Store

    def needs(planned_env: Any) -> frozenset[str]:
        toolchain = planned_env["WASI_TOOLCHAIN"]
        return needs_of(sysroot.key_inputs(planned_env["WASI_LOCK_DATA"], toolchain.host, toolchain.provider))

    keys, dry_run = prune_options()
    try:
        if keys:
            keep = [Keep(check_key(key), "named with --wasi-keep", needs(planned[key]) if key in planned else None)
                    for key in keys]
        else:
            keep = [Keep(key, "a key this SConstruct uses", needs(planned_env))
                    for key, planned_env in planned.items()]
            keep += _tool_entries_kept(keep, planned)
        # Each environment may name its own store (WASI_CACHE_DIR, or the tool's cache_dir keyword): prune each.
        stores = {planned_env["WASI_SETTINGS"].cache_dir: planned_env["WASI_SETTINGS"].lock_timeout
                  for planned_env in planned.values()}
        for cache_dir, lock_timeout in sorted(stores.items()):
            prune_store(Store(cache_dir, lock_timeout=lock_timeout), keep, dry_run=dry_run, log=report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    return 0


def _tool_entries_kept(kept: Sequence[Any], planned: Mapping[str, Any]) -> list[Any]:
    """The entries of the tools some targets need beside the toolchain, when they are built: the component tools
    (WASI_TARGET='wasm32-wasip2'), wasm-opt (WASI_OPTIMIZE='size', when the lock pins it for the host), the -Oz
    libc (WASI_OPTIMIZE='size' with the source flavour) and the C++ runtime (WASI_CXX_EXCEPTIONS). Rebuilding them
    means downloading or building them again."""
    from wasi_toolchain.toolchain import component_tools, cxx_runtime as _cxx_runtime, sysroot, wasm_opt
    from wasi_toolchain.store.prune import Keep, needs_of

    keys = {k.key for k in kept}
    result = []
    for planned_env in planned.values():
        lock, host = planned_env["WASI_LOCK_DATA"], planned_env["WASI_TOOLCHAIN"].host
        candidates: list[tuple[Any, str, dict[str, object]]] = []
        try:
            tools = component_tools_plan(planned_env)
        except WasiError:  # this lock or host has none: no component could have been built
            tools = None
        if tools is not None:
            candidates.append((tools, "the component tools of this SConstruct's wasm32-wasip2 targets",
                               component_tools.key_inputs(lock, tools.host)))
        if lock.binaryen_hosts.get(host):
            optimizer = wasm_opt.plan(lock, planned_env["WASI_SETTINGS"], host=host)
            candidates.append((optimizer, "wasm-opt for this SConstruct's size-mode targets",
                               wasm_opt.key_inputs(lock, host)))
        toolchain = planned_env["WASI_TOOLCHAIN"]
        if toolchain.libc == "source":  # size mode may be set per builder call, so any source-flavour environment
            size_libc = size_libc_toolchain(planned_env)
            candidates.append((size_libc, "the -Oz libc of this SConstruct's size-mode targets",
                               sysroot.key_inputs(lock, host, toolchain.provider, toolchain.libc, "size")))
        if toolchain.libc == "debian":  # WASI_CXX_EXCEPTIONS may be set per builder call, so any such environment
            try:
                runtime = cxx_runtime(planned_env)
            except WasiError:  # no ziglang wheel pinned for this host: no runtime could have been built
                runtime = None
            if runtime is not None:
                candidates.append((runtime, "the C++ runtime of this SConstruct's WASI_CXX_EXCEPTIONS targets",
                                   _cxx_runtime.key_inputs(runtime.base, runtime.source)))
        for entry, why, inputs in candidates:
            if entry.key not in keys and entry.is_complete():
                keys.add(entry.key)
                result.append(Keep(entry.key, why, needs_of(inputs)))
    return result


def fetch_all(target: Sequence[Any], env: Any) -> int:
    """`scons wasi-fetch-all DIR`: every pinned file for every host into DIR."""
    from wasi_toolchain.store.distdir import fill_distdir

    try:
        filled = fill_distdir(env["WASI_LOCK_DATA"], Path(env["WASI_FETCH_ALL_DIR"]), env["WASI_SETTINGS"],
                              log=report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    report(f"wasi-fetch-all: {len(filled)} pinned files in {env['WASI_FETCH_ALL_DIR']}; copy it to the offline "
           f"machine and set WASI_DISTDIR to it there")
    return 0
