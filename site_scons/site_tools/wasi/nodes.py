"""The stamp nodes of store entries (the toolchain every WASI target depends on, wasm-opt, the component tools),
and the checks of builder arguments that name the caller."""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import SCons.Action
import SCons.Errors

from wasi_toolchain.toolchain import sysroot as _sysroot
from wasi_toolchain.errors import WasiError

_ready_nodes: dict[str, Any] = {}
# This package's directory: frames in it are glue, not the user's SConstruct.
_GLUE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ensure_entry(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    """The action of every store-entry stamp node: build the entry if needed, then write its key as the stamp."""
    try:
        env["WASI_ENSURE_ENTRY"]()
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    Path(str(target[0])).write_text(env["WASI_ENTRY_KEY"] + "\n", encoding="utf-8")
    return 0


_ENSURE_ENTRY_ACTION = SCons.Action.Action(_ensure_entry, strfunction=lambda *args, **kw: None)


def _entry_node(env: Any, stamp: str, key: str, complete: bool, ensure: Callable[[], object]) -> Any:
    """A stamp node for a store entry (the toolchain, wasm-opt, the component tools): targets that need the entry
    depend on it, and its content is the entry's key, so a new pin rebuilds them. One node per key and process,
    each a source of the `wasi-toolchain` alias."""
    node = _ready_nodes.get(key)
    if node is None:
        node = env.Command(f"$WASI_STAMPDIR/{stamp}.stamp", [], _ENSURE_ENTRY_ACTION, WASI_ENSURE_ENTRY=ensure,
                           WASI_ENTRY_KEY=key)[0]
        if not complete:
            # Always built only when the entry is missing or incomplete (a few stats, here): then a stamp left
            # from before (say, the store was wiped) must not count as up to date. With a complete entry the
            # stamp is built only when it is missing or its key changed, so a null build runs no action and does
            # not rewrite .sconsign.dblite.
            env.AlwaysBuild(node)
        env.NoCache(node)
        # Every entry a target of this SConstruct needs is part of `scons wasi-toolchain`, which a CI job runs to
        # fill the store before going offline: the -Oz libc and wasm-opt of size-mode programs and the component
        # tools of wasm32-wasip2 ones too, whichever environment, Clone or builder call asked for them.
        env.Alias("wasi-toolchain", node)
        _ready_nodes[key] = node
    return node


def toolchain_node(env: Any) -> Any:
    """The stamp node every WASI target depends on; its content is the sysroot key, so a new pin rebuilds all."""
    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    node = _ready_nodes.get(toolchain.key)
    if node is not None:  # every object and program asks: the entry's four stats only for the first
        return node
    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    return _entry_node(env, f"toolchain-{toolchain.key}", toolchain.key, toolchain.is_complete(),
                       lambda: _sysroot.ensure(toolchain, lock, settings))


# Entries planned from an environment's toolchain, once per (what, toolchain or lock, store) in a build: planning
# is pure, and every object and program asks again.
_plans: dict[tuple[str, str, str], Any] = {}


def _planned_once(what: str, key: str, env: Any, plan: Callable[[], Any]) -> Any:
    cache_key = (what, key, str(env["WASI_SETTINGS"].cache_dir))
    planned = _plans.get(cache_key)
    if planned is None:
        planned = _plans[cache_key] = plan()
    return planned


def size_libc_toolchain(env: Any) -> _sysroot.Toolchain:
    """The entry of the -Oz libc for this environment's toolchain (source flavour only; sysroot.plan_size_libc,
    once per toolchain and store)."""
    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    return _planned_once("size-libc", toolchain.key, env, lambda: _sysroot.plan_size_libc(
        toolchain, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]))


def link_toolchain(env: Any, size_mode: bool) -> _sysroot.Toolchain:
    """The entry whose sysroot a program links with: in size mode with the source flavour the -Oz libc's,
    otherwise the environment's own. Debian's libc is prebuilt (at -O2), so the debian flavour has one entry."""
    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    return size_libc_toolchain(env) if size_mode and toolchain.libc == "source" else toolchain


def size_libc_node(env: Any) -> Any:
    """The stamp node of the -Oz libc's entry, which size-mode programs of the source flavour depend on: built only
    by a build that links such a program (the make of the libc takes about as long as the default entry's)."""
    entry = size_libc_toolchain(env)
    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    return _entry_node(env, f"toolchain-{entry.key}", entry.key, entry.is_complete(),
                       lambda: _sysroot.ensure(entry, lock, settings))


