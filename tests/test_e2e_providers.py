"""The real providers and the real lock generator, through this machine's registries.

One store is shared by the whole session: the ziglang and the debian toolchain are each built once in it, by scons,
from two checkouts of this repository's samples that differ only in WASI_LLVM_PROVIDER. The lock generator then
runs against the real Debian archive and package index and must reproduce the committed toolchain.lock exactly.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.helpers import REPO, run_scons
from test_e2e import expected_builtins_output
from wasi_toolchain.lockgen.debian_index import DEFAULT_KEYRING
from wasi_toolchain.host import detect_host, detect_libc
from wasi_toolchain.targets.run import run_module

pytestmark = pytest.mark.e2e

PROVIDERS = ("ziglang", "debian")
PROGRAMS = ("first", "builtins", "recover", "threadlocal", "wordfreq")


def _debian_runs_here() -> bool:
    try:
        return detect_host() in ("linux-x86_64", "linux-aarch64") and detect_libc() == "glibc"
    except Exception:
        return False


needs_debian = pytest.mark.skipif(not _debian_runs_here(), reason="Debian's LLVM runs on glibc Linux only")


@dataclass
class Build:
    provider: str
    root: Path
    key: str
    result: subprocess.CompletedProcess[str]
    seconds: float


@pytest.fixture(scope="session")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("providers-store")


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory, store: Path) -> dict[str, Build]:
    """Each provider's toolchain built once, and the samples built with it, stripped and unstripped."""
    out = {}
    for provider in PROVIDERS:
        root = tmp_path_factory.mktemp(f"checkout-{provider}")
        shutil.copy(REPO / "toolchain.lock", root / "toolchain.lock")
        shutil.copytree(REPO / "samples", root / "samples")
        # The repository's own SConstruct, plus one unstripped program whose producers section names the compiler.
        (root / "SConstruct").write_text(
            (REPO / "SConstruct").read_text()
            + "\nenv.WasiProgram('build/first-unstripped', env.WasiObject('build/obj/first-unstripped', "
              "'build/obj/first.c'), WASI_STRIP=0)\n")
        env = {"WASI_CACHE_DIR": str(store), "WASI_LLVM_PROVIDER": provider}
        key = run_scons(root, "-Q", "wasi-cache-key", env=env)
        assert key.returncode == 0, key.stderr
        started = time.monotonic()
        result = run_scons(root, "-Q", *(f"build/{program}.wasm" for program in PROGRAMS),
                           "build/first-unstripped.wasm", env=env)
        out[provider] = Build(provider, root, key.stdout.strip(), result, time.monotonic() - started)
    return out


@needs_debian
def test_both_providers_build_the_samples_into_identical_bytes(builds: dict[str, Build], tmp_path: Path) -> None:
    for build in builds.values():
        assert build.result.returncode == 0, build.result.stdout + build.result.stderr
        print(f"{build.provider}: toolchain + samples from cold in {build.seconds:.1f} s")
    for program in PROGRAMS:
        made = {p: (b.root / "build" / f"{program}.wasm").read_bytes() for p, b in builds.items()}
        assert made["ziglang"] == made["debian"], f"{program}.wasm differs between the providers"
    # And the Debian-built module is not merely identical but right.
    stdout = tmp_path / "stdout"
    assert run_module(builds["debian"].root / "build/builtins.wasm", ["builtins.wasm"], stdout=stdout) == 0
    assert stdout.read_text() == expected_builtins_output()


