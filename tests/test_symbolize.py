"""Function names for trap backtraces: reading a module's `name` section, the names file, and the rewrite of
wasmtime's `<wasm function N>` (wasi_toolchain.symbolize). The modules here are built by the test, byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from wasi_toolchain import symbolize

TRAP = ("error while executing at wasm backtrace:\n"
        "    0:    0x1e1 - <unknown>!<wasm function 8>\n"
        "    1:    0x1c5 - <unknown>!<wasm function 7>\n"
        "    2:    0x188 - <unknown>!<wasm function 42>\n")


def _leb(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _vec_name(text: str) -> bytes:
    data = text.encode()
    return _leb(len(data)) + data


def module_with_names(names: dict[int, str]) -> bytes:
    """A wasm header, an unrelated custom section, then a `name` section with a module-name subsection (0) before
    the function names (1), as wasm-ld writes them."""
    functions = _leb(len(names)) + b"".join(_leb(i) + _vec_name(n) for i, n in names.items())
    subsections = bytes([0]) + _leb(len(_vec_name("m"))) + _vec_name("m") + bytes([1]) + _leb(len(functions)) + functions
    payload = _vec_name("name") + subsections
    other = _vec_name("producers") + b"\x00"
    return (b"\0asm\x01\0\0\0" + b"\x00" + _leb(len(other)) + other + b"\x00" + _leb(len(payload)) + payload)


def test_function_names_are_read_from_the_name_section() -> None:
    names = {7: "unix_open", 8: "robust_open", 300: "vdbeSorterOpenTempFile"}
    assert symbolize.function_names(module_with_names(names)) == names
    assert symbolize.function_names(b"\0asm\x01\0\0\0") == {}
    with pytest.raises(ValueError, match="not a wasm v1 module"):
        symbolize.function_names(b"not wasm")


def test_a_backtrace_gets_the_names_and_unknown_indices_stay() -> None:
    text = symbolize.symbolize(TRAP, {7: "unix_open", 8: "robust_open"})
    assert "0x1e1 - robust_open (wasm function 8)\n" in text
    assert "0x1c5 - unix_open (wasm function 7)\n" in text
    assert "<unknown>!<wasm function 42>" in text


def test_the_names_file_round_trips_and_the_command_line_uses_it(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    unstripped = tmp_path / "unstripped.wasm"
    unstripped.write_bytes(module_with_names({7: "unix_open", 8: "robust_open"}))
    module = tmp_path / "app.wasm"
    symbolize.write_names(unstripped, symbolize.names_path(module))
    assert symbolize.names_path(module).read_text() == "7 unix_open\n8 robust_open\n"
    trap = tmp_path / "trap.txt"
    trap.write_text(TRAP)
    assert symbolize.main([str(module), str(trap)]) == 0
    assert "robust_open (wasm function 8)" in capsys.readouterr().out
    assert symbolize.symbolize_for(tmp_path / "other.wasm", TRAP) == TRAP  # no names file: unchanged
    assert symbolize.main([str(tmp_path / "other.wasm"), str(trap)]) == 1
    assert "other.wasm.names does not exist" in capsys.readouterr().err
