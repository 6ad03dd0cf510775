"""Choosing the LLVM provider: the lock's default per host, WASI_LLVM_PROVIDER, the tool's provider= keyword and
construction variable; the sysroot key follows the choice, and the build uses that provider's entry.

The SCons runs use stand-in entries whose tools record their argv; tests/test_e2e_providers.py builds for real.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from support.helpers import run_scons
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import HostNotSupported
from wasi_toolchain.toolchain.llvm import BUILTINS_PATHS
from wasi_toolchain.pins.toolchain_lock import Lock, load_lock
from wasi_toolchain.store.store import MANIFEST, STAMP


@pytest.fixture
def lock(repo: Path) -> Lock:
    return load_lock(repo / "toolchain.lock")


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), **env})


def test_the_lock_pins_debian_for_linux_and_keeps_ziglang_the_default(lock: Lock) -> None:
    for host in ("linux-x86_64", "linux-aarch64"):
        pins = lock.host_pins(host)
        assert pins.default_provider == "ziglang"
        assert sorted(pins.providers) == ["debian", "ziglang"]
        arch = "amd64" if host == "linux-x86_64" else "arm64"
        debian = pins.providers["debian"]
        assert [a.name.split("_")[0] for a in debian[:6]] == [
            "clang-22", "libclang-cpp22", "libllvm22", "lld-22", "llvm-22", "libclang-common-22-dev"]
        assert all(a.name.endswith(f"_22.1.8-1~deb13u5_{arch}.deb") for a in debian[:6])
        # Then the runtime they are started on: trixie's glibc, libstdc++ and libLLVM's libraries.
        assert [a.name.split("_")[0] for a in debian[6:]] == [
            "libc6", "libstdc++6", "libgcc-s1", "libedit2", "libffi8", "libxml2", "libz3-4", "libzstd1", "zlib1g",
            "libbsd0", "libmd0", "libtinfo6", "liblzma5"]
        assert all(a.name.endswith(f"_{arch}.deb") for a in debian[6:])
    for host in ("macos-x86_64", "macos-arm64"):
        assert sorted(lock.host_pins(host).providers) == ["ziglang"]


def test_the_amd64_debian_pins_are_the_verified_ones(lock: Lock) -> None:
    # Sizes as trixie's signed Packages index lists them (read by hand with xz and grep on 2026-11-29).
    by_package = {a.name.split("_")[0]: a.size for a in lock.llvm_files("linux-x86_64", "debian")}
    assert by_package["clang-22"] == 173_532
    assert by_package["libllvm22"] == 29_478_960
    assert by_package["libc6"] == 2_850_108


@pytest.mark.parametrize("host", ["linux-x86_64", "linux-aarch64"])
def test_the_provider_is_part_of_the_key(lock: Lock, tmp_path: Path, host: str) -> None:
    default = sysroot.plan(lock, settings(tmp_path), host=host)
    debian = sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="debian"), host=host)
    ziglang = sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="ziglang"), host=host)
    assert default == ziglang
    assert (default.provider, debian.provider) == ("ziglang", "debian")
    assert default.key.startswith(f"ziglang-{host}-") and debian.key.startswith(f"debian-{host}-")
    assert default.key[-24:] != debian.key[-24:]  # the digest differs too, not only the readable prefix
    assert default.root != debian.root


def test_an_explicit_provider_wins_over_the_environment(lock: Lock, tmp_path: Path) -> None:
    chosen = sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="ziglang"), host="linux-x86_64",
                          provider="debian")
    assert chosen.provider == "debian"


def test_a_provider_not_pinned_for_the_host_is_a_clear_error(lock: Lock, tmp_path: Path) -> None:
    with pytest.raises(HostNotSupported) as info:
        sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="debian"), host="macos-arm64")
    assert str(info.value) == ("LLVM provider 'debian' is not pinned for macos-arm64; available: ziglang\n"
                               "  next step: set WASI_LLVM_PROVIDER to one of: ziglang")
    with pytest.raises(HostNotSupported, match="LLVM provider 'gcc' is not pinned for linux-x86_64; available: "
                                               "debian, ziglang"):
        sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="gcc"), host="linux-x86_64")


def test_debian_is_refused_on_a_musl_machine(lock: Lock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import wasi_toolchain.host as host_module  # where the plans ask which machine this is (host.build_host)

    monkeypatch.setattr(host_module, "detect_host", lambda: "linux-x86_64")
    monkeypatch.setattr(sysroot, "detect_libc", lambda: "musl")
    with pytest.raises(HostNotSupported, match="this system's C library is musl"):
        sysroot.plan(lock, settings(tmp_path, WASI_LLVM_PROVIDER="debian"))
    assert sysroot.plan(lock, settings(tmp_path)).provider == "ziglang"  # the default still works there


# -- through SCons ----------------------------------------------------------------------------------------------------
RECORDER = """#!{python}
import json, os, sys
with open({log!r}, "a") as f:
    f.write(json.dumps({{"entry": {entry!r}, "tool": os.path.basename(sys.argv[0]), "argv": sys.argv[1:]}}) + "\\n")
