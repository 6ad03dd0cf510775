"""Reading the WebAssembly binary format, as far as the tool needs it: LEB128 numbers and the section list.

Shared by targets/symbolize.py (the name section), targets/stack.py (the stack pointer's start value) and
toolchain/cxx_runtime.py (dropping the producers section from the runtime's objects).
"""

from __future__ import annotations

WASM_V1 = b"\0asm\x01\0\0\0"


def _leb128(data: bytes, pos: int, *, signed: bool) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated LEB128")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return (result - (1 << shift) if signed and byte & 0x40 else result), pos


def uleb128(data: bytes, pos: int) -> tuple[int, int]:
    """An unsigned LEB128 at ``pos``: (value, position after it); ValueError if the data ends inside it."""
    return _leb128(data, pos, signed=False)


def sleb128(data: bytes, pos: int) -> tuple[int, int]:
    """A signed LEB128 at ``pos``: (value, position after it); ValueError if the data ends inside it."""
    return _leb128(data, pos, signed=True)


def sections(module: bytes) -> list[tuple[int, str | None, int, int]]:
    """(id, custom section name or None, start, end) of each section, in order; ValueError if malformed."""
    if module[:8] != WASM_V1:
        raise ValueError("not a wasm v1 module")
    found = []
    pos = 8
    while pos < len(module):
        section_id = module[pos]
        size, body = uleb128(module, pos + 1)
        end = body + size
        if end > len(module):
            raise ValueError(f"section {section_id} at offset {pos} runs past the end of the module")
        name = None
        if section_id == 0:
            name_length, name_pos = uleb128(module, body)
            name = module[name_pos:name_pos + name_length].decode("utf-8", errors="replace")
        found.append((section_id, name, pos, end))
        pos = end
    return found
