"""The builders' own construction variables: validated values and the flags they turn into.

Plain Python (no SCons), so the SCons glue stays a thin layer and every bad value becomes a ConfigError that says
which variable, what was expected and what it got.
"""

from __future__ import annotations

import re
from collections import UserList
from collections.abc import Iterable, Sequence
from typing import Literal

from ..settings import boolean_word
from ..errors import ConfigError

ExecModel = Literal["command", "reactor"]
Optimize = Literal["speed", "size"]
# WASI_OPTIMIZE: the -O flag of every compile and link, kept apart from WASI_CCFLAGS/WASI_LINKFLAGS so that a
# per-call flag list does not drop it ('speed' is the -O2 those lists used to hold). 'size' also runs wasm-opt.
OPTIMIZE_FLAGS: dict[str, str] = {"speed": "-O2", "size": "-Oz"}
EXEC_MODELS: tuple[ExecModel, ...] = ("command", "reactor")
# Both spellings name WASI preview 1 and the sysroot serves both. clang 22 deprecates wasm32-wasi (a -Wdeprecated
# warning, an error under -Werror), so both are passed to clang as wasm32-wasip1, which gives the same bytes.
# wasm32-wasip2 builds a preview-2 component: compiled against the sysroot's wasm32-wasip2 headers, linked by
# wasm-ld into a core module, then wrapped by `wasm-tools component new` (component_tools.py).
TARGETS = ("wasm32-wasip1", "wasm32-wasi", "wasm32-wasip2")
COMPONENT_TARGETS = ("wasm32-wasip2",)
CLANG_TARGET = {"wasm32-wasip1": "wasm32-wasip1", "wasm32-wasi": "wasm32-wasip1", "wasm32-wasip2": "wasm32-wasip2"}

# setjmp/longjmp through Wasm exception handling: clang >= 20 lowers setjmp/longjmp to the exception-handling
# proposal's try_table/throw (not the legacy `try`, which wasmtime 50 refuses), and libsetjmp.a provides the
# runtime. Code that never calls setjmp compiles to the same bytes with these flags (measured on the samples), so
# they are on by default; a module that does call it needs a runtime with Wasm exceptions enabled.
SETJMP_COMPILE_FLAGS = ("-mllvm", "-wasm-enable-sjlj", "-mllvm", "-wasm-use-legacy-eh=false")
SETJMP_LIBRARY = "setjmp"

# WASI_CXX_EXCEPTIONS: C++ with exceptions. C++ sources compile with Wasm exception handling in the standard (exnref)
# encoding, the one the setjmp flags above use (-fexceptions after the default WASI_CXXFLAGS' -fno-exceptions, which
# would otherwise win), against the headers of the runtime built for it (toolchain/cxx_runtime.py); a C++ link takes
# libc++ and libc++abi from that runtime, adds its libunwind, and wraps __main_void so that an exception leaving
# main() ends in std::terminate and its message (see cxx_runtime_recipe.MAIN_WRAPPER_SOURCE).
CXX_EXCEPTION_COMPILE_FLAGS = ("-fexceptions", "-fwasm-exceptions", "-mllvm", "-wasm-use-legacy-eh=false")
CXX_EXCEPTION_LIBRARY = "unwind"
CXX_EXCEPTION_COMMAND_LINK_FLAGS = ("-Wl,--wrap=__main_void",)

