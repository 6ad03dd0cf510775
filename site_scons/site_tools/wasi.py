"""SCons tool `wasi`: build WebAssembly/WASI modules with a pinned, hermetic LLVM 19 toolchain.

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
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Platform.posix
import SCons.Scanner
import SCons.Script

from wasi_toolchain import buildvars
from wasi_toolchain import sysroot as _sysroot
from wasi_toolchain.config import Settings
from wasi_toolchain.errors import WasiError
from wasi_toolchain.llvm import LlvmProvider, direct_command, get_provider, wrapper_script
from wasi_toolchain.lock import Lock, load_lock

_lock_cache: dict[tuple[str, int, int], Lock] = {}
_ready_nodes: dict[str, Any] = {}
_aliases_defined: set[str] = set()

# Where the store's paths are mapped to in debug info and __FILE__ (see _prefix_maps).
TOOLCHAIN_PREFIX = "/wasi-toolchain"


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


# -- command-line options ------------------------------------------------------------------------------------------
_options_added: set[str] = set()  # the dests of the options this tool added


def _add_options() -> None:
    """The tool's `scons` options; listed by `scons --help` under "Local Options". Added once per process, and
    never over an option of the same name that the SConstruct defined itself."""
    import SCons.Script.Main

    parser = SCons.Script.Main.OptionsParser
    if not parser.has_option("--wasi-offline"):
        SCons.Script.AddOption("--wasi-offline", dest="wasi_offline", action="store_true", default=False,
                               help="never download: use only the toolchain store (sets WASI_OFFLINE=1)")
        _options_added.add("wasi_offline")
    if not parser.has_option("--cache-dir"):
        SCons.Script.AddOption("--cache-dir", dest="wasi_scons_cache_dir", metavar="DIR", default=None,
                               help="share built objects and modules through the SCons CacheDir DIR; its "
                                    "entries serve any checkout path and any WASI_CACHE_DIR")
        _options_added.add("wasi_scons_cache_dir")


def _option(dest: str) -> Any:
    return SCons.Script.GetOption(dest) if dest in _options_added else None


def _apply_options(env: Any) -> None:
    if _option("wasi_offline"):
        # Read by Settings.from_environ, like a WASI_OFFLINE=1 set by the user.
        os.environ["WASI_OFFLINE"] = "1"
    cache_dir = _option("wasi_scons_cache_dir")
    if cache_dir:
        env.CacheDir(cache_dir)


# -- the toolchain node --------------------------------------------------------------------------------------------
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
        if not env["WASI_TOOLCHAIN"].is_complete():
            # Always built only when the entry is missing or incomplete (three stats, here): then a stamp left
            # from before (say, the store was wiped) must not count as up to date. With a complete entry the
            # stamp is built only when it is missing or its key changed, so a null build runs no action and does
            # not rewrite .sconsign.dblite.
            env.AlwaysBuild(node)
        env.NoCache(node)
        _ready_nodes[key] = node
    return node


def _caller() -> str:
    """``SConstruct:12``: the innermost frame outside SCons and this file, i.e. the builder call in the user's
    SConstruct or SConscript. SCons itself reports the innermost frame outside SCons, which is this file."""
    import traceback

    for frame in reversed(traceback.extract_stack()):
        if frame.filename != __file__ and f"{os.sep}SCons{os.sep}" not in frame.filename:
            try:
                name = os.path.relpath(frame.filename)
            except ValueError:  # another drive on Windows
                name = frame.filename
            return f"{name}:{frame.lineno}"
    return "SConstruct"


def _checked(check: Any, *args: Any) -> Any:
    """Run a buildvars check while a builder is being called; a bad value names the caller's file and line."""
    try:
        return check(*args)
    except WasiError as e:
        raise SCons.Errors.UserError(f"{_caller()}: {e}") from None


def _object_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    _checked(buildvars.target, env.subst("$WASI_TARGET"))
    env.Depends(target, _toolchain_node(env))
    _record_compilation_db_entry(target, source, env)
    return target, source


def _library_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    env.Depends(target, _toolchain_node(env))
    return target, source


def _program_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    # Checked here, while the SConstruct runs, so a typo is reported with its file and line.
    _checked(buildvars.target, env.subst("$WASI_TARGET"))
    _checked(buildvars.exec_model, env.subst("$WASI_EXECMODEL"))
    _checked(buildvars.exports, env.get("WASI_EXPORTS", []))
    _checked(buildvars.flag, "WASI_STRIP", env.get("WASI_STRIP", True))
    env.Depends(target, _toolchain_node(env))
    return target, source