def cxx_runtime(env: Any) -> Any:
    """The C++ runtime with exceptions for this environment's toolchain and store (cxx_runtime.plan, once per
    pair). Raises WasiError for a toolchain it cannot be built on."""
    from wasi_toolchain.toolchain import cxx_runtime as _cxx_runtime

    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    return _planned_once("cxx-runtime", toolchain.key, env, lambda: _cxx_runtime.plan(
        toolchain, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]))


def cxx_runtime_node(env: Any) -> Any:
    """The stamp node of the C++ runtime with exceptions, which C++ objects and links with WASI_CXX_EXCEPTIONS
    depend on: built (about a minute on two cores) only by a build that has such a target."""
    from wasi_toolchain.toolchain import cxx_runtime as _cxx_runtime

    runtime = cxx_runtime(env)
    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    return _entry_node(env, f"cxx-runtime-{runtime.key}", runtime.key, runtime.is_complete(),
                       lambda: _cxx_runtime.ensure(runtime, lock, settings))


def wasm_opt_plan(env: Any) -> Any:
    """The wasm-opt entry for this environment's lock and store (wasi_toolchain.toolchain.wasm_opt.plan, once per pair).
    Raises WasiError (HostNotSupported) on a host the pin does not cover."""
    from wasi_toolchain.toolchain import wasm_opt as _wasm_opt

    lock = env["WASI_LOCK_DATA"]
    return _planned_once("wasm-opt", lock.digest, env, lambda: _wasm_opt.plan(
        lock, env["WASI_SETTINGS"], host=env["WASI_TOOLCHAIN"].host))


def wasm_opt_node(env: Any) -> Any:
    """The stamp node of the wasm-opt entry, which size-mode programs depend on: built (fetch and unpack) only by
    a build that has such a program."""
    from wasi_toolchain.toolchain import wasm_opt as _wasm_opt

    tool = wasm_opt_plan(env)
    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    return _entry_node(env, tool.key, tool.key, tool.is_complete(), lambda: _wasm_opt.ensure(tool, lock, settings))


def component_tools_plan(env: Any) -> Any:
    """The component tools entry (WASI_TARGET='wasm32-wasip2') for this environment's lock and store
    (component_tools.plan, once per pair): planned when a component first asks, not at start-up. Raises WasiError
    when the lock or this host has none."""
    from wasi_toolchain.toolchain import component_tools

    lock = env["WASI_LOCK_DATA"]
    return _planned_once("component-tools", lock.digest, env, lambda: component_tools.plan(lock, env["WASI_SETTINGS"]))


def component_tools_node(env: Any) -> Any:
    """The stamp node every component depends on. Stops the read naming the caller when this lock or host has no
    component tools."""
    from wasi_toolchain.toolchain import component_tools

    try:
        tools = component_tools_plan(env)
    except WasiError as e:
        stop(f"{caller()}: {e}")
    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    return _entry_node(env, tools.key, tools.key, tools.is_complete(),
                       lambda: component_tools.ensure(tools, lock, settings))


def _caller_frame() -> types.FrameType | None:
    """The innermost frame outside SCons and this package: the builder call in the user's SConstruct or SConscript."""
    frame: types.FrameType | None = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if os.path.dirname(os.path.abspath(filename)) != _GLUE_DIR and f"{os.sep}SCons{os.sep}" not in filename:
            return frame
        frame = frame.f_back
    return None


def caller() -> str:
    """``SConstruct:12``: where the user's SConstruct or SConscript called the tool (see _caller_frame)."""
    frame = _caller_frame()
    if frame is None:
        return "SConstruct"
    try:
        name = os.path.relpath(frame.f_code.co_filename)
    except ValueError:  # another drive on Windows
        name = frame.f_code.co_filename
    return f"{name}:{frame.f_lineno}"


def checked(check: Any, *args: Any) -> Any:
    """Run a buildvars check while a builder is being called; a bad value names the caller's file and line."""
    try:
        return check(*args)
    except WasiError as e:
        stop(f"{caller()}: {e}")


def stop(message: str) -> NoReturn:
    """Stop while the SConstruct is read, with ``scons: *** <message>`` and exit status 2 as for a UserError, but
    without the ``File "…", line …`` line SCons adds to one (Script/Main.py, _scons_user_error): that names the
    innermost frame outside SCons, which is this glue, never the user's line; our messages name it themselves
    (``SConstruct:12: …``, see caller()). SystemExit is how SCons itself ends quietly with a status."""
    sys.stdout.flush()
    sys.stderr.write(f"\nscons: *** {message}\n")
    sys.stderr.flush()
    raise SystemExit(2)