if "-o" in sys.argv:
    with open(sys.argv[sys.argv.index("-o") + 1], "wb") as out:
        out.write(b"\\0asm\\1\\0\\0\\0")  # an empty module: what the tool reads after a link must be one
"""


def fake_entries(project: Path, cache: Path) -> tuple[dict[str, sysroot.Toolchain], Path]:
    """Complete-looking entries for both providers on this host, whose tools log which entry ran them."""
    lock = load_lock(project / "toolchain.lock")
    log = cache / "calls.jsonl"
    entries = {}
    for provider in ("ziglang", "debian"):
        toolchain = sysroot.plan(lock, Settings.from_environ({"WASI_CACHE_DIR": str(cache)}), provider=provider)
        toolchain.bin_dir.mkdir(parents=True)
        for tool in ("clang", "llvm-ar", "wasm-ld"):
            script = toolchain.bin_dir / tool
            script.write_text(RECORDER.format(python=sys.executable, log=str(log), entry=provider))
            script.chmod(0o755)
        builtins = toolchain.resource_dir / BUILTINS_PATHS[0]
        builtins.parent.mkdir(parents=True)
        builtins.write_bytes(b"!<arch>\n")
        (toolchain.root / STAMP).write_text("{}")
        (toolchain.root / MANIFEST).write_text("{}")
        entries[provider] = toolchain
    return entries, log


@pytest.fixture
def project(tmp_path: Path, repo: Path) -> Path:
    if sys.platform != "linux":
        pytest.skip("the debian provider is pinned for linux hosts only")
    root = tmp_path / "proj"
    (root / "src").mkdir(parents=True)
    shutil.copy(repo / "toolchain.lock", root / "toolchain.lock")
    (root / "src" / "a.c").write_text("int main(void) { return 0; }\n")
    return root


@pytest.mark.parametrize("how, sconstruct, env", [
    ("the lock's default", "env = Environment(tools=['wasi'])", {}),
    ("WASI_LLVM_PROVIDER", "env = Environment(tools=['wasi'])", {"WASI_LLVM_PROVIDER": "debian"}),
    ("the provider= keyword", "env = Environment(tools=[('wasi', {'provider': 'debian'})])",
     {"WASI_LLVM_PROVIDER": "ziglang"}),
    ("the construction variable", "env = Environment(WASI_LLVM_PROVIDER='debian', tools=['wasi'])", {}),
])
def test_the_chosen_provider_sets_the_key_and_runs_the_build(project: Path, tmp_path: Path, how: str,
                                                              sconstruct: str, env: dict[str, str]) -> None:
    expected = "ziglang" if how == "the lock's default" else "debian"
    (project / "SConstruct").write_text(sconstruct + "\nenv.WasiProgram('p', ['src/a.c'])\n")
    cache = tmp_path / "cache"
    entries, log = fake_entries(project, cache)
    scons_env = {"WASI_CACHE_DIR": str(cache), **env}
    if "WASI_LLVM_PROVIDER" not in env:
        scons_env["WASI_LLVM_PROVIDER"] = ""
    key = run_scons(project, "-Q", "wasi-cache-key", env=scons_env)
    assert key.returncode == 0, key.stderr
    assert key.stdout == entries[expected].key + "\n"
    build = run_scons(project, "-Q", "p.wasm", env=scons_env)
    assert build.returncode == 0, build.stderr
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["entry"], c["tool"]) for c in calls] == [(expected, "clang"), (expected, "clang")]
    assert f"-fuse-ld={entries[expected].bin_dir}/wasm-ld" in calls[1]["argv"]


def test_switching_the_provider_rebuilds_with_the_other_entry(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\nenv.WasiProgram('p', ['src/a.c'])\n")
    cache = tmp_path / "cache"
    _, log = fake_entries(project, cache)
    for provider in ("ziglang", "debian", "debian"):
        assert run_scons(project, "-Q", "p.wasm", env={"WASI_CACHE_DIR": str(cache),
                                                       "WASI_LLVM_PROVIDER": provider}).returncode == 0
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    # The toolchain stamp (named after the key) is a dependency of every object: a new provider rebuilds all,
    # and the same provider again rebuilds nothing.
    assert [c["entry"] for c in calls] == ["ziglang", "ziglang", "debian", "debian"]


def test_an_unpinned_provider_stops_scons_with_our_message(project: Path, tmp_path: Path) -> None:
    (project / "SConstruct").write_text("env = Environment(tools=[('wasi', {'provider': 'clang-from-path'})])\n")
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert "scons: *** LLVM provider 'clang-from-path' is not pinned for linux-" in result.stderr
    assert "Traceback" not in result.stderr