# -- pieces of the command lines -----------------------------------------------------------------------------------
def _prefix_maps(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    """-ffile-prefix-map for the top directory (so __FILE__, assert messages and debug info name paths relative to
    it) and for the store entry (so a debug build does not embed WASI_CACHE_DIR). A list, so that a path with a
    space stays one argument. Used only inside $( $): it is what makes the output independent of these paths.
    So a signature, which leaves out what is inside $( $), does not need it computed."""
    if for_signature:
        return []
    return [f"-ffile-prefix-map={env['WASI_TOPDIR']}=.",
            f"-ffile-prefix-map={env['WASI_TOOLCHAIN_ROOT']}={TOOLCHAIN_PREFIX}"]


def _strip_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    """-s unless WASI_STRIP is false: stripped output is path-independent."""
    return "-s" if buildvars.flag("WASI_STRIP", env.get("WASI_STRIP", True)) else ""


def _exec_flags(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    model = buildvars.exec_model(env.subst("$WASI_EXECMODEL"))
    return buildvars.link_flags(model, buildvars.exports(env.get("WASI_EXPORTS", [])))


def _has_cxx(nodes: Sequence[Any], depth: int = 3) -> bool:
    """Whether any node was built from C++: objects name their sources, libraries their objects."""
    for node in nodes:
        if buildvars.is_cxx_source(str(node)):
            return True
        if depth and _has_cxx(getattr(node, "sources", None) or [], depth - 1):
            return True
    return False


def _link_mode(target: Sequence[Any], source: Sequence[Any], env: Any, for_signature: bool) -> str:
    """clang's g++ mode (which adds -lc++ -lc++abi) when C++ is linked. WASI_LINK_CXX='auto' (the default) looks at
    the sources and at libraries given as nodes or found through LIBS/LIBPATH; True/False force it."""
    setting = env.get("WASI_LINK_CXX", "auto")
    if setting == "auto":
        libraries = [n for n in (getattr(target[0], "implicit", None) or []) if getattr(n, "sources", None)]
        cxx = _has_cxx([*source, *libraries])
    else:
        cxx = buildvars.flag("WASI_LINK_CXX", setting)
    return "--driver-mode=g++" if cxx else ""


def _scan_libraries(node: Any, env: Any, libpath: Any = ()) -> list[Any]:
    """SCons's program scanner, with the WASI library prefix and suffix, so LIBS=['util'] plus LIBPATH finds the
    WasiLibrary output: it is built before the link, and a change to it relinks."""
    import SCons.Scanner.Prog

    wasi = env.Override({"LIBPREFIXES": ["$WASI_LIBPREFIX"], "LIBSUFFIXES": ["$WASI_LIBSUFFIX"]})
    return SCons.Scanner.Prog.scan(node, wasi, libpath)


# -I, -D, -L and -l. These are what SCons's own _CPPINCFLAGS & co. compute, with the tool's prefixes, as callables
# rather than "${_concat(…)}" strings: SCons eval()s such a string, compiling the expression, each time it
# substitutes a command, which is three times per target and build (twice for the signature, once to run it), and
# that was most of the cost of substituting a command. A construction variable that is not set gives nothing, as
# it does in "${…}".
def _define_flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    if "CPPDEFINES" not in env:
        return ""
    return env["_defines"]("-D", env["CPPDEFINES"], "", env, target, source)


def _include_flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    return _directory_flags("-I", "CPPPATH", target, source, env, for_signature)


def _library_dir_flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    return _directory_flags("-L", "LIBPATH", target, source, env, for_signature)


def _directory_flags(prefix: str, name: str, target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    """Directories relative to the target's directory (and its repositories), kept out of signatures like SCons's
    own -I/-L (affect_signature=False puts them inside $( $)): what RDirs does in "${_concat(…, RDirs, TARGET,
    …)}". A signature leaves out what is inside $( $), so it is not computed for one."""
    if for_signature or name not in env:
        return ""
    rdirs = target[0].RDirs if target else (lambda paths: None)
    return env["_concat"](prefix, env[name], "", env, rdirs, target, source, affect_signature=False)


def _library_flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    if "LIBS" not in env:
        return ""
    return env["_stripixes"]("-l", env["LIBS"], "", env.get("WASI_LIBPREFIX", ""), env.get("WASI_LIBSUFFIX", ""),
                             env)


def _sysroot_library_flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    if "WASI_LIBS" not in env:
        return ""
    return env["_concat"]("-l", env["WASI_LIBS"], "", env)


# -- compile_commands.json -----------------------------------------------------------------------------------------
_COMPILATION_DB_ACTIONS = {"c": SCons.Action.Action("$WASI_CCCOM"), "c++": SCons.Action.Action("$WASI_CXXCOM")}


def _record_compilation_db_entry(target: Sequence[Any], source: Sequence[Any], env: Any) -> None:
    """Add this object to SCons's own compilation_db tool, when the environment has it.

    That tool hooks only the StaticObject/SharedObject builders, by appending an emitter that records
    (target, source, env, action) in its module-level list, which its writer then turns into entries (tuples rather
    than one node per entry since https://github.com/SCons/scons/pull/4823; requirements.txt pins such an SCons).
    A WasiObject records the same tuple with its own command, so env.CompilationDatabase() lists WASI compiles
    beside host ones. As with SCons's own objects, the tool must be loaded before the builders are called.
    """
    if "CompilationDatabase" not in env["BUILDERS"]:
        return
    import SCons.Tool.compilation_db as compilation_db

    entries = getattr(compilation_db, "__COMPILATION_DB_ENTRIES", None)
    if not isinstance(entries, list) or any(not isinstance(e, tuple) or len(e) != 4 for e in entries[:1]):
        raise SCons.Errors.UserError(
            "this SCons's compilation_db tool does not keep (target, source, env, action) entries in "
            "__COMPILATION_DB_ENTRIES, so WASI objects cannot be added to compile_commands.json\n  next step: use "
            "the SCons version pinned in requirements.txt")
    language = "c++" if buildvars.is_cxx_source(str(source[0])) else "c"
    entries.append((target[0], source[0], env, _COMPILATION_DB_ACTIONS[language]))


# -- WasiRun -------------------------------------------------------------------------------------------------------
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


# One action for every WasiRun: creating a Python-function action computes the function's contents (its
# signature), which costs about a millisecond each time.
_RUN_ACTION = SCons.Action.Action(_run_action, "$WASI_RUNCOMSTR")


def WasiRun(build_env: Any, alias: str, program: Any, /, *, args: Sequence[str] = (),
            env: Mapping[str, str] | None = None, dirs: Mapping[str, str] | None = None, stdin: str | None = None,
            expect_exit: int = 0, **overrides: Any) -> Any:
    """``env.WasiRun(alias, program, args=[…], env={…}, dirs={host: guest}, stdin=file, expect_exit=0)``.

    An always-built alias that runs ``program`` in wasmtime with WASI arguments ``args`` (argv[0] is the module's
    file name), environment ``env``, host directories preopened at guest paths ``dirs``, and ``stdin`` as standard
    input; the build fails if the exit code is not ``expect_exit`` (scons exits with the program's code). Relative
    paths are relative to the calling SConscript, like every SCons path.
    """
    stdin_node = build_env.File(stdin) if stdin else None
    run = build_env.Alias(
        alias, [program, *([stdin_node] if stdin_node else [])],
        _RUN_ACTION,
        WASI_RUN_ARGS=list(args), WASI_RUN_ENV=dict(env or {}),
        WASI_RUN_DIRS={build_env.Dir(host).abspath: guest for host, guest in (dirs or {}).items()},
        WASI_RUN_STDIN=stdin_node.abspath if stdin_node else None, WASI_RUN_EXPECT_EXIT=int(expect_exit),
        **overrides)
    build_env.AlwaysBuild(run)
    return run


# -- aliases -------------------------------------------------------------------------------------------------------
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


# -- the tool ------------------------------------------------------------------------------------------------------
def _set_commands(env: Any) -> None:
    """The command lines. Everything machine-specific is inside $( $); sources and targets are SCons nodes, which
    render relative to the top directory (where SCons runs commands)."""
    env["WASI_CC"] = "$WASI_BINDIR/clang"
    env["WASI_AR"] = "$WASI_BINDIR/llvm-ar"
    env["_WASI_PREFIXMAPS"] = _prefix_maps
    env["_WASI_STRIPFLAG"] = _strip_flag
    env["_WASI_EXECFLAGS"] = _exec_flags
    env["_WASI_LINKMODE"] = _link_mode
    # Our own prefixes, not the host tools' INCPREFIX/LIBLINKPREFIX/…: with tools=['default', 'wasi'] those belong
    # to the host compiler.
    env["_WASI_CPPDEFFLAGS"] = _define_flags
    env["_WASI_CPPINCFLAGS"] = _include_flags
    env["_WASI_LIBDIRFLAGS"] = _library_dir_flags
    env["_WASI_LIBFLAGS"] = _library_flags
    env["_WASI_SYSLIBFLAGS"] = _sysroot_library_flags
    compile_head = "$( $WASI_CC $) --target=$WASI_TARGET $( --sysroot=$WASI_SYSROOT $_WASI_PREFIXMAPS $) $WASI_CCFLAGS"
    compile_tail = "$_WASI_CPPDEFFLAGS $_WASI_CPPINCFLAGS -c -o $TARGET $SOURCES"
    env["WASI_CCCOM"] = f"{compile_head} $WASI_CFLAGS {compile_tail}"
    env["WASI_CXXCOM"] = f"{compile_head} $WASI_CXXFLAGS {compile_tail}"
    env["WASI_LINKCOM"] = ("$( $WASI_CC $) $_WASI_LINKMODE --target=$WASI_TARGET $( --sysroot=$WASI_SYSROOT "
                           "-fuse-ld=$WASI_BINDIR/wasm-ld $) $WASI_LINKFLAGS $_WASI_EXECFLAGS $_WASI_STRIPFLAG "
                           "-o $TARGET $SOURCES $_WASI_LIBDIRFLAGS $_WASI_LIBFLAGS $_WASI_SYSLIBFLAGS")
    # D: zero timestamps, uids and modes, so the archive's bytes depend only on its members.
    env["WASI_ARCOM"] = "$( $WASI_AR $) rcsD $TARGET $SOURCES"


# SCons's implicit command dependency (on by default) substitutes each target's whole command line, on every run, to
# find its first word. Ours start with `$( $WASI_CC $)`, which is left out of that substitution as of any signature,
# so the lookup finds nothing (the first word left is --target=…) and costs a full substitution per target, the
# largest per-target cost of a null build. The compiler is tracked by the toolchain node instead (its name is the
# sysroot key), so the lookup is turned off for the tool's builders only; host builders keep SCons's default.
# The LLVM provider of each toolchain's bin/ (filled by generate()), and whether a wrapper script there is exactly
# the one that provider writes (read once per process).
_providers_by_bin: dict[str, LlvmProvider] = {}
_wrapper_is_ours: dict[str, bool] = {}
# Words that sh takes as they are, and "…" as SCons puts around a word with a space (quote_spaces), with nothing
# inside that sh would expand or unescape.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_QUOTED_WORD = re.compile(r'"([^"\\$`]*)"')


def _direct_spawn(spawn: Any) -> Any:
    """The environment's SPAWN, except for commands of our own wrapper scripts (bin/clang, bin/llvm-ar, …): those
    start what the wrapper would exec, directly, with the same arguments and the same controlled environment (see
    llvm.direct_command), instead of `sh -c` running the wrapper's sh running env running the tool: three
    processes fewer per compile, and the very same compiler run. Everything else, a wrapper that is not byte for
    byte the one its provider writes (an entry from another version, a stand-in), and a command line whose words
    sh would do more with than drop SCons's quotes, goes to ``spawn`` unchanged."""

    def spawn_directly(shell: str, escape: Any, command: str, args: list[str], env: dict[str, str]) -> Any:
        words = _unquoted(args)
        direct = _direct_command(words[0], env) if words else None
        if words is None or direct is None:
            return spawn(shell, escape, command, args, env)
        import subprocess

        argv = [*direct[0], *words[1:]]
        try:
            return subprocess.Popen(argv, env=direct[1], close_fds=True).wait()
        except OSError as e:  # as sh would say it, with its exit code
            print(f"scons: {argv[0]}: {e.strerror}", file=sys.stderr, flush=True)
            return 127

    return spawn_directly


def _unquoted(args: Sequence[str]) -> list[str] | None:
    """The words sh would make of SCons's escaped arguments, or None where that takes more than removing quotes."""
    words = []
    for arg in args:
        if _PLAIN_WORD.fullmatch(arg):
            words.append(arg)
        elif quoted := _QUOTED_WORD.fullmatch(arg):
            words.append(quoted.group(1))
        else:
            return None
    return words


def _direct_command(program: str, env: Mapping[str, str]) -> tuple[list[str], dict[str, str]] | None:
    provider = _providers_by_bin.get(os.path.dirname(program))
    if provider is None:
        return None
    spec = provider.tools().get(os.path.basename(program))
    ours = _wrapper_is_ours.get(program)
    if ours is None:
        try:
            text = Path(program).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        ours = _wrapper_is_ours[program] = spec is not None and text == wrapper_script(spec)
    return direct_command(spec, program, env) if ours and spec is not None else None


_BUILDER_OVERRIDES = {"IMPLICIT_COMMAND_DEPENDENCIES": 0}


def _add_builders(env: Any) -> None:
    import SCons.Scanner.C

    compile_c = SCons.Action.Action("$WASI_CCCOM", "$WASI_CCCOMSTR")
    compile_cxx = SCons.Action.Action("$WASI_CXXCOM", "$WASI_CXXCOMSTR")
    wasi_object = SCons.Builder.Builder(
        action={**{s: compile_c for s in buildvars.C_SUFFIXES}, **{s: compile_cxx for s in buildvars.CXX_SUFFIXES}},
        suffix="$WASI_OBJSUFFIX",
        source_scanner=SCons.Scanner.C.CScanner(),
        emitter=_object_emitter,
        single_source=True,
        **_BUILDER_OVERRIDES,
    )
    env["BUILDERS"]["WasiObject"] = wasi_object
    env["BUILDERS"]["WasiProgram"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$WASI_LINKCOM", "$WASI_LINKCOMSTR"),
        suffix="$WASI_PROGSUFFIX",
        src_suffix="$WASI_OBJSUFFIX",
        src_builder=wasi_object,
        target_scanner=SCons.Scanner.ScannerBase(_scan_libraries, "WasiLibraryScanner",
                                                 path_function=SCons.Scanner.FindPathDirs("LIBPATH")),
        emitter=_program_emitter,
        **_BUILDER_OVERRIDES,
    )
    env["BUILDERS"]["WasiLibrary"] = SCons.Builder.Builder(
        action=SCons.Action.Action("$WASI_ARCOM", "$WASI_ARCOMSTR"),
        prefix="$WASI_LIBPREFIX",
        suffix="$WASI_LIBSUFFIX",
        src_suffix="$WASI_OBJSUFFIX",
        src_builder=wasi_object,
        emitter=_library_emitter,
        **_BUILDER_OVERRIDES,
    )
    env.AddMethod(WasiRun, "WasiRun")


def generate(env: Any, **kw: Any) -> None:
    """Set defaults (values the user already set win), plan the toolchain, add the builders."""
    env.SetDefault(
        WASI_LOCK="#toolchain.lock",
        WASI_STAMPDIR="#.wasi",
        WASI_TARGET="wasm32-wasi",
        WASI_EXECMODEL="command",
        WASI_EXPORTS=[],
        WASI_CCFLAGS=["-O2"],
        WASI_CFLAGS=[],
        WASI_CXXFLAGS=["-fno-exceptions"],
        WASI_LINKFLAGS=["-O2"],
        WASI_LIBS=[],
        WASI_LINK_CXX="auto",
        WASI_STRIP=True,
        WASI_OBJSUFFIX=".wasi.o",
        WASI_PROGSUFFIX=".wasm",
        WASI_LIBPREFIX="lib",
        WASI_LIBSUFFIX=".a",
        WASI_CCCOMSTR="wasi: compiling $SOURCE",
        WASI_CXXCOMSTR="wasi: compiling $SOURCE",
        WASI_LINKCOMSTR="wasi: linking $TARGET",
        WASI_ARCOMSTR="wasi: archiving $TARGET",
        WASI_RUNCOMSTR="wasi: running $SOURCE",
    )
    _add_options()
    _apply_options(env)
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
    # Machine-specific absolute paths: used in commands only inside $( $).
    env["WASI_TOOLCHAIN_ROOT"] = str(toolchain.root)
    env["WASI_BINDIR"] = str(toolchain.bin_dir)
    _providers_by_bin.setdefault(str(toolchain.bin_dir), get_provider(toolchain.provider, toolchain.host))
    if env.get("SPAWN") is SCons.Platform.posix.subprocess_spawn:  # SCons's own; a SPAWN of yours is left alone
        env["SPAWN"] = _direct_spawn(env["SPAWN"])
    env["WASI_SYSROOT"] = str(toolchain.sysroot)
    env["WASI_TOPDIR"] = env.Dir("#").abspath
    _set_commands(env)
    _add_builders(env)
    _define_aliases(env)


def exists(env: Any) -> bool:
    """Cheap and offline: the toolchain is fetched on demand, so the tool is usable wherever Python runs it."""
    return True