@needs_debian
def test_switching_the_provider_switches_the_key_and_the_compiler(builds: dict[str, Build], store: Path) -> None:
    zig, deb = builds["ziglang"], builds["debian"]
    assert zig.key.startswith(f"ziglang-{detect_host()}-") and deb.key.startswith(f"debian-{detect_host()}-")
    assert zig.key != deb.key
    for build in (zig, deb):
        assert build.result.returncode == 0, build.result.stderr
        assert f"wasi: preparing toolchain {build.key}" in build.result.stderr
        stamp = json.loads((store / "sysroots" / build.key / ".wasi-complete.json").read_text())
        assert (stamp["key"], stamp["provider"]) == (build.key, build.provider)
    # Objects record their compiler in the producers section (a linked module merges it with the prebuilt libc's,
    # which Debian compiled with its clang 19): each build used its own.
    zig_object = (zig.root / "build/obj/first-unstripped.wasi.o").read_bytes()
    deb_object = (deb.root / "build/obj/first-unstripped.wasi.o").read_bytes()
    assert b"Debian clang" in deb_object and b"22.1.8 (1~deb13u5)" in deb_object
    assert b"Debian clang" not in zig_object and b"22.1.8" in zig_object
    version = subprocess.run([str(store / "sysroots" / deb.key / "bin" / "clang"), "--version"],
                             capture_output=True, text=True, check=True).stdout
    assert version.startswith("Debian clang version 22.1.8")


@needs_debian
def test_the_debian_entry_links_without_fuse_ld_and_has_a_real_nm(builds: dict[str, Build], store: Path,
                                                                   tmp_path: Path) -> None:
    entry = store / "sysroots" / builds["debian"].key
    source = tmp_path / "m.c"
    source.write_text("int main(void) { return 7; }\n")
    module = tmp_path / "m.wasm"
    common = ["--target=wasm32-wasip1", f"--sysroot={entry / 'sysroot'}", "-O2"]
    subprocess.run([str(entry / "bin/clang"), *common, "-c", str(source), "-o", str(tmp_path / "m.o")], check=True,
                   capture_output=True)
    # Debian's clang asks for wasm-ld-22; the entry's bin/ provides it, so a plain link works too.
    subprocess.run([str(entry / "bin/clang"), *common, "-s", str(tmp_path / "m.o"), "-o", str(module)], check=True,
                   capture_output=True)
    assert run_module(module, ["m.wasm"]) == 7
    symbols = subprocess.run([str(entry / "bin/llvm-nm"), str(entry / "sysroot/lib/wasm32-wasi/libc.a")],
                             capture_output=True, text=True, check=True).stdout
    assert " T __cxa_thread_atexit" in symbols  # the recipe's addition, seen by Debian's llvm-nm
    assert " T __stack_chk_fail" in symbols  # Debian's wasi-libc's own


@needs_debian
def test_the_debian_tools_load_no_host_library(builds: dict[str, Build], store: Path, tmp_path: Path) -> None:
    """Every shared object the loader maps for clang, wasm-ld and llvm-ar comes from the entry (the pinned trixie
    packages), whatever this host's glibc: glibc's own loader reports each one it initialises (LD_DEBUG=libs)."""
    from wasi_toolchain.toolchain.launch import direct_command
    from wasi_toolchain.toolchain.llvm import DebianProvider

    entry = (store / "sysroots" / builds["debian"].key).resolve()
    tools = DebianProvider(detect_host()).tools()
    source = tmp_path / "m.c"
    source.write_text("int main(void) { return 0; }\n")
    runs = {
        "clang": ["--target=wasm32-wasip1", f"--sysroot={entry / 'sysroot'}", "-O2", "-c", str(source), "-o",
                  str(tmp_path / "m.o")],
        "wasm-ld": [str(tmp_path / "m.o"), "--no-entry", "--export-all", "-o", str(tmp_path / "m.wasm")],
        "llvm-ar": ["rcsD", str(tmp_path / "m.a"), str(tmp_path / "m.o")],
    }
    for tool, args in runs.items():
        words, environment = direct_command(tools[tool], str(entry / "bin" / tool), {})
        result = subprocess.run([*words, *args], env={**environment, "LD_DEBUG": "libs"}, capture_output=True,
                                text=True)
        assert result.returncode == 0, result.stderr[-3000:]
        loaded = [line.split("calling init:", 1)[1].strip() for line in result.stderr.splitlines()
                  if "calling init:" in line]
        assert any("libLLVM" in path for path in loaded), (tool, loaded)
        outside = [path for path in loaded if not Path(path).resolve().is_relative_to(entry)]
        assert outside == [], f"{tool} loaded host libraries: {outside}"


