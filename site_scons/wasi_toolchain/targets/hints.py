"""One line of advice for a failed link or compile: what to do about `undefined symbol: getpid`, a header that the
WASI sysroot lacks, or a compiler error the tool's settings explain (`cannot use 'throw' with exceptions disabled`). The advice is data (hints.toml beside this module); this module only reads the tools' output."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

HINTS_FILE = Path(__file__).with_name("hints.toml")
KINDS = ("symbols", "headers", "diagnostics")
PREFIX = "wasi: hint: "
# wasm-ld: "wasm-ld: error: build/x.o: undefined symbol: getpid"; C++ names come demangled, "foo(int)".
_UNDEFINED = re.compile(r"undefined symbol: ([A-Za-z_][A-Za-z0-9_]*)")
# clang: "x.c:1:10: fatal error: 'sys/wait.h' file not found"
_MISSING_HEADER = re.compile(r"'([^'\n]+)' file not found")
# clang: "x.cpp:3:5: error: cannot use 'throw' with exceptions disabled"; the table's keys are the message itself.
_DIAGNOSTIC = re.compile(r"error: (cannot use '[a-z_]+' with exceptions disabled)")
# Colour codes clang puts in its diagnostics when they go to a terminal.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@cache
def table(path: Path = HINTS_FILE) -> dict[str, dict[str, str]]:
    """{'symbols': {name: advice}, 'headers': {name: advice}, 'diagnostics': {message: advice}}, read once."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {kind: {str(k): str(v) for k, v in data.get(kind, {}).items()} for kind in KINDS}


def hint_for(output: str, hints: dict[str, dict[str, str]] | None = None) -> str | None:
    """The advice line for a failed command's stderr, or None when nothing in it is in the table.

    Names that share their advice are grouped, so the line stays one line: `getpid → WASI_EMULATE=['getpid'] …;
    system, fork → WASI has no processes …`."""
    hints = table() if hints is None else hints
    text = _ANSI.sub("", output)
    found = [("symbols", m.group(1)) for m in _UNDEFINED.finditer(text)]
    found += [("headers", m.group(1)) for m in _MISSING_HEADER.finditer(text)]
    found += [("diagnostics", m.group(1)) for m in _DIAGNOSTIC.finditer(text)]
    names_by_advice: dict[str, list[str]] = {}
    for kind, name in found:
        advice = hints[kind].get(name)
        if advice is not None and name not in names_by_advice.setdefault(advice, []):
            names_by_advice[advice].append(name)
    if not names_by_advice:
        return None
    return PREFIX + "; ".join(f"{', '.join(names)} → {advice}" for advice, names in names_by_advice.items())
