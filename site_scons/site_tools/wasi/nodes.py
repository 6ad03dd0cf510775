"""The toolchain node every WASI target depends on, and the checks of builder arguments that name the caller."""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Sequence
from typing import Any

import SCons.Action
import SCons.Errors

from wasi_toolchain import sysroot as _sysroot
from wasi_toolchain.errors import WasiError

_ready_nodes: dict[str, Any] = {}
# This package's directory: frames in it are glue, not the user's SConstruct.
_GLUE_DIR = os.path.dirname(os.path.abspath(__file__))


def _ensure_toolchain(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    try:
        _sysroot.ensure(toolchain, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    Path(str(target[0])).write_text(toolchain.key + "\n", encoding="utf-8")
    return 0


_ENSURE_ACTION = SCons.Action.Action(_ensure_toolchain, strfunction=lambda *args, **kw: None)


def toolchain_node(env: Any) -> Any:
    """The stamp node every WASI target depends on; its content is the sysroot key, so a new pin rebuilds all."""
    key = env["WASI_SYSROOT_KEY"]
    node = _ready_nodes.get(key)
    if node is None:
        node = env.Command(f"$WASI_STAMPDIR/toolchain-{key}.stamp", [], _ENSURE_ACTION)[0]
        if not env["WASI_TOOLCHAIN"].is_complete():
            # Always built only when the entry is missing or incomplete (four stats, here): then a stamp left
            # from before (say, the store was wiped) must not count as up to date. With a complete entry the
            # stamp is built only when it is missing or its key changed, so a null build runs no action and does
            # not rewrite .sconsign.dblite.
            env.AlwaysBuild(node)
        env.NoCache(node)
        _ready_nodes[key] = node
    return node


def _ensure_wasm_opt(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain import wasm_opt as _wasm_opt

    tool = wasm_opt_plan(env)
    try:
        _wasm_opt.ensure(tool, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    Path(str(target[0])).write_text(tool.key + "\n", encoding="utf-8")
    return 0


_ENSURE_WASM_OPT_ACTION = SCons.Action.Action(_ensure_wasm_opt, strfunction=lambda *args, **kw: None)
_wasm_opt_plans: dict[tuple[str, str], Any] = {}


def wasm_opt_plan(env: Any) -> Any:
    """The wasm-opt entry for this environment's lock and store (wasi_toolchain.wasm_opt.plan, once per pair).
    Raises WasiError (HostNotSupported) on a host the pin does not cover."""
    from wasi_toolchain import wasm_opt as _wasm_opt

    lock, settings = env["WASI_LOCK_DATA"], env["WASI_SETTINGS"]
    cache_key = (lock.digest, str(settings.cache_dir))
    tool = _wasm_opt_plans.get(cache_key)
    if tool is None:
        tool = _wasm_opt_plans[cache_key] = _wasm_opt.plan(lock, settings, host=env["WASI_TOOLCHAIN"].host)
    return tool


def wasm_opt_node(env: Any) -> Any:
    """The stamp node of the wasm-opt entry, which size-mode programs depend on: built (fetch and unpack) only by
    a build that has such a program; its content is the entry's key, so a new binaryen pin relinks them."""
    tool = wasm_opt_plan(env)
    node = _ready_nodes.get(tool.key)
    if node is None:
        node = env.Command(f"$WASI_STAMPDIR/{tool.key}.stamp", [], _ENSURE_WASM_OPT_ACTION)[0]
        if not tool.is_complete():
            env.AlwaysBuild(node)
        env.NoCache(node)
        _ready_nodes[tool.key] = node
    return node


def _ensure_component_tools(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain import component_tools

    tools = env["WASI_COMPONENT_TOOLS"]
    try:
        component_tools.ensure(tools, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    Path(str(target[0])).write_text(tools.key + "\n", encoding="utf-8")
    return 0


_ENSURE_COMPONENT_TOOLS_ACTION = SCons.Action.Action(_ensure_component_tools, strfunction=lambda *args, **kw: None)


def component_tools_node(env: Any) -> Any:
    """The stamp node every component depends on, like toolchain_node: its content is the component tools' key,
    so a new wasm-tools or adapter pin rebuilds every component. Raises UserError naming the caller when this lock
    or host has no component tools."""
    tools = env["WASI_COMPONENT_TOOLS"]
    if isinstance(tools, WasiError):
        raise SCons.Errors.UserError(f"{caller()}: {tools}")
    node = _ready_nodes.get(tools.key)
    if node is None:
        node = env.Command(f"$WASI_STAMPDIR/{tools.key}.stamp", [], _ENSURE_COMPONENT_TOOLS_ACTION)[0]
        if not tools.is_complete():
            env.AlwaysBuild(node)
        env.NoCache(node)
        _ready_nodes[tools.key] = node
    return node


def caller() -> str:
    """``SConstruct:12``: the innermost frame outside SCons and this file, i.e. the builder call in the user's
    SConstruct or SConscript. SCons itself reports the innermost frame outside SCons, which is this file."""
    import traceback

    for frame in reversed(traceback.extract_stack()):
        if os.path.dirname(os.path.abspath(frame.filename)) != _GLUE_DIR and f"{os.sep}SCons{os.sep}" not in frame.filename:
            try:
                name = os.path.relpath(frame.filename)
            except ValueError:  # another drive on Windows
                name = frame.filename
            return f"{name}:{frame.lineno}"
    return "SConstruct"


def checked(check: Any, *args: Any) -> Any:
    """Run a buildvars check while a builder is being called; a bad value names the caller's file and line."""
    try:
        return check(*args)
    except WasiError as e:
        raise SCons.Errors.UserError(f"{caller()}: {e}") from None
