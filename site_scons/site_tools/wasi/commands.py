"""The command lines and the builders: WasiObject, WasiLibrary, WasiProgram, and compile_commands.json entries."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import SCons.Action
import SCons.Builder
import SCons.Errors
import SCons.Scanner
import SCons.Subst

from wasi_toolchain.targets import buildvars

from .host_flags import HOST_FLAGS, check_host_flags, host_flag
from .nodes import (checked, component_tools_node, component_tools_plan, cxx_runtime, cxx_runtime_node,
                    link_toolchain, size_libc_node, stop, toolchain_node, wasm_opt_node, wasm_opt_plan)
from .distcc import distcc_launcher
from .running import WasiRun

# Words sh takes as they are. A path with anything else (a space, a quote, $, `, \, a newline) is made a literal
# word, which SCons escapes with $ESCAPE (shell_escape).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
# What a backslash escapes inside "…" in POSIX sh.
_SH_DOUBLE_QUOTED_SPECIAL = re.compile(r'([\\"$`])')


def one_word(path: str) -> Any:
    """A word holding a machine-specific path (the store, the checkout) as one word of a command line, whatever the
    path holds. SCons splits a string variable at whitespace wherever it is substituted; a Literal stays one word,
    and SCons escapes it for the shell with $ESCAPE. Only a whole word keeps that: text SCons joins to a Literal
    ("$WASI_BINDIR/clang") makes a word that is quoted only when it holds a space, so a quote, $ or ` in it reached
    sh as syntax. Hence every such word is built whole, here. Plain paths stay plain strings, so the usual command
    lines are unchanged."""
    return path if _PLAIN_PATH.fullmatch(path) else SCons.Subst.Literal(path)


def shell_escape(word: str) -> str:
    """``word`` quoted for POSIX sh, as $ESCAPE: in "…", with \\ " $ and ` escaped. SCons's own (Platform/posix.py,
    escape) leaves ` alone, so a path holding a backquote ran a command substitution."""
    return '"' + _SH_DOUBLE_QUOTED_SPECIAL.sub(r"\\\1", word) + '"'


# Where the store's paths are mapped to in debug info and __FILE__ (see _prefix_maps).
TOOLCHAIN_PREFIX = "/wasi-toolchain"
# What SCons's command-mode substitution makes one space of (SCons/Subst.py, _space_sep).
_SPACES = re.compile(r"[\t ]+")


def variable(env: Any, name: str) -> str:
    """``env.subst("$NAME")``, without SCons's substitution machinery for the usual value, a string holding no $:
    the same text (command mode: runs of spaces and tabs made one space, the ends stripped). WASI_TARGET and
    WASI_EXECMODEL are read several times per target and build (emitters, the link's action list, its flags);
    through env.subst that was a few ms of every null build."""
    value = env.get(name)
    if isinstance(value, str) and "$" not in value:
        return _SPACES.sub(" ", value).strip()
    return env.subst(f"${name}")


def _check_compile_flags(env: Any) -> None:
    for name in ("WASI_CCFLAGS", "WASI_CFLAGS", "WASI_CXXFLAGS"):
        checked(buildvars.flag_list, name, env.get(name, []))
    check_host_flags(env, ("CCFLAGS", "CFLAGS", "CXXFLAGS"))


def _object_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    wasi_target = variable(env, "WASI_TARGET")
    checked(buildvars.target, wasi_target)
    _check_compile_flags(env)
    checked(buildvars.optimize, env.get("WASI_OPTIMIZE", "speed"))
    checked(buildvars.emulations, env.get("WASI_EMULATE", []))
    checked(_setjmp, env)
    if buildvars.is_component_target(wasi_target):
        checked(buildvars.check_component_program, wasi_target, buildvars.is_cxx_source(str(source[0])),
                None, env["WASI_TOOLCHAIN"].libc)
    # The source's path, which the action's signature leaves out (it is the same for a whole batch, see
    # batching.CompileAction.get_presig): __FILE__ and debug info hold it, so another source rebuilds the object.
    env.Depends(target, [toolchain_node(env), env.Value(str(source[0]))])
    if buildvars.is_cxx_source(str(source[0])) and checked(_cxx_exceptions, env):
        env.Depends(target, checked(cxx_runtime_node, env))
    _record_compilation_db_entry(target, source, env)
    return target, source


def _library_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    env.Depends(target, toolchain_node(env))
    return target, source


def _program_emitter(target: list[Any], source: list[Any], env: Any) -> tuple[list[Any], list[Any]]:
    # Checked here, while the SConstruct runs, so a typo is reported with its file and line.
    checked(buildvars.check_program_sources, str(target[0]), source)
    wasi_target, exec_model = variable(env, "WASI_TARGET"), variable(env, "WASI_EXECMODEL")
    checked(buildvars.target, wasi_target)
    checked(buildvars.exec_model, exec_model)
    checked(buildvars.optimize, env.get("WASI_OPTIMIZE", "speed"))
    checked(buildvars.exports, env.get("WASI_EXPORTS", []))
    checked(buildvars.flag, "WASI_STRIP", env.get("WASI_STRIP", True))
    checked(buildvars.emulations, env.get("WASI_EMULATE", []))
    checked(buildvars.stack_size, env.get("WASI_STACK_SIZE", buildvars.DEFAULT_STACK_SIZE))
    for name in ("WASI_LINKFLAGS", "WASI_LIBS"):
        checked(buildvars.flag_list, name, env.get(name, []))
    check_host_flags(env, ("LINKFLAGS",))
    checked(_setjmp, env)
    env.Depends(target, toolchain_node(env))
    component = buildvars.is_component_target(wasi_target)
    if component:
        link_cxx = env.get("WASI_LINK_CXX", "auto")
        cxx = _has_cxx(source) if link_cxx == "auto" else buildvars.flag("WASI_LINK_CXX", link_cxx)
        checked(buildvars.check_component_program, wasi_target, cxx, exec_model, env["WASI_TOOLCHAIN"].libc)
        env.Depends(target, component_tools_node(env))
    if _may_link_cxx(source, env) and checked(_cxx_exceptions, env):
        env.Depends(target, checked(cxx_runtime_node, env))
    if _size_mode(env):
        env.Depends(target, checked(wasm_opt_node, env))
        if env["WASI_TOOLCHAIN"].libc == "source":  # links with the -Oz libc (see _link_sysroot)
            env.Depends(target, checked(size_libc_node, env))
    if checked(_keeps_names, env):
        target = [target[0], env.File(str(target[0]) + ".names")]
    return target, source


# -- pieces of the command lines -----------------------------------------------------------------------------------
def _prefix_maps(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    """-ffile-prefix-map for the top directory (so __FILE__, assert messages and debug info name paths relative to
    it) and for the store entry (so a debug build does not embed WASI_CACHE_DIR). A list, so that a path with a
    space stays one argument. Used only inside $( $): it is what makes the output independent of these paths.
    So a signature, which leaves out what is inside $( $), does not need it computed."""
    if for_signature:
        return []
    # -fdebug-compilation-dir=.: a distcc worker compiles in a temp dir of its own, which the first map does not
    # cover, and which -g would write into the debug info. Here it changes no byte (the map already makes the
    # compilation dir "."), so, like the maps, it stays out of signatures.
    return [one_word(f"-ffile-prefix-map={env['WASI_TOPDIR']}=."),
            one_word(f"-ffile-prefix-map={env['WASI_TOOLCHAIN_ROOT']}={TOOLCHAIN_PREFIX}"), "-fdebug-compilation-dir=."]


def _link_sysroot(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    """--sysroot for the link. A size-mode program of the source flavour links with the -Oz libc, whose entry holds
    only a sysroot (the same headers, so compiles keep $WASI_SYSROOT and their objects are the same bytes); a speed
    program in the same build links with the default one. Only inside $( $): which store path it names never
    reaches a signature or the output (the program depends on the entry's stamp, whose content is its key)."""
    if for_signature:
        return ""
    if _size_mode(env) and env["WASI_TOOLCHAIN"].libc == "source":
        return [one_word(f"--sysroot={link_toolchain(env, size_mode=True).sysroot}")]
    return "$_WASI_SYSROOTFLAG"


def _target_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    return f"--target={buildvars.clang_target(variable(env, 'WASI_TARGET'))}"


def _setjmp(env: Any) -> bool:
    return buildvars.setjmp_enabled(env.get("WASI_SETJMP", "auto"), env["WASI_TOOLCHAIN"].libc)


def _setjmp_compile_flags(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    return list(buildvars.SETJMP_COMPILE_FLAGS) if _setjmp(env) else []


def _setjmp_library_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    return f"-l{buildvars.SETJMP_LIBRARY}" if _setjmp(env) else ""


def _cxx_exceptions(env: Any) -> bool:
    return buildvars.cxx_exceptions(env.get("WASI_CXX_EXCEPTIONS", False), variable(env, "WASI_TARGET"),
                                    env["WASI_TOOLCHAIN"].libc)


def _cxx_exception_flags(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    return list(buildvars.CXX_EXCEPTION_COMPILE_FLAGS) if _cxx_exceptions(env) else []


def _cxx_exception_includes(target: Any, source: Any, env: Any, for_signature: bool) -> list[Any]:
    """The runtime's own libc++ headers (its __config_site has the file system library) in place of the sysroot's.
    Only inside $( $): a store path; the object depends on the runtime's stamp, whose content is its key."""
    if for_signature or not _cxx_exceptions(env):
        return []
    return ["-nostdinc++", "-isystem", one_word(str(cxx_runtime(env).include_dir))]


def _may_link_cxx(source: Sequence[Any], env: Any) -> bool:
    """Whether a program is linked as C++, as far as its emitter can tell: C++ sources, or WASI_LINK_CXX forced on.
    (A C program linked as C++ only through a C++ library in LIBS is found later, by the scanner; that library's
    objects, compiled with the switch, depend on the runtime themselves. A C program must not build the runtime.)"""
    setting = env.get("WASI_LINK_CXX", "auto")
    if setting != "auto":
        return buildvars.flag("WASI_LINK_CXX", setting)
    return _has_cxx(source)


def _links_cxx_exceptions(target: Sequence[Any], source: Sequence[Any], env: Any) -> bool:
    return bool(_link_mode(target, source, env, False)) and _cxx_exceptions(env)


def _cxx_exception_library_dir(target: Any, source: Any, env: Any, for_signature: bool) -> list[Any]:
    """-L of the runtime, ahead of the sysroot's: the driver's -lc++ -lc++abi find the runtime's. Inside $( $)."""
    if for_signature or not _links_cxx_exceptions(target, source, env):
        return []
    return [one_word(f"-L{cxx_runtime(env).lib_dir}")]


def _cxx_exception_libraries(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    if not _links_cxx_exceptions(target, source, env):
        return []
    command = buildvars.exec_model(variable(env, "WASI_EXECMODEL")) == "command"
    return [f"-l{buildvars.CXX_EXCEPTION_LIBRARY}",
            *(buildvars.CXX_EXCEPTION_COMMAND_LINK_FLAGS if command else ())]


def _emulation_defines(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    return [f"-D{buildvars.EMULATIONS[name][0]}" for name in buildvars.emulations(env.get("WASI_EMULATE", []))]


def _emulation_libraries(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    return [f"-l{buildvars.EMULATIONS[name][1]}" for name in buildvars.emulations(env.get("WASI_EMULATE", []))]


def _optimize_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    """-O2 ('speed') or -Oz ('size'): where WASI_CCFLAGS/WASI_LINKFLAGS held -O2 before WASI_OPTIMIZE, just before
    them, so the default command lines are what they were and a -O of the user's own, later, still wins."""
    return buildvars.OPTIMIZE_FLAGS[buildvars.optimize(env.get("WASI_OPTIMIZE", "speed"))]


def _stack_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    """The C stack's size (WASI_STACK_SIZE; buildvars.DEFAULT_STACK_SIZE). Before the -O flag and WASI_LINKFLAGS, so a
    -z stack-size of the user's own there still wins (wasm-ld takes the last)."""
    return f"-Wl,-z,stack-size={buildvars.stack_size(env.get('WASI_STACK_SIZE', buildvars.DEFAULT_STACK_SIZE))}"


def _size_mode(env: Any) -> bool:
    return buildvars.optimize(env.get("WASI_OPTIMIZE", "speed")) == "size"


def _wasm_opt_command(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    """The pinned wasm-opt, started through its own glibc loader: store paths, used only inside $( $)."""
    return [] if for_signature else [one_word(word) for word in wasm_opt_plan(env).command()]


def _wasm_opt_flags(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    """-Oz with the features clang 22 enables, and -g to keep the name section when the link kept it: wasm-opt
    renumbers functions, so the names must come from its output."""
    from wasi_toolchain.toolchain import wasm_opt

    keep_names = _keeps_names(env) or not buildvars.flag("WASI_STRIP", env.get("WASI_STRIP", True))
    return [wasm_opt.OPT_LEVEL, *wasm_opt.FEATURES, *(["-g"] if keep_names else [])]


def _wasm_tools(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    """The component tools' wasm-tools (a store path, used only inside $( $)), planned when a component is built."""
    return "" if for_signature else one_word(str(component_tools_plan(env).wasm_tools))


def _p2_adapter(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    return "" if for_signature else one_word(str(component_tools_plan(env).adapter))


def _adapt_flag(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    return "" if for_signature else one_word(f"wasi_snapshot_preview1={component_tools_plan(env).adapter}")


_LINK_ACTION = SCons.Action.Action("$WASI_LINKCOM", "$WASI_LINKCOMSTR")
_WASM_OPT_ACTION = SCons.Action.Action("$WASI_WASMOPTCOM", "$WASI_WASMOPTCOMSTR")


def _keeps_names(env: Any) -> bool:
    """WASI_NAMES (on by default): write <module>.wasm.names beside a core module, for symbolized traps. Not for
    a component (WASI_TARGET='wasm32-wasip2'), whose core module wasm-tools wraps."""
    return (buildvars.flag("WASI_NAMES", env.get("WASI_NAMES", True))
            and not buildvars.is_component_target(variable(env, "WASI_TARGET")))


def _split_names(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    """<module>.wasm.names from the module's name section; then, unless WASI_STRIP is false, the module without
    the sections -s leaves out, so its bytes are what -s gives."""
    from pathlib import Path

    from wasi_toolchain.targets.symbolize import split_names, write_names

    module, names = Path(str(target[0])), Path(str(target[1]))
    try:
        if buildvars.flag("WASI_STRIP", env.get("WASI_STRIP", True)):
            split_names(module, names)
        else:
            write_names(module, names)
    except (OSError, ValueError) as e:
        raise SCons.Errors.BuildError(node=target[1], errstr=f"cannot read the function names of {module}: {e}",
                                      exitstatus=2) from None
    return 0


_SPLIT_NAMES_ACTION = SCons.Action.Action(_split_names, None)


def _link_actions(source: Any, target: Any, env: Any, for_signature: bool) -> Any:
    """The link; in size mode, then wasm-opt over the linked module, in place; for a component target, then
    wasm-tools wraps the core module into a component, in place (one builder, one output); for a core module with
    WASI_NAMES (the default), last, the names file is split off the module (see _split_names)."""
    actions = [_LINK_ACTION, *([_WASM_OPT_ACTION] if _size_mode(env) else [])]
    if buildvars.is_component_target(variable(env, "WASI_TARGET")):
        return [*actions, _COMPONENT_ACTION]
    if len(target) > 1:
        return [*actions, _SPLIT_NAMES_ACTION]
    return actions if len(actions) > 1 else _LINK_ACTION


def _strip_flag(target: Any, source: Any, env: Any, for_signature: bool) -> str:
    """-s unless WASI_STRIP is false: stripped output is path-independent. With WASI_NAMES, the link keeps the name
    section (--strip-debug leaves out only debug info), and _split_names leaves out the rest of what -s would."""
    if not buildvars.flag("WASI_STRIP", env.get("WASI_STRIP", True)):
        return ""
    return "-Wl,--strip-debug" if _keeps_names(env) else "-s"


def _exec_flags(target: Any, source: Any, env: Any, for_signature: bool) -> list[str]:
    model = buildvars.exec_model(variable(env, "WASI_EXECMODEL"))
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
    if "LIBS" not in env:
        return []  # what that scanner finds without LIBS, without making the override environment per program
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
        stop(
            "this SCons's compilation_db tool does not keep (target, source, env, action) entries in "
            "__COMPILATION_DB_ENTRIES, so WASI objects cannot be added to compile_commands.json\n  next step: use "
            "the SCons version pinned in requirements.txt")
    language = "c++" if buildvars.is_cxx_source(str(source[0])) else "c"
    # Without the distcc launcher: clangd and other readers of the database want the compiler itself.
    entries.append((target[0], source[0], env.Override({"_WASI_DISTCC": ""}), _COMPILATION_DB_ACTIONS[language]))


# -- the tool ------------------------------------------------------------------------------------------------------
def set_commands(env: Any) -> None:
    """The command lines. Everything machine-specific is inside $( $); sources and targets are SCons nodes, which
    render relative to the top directory (where SCons runs commands)."""
    toolchain = env["WASI_TOOLCHAIN"]
    env["WASI_CC"] = one_word(f"{toolchain.bin_dir}/clang")
    env["WASI_AR"] = one_word(f"{toolchain.bin_dir}/llvm-ar")
    env["_WASI_SYSROOTFLAG"] = one_word(f"--sysroot={toolchain.sysroot}")
    env["_WASI_FUSELDFLAG"] = one_word(f"-fuse-ld={toolchain.bin_dir}/wasm-ld")
    env["_WASI_PREFIXMAPS"] = _prefix_maps
    env["_WASI_OPTFLAG"] = _optimize_flag
    env["_WASI_STACKFLAG"] = _stack_flag
    for name in HOST_FLAGS:
        env[f"_WASI_HOST{name}"] = host_flag(name)
    env["_WASI_STRIPFLAG"] = _strip_flag
    env["_WASI_WASMOPT"] = _wasm_opt_command
    env["_WASI_WASMOPTFLAGS"] = _wasm_opt_flags
    env["_WASI_EXECFLAGS"] = _exec_flags
    env["_WASI_LINKMODE"] = _link_mode
    env["_WASI_TARGETFLAG"] = _target_flag
    env["_WASI_SETJMPFLAGS"] = _setjmp_compile_flags
    env["_WASI_SETJMPLIB"] = _setjmp_library_flag
    env["_WASI_EMULATEDEFS"] = _emulation_defines
    env["_WASI_CXXEHFLAGS"] = _cxx_exception_flags
    env["_WASI_CXXEHINCLUDES"] = _cxx_exception_includes
    env["_WASI_CXXEHLIBDIR"] = _cxx_exception_library_dir
    env["_WASI_CXXEHLIBS"] = _cxx_exception_libraries
    env["_WASI_EMULATELIBS"] = _emulation_libraries
    # Our own prefixes, not the host tools' INCPREFIX/LIBLINKPREFIX/…: with tools=['default', 'wasi'] those belong
    # to the host compiler.
    env["_WASI_CPPDEFFLAGS"] = _define_flags
    env["_WASI_CPPINCFLAGS"] = _include_flags
    env["_WASI_LIBDIRFLAGS"] = _library_dir_flags
    env["_WASI_LIBFLAGS"] = _library_flags
    env["_WASI_SYSLIBFLAGS"] = _sysroot_library_flags
    env["_WASI_DISTCC"] = distcc_launcher
    # Each host flag variable (applied only without a host compiler, see host_flags.py) just before its WASI_* one, so
    # the WASI_* flags, the more specific, come later and win.
    compile_head = ("$( $_WASI_DISTCC $WASI_CC $) $_WASI_TARGETFLAG $( $_WASI_SYSROOTFLAG $_WASI_PREFIXMAPS $) "
                    "$_WASI_SETJMPFLAGS $_WASI_OPTFLAG $_WASI_HOSTCCFLAGS $WASI_CCFLAGS")
    compile_tail = "$_WASI_EMULATEDEFS $_WASI_CPPDEFFLAGS $_WASI_CPPINCFLAGS -c -o $TARGET $SOURCES"
    env["WASI_CCCOM"] = f"{compile_head} $_WASI_HOSTCFLAGS $WASI_CFLAGS {compile_tail}"
    env["WASI_CXXCOM"] = (f"{compile_head} $_WASI_HOSTCXXFLAGS $WASI_CXXFLAGS $_WASI_CXXEHFLAGS "
                         f"$( $_WASI_CXXEHINCLUDES $) {compile_tail}")
    env["_WASI_LINKSYSROOT"] = _link_sysroot
    env["WASI_LINKCOM"] = ("$( $WASI_CC $) $_WASI_LINKMODE $_WASI_TARGETFLAG $( $_WASI_LINKSYSROOT "
                           "$_WASI_FUSELDFLAG $) $_WASI_STACKFLAG $_WASI_OPTFLAG $_WASI_HOSTLINKFLAGS "
                           "$WASI_LINKFLAGS $_WASI_EXECFLAGS "
                           "$_WASI_STRIPFLAG -o $TARGET $SOURCES $( $_WASI_CXXEHLIBDIR $) $_WASI_LIBDIRFLAGS "
                           "$_WASI_LIBFLAGS $_WASI_SYSLIBFLAGS $_WASI_EMULATELIBS $_WASI_SETJMPLIB $_WASI_CXXEHLIBS")
    env["WASI_WASMOPTCOM"] = "$( $_WASI_WASMOPT $) $_WASI_WASMOPTFLAGS $TARGET -o $TARGET"
    # WASI_TARGET='wasm32-wasip2': the linked core module becomes a component in place (wasm-tools reads its whole
    # input before writing). The adapter satisfies the preview-1 imports of the wasip2 libc (component_tools.py).
    env["WASI_WASM_TOOLS"] = _wasm_tools
    env["WASI_P2_ADAPTER"] = _p2_adapter
    env["_WASI_ADAPTFLAG"] = _adapt_flag
    env["WASI_COMPONENTCOM"] = ("$( $WASI_WASM_TOOLS $) component new $TARGET "
                                "$( --adapt $_WASI_ADAPTFLAG $) -o $TARGET")
    # D: zero timestamps, uids and modes, so the archive's bytes depend only on its members.
    env["WASI_ARCOM"] = "$( $WASI_AR $) rcsD $TARGET $SOURCES"


# SCons's implicit command dependency (on by default) substitutes each target's whole command line, on every run, to
# find its first word. Ours start with `$( $WASI_CC $)`, which is left out of that substitution as of any signature,
# so the lookup finds nothing (the first word left is --target=…) and costs a full substitution per target, the
# largest per-target cost of a null build. The compiler is tracked by the toolchain node instead (its name is the
# sysroot key), so the lookup is turned off for the tool's builders only; host builders keep SCons's default.
_BUILDER_OVERRIDES = {"IMPLICIT_COMMAND_DEPENDENCIES": 0}

_COMPONENT_ACTION = SCons.Action.Action("$WASI_COMPONENTCOM", "$WASI_COMPONENTCOMSTR")


def add_builders(env: Any) -> None:
    import SCons.Scanner.C

    from .batching import BatchCacheDir, CompileAction

    # A CacheDir (--cache-dir, CacheDir(), the remote cache's local level) retrieves a batch all or none.
    env.SetDefault(CACHEDIR_CLASS=BatchCacheDir)
    # targets: what SCons prepares (removes) before the action runs; in a batch, only the members it recompiles.
    compile_c = CompileAction("$WASI_CCCOM", cmdstr="$WASI_CCCOMSTR", targets="$CHANGED_TARGETS")
    compile_cxx = CompileAction("$WASI_CXXCOM", cmdstr="$WASI_CXXCOMSTR", targets="$CHANGED_TARGETS")
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
        action=SCons.Action.CommandGeneratorAction(_link_actions, {}),
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