# WASI_EMULATE: wasi-libc's emulations of what WASI preview 1 lacks, each a define (without which its header says
# `#error … compile with -D_WASI_EMULATED_…`) and a library. Data, so adding one is a line here.
EMULATIONS: dict[str, tuple[str, str]] = {
    "signal": ("_WASI_EMULATED_SIGNAL", "wasi-emulated-signal"),
    "mman": ("_WASI_EMULATED_MMAN", "wasi-emulated-mman"),
    "process-clocks": ("_WASI_EMULATED_PROCESS_CLOCKS", "wasi-emulated-process-clocks"),
    "getpid": ("_WASI_EMULATED_GETPID", "wasi-emulated-getpid"),
}
C_SUFFIXES = (".c",)
# '.C' is left out on purpose: on a case-insensitive file system it cannot be told apart from '.c'.
CXX_SUFFIXES = (".cpp", ".cc", ".cxx", ".c++")
_EXPORT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def flag(name: str, value: object) -> bool:
    """A boolean variable: True/False, 0/1, or the words yes/no, true/false, on/off."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and (word := boolean_word(value)) is not None:
        return word
    raise ConfigError(f"{name}: expected a boolean (True/False, 1/0, yes/no), got {value!r}",
                      hint=f"set {name}=0 or {name}=1")


def target(value: object) -> str:
    if value not in TARGETS:
        raise ConfigError(f"WASI_TARGET: expected one of {', '.join(TARGETS)}, got {value!r}",
                          hint="use WASI_TARGET='wasm32-wasip1' (the default) or its older name 'wasm32-wasi', "
                               "both WASI preview 1, or 'wasm32-wasip2' for a preview-2 component")
    return str(value)


def check_program_sources(program: str, sources: Sequence[object]) -> None:
    """A program with nothing to link is a mistake (an empty Glob, a list left empty): wasm-ld would link crt1 and
    the libc alone into a module that does nothing and exits 0."""
    if not sources:
        raise ConfigError(f"WasiProgram {program}: no sources; expected at least one C/C++ source, object or "
                          f"library node", hint="pass the program's sources, e.g. env.WasiProgram('build/app', "
                                                "['src/main.c']); check a Glob() that matched nothing")


def is_component_target(value: object) -> bool:
    return target(value) in COMPONENT_TARGETS


def check_component_program(target_name: str, cxx: bool, execmodel: object, libc: str = "debian") -> None:
    """What a wasm32-wasip2 program cannot have with the pinned parts: the 'source' libc flavour (the 2022 wasi-libc
    has no wasip2), C++ (Debian builds libc++ for wasm32-wasi only) and the reactor model (reactor components
    export through WIT, which this tool does not write). setjmp works: the wasip2 libsetjmp.a exists."""
    if libc == "source":
        raise ConfigError(f"WASI_TARGET={target_name!r}: the 'source' libc flavour (the 2022 wasi-libc source) has "
                          f"no wasm32-wasip2 headers or libraries",
                          hint="use the default WASI_LIBC='debian' for components")
    if cxx:
        raise ConfigError(f"WASI_TARGET={target_name!r}: C++ cannot be built as a preview-2 component: the pinned "
                          f"libc++ (Debian's libc++-dev-wasm32) is built for wasm32-wasi only, with no "
                          f"wasm32-wasip2 libraries or headers",
                          hint="build C++ with WASI_TARGET='wasm32-wasip1', or keep the component's sources C")
    if execmodel == "reactor":
        raise ConfigError(f"WASI_TARGET={target_name!r}: WASI_EXECMODEL='reactor' is not supported for components "
                          f"(a reactor component exports functions through a WIT world, which this tool does not "
                          f"write)", hint="leave WASI_EXECMODEL='command', or use WASI_TARGET='wasm32-wasip1'")


def clang_target(value: object) -> str:
    """What --target gets for a WASI_TARGET: never a spelling clang warns about."""
    return CLANG_TARGET[target(value)]


def emulations(value: object) -> list[str]:
    """WASI_EMULATE: a list of names from EMULATIONS (a single string is one name), each once, in order given."""
    names: Iterable[object] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    known = ", ".join(repr(name) for name in EMULATIONS)
    if not isinstance(names, (list, tuple)):
        raise ConfigError(f"WASI_EMULATE: expected a list of emulation names, got {value!r}",
                          hint=f"e.g. WASI_EMULATE=['signal', 'mman']; known: {known}")
    result: list[str] = []
    for name in names:
        if not isinstance(name, str) or name not in EMULATIONS:
            raise ConfigError(f"WASI_EMULATE: expected names from {known}, got {name!r}",
                              hint="each adds wasi-libc's -D_WASI_EMULATED_… define and its library")
        if name not in result:
            result.append(name)
    return result


def setjmp_enabled(value: object, libc: str) -> bool:
    """WASI_SETJMP: 'auto' (the default) is on where the libc has setjmp (the 'debian' flavour) and off where it has
    not (the 2022 source); True where it has not is an error rather than a link failure."""
    if value == "auto":
        return libc != "source"
    enabled = flag("WASI_SETJMP", value)
    if enabled and libc == "source":
        raise ConfigError("WASI_SETJMP: the 'source' libc flavour (the 2022 wasi-libc source) has no setjmp/longjmp "
                          "(no setjmp.h, no libsetjmp.a)",
                          hint="use the default WASI_LIBC='debian', or leave WASI_SETJMP unset")
    return enabled


def cxx_exceptions(value: object, target_name: str, libc: str) -> bool:
    """WASI_CXX_EXCEPTIONS: a boolean; on, it needs a target and libc flavour the runtime is built for."""
    enabled = flag("WASI_CXX_EXCEPTIONS", value)
    if enabled and target(target_name) in COMPONENT_TARGETS:
        raise ConfigError(f"WASI_CXX_EXCEPTIONS: C++ cannot be built for WASI_TARGET={target_name!r}, with or without "
                          f"exceptions: the pinned libc++ is built for wasm32-wasi only, and so is the runtime with "
                          f"exceptions (its libunwind and libc++abi)",
                          hint="build C++ with exceptions for WASI_TARGET='wasm32-wasip1'")
    if enabled and libc == "source":
        raise ConfigError("WASI_CXX_EXCEPTIONS: the C++ runtime with exceptions is built on the 'debian' libc flavour; "
                          "the 'source' one (the 2022 wasi-libc source) has no setjmp and predates what libc++ 22 "
                          "needs", hint="use the default WASI_LIBC='debian' for C++ with exceptions")
    return enabled


def optimize(value: object) -> Optimize:
    if value == "speed":
        return "speed"
    if value == "size":
        return "size"
    raise ConfigError(f"WASI_OPTIMIZE: expected 'speed' or 'size', got {value!r}",
                      hint="'speed' (the default) compiles and links with -O2; 'size' with -Oz, then runs wasm-opt -Oz "
                           "on the linked module")


def exec_model(value: object) -> ExecModel:
    if value == "command":
        return "command"
    if value == "reactor":
        return "reactor"
    raise ConfigError(f"WASI_EXECMODEL: expected 'command' or 'reactor', got {value!r}",
                      hint="'command' modules run main() through _start; 'reactor' modules are libraries whose "
                           "functions (named in WASI_EXPORTS) the host calls after _initialize")


def exports(value: object) -> list[str]:
    """WASI_EXPORTS: the C symbol names to export, as a list (a single string is one name)."""
    names: Iterable[object] = [value] if isinstance(value, str) else value  # type: ignore[assignment]
    if not isinstance(names, (list, tuple)):
        raise ConfigError(f"WASI_EXPORTS: expected a list of function names, got {value!r}",
                          hint="e.g. WASI_EXPORTS=['add', 'checksum']")
    result = []
    for name in names:
        if not isinstance(name, str) or not _EXPORT_NAME.fullmatch(name):
            raise ConfigError(f"WASI_EXPORTS: expected C identifiers, got {name!r}",
                              hint="name the functions as they are spelled in C (use extern \"C\" in C++)")
        result.append(name)
    return result


def flag_list(name: str, value: object) -> list[object]:
    """WASI_CCFLAGS, WASI_CFLAGS, WASI_CXXFLAGS, WASI_LINKFLAGS, WASI_LIBS (and CCFLAGS & co. where they apply): a
    list of strings, or one string, which SCons splits at spaces. Nested lists are flattened, as SCons does; SCons
    objects (a node, a Literal) are left to SCons. A number, None or a dict would reach clang as a file name."""
    if isinstance(value, str):
        return [value]
    if not isinstance(value, (list, tuple, UserList)):  # UserList: SCons's CLVar, what env.Append makes
        raise ConfigError(f"{name}: expected a list of strings, got {type(value).__name__} {value!r}",
                          hint=f"e.g. {name}={_EXAMPLES.get(name, ['-DNAME'])!r}")
    flags: list[object] = []
    for item in value:  # type: ignore[attr-defined]
        if isinstance(item, (list, tuple)):
            flags += flag_list(name, item)
        elif isinstance(item, (bool, int, float, bytes, dict, set)) or item is None:
            raise ConfigError(f"{name}: expected strings, got {type(item).__name__} {item!r} in {value!r}",
                              hint=f"write each flag as a string, e.g. {name}={_EXAMPLES.get(name, ['-DNAME'])!r}")
        else:
            flags.append(item)
    return flags


_EXAMPLES = {"WASI_LIBS": ["c-printscan-long-double"], "WASI_LINKFLAGS": ["-Wl,--export=add"],
             "LINKFLAGS": ["-Wl,--export=add"], "WASI_CXXFLAGS": ["-std=c++20"], "CXXFLAGS": ["-std=c++20"]}

# WASI_STACK_SIZE: bytes of the C stack (wasm-ld -z stack-size). wasm-ld's own default is 64 KiB, 1/128 of Linux's 8
# MiB, which a recursive interpreter overflowed after ~70 nested calls; Rust's wasm32-wasip1 target links with 1 MiB
# (emscripten keeps 64 KiB). 1 MiB costs no resident memory until the stack is used (docs/benchmarks.md: "The C
# stack"). wasm-ld places the stack first, below the data, so an overflow faults just below address 0 instead of
# overwriting data (run.py turns that fault into "stack overflow: raise WASI_STACK_SIZE").
DEFAULT_STACK_SIZE = 1 << 20
MIN_STACK_SIZE = 4 << 10
MAX_STACK_SIZE = 512 << 20
STACK_ALIGN = 16  # wasm-ld: "stack size must be 16-byte aligned"


def stack_size(value: object) -> int:
    if (isinstance(value, bool) or not isinstance(value, int) or not MIN_STACK_SIZE <= value <= MAX_STACK_SIZE
            or value % STACK_ALIGN):
        raise ConfigError(f"WASI_STACK_SIZE: expected bytes, a multiple of {STACK_ALIGN} from {MIN_STACK_SIZE} to "
                          f"{MAX_STACK_SIZE} ({MAX_STACK_SIZE >> 20} MiB), got {value!r}",
                          hint=f"e.g. WASI_STACK_SIZE=4 * 1024 * 1024; the default is {DEFAULT_STACK_SIZE >> 20} MiB")
    return value


def link_flags(model: ExecModel, export_names: Iterable[str]) -> list[str]:
    """The flags that make a command or a reactor and export the named functions."""
    flags = ["-mexec-model=reactor"] if model == "reactor" else []
    return flags + [f"-Wl,--export={name}" for name in export_names]


def is_cxx_source(path: str) -> bool:
    return path.endswith(CXX_SUFFIXES)
