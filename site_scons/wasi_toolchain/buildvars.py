"""The builders' own construction variables: validated values and the flags they turn into.

Plain Python (no SCons), so the SCons glue stays a thin layer and every bad value becomes a ConfigError that says
which variable, what was expected and what it got.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Literal

from .config import boolean_word
from .errors import ConfigError

ExecModel = Literal["command", "reactor"]
EXEC_MODELS: tuple[ExecModel, ...] = ("command", "reactor")
# Both spellings name WASI preview 1; clang 19 accepts both and the sysroot serves both (see sysroot.py).
TARGETS = ("wasm32-wasi", "wasm32-wasip1")
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
                          hint="use WASI_TARGET='wasm32-wasi' (the default) or 'wasm32-wasip1'; both are WASI "
                               "preview 1")
    return str(value)


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


def link_flags(model: ExecModel, export_names: Iterable[str]) -> list[str]:
    """The flags that make a command or a reactor and export the named functions."""
    flags = ["-mexec-model=reactor"] if model == "reactor" else []
    return flags + [f"-Wl,--export={name}" for name in export_names]


def is_cxx_source(path: str) -> bool:
    return path.endswith(CXX_SUFFIXES)
