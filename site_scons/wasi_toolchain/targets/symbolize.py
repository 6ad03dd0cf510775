"""Function names for a stripped module's trap backtraces.

A module stripped with -s has no `name` section, so wasmtime can only say ``<wasm function 699>``. So the link
keeps the section (``-Wl,--strip-debug`` in place of -s; in size mode wasm-opt runs with -g, so its output names the
functions it renumbered), writes its function names to ``<module>.wasm.names`` beside the module (one
``INDEX NAME`` line per function), then drops from the module the custom sections -s leaves out
(``strip_like_linker``). The module's bytes are those -s gives: -s only leaves sections out, it renumbers nothing.
``symbolize`` rewrites a backtrace with those names:

    python -m wasi_toolchain.symbolize build/first.wasm < trap.txt      # or: ... build/first.wasm trap.txt
    scons wasi-symbolize build/first.wasm trap.txt
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import RunError
from ..wasm_binary import WASM_V1, sections, uleb128

NAMES_SUFFIX = ".names"
_FUNCTION = re.compile(r"(?:<unknown>!)?<wasm function (\d+)>")
# The custom sections wasm-ld writes itself and leaves out under -s (--strip-all), once --strip-debug has left out
# the .debug_* ones. Custom sections copied from the user's objects stay, as they do under -s. (lld's
# wasm/Writer.cpp: the name section is written unless --strip-all; producers and target_features likewise.)
STRIPPED_BY_LINKER = frozenset({"name", "producers", "target_features"})


def function_names(module: bytes) -> dict[int, str]:
    """Function index -> name, from the module's `name` section (subsection 1); empty if it has none."""
    for section_id, name, start, end in sections(module):
        if section_id == 0 and name == "name":
            _, body = uleb128(module, start + 1)
            name_length, name_pos = uleb128(module, body)
            return _name_section(module[name_pos + name_length:end])
    return {}


def strip_like_linker(module: bytes) -> bytes:
    """``module`` without the custom sections in STRIPPED_BY_LINKER: what -s would have given for the same link."""
    return WASM_V1 + b"".join(module[start:end] for section_id, name, start, end in sections(module)
                               if not (section_id == 0 and name in STRIPPED_BY_LINKER))


def _name_section(data: bytes) -> dict[int, str]:
    pos = 0
    while pos < len(data):
        kind = data[pos]
        size, pos = uleb128(data, pos + 1)
        if kind == 1:  # function names: a vector of (index, name)
            names: dict[int, str] = {}
            count, p = uleb128(data, pos)
            for _ in range(count):
                index, p = uleb128(data, p)
                length, p = uleb128(data, p)
                names[index] = data[p:p + length].decode("utf-8", errors="replace")
                p += length
            return names
        pos += size
    return {}


def names_path(module: Path) -> Path:
    return module.with_name(module.name + NAMES_SUFFIX)


def write_names(unstripped: Path, destination: Path) -> None:
    """The ``INDEX NAME`` lines of ``unstripped``'s function names, in index order, to ``destination``."""
    _write_names_of(unstripped.read_bytes(), destination)


def split_names(module: Path, destination: Path) -> None:
    """Move the function names of ``module`` (linked with its `name` section) to ``destination``; ``module`` is
    rewritten as -s would have written it. The names are written first: a module never ends up stripped without
    its names."""
    data = module.read_bytes()
    _write_names_of(data, destination)
    stripped = strip_like_linker(data)
    temporary = module.with_name(module.name + ".stripping")
    temporary.write_bytes(stripped)
    os.chmod(temporary, os.stat(module).st_mode & 0o777)
    os.replace(temporary, module)


def _write_names_of(module: bytes, destination: Path) -> None:
    names = function_names(module)
    destination.write_text("".join(f"{index} {name}\n" for index, name in sorted(names.items())), encoding="utf-8")


def read_names(path: Path) -> dict[int, str]:
    names: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        index, _, name = line.partition(" ")
        if index.isdigit() and name:
            names[int(index)] = name
    return names


def symbolize(text: str, names: Mapping[int, str]) -> str:
    """``<unknown>!<wasm function 699>`` -> ``robust_open (wasm function 699)``; unknown indices stay as they are."""
    def named(match: re.Match[str]) -> str:
        index = int(match.group(1))
        return f"{names[index]} (wasm function {index})" if index in names else match.group(0)
    return _FUNCTION.sub(named, text)


def symbolize_for(module: Path, text: str) -> str:
    """``text`` with the names from the module's names file, if it has one; unchanged otherwise."""
    try:
        return symbolized(module, text)
    except RunError:
        return text


def symbolized(module: Path, text: str) -> str:
    """``text`` with the names of ``module``; RunError when no names were kept for it."""
    path = names_path(module)
    try:
        names = read_names(path)
    except (OSError, UnicodeDecodeError) as e:
        reason = "does not exist" if isinstance(e, FileNotFoundError) else f"cannot be read ({e})"
        raise RunError(f"{path} {reason}: no function names were kept for {module}",
                       hint="build the module with the tool's default WASI_NAMES=True (components, "
                            "WASI_TARGET='wasm32-wasip2', keep none), then look up the trap again") from None
    return symbolize(text, names)


USAGE = "MODULE.wasm [TRAP_TEXT_FILE]  (the trap text is read from stdin without a file)"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (1, 2):
        print(f"usage: python -m wasi_toolchain.symbolize {USAGE}", file=sys.stderr)
        return 2
    try:
        text = Path(args[1]).read_text(encoding="utf-8", errors="replace") if len(args) == 2 else sys.stdin.read()
        sys.stdout.write(symbolized(Path(args[0]), text))
    except RunError as e:
        print(f"symbolize: error: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"symbolize: error: cannot read the trap text: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
