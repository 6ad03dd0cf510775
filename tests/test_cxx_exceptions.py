"""WASI_CXX_EXCEPTIONS offline: the switch's values, the command lines it gives (against stand-in entries), the
runtime's key and recipe pieces, the hints when it is off, and the run's message for a host without exceptions.
tests/test_e2e_cxx_exceptions.py builds the real runtime and runs the samples."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import wasmtime

from support.helpers import make_project, run_scons
from support.standin import by_output, fake_entry
from wasi_toolchain.errors import ConfigError, ToolchainError
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.settings import Settings
from wasi_toolchain.store.store import MANIFEST, STAMP
from wasi_toolchain.targets import buildvars
from wasi_toolchain.targets.hints import PREFIX, hint_for
from wasi_toolchain.targets.run import _load_hint
from wasi_toolchain.toolchain import cxx_runtime, cxx_runtime_recipe, sysroot

EH_FLAGS = ["-fexceptions", "-fwasm-exceptions", "-mllvm", "-wasm-use-legacy-eh=false"]


# -- the switch ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [(True, True), (False, False), (1, True), (0, False), ("yes", True),
                                             ("off", False)])
def test_the_switch_is_a_boolean(value: object, expected: bool) -> None:
    assert buildvars.cxx_exceptions(value, "wasm32-wasip1", "debian") is expected


def test_the_switch_refuses_what_the_runtime_is_not_built_for() -> None:
    with pytest.raises(ConfigError, match="expected a boolean"):
        buildvars.cxx_exceptions("sometimes", "wasm32-wasip1", "debian")
    with pytest.raises(ConfigError, match="C\\+\\+ cannot be built for WASI_TARGET='wasm32-wasip2'"):
        buildvars.cxx_exceptions(True, "wasm32-wasip2", "debian")
    with pytest.raises(ConfigError, match="'debian' libc flavour"):
        buildvars.cxx_exceptions(True, "wasm32-wasip1", "source")
    # Off, neither matters: C code and C++ without exceptions build as before for every target and flavour.
    assert buildvars.cxx_exceptions(False, "wasm32-wasip2", "source") is False


def test_the_environment_variable_is_parsed_once() -> None:
    assert Settings.from_environ({"WASI_CXX_EXCEPTIONS": "1"}).cxx_exceptions is True
    assert Settings.from_environ({}).cxx_exceptions is False
    with pytest.raises(ConfigError, match="WASI_CXX_EXCEPTIONS: expected 1 or 0"):
        Settings.from_environ({"WASI_CXX_EXCEPTIONS": "maybe"})


# -- the command lines -----------------------------------------------------------------------------------------------
SOURCES = {
    "main.cpp": "int main() { return 0; }\n",
    "lib.cc": "int part() { return 1; }\n",
    "plain.c": "int main(void) { return 0; }\n",
}
SCONSTRUCT = """\
env = Environment(tools=['wasi'])
eh = env.Clone(WASI_CXX_EXCEPTIONS=True, WASI_OBJSUFFIX='.eh.o')
eh.WasiProgram('out/on', ['main.cpp', 'lib.cc'])
eh.WasiProgram('out/c-on', ['plain.c'])
eh.WasiProgram('out/reactor-on', ['lib.cc'], WASI_EXECMODEL='reactor', WASI_OBJSUFFIX='.reactor.o')
env.WasiProgram('out/off', ['main.cpp', 'lib.cc'])
"""


def _fake_runtime(project: Path, cache: Path) -> cxx_runtime.CxxRuntime:
    """A complete-looking runtime entry for the project's default toolchain (which fake_entry made)."""
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(cache)})
    lock = load_lock(project / "toolchain.lock")
    runtime = cxx_runtime.plan(sysroot.plan(lock, settings), lock, settings)
    runtime.lib_dir.mkdir(parents=True)
    for library in cxx_runtime.LIBRARIES:
        (runtime.lib_dir / library).write_bytes(b"!<arch>\n")
    runtime.include_dir.mkdir(parents=True)
    (runtime.root / STAMP).write_text("{}")
    (runtime.root / MANIFEST).write_text("{}")
    return runtime


