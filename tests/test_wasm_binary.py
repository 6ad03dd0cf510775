"""wasm_binary: LEB128 against the format's own worked examples, and the section list of a module built here by
hand, byte by byte (the tests' own reader in support/wasm_sections.py is independent of it)."""

from __future__ import annotations

import pytest

from wasi_toolchain.wasm_binary import WASM_V1, sections, sleb128, uleb128


def test_leb128_reads_the_worked_examples_of_the_encoding() -> None:
    assert uleb128(bytes([0xE5, 0x8E, 0x26]), 0) == (624485, 3)
    assert sleb128(bytes([0xC0, 0xBB, 0x78]), 0) == (-123456, 3)
    assert sleb128(bytes([0x7F]), 0) == (-1, 1) and uleb128(bytes([0x7F]), 0) == (127, 1)
    assert sleb128(bytes([0x80, 0x80, 0x04]), 0) == (65536, 3)  # bit 6 of the last byte clear: positive
    with pytest.raises(ValueError, match="truncated LEB128"):
        uleb128(bytes([0x80, 0x80]), 0)


def test_sections_lists_ids_custom_names_and_bounds() -> None:
    custom = b"\x09producers" + b"xyz"  # a custom section: its name (length-prefixed), then its payload
    memory = b"\x01\x00\x01"  # one memory, no maximum, one page
    module = WASM_V1 + b"\x05" + bytes([len(memory)]) + memory + b"\x00" + bytes([len(custom)]) + custom
    assert sections(module) == [(5, None, 8, 13), (0, "producers", 13, len(module))]
    with pytest.raises(ValueError, match="not a wasm v1 module"):
        sections(b"\0asm\x02\0\0\0")
    with pytest.raises(ValueError, match="runs past the end"):
        sections(module[:-1])
