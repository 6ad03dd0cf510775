"""One line of advice for a failed link or compile: what to do about `undefined symbol: getpid`, a function the C
compiler finds undeclared (`call to undeclared function 'fork'`), a header that the WASI sysroot lacks or that
stops with wasi-libc's own `#error` (`compile with -D_WASI_EMULATED_MMAN …`), a libc++ template it does not have
(`std::basic_ifstream`) or a C++ feature that is off (`cannot use 'throw' with exceptions disabled`). The advice is
data (hints.toml beside this module); this module only reads the tools' output."""

from __future__ import annotations

import re
import tomllib
from functools import cache
from pathlib import Path

from .buildvars import EMULATIONS

HINTS_FILE = Path(__file__).with_name("hints.toml")
KINDS = ("symbols", "headers", "diagnostics")
PREFIX = "wasi: hint: "
# wasm-ld: "wasm-ld: error: build/x.o: undefined symbol: getpid"; C++ names come demangled, "foo(int)".
_UNDEFINED = re.compile(r"undefined symbol: ([A-Za-z_][A-Za-z0-9_]*)")
# clang 22 stops a C compile at a call to an undeclared function (C99 has no implicit declarations); in C++ it is an
# undeclared identifier. Both are looked up in [symbols], as the link's undefined symbol would have been.
_UNDECLARED = re.compile(r"(?:call to undeclared function|use of undeclared identifier) '([A-Za-z_][A-Za-z0-9_]*)'")
# clang: "x.c:1:10: fatal error: 'sys/wait.h' file not found"
_MISSING_HEADER = re.compile(r"'([^'\n]+)' file not found")
# wasi-libc's headers: `#error "… compile with -D_WASI_EMULATED_MMAN and link with -lwasi-emulated-mman"` (signal.h,
# sys/mman.h), and the same words in a deprecation of clock(), times(), getpid(): the tool's WASI_EMULATE does both.
_EMULATION_DEFINE = re.compile(r"compile with -D(_WASI_EMULATED_[A-Z_]+)")
# clang: "implicit instantiation of undefined template 'std::basic_ifstream<char>'" (libc++'s inline namespace, when
# clang names it, is dropped to match the table).
_UNDEFINED_TEMPLATE = re.compile(r"undefined template '([A-Za-z_][A-Za-z0-9_:]*)")
_INLINE_NAMESPACE = re.compile(r"::__[A-Za-z0-9_]+::")
_KINDS = ("symbols", "headers", "templates", "diagnostics")
_SYMBOL = re.compile(f"{_UNDEFINED.pattern}|{_UNDECLARED.pattern}")
# Colour codes clang puts in its diagnostics when they go to a terminal.
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


@cache
def table(path: Path = HINTS_FILE) -> dict[str, dict[str, str]]:
    """{'symbols': {name: advice}, 'headers': {…}, 'templates': {…}, 'diagnostics': {text: advice}}, read once."""
    with path.open("rb") as f:
        data = tomllib.load(f)
    return {kind: {str(k): str(v) for k, v in data.get(kind, {}).items()} for kind in _KINDS}


def _emulation_advice(define: str) -> str | None:
    for name, (emulation_define, library) in EMULATIONS.items():
        if emulation_define == define:
            return (f"WASI_EMULATE=['{name}'] (the tool adds -D{define} to every compile and -l{library} to the "
                    f"link)")
    return None


def hint_for(output: str, hints: dict[str, dict[str, str]] | None = None) -> str | None:
    """The advice line for a failed command's stderr, or None when nothing in it is in the table.

    Names that share their advice are grouped, so the line stays one line: `getpid → WASI_EMULATE=['getpid'] …;
    system, fork → WASI has no processes …`."""
    hints = table() if hints is None else hints
    text = _ANSI.sub("", output)
    found: list[tuple[str, str | None]] = []
    for m in _SYMBOL.finditer(text):
        name = m.group(1) or m.group(2)
        found.append((name, hints.get("symbols", {}).get(name)))
    found += [(m.group(1), hints.get("headers", {}).get(m.group(1))) for m in _MISSING_HEADER.finditer(text)]
    found += [(m.group(1), _emulation_advice(m.group(1))) for m in _EMULATION_DEFINE.finditer(text)]
    for m in _UNDEFINED_TEMPLATE.finditer(text):
        name = _INLINE_NAMESPACE.sub("::", m.group(1))
        found.append((name, hints.get("templates", {}).get(name)))
    found += [(message, advice) for message, advice in hints.get("diagnostics", {}).items() if message in text]
    names_by_advice: dict[str, list[str]] = {}
    for name, advice in found:
        if advice is not None and name not in names_by_advice.setdefault(advice, []):
            names_by_advice[advice].append(name)
    if not names_by_advice:
        return None
    return PREFIX + "; ".join(f"{', '.join(names)} → {advice}" for advice, names in names_by_advice.items())