def test_the_switch_compiles_cxx_with_exceptions_and_links_the_runtime(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {**SOURCES, "SConstruct": SCONSTRUCT})
    cache = tmp_path / "cache"
    toolchain, log = fake_entry(project, cache)
    runtime = _fake_runtime(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    argv = by_output(log)

    on = argv["main.eh.o"]
    # After the default -fno-exceptions (the last of -fexceptions/-fno-exceptions wins), then the runtime's headers.
    at = on.index("-fno-exceptions")
    assert on[at + 1:at + 8] == [*EH_FLAGS, "-nostdinc++", "-isystem", str(runtime.include_dir)]
    assert argv["lib.eh.o"][argv["lib.eh.o"].index("-fno-exceptions") + 1:][:4] == EH_FLAGS
    for c_or_off in ("plain.eh.o", "main.wasi.o", "lib.wasi.o"):
        assert not {"-fwasm-exceptions", "-nostdinc++"} & set(argv[c_or_off]), c_or_off

    link = argv["out/on.wasm"]
    assert link[0] == "--driver-mode=g++"
    # The runtime's libraries are found before the sysroot's (the driver adds -lc++ -lc++abi after these).
    assert f"-L{runtime.lib_dir}" in link
    assert link[-2:] == ["-lunwind", "-Wl,--wrap=__main_void"]
    assert "-Wl,--wrap=__main_void" not in argv["out/reactor-on.wasm"]  # a reactor has no main
    assert "-lunwind" in argv["out/reactor-on.wasm"]
    for untouched in ("out/c-on.wasm", "out/off.wasm"):
        assert not any(a.startswith(f"-L{runtime.root}") or a in ("-lunwind", "-Wl,--wrap=__main_void")
                       for a in argv[untouched]), untouched


def test_the_environment_variable_is_the_default_of_the_construction_variable(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {**SOURCES, "SConstruct": """\
env = Environment(tools=['wasi'])
env.WasiProgram('out/default', ['main.cpp'])
env.WasiProgram('out/off', ['lib.cc'], WASI_CXX_EXCEPTIONS=False)
"""})
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    _fake_runtime(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache), "WASI_CXX_EXCEPTIONS": "1"})
    assert result.returncode == 0, result.stderr
    argv = by_output(log)
    assert "-fwasm-exceptions" in argv["main.wasi.o"] and "-lunwind" in argv["out/default.wasm"]
    assert "-fwasm-exceptions" not in argv["lib.wasi.o"] and "-lunwind" not in argv["out/off.wasm"]


def test_a_component_with_exceptions_is_refused_at_the_sconstruct_line(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {**SOURCES, "SConstruct": """\
env = Environment(tools=['wasi'])
env.WasiObject('main.cpp', WASI_TARGET='wasm32-wasip2', WASI_CXX_EXCEPTIONS=True)
"""})
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode != 0
    # C++ is refused for components before exceptions are looked at (buildvars.check_component_program).
    assert "scons: *** SConstruct:2: WASI_TARGET='wasm32-wasip2': C++ cannot be built as a preview-2 component" \
           in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


# -- the runtime's key and recipe ------------------------------------------------------------------------------------
def _base(tmp_path: Path, provider: str = "ziglang", libc: str = "debian") -> sysroot.Toolchain:
    return sysroot.Toolchain(key=f"{provider}-linux-x86_64-{'0' * 24}", provider=provider, host="linux-x86_64",
                             root=tmp_path / "base", libc=libc)  # type: ignore[arg-type]


