"""SCons tool `wasi`: build WebAssembly/WASI modules with a pinned, hermetic LLVM 19 toolchain.

    env = Environment(tools=['default', 'wasi'])      # or tools=['wasi']
    env.WasiProgram('build/first', ['samples/first.c'])

This file is only glue: the work is in the ``wasi_toolchain`` package beside it, which never imports SCons.
Every error from it is a ``WasiError`` and reaches the user as ``scons: *** …``.

At start-up the tool only parses toolchain.lock and computes the sysroot key (no I/O beyond that, so a warm
null build stays cheap). The toolchain itself is a node: a stamp file that every object and program depends on,
whose action fetches and builds the sysroot on first use and is a few stats afterwards.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Script
import SCons.Util

from wasi_toolchain import sysroot as _sysroot
from wasi_toolchain.config import Settings
from wasi_toolchain.errors import WasiError
from wasi_toolchain.lock import Lock, load_lock

_lock_cache: dict[tuple[str, int, int], Lock] = {}
_ready_nodes: dict[str, Any] = {}
_aliases_defined: set[str] = set()


def _user_error(error: WasiError) -> SCons.Errors.UserError:
    return SCons.Errors.UserError(str(error))


def _load_lock_cached(path: str) -> Lock:
    try:
        st = os.stat(path)
        cache_key = (path, st.st_mtime_ns, st.st_size)
    except OSError:
        cache_key = (path, 0, 0)
    lock = _lock_cache.get(cache_key)
    if lock is None:
        lock = _lock_cache[cache_key] = load_lock(path)
    return lock


def _settings(env: Any, kw: Mapping[str, Any]) -> Settings:
    settings = Settings.from_environ(os.environ)
    cache_dir = kw.get("cache_dir") or env.get("WASI_CACHE_DIR")
    if cache_dir:
        settings = Settings(**{**settings.__dict__, "cache_dir": Path(str(cache_dir)).absolute()})
    return settings


def _strip_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    """-s unless WASI_STRIP is false ('0', 'no', 'false', False, 0): stripped output is path-independent."""
    value = env.get("WASI_STRIP", True)
    if isinstance(value, str):
        value = value.strip().lower() not in ("0", "no", "false", "off", "")
    return "-s" if value else ""


def _ensure_toolchain(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    toolchain: _sysroot.Toolchain = env["WASI_TOOLCHAIN"]
    try:
        _sysroot.ensure(toolchain, env["WASI_LOCK_DATA"], env["WASI_SETTINGS"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    Path(str(target[0])).write_text(toolchain.key + "\n", encoding="utf-8")
    return 0


_ENSURE_ACTION = SCons.Action.Action(_ensure_toolchain, strfunction=lambda *args, **kw: None)


def _toolchain_node(env: Any) -> Any:
    """The stamp node every WASI target depends on; its content is the sysroot key, so a new pin rebuilds all."""
    key = env["WASI_SYSROOT_KEY"]
    node = _ready_nodes.get(key)
    if node is None:
        node = env.Command(f"$WASI_STAMPDIR/toolchain-{key}.stamp", [], _ENSURE_ACTION)[0]
        env.AlwaysBuild(node)  # cheap when warm; notices a wiped store
        env.NoCache(node)
        _ready_nodes[key] = node
    return node


def _depend_on_toolchain(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    env.Depends(target, _toolchain_node(env))
    return target, source


def _run_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.run import run_module

    program = Path(str(source[0]))
    argv = [program.name, *[env.subst(str(a)) for a in env["WASI_RUN_ARGS"]]]
    expected = int(env["WASI_RUN_EXPECT_EXIT"])
    try:
        code = run_module(program, argv, env=env["WASI_RUN_ENV"], dirs=env["WASI_RUN_DIRS"],
                          stdin=env["WASI_RUN_STDIN"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=1) from None
    if code != expected:
        print(f"wasi: {program} exited with {code}, expected {expected}", file=sys.stderr, flush=True)
        # SCons turns every BuildError into exit status 2; a SystemExit from an action becomes its ExplicitExit,
        # whose status is kept, so the program's exit code becomes scons's.
        raise SystemExit(code or 1)
    return 0


def WasiRun(env: Any, alias: str, program: Any, *, args: Sequence[str] = (), env_vars: Mapping[str, str] | None = None,
            dirs: Mapping[str, str] | None = None, stdin: str | None = None, expect_exit: int = 0,
            **overrides: Any) -> Any:
    """An always-built alias that runs ``program`` in wasmtime and fails on an unexpected exit code.

    The WASI environment can be given as ``env_vars=`` (or ``env=`` through the keyword dict, since the method's
    own first argument is the construction environment).
    """
    if "env" in overrides:
        env_vars = overrides.pop("env")
    run = env.Alias(alias, program, SCons.Action.Action(_run_action, "$WASI_RUNCOMSTR"),
                    WASI_RUN_ARGS=list(args), WASI_RUN_ENV=dict(env_vars or {}), WASI_RUN_DIRS=dict(dirs or {}),
                    WASI_RUN_STDIN=env.File(stdin).abspath if stdin else None, WASI_RUN_EXPECT_EXIT=expect_exit,
                    **overrides)
    env.AlwaysBuild(run)
    return run


def _print_key(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    print(env["WASI_SYSROOT_KEY"])
    return 0


def _define_aliases(env: Any) -> None:
    key = env["WASI_SYSROOT_KEY"]
    if key in _aliases_defined:
        return
    _aliases_defined.add(key)
    env.Alias("wasi-toolchain", _toolchain_node(env))
    env.AlwaysBuild(env.Alias("wasi-cache-key", [], SCons.Action.Action(_print_key, strfunction=lambda *a, **k: None)))
    _define_store_aliases(env)


# -- store maintenance: `scons wasi-verify`, `scons wasi-fetch-all DIR` ------------------------------------------
def _report(message: str) -> None:
    print(message, flush=True)


def _verify_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.store import Store
    from wasi_toolchain.verify import verify_store

    settings: Settings = env["WASI_SETTINGS"]
    try:
        verify_store(Store(settings.cache_dir, lock_timeout=settings.lock_timeout), env["WASI_LOCK_DATA"],
                     log=_report)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    return 0


def _fetch_all_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.distdir import fill_distdir

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
    targets = list(SCons.Script.COMMAND_LINE_TARGETS)
    if "wasi-fetch-all" not in targets:
        return None
    index = targets.index("wasi-fetch-all")
    return targets[index + 1] if index + 1 < len(targets) else ""


def _define_store_aliases(env: Any) -> None:
    quiet = lambda *args, **kw: None  # noqa: E731 - the actions print their own report
    env.AlwaysBuild(env.Alias("wasi-verify", [], SCons.Action.Action(_verify_action, strfunction=quiet)))
    directory = _fetch_all_dir()
    if directory is None:
        return
    if not directory:
        raise SCons.Errors.UserError("wasi-fetch-all needs the directory to fill: scons wasi-fetch-all DIR")
    path = os.path.join(SCons.Script.GetLaunchDir(), directory)
    fetch_all = env.Alias("wasi-fetch-all", [], SCons.Action.Action(_fetch_all_action, strfunction=quiet),
                          WASI_FETCH_ALL_DIR=path)
    env.AlwaysBuild(fetch_all)
    # DIR is a command-line target as well: an alias of that name keeps SCons from looking for a file to build.
    env.Alias(directory, fetch_all)


def generate(env: Any, **kw: Any) -> None:
    """Set defaults (values the user already set win), plan the toolchain, add the builders."""
    env.SetDefault(
        WASI_LOCK="#toolchain.lock",
        WASI_STAMPDIR="#.wasi",
        WASI_TARGET="wasm32-wasi",
        WASI_CFLAGS=["-O2"],
        WASI_CCFLAGS=[],
        WASI_LINKFLAGS=["-O2"],
        WASI_LIBS=[],
        WASI_STRIP=True,
        WASI_OBJSUFFIX=".wasi.o",
        WASI_PROGSUFFIX=".wasm",
        WASI_LIBPREFIX="lib",
        WASI_LIBSUFFIX=".a",
        WASI_CCCOMSTR="wasi: compiling $SOURCE",
        WASI_LINKCOMSTR="wasi: linking $TARGET",
        WASI_ARCOMSTR="wasi: archiving $TARGET",
        WASI_RUNCOMSTR="wasi: running $SOURCE",
        INCPREFIX="-I", INCSUFFIX="", CPPDEFPREFIX="-D", CPPDEFSUFFIX="",
        LIBDIRPREFIX="-L", LIBDIRSUFFIX="", LIBLINKPREFIX="-l", LIBLINKSUFFIX="",
    )
    try:
        settings = _settings(env, kw)
        lock = _load_lock_cached(env.File(env["WASI_LOCK"]).abspath)
        toolchain = _sysroot.plan(lock, settings, provider=kw.get("provider") or env.get("WASI_LLVM_PROVIDER"))
    except WasiError as e:
        raise _user_error(e) from None

    env["WASI_SETTINGS"] = settings
    env["WASI_LOCK_DATA"] = lock
    env["WASI_TOOLCHAIN"] = toolchain
    env["WASI_SYSROOT_KEY"] = toolchain.key
    # Machine-specific absolute paths: used in commands only inside $( $), so signatures (and CacheDir keys) do
    # not depend on where the store or the checkout is.
    env["WASI_BINDIR"] = str(toolchain.bin_dir)
    env["WASI_SYSROOT"] = str(toolchain.sysroot)
    env["WASI_TOPDIR"] = env.Dir("#").abspath
    env["WASI_CC"] = "$WASI_BINDIR/clang"
    env["WASI_AR"] = "$WASI_BINDIR/llvm-ar"
    env["_WASI_STRIPFLAG"] = _strip_flag
    env["_WASI_LIBFLAGS"] = "${_concat(LIBLINKPREFIX, WASI_LIBS, LIBLINKSUFFIX, __env__)}"
    env["_WASI_HERMETIC_CFLAGS"] = "--sysroot=$WASI_SYSROOT -ffile-prefix-map=$WASI_TOPDIR=."
    env["WASI_CCCOM"] = ("$( $WASI_CC $) --target=$WASI_TARGET $( $_WASI_HERMETIC_CFLAGS $) $WASI_CFLAGS "
                         "$WASI_CCFLAGS $_CPPDEFFLAGS $_CPPINCFLAGS -c -o $TARGET $SOURCES")
    env["WASI_LINKCOM"] = ("$( $WASI_CC $) --target=$WASI_TARGET $( --sysroot=$WASI_SYSROOT "
                           "-fuse-ld=$WASI_BINDIR/wasm-ld $) $WASI_LINKFLAGS $_WASI_STRIPFLAG -o $TARGET $SOURCES "
                           "$_LIBDIRFLAGS $_LIBFLAGS $_WASI_LIBFLAGS")
    env["WASI_ARCOM"] = "$( $WASI_AR $) rcsD $TARGET $SOURCES"

    import SCons.Scanner.C

    wasi_object = SCons.Builder.Builder(
        action=SCons.Action.Action("$WASI_CCCOM", "$WASI_CCCOMSTR"),
        suffix="$WASI_OBJSUFFIX",
        src_suffix=[".c"],
        source_scanner=SCons.Scanner.C.CScanner(),
        emitter=_depend_on_toolchain,
        single_source=True,
    )
    env["BUILDERS"]["WasiObject"] = wasi_object
    env["BUILDERS"]["WasiProgram"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$WASI_LINKCOM", "$WASI_LINKCOMSTR"),
        suffix="$WASI_PROGSUFFIX",
        src_suffix="$WASI_OBJSUFFIX",
        src_builder=wasi_object,
        emitter=_depend_on_toolchain,
    )
    env["BUILDERS"]["WasiLibrary"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$WASI_ARCOM", "$WASI_ARCOMSTR"),
        prefix="$WASI_LIBPREFIX",
        suffix="$WASI_LIBSUFFIX",
        src_suffix="$WASI_OBJSUFFIX",
        src_builder=wasi_object,
        emitter=_depend_on_toolchain,
    )
    env.AddMethod(WasiRun, "WasiRun")
    _define_aliases(env)


def exists(env: Any) -> bool:
    """Cheap and offline: the toolchain is fetched on demand, so the tool is usable wherever Python runs it."""
    return True