@needs_debian
def test_debian_batches_run_as_one_cc1_through_the_loader(builds: dict[str, Build], store: Path,
                                                          tmp_path: Path) -> None:
    """Debian's clang cannot start a -cc1 of its own under the loader (no driver batch), but a batch started as
    one -cc1 through the loader works: the same objects as one-file compiles; a failing file named as without
    batches."""
    assert builds["debian"].result.returncode == 0
    traced = shutil.which("strace")
    objects = {}
    for size in ("16", "1"):
        root = tmp_path / f"size{size}"
        (root / "src").mkdir(parents=True)
        for name in "abc":
            (root / "src" / f"{name}.c").write_text(f'#include <assert.h>\n#include "k.h"\nconst char *{name}(int x)'
                                                    f' {{ assert(x > K); return __FILE__; }}\n')
        (root / "src" / "k.h").write_text("#define K 1\n")
        (root / "SConstruct").write_text("DefaultEnvironment(tools=[])\nenv = Environment(tools=['wasi'])\n"
                                         "env.WasiLibrary('build/k', Glob('src/*.c'))\n")
        shutil.copy(REPO / "toolchain.lock", root / "toolchain.lock")
        env = {**os.environ, "WASI_CACHE_DIR": str(store), "WASI_LLVM_PROVIDER": "debian", "WASI_BATCH_SIZE": size}
        trace = tmp_path / f"trace{size}"
        prefix = [traced, "-f", "-qq", "-e", "trace=execve", "-s", "4096", "-o", str(trace)] if traced else []
        result = subprocess.run([*prefix, sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q"],
                                cwd=root, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr
        objects[size] = {p.name: p.read_bytes() for p in sorted((root / "src").glob("*.o"))}
        if traced and size == "16":
            cc1 = [line for line in trace.read_text().splitlines() if '"-cc1"' in line and "execve(" in line]
            assert [sorted(re.findall(r'/tree/src/(\w\.c)"', line)) for line in cc1] == [["a.c", "b.c", "c.c"]]
        if size == "16":  # a failing file: the -cc1 batch fails, then each file alone names it
            (root / "src" / "b.c").write_text("int b(void) { return nope; }\n")
            failed = subprocess.run([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q"],
                                    cwd=root, env=env, capture_output=True, text=True, timeout=900)
            assert failed.returncode != 0
            assert re.search(r"^src/b\.c:1:22: error: use of undeclared identifier 'nope'$", failed.stderr, re.M)
            assert re.findall(r"^scons: \*\*\* .*$", failed.stderr, re.M) == ["scons: *** [src/b.wasi.o] Error 1"]
    assert sorted(objects["16"]) == ["a.wasi.o", "b.wasi.o", "c.wasi.o"]
    assert objects["16"] == objects["1"]
    assert b"src/a.c" in objects["16"]["a.wasi.o"]


def test_the_generator_reproduces_the_committed_lock(store: Path) -> None:
    # The store is shared with the builds above, so the linux wheel measured there is reused.
    result = subprocess.run([sys.executable, "-m", "wasi_toolchain.lockgen", "--check", "--input",
                             str(REPO / "toolchain.in.toml"), "--output", str(REPO / "toolchain.lock")],
                            env={**os.environ, "PYTHONPATH": str(REPO / "site_scons"), "WASI_CACHE_DIR": str(store)},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-6000:]
    assert f"lockgen: {REPO / 'toolchain.lock'} is up to date" in result.stderr
    if DEFAULT_KEYRING.is_file() and shutil.which("gpgv"):
        assert f"InRelease: verified with gpgv against {DEFAULT_KEYRING}" in result.stderr
        assert "NOT VERIFIED" not in result.stderr and "WARNING" not in result.stderr
