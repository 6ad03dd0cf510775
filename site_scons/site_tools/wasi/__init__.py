"""SCons tool `wasi`: build WebAssembly/WASI modules with a pinned, hermetic LLVM 22 toolchain.

    env = Environment(tools=['default', 'wasi'])      # or tools=['wasi']
    env.WasiProgram('build/first', ['samples/first.c'])

This file is only glue: the work is in the ``wasi_toolchain`` package beside it, which never imports SCons.
Every error from it is a ``WasiError`` and reaches the user as ``scons: *** …``.

At start-up the tool only parses toolchain.lock and computes the sysroot key (no I/O beyond that, so a warm
null build stays cheap). The toolchain itself is a node: a stamp file that every object, library and program
depends on, whose content is the sysroot key and whose action fetches and builds the sysroot on first use (a few
stats afterwards). So a new pin changes every signature, and nothing else about the toolchain does: its
machine-specific paths (the store, the checkout) appear in commands only inside ``$( … $)``, which keeps them out
of signatures and so lets a CacheDir serve other checkouts and machines.

The glue is split by concern: ``command_line`` (the tool's scons options), ``nodes`` (the toolchain node and argument
checks), ``commands`` (command lines and builders), ``running`` (WasiRun), ``aliases`` (wasi-toolchain,
wasi-cache-key and the store commands), ``spawn`` (starting the pinned tools directly), ``remote`` (the CacheDir
class behind ``--remote-cache``) and ``distcc`` (compiles through distcc, and its worker and check commands).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import SCons.Platform.posix

from wasi_toolchain.toolchain import sysroot as _sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ConfigError, WasiError
from wasi_toolchain.toolchain.llvm import get_provider
from wasi_toolchain.pins.lock_cache import load_lock_cached
from wasi_toolchain.pins.toolchain_lock import Lock
from wasi_toolchain.store.store import Store

from .aliases import define_aliases
from .commands import add_builders, one_word, set_commands, shell_escape
from .command_line import add_options, apply_cache_options, apply_options
from .distcc import define_distcc_aliases, use_distcc
from .nodes import caller, stop
from .spawn import direct_spawn, providers_by_bin

_lock_cache: dict[tuple[str, int, int], Lock] = {}


def _load_lock_cached(path: str, setting: object, settings: Settings) -> Lock:
    """The lock, parsed once per process (several environments, SConscripts) and once per content in the store."""
    try:
        st = os.stat(path)
        cache_key = (path, st.st_mtime_ns, st.st_size)
    except FileNotFoundError:
        raise _missing_lock(path, setting) from None
    except OSError:
        cache_key = (path, 0, 0)
    lock = _lock_cache.get(cache_key)
    if lock is None:
        lock = _lock_cache[cache_key] = load_lock_cached(path, Store(settings.cache_dir).parsed_locks_dir())
    return lock


def _missing_lock(path: str, setting: object) -> ConfigError:
    """A project without its lock: say how to get one. The lock is the project's own file (it pins the toolchain, so
    it is committed with the SConstruct); `scons-wasi init` writes the one the installed package carries."""
    directory = os.path.dirname(path)
    return ConfigError(
        f"no toolchain lock at {path} (WASI_LOCK={setting!r}); the lock pins the toolchain this project builds with",
        hint=f"run `scons-wasi init` in {directory} (it writes {os.path.basename(path)} and keeps the files that are "
             f"there), or copy toolchain.lock from the scons-wasi checkout beside the SConstruct; then commit it")


def _lock_path(env: Any) -> str:
    try:
        return env.File(env["WASI_LOCK"]).abspath
    except TypeError:  # SCons: "Tried to lookup Dir '…' as a File"
        raise ConfigError(f"WASI_LOCK: {env['WASI_LOCK']!r} is a directory; expected the lock file",
                          hint="set WASI_LOCK to the lock file, e.g. '#toolchain.lock', or leave it unset") from None


def _settings(env: Any, kw: Mapping[str, Any]) -> Settings:
    settings = Settings.from_environ(os.environ)
    cache_dir = kw.get("cache_dir") or env.get("WASI_CACHE_DIR")
    if cache_dir:
        settings = Settings(**{**settings.__dict__, "cache_dir": Path(str(cache_dir)).absolute()})
    return settings


def generate(env: Any, **kw: Any) -> None:
    """Set defaults (values the user already set win), plan the toolchain, add the builders."""
    env.SetDefault(
        WASI_LOCK="#toolchain.lock",
        WASI_STAMPDIR="#.wasi",
        WASI_TARGET="wasm32-wasip1",
        WASI_EXECMODEL="command",
        WASI_EXPORTS=[],
        WASI_OPTIMIZE="speed",
        WASI_CCFLAGS=[],
        WASI_CFLAGS=[],
        WASI_CXXFLAGS=["-fno-exceptions"],
        WASI_LINKFLAGS=[],
        WASI_LIBS=[],
        WASI_SETJMP="auto",
        WASI_EMULATE=[],
        WASI_LINK_CXX="auto",
        WASI_STRIP=True,
        WASI_OBJSUFFIX=".wasi.o",
        WASI_PROGSUFFIX=".wasm",
        WASI_LIBPREFIX="lib",
        WASI_LIBSUFFIX=".a",
        WASI_CCCOMSTR="wasi: compiling $SOURCE",
        WASI_CXXCOMSTR="wasi: compiling $SOURCE",
        WASI_LINKCOMSTR="wasi: linking $TARGET",
        WASI_WASMOPTCOMSTR="wasi: wasm-opt -Oz $TARGET",
        WASI_ARCOMSTR="wasi: archiving $TARGET",
        WASI_COMPONENTCOMSTR="wasi: making a component of $TARGET",
        WASI_RUNCOMSTR="wasi: running $SOURCE",
    )
    add_options()
    apply_options(env)
    try:
        settings = _settings(env, kw)
        lock = _load_lock_cached(_lock_path(env), env["WASI_LOCK"], settings)
        toolchain = _sysroot.plan(lock, settings, provider=kw.get("provider") or env.get("WASI_LLVM_PROVIDER"),
                                  libc=kw.get("libc") or env.get("WASI_LIBC"))
    except ConfigError as e:  # a setting the user gave: name the SConstruct line that loads the tool
        stop(f"{caller()}: {e}")
    except WasiError as e:
        stop(str(e))
    try:
        apply_cache_options(env, settings)
    except WasiError as e:  # from the command line or WASI_REMOTE_CACHE*, not from a line of the SConstruct
        stop(str(e))

    env.SetDefault(WASI_CXX_EXCEPTIONS=settings.cxx_exceptions)  # the environment variable, unless the user set it
    env["WASI_SETTINGS"] = settings
    env["WASI_LOCK_DATA"] = lock
    env["WASI_TOOLCHAIN"] = toolchain
    env["WASI_SYSROOT_KEY"] = toolchain.key
    env["WASI_LIBC_FLAVOUR"] = toolchain.libc  # as resolved (keyword, WASI_LIBC, default): for SConstructs to read
    # Machine-specific absolute paths: used in commands only inside $( $).
    env["WASI_TOOLCHAIN_ROOT"] = str(toolchain.root)
    env["WASI_BINDIR"] = one_word(str(toolchain.bin_dir))
    providers_by_bin.setdefault(str(toolchain.bin_dir), get_provider(toolchain.provider, toolchain.host,
                                                                        toolchain.emulator))
    if env.get("SPAWN") is SCons.Platform.posix.subprocess_spawn:  # SCons's own; a SPAWN of yours is left alone
        env["SPAWN"] = direct_spawn(env["SPAWN"])
    if env.get("ESCAPE") is SCons.Platform.posix.escape:  # likewise: SCons's own, which leaves ` unescaped
        env["ESCAPE"] = shell_escape
    env["WASI_SYSROOT"] = one_word(str(toolchain.sysroot))
    env["WASI_TOPDIR"] = env.Dir("#").abspath
    set_commands(env)
    try:
        use_distcc(env)
    except WasiError as e:
        stop(str(e))
    add_builders(env)
    define_aliases(env)
    define_distcc_aliases(env)


def exists(env: Any) -> bool:
    """Cheap and offline: the toolchain is fetched on demand, so the tool is usable wherever Python runs it."""
    return True
