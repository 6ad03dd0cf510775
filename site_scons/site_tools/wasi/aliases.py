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

from wasi_toolchain.errors import WasiError

from .help import add_tool_help
from .nodes import cxx_runtime_node, size_libc_node, stop, toolchain_node

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


# -- store maintenance: `scons wasi-verify`, `scons wasi-prune`, `scons wasi-fetch-all DIR` ----------------------
# The actions are small functions over store_commands, imported when one runs: SCons computes the contents of a
# Python function action when it is created (its code, constants and nested functions), which for the bodies
# themselves cost every scons run about a millisecond.
def _verify_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from .store_commands import verify

    return verify(target, env)


def _prune_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from .store_commands import prune

    return prune(target, _planned)


def _fetch_all_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from .store_commands import fetch_all

    return fetch_all(target, env)


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
    global _symbolize_defined
    arguments = _arguments_after("wasi-symbolize")
    if arguments is None or _symbolize_defined:  # one alias, whichever environment is created first
        return
    _symbolize_defined = True
    from wasi_toolchain.targets.symbolize import USAGE  # only now: every other run need not import it
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
