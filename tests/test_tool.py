"""The SCons glue, driven through real scons runs against a stand-in toolchain entry that records its argv.

The stand-in is only for checking the exact flags each builder emits; tests/test_e2e.py runs the real toolchain.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from support.helpers import BUILTINS_MEMBER, LoopbackServer, artifact_toml, lock_text, make_deb, run_scons, sha256
from support.standin import calls, fake_entry, output_of


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    shutil.copy(repo / "toolchain.lock", root / "toolchain.lock")
    (root / "src" / "a.c").write_text('#include "a.h"\nint main(void) { return A; }\n')
    (root / "src" / "util.c").write_text("int util(void) { return 1; }\n")
    (root / "inc").mkdir()
    (root / "inc" / "a.h").write_text("#define A 0\n")
    return root


SCONSTRUCT = """
env = Environment(tools=['wasi'])
env.WasiProgram('out/prog', ['src/a.c'], CPPPATH=['inc'], CPPDEFINES=['FEATURE=1'], WASI_LIBS=['c-printscan-long-double'])
env.WasiProgram('out/debug', ['src/util.c'], WASI_STRIP=0, WASI_CCFLAGS=['-Oz'])
env.WasiLibrary('out/util', ['src/util.c'], WASI_OBJSUFFIX='.lib.o')
env.WasiProgram('out/nameless', ['src/a.c'], WASI_NAMES=0, WASI_OBJSUFFIX='.nameless.o')
"""


def test_builders_emit_hermetic_flags(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text(SCONSTRUCT)
    toolchain, log = fake_entry(project, tmp_path / "cache")
    result = run_scons(project, "-Q", ".", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    recorded = {(c["tool"], c["argv"][c["argv"].index("-o") + 1] if "-o" in c["argv"] else c["argv"][1]): c["argv"]
                for c in calls(log)}
    entry = str(toolchain.root)
    assert recorded["clang", "src/a.wasi.o"] == [
        "--target=wasm32-wasip1", f"--sysroot={entry}/sysroot", f"-ffile-prefix-map={project}=.",
        f"-ffile-prefix-map={entry}=/wasi-toolchain", "-fdebug-compilation-dir=.", "-mllvm", "-wasm-enable-sjlj",
        "-mllvm", "-wasm-use-legacy-eh=false", "-O2", "-DFEATURE=1", "-Iinc", "-c", "-o", "src/a.wasi.o", "src/a.c"]
    # Names kept (the default): the link leaves out debug info only; the name section is split off afterwards.
    assert recorded["clang", "out/prog.wasm"] == [
        "--target=wasm32-wasip1", f"--sysroot={entry}/sysroot", f"-fuse-ld={entry}/bin/wasm-ld",
        "-Wl,-z,stack-size=1048576", "-O2", "-Wl,--strip-debug", "-o", "out/prog.wasm", "src/a.wasi.o",
        "-lc-printscan-long-double", "-lsetjmp"]
    assert (project / "out/prog.wasm.names").read_text() == "0 standin_clang\n"
    shipped = (project / "out/prog.wasm").read_bytes()
    assert b"standin" in shipped and b"\x04name" not in shipped
    assert recorded["clang", "out/nameless.wasm"][5] == "-s"
    assert not (project / "out/nameless.wasm.names").exists()
    assert recorded["clang", "src/util.wasi.o"][9:12] == ["-O2", "-Oz", "-c"]  # the user's own -O comes last
    assert not {"-s", "-Wl,--strip-debug"} & set(recorded["clang", "out/debug.wasm"])
    assert b"\x04name" in (project / "out/debug.wasm").read_bytes()  # unstripped: the module keeps its names too
    assert (project / "out/debug.wasm.names").read_text() == "0 standin_clang\n"
    assert recorded["llvm-ar", "out/libutil.a"] == ["rcsD", "out/libutil.a", "src/util.lib.o"]
    assert "wasi: compiling src/a.c" in result.stdout
    assert "wasi: linking out/prog.wasm" in result.stdout


def test_a_header_change_recompiles_and_a_null_build_runs_nothing(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text(SCONSTRUCT)
    _, log = fake_entry(project, tmp_path / "cache")
    env = {"WASI_CACHE_DIR": str(tmp_path / "cache")}
    assert run_scons(project, "-Q", ".", env=env).returncode == 0
    log.unlink()
    assert run_scons(project, "-Q", ".", env=env).returncode == 0
    assert not log.exists()
    (project / "inc" / "a.h").write_text("#define A 1\n")
    assert run_scons(project, "-Q", ".", env=env).returncode == 0
    # Only a.c includes a.h. The stand-in's object depends only on the bytes of a.c, so it comes out the same and
    # SCons rightly does not relink.
    assert [output_of(c) for c in calls(log)] == ["src/a.wasi.o"]


def test_cache_key_alias_prints_the_planned_key(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    toolchain, _ = fake_entry(project, tmp_path / "cache")
    result = run_scons(project, "-Q", "wasi-cache-key", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 0, result.stderr
    assert result.stdout == toolchain.key + "\n"


def test_a_broken_lock_is_a_scons_error_without_traceback(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    lock = project / "toolchain.lock"
    text = lock.read_text()
    assert "lock-version = 2" in text
    lock.write_text(text.replace("lock-version = 2", "lock-version = 7"))
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert "scons: *** invalid lock file" in result.stderr
    assert "lock-version: expected 2, got 7" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


BUILTINS_NAME = "libclang-rt-22-dev-wasm32_22.1.8-1~deb13u5_all.deb"
BUILTINS_PATH = f"pool/main/l/llvm-toolchain-22/{BUILTINS_NAME}"


def builtins_lock(project: Path, good_deb: bytes) -> None:
    never = artifact_toml("ziglang-0.17.1-py3-none-any.whl", b"never fetched", ["file:///nonexistent.whl"])
    builtins = artifact_toml(BUILTINS_NAME, good_deb, [f"debian:{BUILTINS_PATH}"])
    (project / "toolchain.lock").write_text(lock_text(llvm={"linux-x86_64": never, "linux-aarch64": never,
                                                            "macos-arm64": never, "macos-x86_64": never},
                                                      builtins=builtins))
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\nenv.WasiProgram('p', ['src/a.c'])\n")


def test_builtins_with_a_wrong_hash_stop_the_build_with_our_message(project: Path, tmp_path: Path,
                                                                    server: LoopbackServer) -> None:
    good = make_deb([(f"./{BUILTINS_MEMBER}", b"!<arch>\n")])
    bad = bytearray(good)
    bad[-10] ^= 0xFF
    server.files[f"/debian/{BUILTINS_PATH}"] = bytes(bad)
    builtins_lock(project, good)
    cache = tmp_path / "cache"
    result = run_scons(project, "-Q", "p.wasm", env={"WASI_CACHE_DIR": str(cache),
                                                     "WASI_DEBIAN_MIRROR": server.url("/debian")})
    assert result.returncode == 2
    assert "scons: *** [.wasi/toolchain-" in result.stderr
    assert f"could not fetch {BUILTINS_NAME}" in result.stderr
    assert f"expected {sha256(good)}, got {sha256(bytes(bad))}" in result.stderr
    assert "next step:" in result.stderr
    assert "wasm-ld" not in result.stderr and "Traceback" not in result.stderr
    assert not any(p.is_file() for p in (cache / "downloads").rglob("*"))


def test_missing_builtins_stop_the_build_with_our_message(project: Path, tmp_path: Path,
                                                          server: LoopbackServer) -> None:
    builtins_lock(project, b"any")
    result = run_scons(project, "-Q", "wasi-toolchain", env={"WASI_CACHE_DIR": str(tmp_path / "cache"),
                                                             "WASI_DEBIAN_MIRROR": server.url("/debian")})
    assert result.returncode == 2
    assert (f"could not fetch {BUILTINS_NAME} (sha256 {sha256(b'any')}):\n"
            f"  - {server.url('/debian/' + BUILTINS_PATH)}: HTTP 404 Not Found") in result.stderr
    assert "wasm-ld" not in result.stderr and "Traceback" not in result.stderr
