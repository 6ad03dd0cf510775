"""Function names for a stripped module's trap backtraces.

The shipped module is linked with -s (no `name` section), so wasmtime can only say ``<wasm function 699>``. The
link also writes ``<module>.wasm.names`` beside it: one ``INDEX NAME`` line per function, read from the `name`
section of the same link without -s (the function indices are the same: -s drops sections, it does not renumber).
``symbolize`` rewrites a backtrace with those names:

    python -m wasi_toolchain.symbolize build/first.wasm < trap.txt      # or: ... build/first.wasm trap.txt
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import RunError

NAMES_SUFFIX = ".names"
_FUNCTION = re.compile(r"(?:<unknown>!)?<wasm function (\d+)>")


def _uleb128(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def function_names(module: bytes) -> dict[int, str]:
    """Function index -> name, from the module's `name` section (subsection 1); empty if it has none."""
    if module[:8] != b"\0asm\x01\0\0\0":
        raise ValueError("not a wasm v1 module")
    pos = 8
    while pos < len(module):
        section_id = module[pos]
        size, pos = _uleb128(module, pos + 1)
        end = pos + size
        if section_id == 0:
            name_length, name_pos = _uleb128(module, pos)
            if module[name_pos:name_pos + name_length] == b"name":
                return _name_section(module[name_pos + name_length:end])
        pos = end
    return {}


def _name_section(data: bytes) -> dict[int, str]:
    pos = 0
    while pos < len(data):
        kind = data[pos]
        size, pos = _uleb128(data, pos + 1)
        if kind == 1:  # function names: a vector of (index, name)
            names: dict[int, str] = {}
            count, p = _uleb128(data, pos)
            for _ in range(count):
                index, p = _uleb128(data, p)
                length, p = _uleb128(data, p)
                names[index] = data[p:p + length].decode("utf-8", errors="replace")
                p += length
            return names
        pos += size
    return {}


def names_path(module: Path) -> Path:
    return module.with_name(module.name + NAMES_SUFFIX)


def write_names(unstripped: Path, destination: Path) -> None:
    """The ``INDEX NAME`` lines of ``unstripped``'s function names, in index order, to ``destination``."""
    names = function_names(unstripped.read_bytes())
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
    path = names_path(module)
    try:
        names = read_names(path)
    except (OSError, UnicodeDecodeError):
        return text
    return symbolize(text, names)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (1, 2):
        print("usage: python -m wasi_toolchain.symbolize MODULE.wasm [TRAP_TEXT_FILE]  (text on stdin if no file)",
              file=sys.stderr)
        return 2
    module = Path(args[0])
    if not names_path(module).is_file():
        error = RunError(f"{names_path(module)} does not exist: no function names were kept for {module}",
                         hint="link it with WASI_NAMES=1 (and the default WASI_OPTIMIZE='speed')")
        print(f"symbolize: error: {error}", file=sys.stderr)
        return 1
    text = Path(args[1]).read_text(encoding="utf-8", errors="replace") if len(args) == 2 else sys.stdin.read()
    sys.stdout.write(symbolize_for(module, text))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
