"""Function names for trap backtraces: reading a module's `name` section, the names file, and the rewrite of
wasmtime's `<wasm function N>` (wasi_toolchain.targets.symbolize), the stripping that makes the shipped module what -s
gives, and `scons wasi-symbolize`. The modules here are built by the test, byte by byte, or by the stand-in linker."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import make_project, run_scons
from support.standin import fake_entry
from wasi_toolchain.targets import symbolize

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


def _section(section_id: int, payload: bytes) -> bytes:
    return bytes([section_id]) + _leb(len(payload)) + payload


def _custom(name: str, payload: bytes) -> bytes:
    return _section(0, _vec_name(name) + payload)


def test_stripping_leaves_out_what_the_linker_leaves_out_under_s_and_keeps_the_rest() -> None:
    type_section = _section(1, b"\x01\x60\x00\x00")  # one type: () -> ()
    users_own = _custom("my.metadata", b"kept, as wasm-ld -s keeps a custom section from the user's objects")
    linked = (b"\0asm\x01\0\0\0" + type_section + users_own + module_with_names({0: "main"})[8:]
              + _custom("target_features", b"\x01+\x0bbulk-memory"))
    assert symbolize.strip_like_linker(linked) == b"\0asm\x01\0\0\0" + type_section + users_own
    with pytest.raises(ValueError, match="runs past the end"):
        symbolize.strip_like_linker(linked[:-3])


def test_split_names_writes_the_names_then_rewrites_the_module_keeping_its_mode(tmp_path: Path) -> None:
    module = tmp_path / "app.wasm"
    module.write_bytes(module_with_names({3: "robust_open", 4: "unix_open"}))
    module.chmod(0o751)
    symbolize.split_names(module, symbolize.names_path(module))
    assert symbolize.names_path(module).read_text() == "3 robust_open\n4 unix_open\n"
    assert module.read_bytes() == b"\0asm\x01\0\0\0"  # the name and producers sections both left out
    assert module.stat().st_mode & 0o777 == 0o751
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.wasm", "app.wasm.names"]  # no temporary left


def test_split_names_leaves_a_malformed_module_as_it_was(tmp_path: Path) -> None:
    module = tmp_path / "app.wasm"
    truncated = module_with_names({3: "robust_open"})[:-2]
    module.write_bytes(truncated)
    with pytest.raises(ValueError):
        symbolize.split_names(module, symbolize.names_path(module))
    assert module.read_bytes() == truncated


def test_scons_wasi_symbolize_builds_the_module_then_names_a_trap_from_a_file_or_stdin(tmp_path: Path) -> None:
    project = make_project(tmp_path / "proj", {
        "src/a.c": "int main(void) { return 0; }\n",
        "SConstruct": "env = Environment(tools=['wasi'])\nenv.WasiProgram('out/app', ['src/a.c'])\n"})
    cache = tmp_path / "cache"
    fake_entry(project, cache)  # its linker names function 0 `standin_clang`
    env = {"WASI_CACHE_DIR": str(cache)}
    trap = "    0:    0x1e1 - <unknown>!<wasm function 0>\n    1:    0x1c5 - <unknown>!<wasm function 5>\n"
    (project / "trap.txt").write_text(trap)

    from_file = run_scons(project, "-Q", "wasi-symbolize", "out/app.wasm", "trap.txt", env=env)
    assert from_file.returncode == 0, from_file.stderr
    assert (project / "out/app.wasm.names").is_file()  # built first: the module was not there
    assert from_file.stdout.endswith("    0:    0x1e1 - standin_clang (wasm function 0)\n"
                                     "    1:    0x1c5 - <unknown>!<wasm function 5>\n")
    assert "up to date" not in from_file.stdout and "trap.txt" not in from_file.stdout + from_file.stderr
    from_stdin = run_scons(project, "-Q", "wasi-symbolize", "out/app.wasm", env=env, stdin=trap)
    assert from_stdin.returncode == 0 and "standin_clang (wasm function 0)" in from_stdin.stdout, from_stdin.stderr
    assert (project / "out/app.wasm.names").is_file()  # an up-to-date program's names are left alone

    missing = run_scons(project, "-Q", "wasi-symbolize", "out/app.wasm", "no-such-trap.txt", env=env)
    assert missing.returncode == 2
    assert "scons: *** [wasi-symbolize] wasi-symbolize: the trap text file no-such-trap.txt does not exist" in \
        missing.stderr and "Traceback" not in missing.stderr
    no_module = run_scons(project, "-Q", "wasi-symbolize", env=env)
    assert no_module.returncode == 2 and "it needs a module" in no_module.stderr
    (project / "out/app.wasm.names").unlink()
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    nameless = run_scons(project, "-Q", "wasi-symbolize", "out/app.wasm", "trap.txt", env=env)
    assert nameless.returncode == 2 and "out/app.wasm.names does not exist" in nameless.stderr
    assert "next step:" in nameless.stderr