def test_the_key_follows_the_base_and_the_recipe(tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock = load_lock(repo / "toolchain.lock")
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache")})
    zig = cxx_runtime.plan(_base(tmp_path), lock, settings)
    assert zig == cxx_runtime.plan(_base(tmp_path), lock, settings)  # pure: the same inputs, the same key
    assert zig.key.startswith("ziglang-cxx-eh-linux-x86_64-") and zig.root == tmp_path / "cache/sysroots" / zig.key
    debian = cxx_runtime.plan(_base(tmp_path, "debian"), lock, settings)
    assert debian.key.startswith("debian-cxx-eh-") and debian.key != zig.key
    # Both providers build from the same sources: the host's ziglang wheel, which the lock pins.
    assert debian.source == zig.source and zig.source.name.endswith(".whl") and "ziglang" in zig.source.name
    other_base = dataclasses.replace(_base(tmp_path), key=f"ziglang-linux-x86_64-{'1' * 24}")
    assert cxx_runtime.plan(other_base, lock, settings).key != zig.key
    monkeypatch.setattr(cxx_runtime_recipe, "LIBCXX_FLAGS", (*cxx_runtime_recipe.LIBCXX_FLAGS, "-DEXTRA"))
    assert cxx_runtime.plan(_base(tmp_path), lock, settings).key != zig.key


def test_the_runtime_is_not_planned_on_the_source_flavour(tmp_path: Path, repo: Path) -> None:
    lock = load_lock(repo / "toolchain.lock")
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache")})
    with pytest.raises(ToolchainError, match="built on the 'debian' libc flavour"):
        cxx_runtime.plan(_base(tmp_path, libc="source"), lock, settings)


def test_a_host_without_a_ziglang_wheel_is_told_so(repo: Path) -> None:
    lock = load_lock(repo / "toolchain.lock")
    with pytest.raises(ToolchainError, match="pins no ziglang wheel for plan9-mips"):
        cxx_runtime.source_artifact(lock, "plan9-mips")


CONFIG_SITE = """\
#define _LIBCPP_ABI_VERSION 2
#define _LIBCPP_HAS_MUSL_LIBC 1
#define _LIBCPP_HAS_FILESYSTEM 0
#define _LIBCPP_HAS_LOCALIZATION 1
"""


def test_config_site_turns_on_the_file_system_library_and_nothing_else() -> None:
    text = cxx_runtime_recipe.config_site(CONFIG_SITE)
    assert text == CONFIG_SITE.replace("FILESYSTEM 0", "FILESYSTEM 1").replace("MUSL_LIBC 1", "MUSL_LIBC 0")
    assert cxx_runtime_recipe.config_site(CONFIG_SITE.replace("#define _LIBCPP_HAS_FILESYSTEM 0\n", "")) is None


def _section(section_id: int, body: bytes) -> bytes:
    assert len(body) < 128
    return bytes([section_id, len(body)]) + body


def _custom(name: bytes, payload: bytes) -> bytes:
    return _section(0, bytes([len(name)]) + name + payload)


def test_drop_producers_removes_that_section_only(tmp_path: Path) -> None:
    head = b"\0asm\x01\x00\x00\x00"
    types = _section(1, b"\x01\x60\x00\x00")
    linking = _custom(b"linking", b"\x02\x00")
    producers = _custom(b"producers", b"\x01\x0cprocessed-by\x01\x05clang\x0622.1.8")
    features = _custom(b"target_features", b"\x01+\x0fexception-handling")
    obj = tmp_path / "a.o"
    obj.write_bytes(head + types + linking + producers + features)
    assert cxx_runtime.drop_producers(obj) is True
    assert obj.read_bytes() == head + types + linking + features
    assert cxx_runtime.drop_producers(obj) is False  # none left: unchanged
    assert obj.read_bytes() == head + types + linking + features
    (tmp_path / "b.o").write_bytes(b"!<arch>\n")
    with pytest.raises(ToolchainError, match="not a WebAssembly object file"):
        cxx_runtime.drop_producers(tmp_path / "b.o")


# -- hints and the run -----------------------------------------------------------------------------------------------
def test_a_throw_without_the_switch_gets_the_hint() -> None:
    compile_error = "x.cpp:3:35: error: cannot use 'throw' with exceptions disabled\n1 error generated.\n"
    hint = hint_for(compile_error)
    assert hint is not None and hint.startswith(PREFIX + "cannot use 'throw' with exceptions disabled → ")
    assert "WASI_CXX_EXCEPTIONS=True" in hint
    link_error = ("wasm-ld: error: u.o: undefined symbol: __cxa_allocate_exception\n"
                  "wasm-ld: error: u.o: undefined symbol: __cxa_throw\n")
    hint = hint_for(link_error)
    assert hint is not None and hint.startswith(PREFIX + "__cxa_allocate_exception, __cxa_throw → C++ exceptions are "
                                                          "off for this link: set WASI_CXX_EXCEPTIONS=True")


def test_a_host_without_wasm_exceptions_gets_a_clear_message() -> None:
    """wasmtime's own words for a module with a tag, loaded with exceptions off, lead to the exceptions advice."""
    config = wasmtime.Config()
    config.wasm_exceptions = False
    module = wasmtime.wat2wasm('(module (tag $e (param i32)) (func (export "f") (throw $e (i32.const 1))))')
    with pytest.raises(wasmtime.WasmtimeError) as error:
        wasmtime.Module(wasmtime.Engine(config), module)
    hint = _load_hint(str(error.value))
    assert "Wasm exceptions (C++ exceptions or setjmp/longjmp)" in hint and "-W exceptions=y" in hint
    assert _load_hint("magic header not detected") == "rebuild it with scons; was it built for a WASI target?"
