"""Aliases: `wasi-toolchain`, `wasi-cache-key`, `wasi-timings`, the store commands `wasi-verify`, `wasi-prune` and
`wasi-fetch-all DIR`, and `wasi-symbolize MODULE [TRAP_FILE]`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import SCons.Action
import SCons.Errors
import SCons.Script

from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import WasiError

from .command_line import prune_options
from .help import add_tool_help
from .nodes import cxx_runtime, cxx_runtime_node, size_libc_node, size_libc_toolchain, stop, toolchain_node

_aliases_defined: set[str] = set()
# Every toolchain a generate() call planned in this run, by key: `scons wasi-prune` keeps these by default. Its
# action runs after all SConscripts are read, so it sees the environments of every one of them.
_planned: dict[str, Any] = {}
_prune_defined = False
_symbolize_defined = False


def _size_libc_wanted(env: Any) -> bool:
    """Whether the environment itself (not one builder call) is in size mode with the source flavour."""
    from wasi_toolchain.targets import buildvars

    try:
        size = buildvars.optimize(env.get("WASI_OPTIMIZE", "speed")) == "size"
    except WasiError:
        return False  # a bad value: the builders report it with the SConstruct line
    return size and env["WASI_TOOLCHAIN"].libc == "source"


def _cxx_runtime_wanted(env: Any) -> bool:
    """Whether the environment itself (not one builder call) has WASI_CXX_EXCEPTIONS on, for a toolchain the runtime
    is built on."""
    from wasi_toolchain.targets import buildvars

    try:
        return buildvars.cxx_exceptions(env.get("WASI_CXX_EXCEPTIONS", False), env.subst("$WASI_TARGET"),
                                        env["WASI_TOOLCHAIN"].libc)
    except WasiError:
        return False  # a bad value or an unsupported target: the builders report it with the SConstruct line


def _print_key(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    print(env["WASI_SYSROOT_KEY"])
    return 0


def _print_timings(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    import json

    from wasi_toolchain.store.store import STAMP
    from wasi_toolchain.toolchain.entry import Timings

    toolchain = env["WASI_TOOLCHAIN"]
    try:
        stamp = json.loads((toolchain.root / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        print(f"wasi: toolchain {toolchain.key} has no readable {STAMP} in {toolchain.root}")
        return 0
    total = stamp.get("timings-total")
    took = f" in {total:.1f} s" if isinstance(total, (int, float)) else ""
    print(f"wasi: toolchain {toolchain.key} was built{took} ({Timings.from_stamp(stamp).summary() or 'no timings'})")
    return 0


def define_aliases(env: Any) -> None:
    add_tool_help()
    key = env["WASI_SYSROOT_KEY"]
    _planned.setdefault(key, env)
    if _size_libc_wanted(env):
        size_libc_node(env)  # what this environment's programs link with; the node joins `wasi-toolchain`
    if _cxx_runtime_wanted(env):
        cxx_runtime_node(env)  # likewise the C++ runtime of an environment created with WASI_CXX_EXCEPTIONS on
    if key in _aliases_defined:
        return
    _aliases_defined.add(key)
    # The node joins `wasi-toolchain`, as does each entry a builder call asks for (nodes._entry_node).
    ready = toolchain_node(env)
    env.AlwaysBuild(env.Alias("wasi-cache-key", [], SCons.Action.Action(_print_key, strfunction=lambda *a, **k: None)))
    # After the entry is ready (built now if it was not): where its cold start went, from its stamp.
    env.AlwaysBuild(env.Alias("wasi-timings", [ready],
                              SCons.Action.Action(_print_timings, strfunction=lambda *a, **k: None)))
    _define_store_aliases(env)
    _define_symbolize_alias(env)


# -- store maintenance: `scons wasi-verify`, `scons wasi-fetch-all DIR` ------------------------------------------
def _report(message: str) -> None:
    print(message, flush=True)


def _verify_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.store.store import Store
    from wasi_toolchain.store.verify import verify_store

    settings: Settings = env["WASI_SETTINGS"]
    try:
        verify_store(Store(settings.cache_dir, lock_timeout=settings.lock_timeout), env["WASI_LOCK_DATA"],
                     log=_report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    return 0


def _prune_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.toolchain import sysroot
    from wasi_toolchain.store.prune import Keep, check_key, needs_of, prune_store
    from wasi_toolchain.store.store import Store

    def needs(planned_env: Any) -> frozenset[str]:
        toolchain = planned_env["WASI_TOOLCHAIN"]
        return needs_of(sysroot.key_inputs(planned_env["WASI_LOCK_DATA"], toolchain.host, toolchain.provider))

    keys, dry_run = prune_options()
    try:
        if keys:
            keep = [Keep(check_key(key), "named with --wasi-keep", needs(_planned[key]) if key in _planned else None)
                    for key in keys]
        else:
            keep = [Keep(key, "a key this SConstruct uses", needs(planned_env))
                    for key, planned_env in _planned.items()]
            keep += _tool_entries_kept(keep)
        # Each environment may name its own store (WASI_CACHE_DIR, or the tool's cache_dir keyword): prune each.
        stores = {planned_env["WASI_SETTINGS"].cache_dir: planned_env["WASI_SETTINGS"].lock_timeout
                  for planned_env in _planned.values()}
        for cache_dir, lock_timeout in sorted(stores.items()):
            prune_store(Store(cache_dir, lock_timeout=lock_timeout), keep, dry_run=dry_run, log=_report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    return 0


def _tool_entries_kept(kept: Sequence[Any]) -> list[Any]:
    """The entries of the tools some targets need beside the toolchain, when they are built: the component tools
    (WASI_TARGET='wasm32-wasip2'), wasm-opt (WASI_OPTIMIZE='size', when the lock pins it for the host), the -Oz
    libc (WASI_OPTIMIZE='size' with the source flavour) and the C++ runtime (WASI_CXX_EXCEPTIONS). Rebuilding them means downloading or building them again."""
    from wasi_toolchain.toolchain import component_tools, cxx_runtime as _cxx_runtime, sysroot, wasm_opt
    from wasi_toolchain.store.prune import Keep, needs_of

    keys = {k.key for k in kept}
    result = []
    for planned_env in _planned.values():
        lock, host = planned_env["WASI_LOCK_DATA"], planned_env["WASI_TOOLCHAIN"].host
        candidates: list[tuple[Any, str, dict[str, object]]] = []
        tools = planned_env.get("WASI_COMPONENT_TOOLS")
        if isinstance(tools, component_tools.ComponentTools):
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


def _fetch_all_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.store.distdir import fill_distdir

    try:
        filled = fill_distdir(env["WASI_LOCK_DATA"], Path(env["WASI_FETCH_ALL_DIR"]), env["WASI_SETTINGS"],
                              log=_report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    _report(f"wasi-fetch-all: {len(filled)} pinned files in {env['WASI_FETCH_ALL_DIR']}; copy it to the offline "
            f"machine and set WASI_DISTDIR to it there")
    return 0


def _fetch_all_dir() -> str | None:
    """The DIR of `scons wasi-fetch-all DIR` (the command-line target after the alias); None without the alias."""
    arguments = _arguments_after("wasi-fetch-all")
    return None if arguments is None else arguments[0] if arguments else ""


def _arguments_after(alias: str) -> list[str] | None:
    """The command-line targets after ``alias`` (its arguments); None when the alias is not on the command line."""
    targets = list(SCons.Script.COMMAND_LINE_TARGETS)
    if alias not in targets:
        return None
    return targets[targets.index(alias) + 1:]


# -- `scons wasi-symbolize MODULE [TRAP_FILE]` ----------------------------------------------------------------------
def _symbolize_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    import sys

    from wasi_toolchain.errors import RunError
    from wasi_toolchain.targets.symbolize import symbolized

    def fail(message: str) -> SCons.Errors.BuildError:
        return SCons.Errors.BuildError(node=target[0], errstr=f"wasi-symbolize: {message}", exitstatus=2)

    if env["WASI_SYMBOLIZE_ERROR"]:
        raise fail(env["WASI_SYMBOLIZE_ERROR"])
    module, trap_file = env["WASI_SYMBOLIZE_MODULE"], env["WASI_SYMBOLIZE_TEXT"]
    try:
        text = Path(trap_file).read_text(encoding="utf-8", errors="replace") if trap_file else sys.stdin.read()
    except OSError as e:
        raise fail(f"cannot read the trap text: {e}") from None
    try:
        sys.stdout.write(symbolized(Path(module), text))
    except RunError as e:
        raise fail(str(e)) from None
    sys.stdout.flush()
    return 0


def _define_symbolize_alias(env: Any) -> None:
    """`scons wasi-symbolize MODULE [TRAP_FILE]`: the trap text (the file, or stdin) with MODULE's function names.
    MODULE is built first when the SConstruct builds it, so its names file is current. A wrong argument is reported
    by the alias's action, as `scons: *** [wasi-symbolize] …`."""
    from wasi_toolchain.targets.symbolize import USAGE

    global _symbolize_defined
    arguments = _arguments_after("wasi-symbolize")
    if arguments is None or _symbolize_defined:  # one alias, whichever environment is created first
        return
    _symbolize_defined = True
    launch = SCons.Script.GetLaunchDir()
    error, sources, module_path, trap_file = "", [], "", ""
    if len(arguments) not in (1, 2):
        error = f"it needs a module, and optionally a file holding the trap text: scons wasi-symbolize {USAGE}"
    else:
        module = env.File(os.path.join(launch, arguments[0]))
        # The program's one link action writes the names file too, so depending on the module is enough.
        sources, module_path = [module], module.abspath
        trap_file = os.path.join(launch, arguments[1]) if len(arguments) == 2 else ""
        if trap_file and not os.path.isfile(trap_file):
            error = (f"the trap text file {arguments[1]} does not exist\n  next step: save the backtrace to it, or "
                     f"pipe the text in: scons wasi-symbolize {arguments[0]} < trap.txt")
            sources = []
    symbolize = env.Alias("wasi-symbolize", sources,
                          SCons.Action.Action(_symbolize_action, strfunction=lambda *args, **kw: None),
                          WASI_SYMBOLIZE_MODULE=module_path, WASI_SYMBOLIZE_TEXT=trap_file,
                          WASI_SYMBOLIZE_ERROR=error)
    env.AlwaysBuild(symbolize)
    # The arguments are command-line targets as well. Taken out of the targets to build, SCons neither reports them
    # ("is up to date") nor looks for a way to build the text file; the module is built as the alias's source. (An
    # alias of the module's name would not do: SCons would resolve the program's own target to that alias.)
    for argument in arguments:
        while argument in SCons.Script.BUILD_TARGETS:
            SCons.Script.BUILD_TARGETS.remove(argument)


def _define_store_aliases(env: Any) -> None:
    quiet = lambda *args, **kw: None  # noqa: E731 - the actions print their own report
    env.AlwaysBuild(env.Alias("wasi-verify", [], SCons.Action.Action(_verify_action, strfunction=quiet)))
    global _prune_defined
    if not _prune_defined:  # one action for every environment: it prunes with all their keys at once
        _prune_defined = True
        env.AlwaysBuild(env.Alias("wasi-prune", [], SCons.Action.Action(_prune_action, strfunction=quiet)))
    directory = _fetch_all_dir()
    if directory is None:
        return
    if not directory:
        stop("wasi-fetch-all needs the directory to fill: scons wasi-fetch-all DIR")
    path = os.path.join(SCons.Script.GetLaunchDir(), directory)
    fetch_all = env.Alias("wasi-fetch-all", [], SCons.Action.Action(_fetch_all_action, strfunction=quiet),
                          WASI_FETCH_ALL_DIR=path)
    env.AlwaysBuild(fetch_all)
    # DIR is a command-line target as well: an alias of that name keeps SCons from looking for a file to build.
    env.Alias(directory, fetch_all)
