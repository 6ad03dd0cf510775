"""Read the section list of a .wasm file (enough to check for custom sections such as `name`)."""

from __future__ import annotations

from pathlib import Path


def _uleb128(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return result, pos


def sections(path: Path) -> list[tuple[int, str]]:
    """(id, custom section name or '') for every section, in order."""
    data = path.read_bytes()
    if data[:8] != b"\0asm\x01\0\0\0":
        raise ValueError(f"{path} is not a wasm v1 module")
    pos, found = 8, []
    while pos < len(data):
        section_id = data[pos]
        size, pos = _uleb128(data, pos + 1)
        name = ""
        if section_id == 0:
            length, name_pos = _uleb128(data, pos)
            name = data[name_pos:name_pos + length].decode()
        found.append((section_id, name))
        pos += size
    return found
