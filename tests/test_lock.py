from __future__ import annotations

from pathlib import Path

import pytest

from helpers import artifact_toml, lock_text
from wasi_toolchain.errors import HostNotSupported, LockError
from wasi_toolchain.lock import load_lock, parse_lock

GOOD_SHA = "ab" * 32


def good_lock(**overrides: str) -> str:
    art = artifact_toml("f.whl", b"x", ["pypi:ziglang==0.14.1"], sha=GOOD_SHA, size=1)
    parts = {"llvm": {"linux-x86_64": art}, "builtins": art.replace("f.whl", "b.deb"),
             "wasi_libc": art.replace("f.whl", "w.tar.xz")}
    parts.update(overrides)
    return lock_text(**parts)


def error_of(text: str) -> LockError:
    with pytest.raises(LockError) as info:
        parse_lock(text.encode(), "toolchain.lock")
    return info.value


def test_repository_lock_pins_every_documented_host(repo: Path) -> None:
    lock = load_lock(repo / "toolchain.lock")
    assert sorted(lock.hosts) == ["linux-aarch64", "linux-x86_64", "macos-arm64", "macos-x86_64"]
    assert lock.llvm_version == "19.1.7"
    linux = lock.llvm_files("linux-x86_64", "ziglang")
    assert [a.sha256 for a in linux] == ["6eb9d4d759b292c83810dbee2e9e8e3fbfbf01d864e6e9811bae711fd74e1c2f"]
    assert lock.builtins.size == 84_688
    assert lock.builtins.locators[0].startswith("debian:pool/main/l/llvm-toolchain-19/")
    assert lock.wasi_libc.sha256 == "8f9b802736a856942839d32966937c389f46e9f156415a549a6675b7535e5f74"
    assert [(a.name, a.size, a.sha256) for a in lock.libcxx.files] == [
        ("libc++-19-dev-wasm32_19.1.7-3~deb12u1_all.deb", 1_457_508,
         "e2c3a1ec97f42ff660688e7a435dab7cb785211d9e9559eef86192a218c24ce8"),
        ("libc++abi-19-dev-wasm32_19.1.7-3~deb12u1_all.deb", 197_980,
         "a0835ee4cf44d41ee988e77be30d023134160a80bdea02b03a6a384c3f048e4d"),
    ]
    assert all(a.locators[0].startswith("debian:pool/main/l/llvm-toolchain-19/") for a in lock.libcxx.files)
    assert lock.libcxx.version == lock.builtins_version


def test_good_lock_parses_into_frozen_data() -> None:
    lock = parse_lock(good_lock().encode())
    pins = lock.host_pins("linux-x86_64")
    assert pins.default_provider == "ziglang"
    assert pins.providers["ziglang"][0].where == "llvm.hosts.linux-x86_64.providers.ziglang.files[0]"
    with pytest.raises(AttributeError):
        lock.builtins.sha256 = "0" * 64  # type: ignore[misc]


def test_short_sha256_is_reported_with_its_dotted_path() -> None:
    text = good_lock().replace(GOOD_SHA, "abc123", 1)
    assert str(error_of(text)) == (
        "invalid lock file toolchain.lock: llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256: "
        "expected 64 lowercase hex characters, got 'abc123'\n"
        "  next step: regenerate toolchain.lock or restore it from version control")


@pytest.mark.parametrize("mutate, where, problem", [
    (lambda t: t.replace("lock-version = 1", "lock-version = 2"), "lock-version", "expected 1, got 2"),
    (lambda t: t.replace("size = 1,", "size = -1,", 1), "llvm.hosts.linux-x86_64.providers.ziglang.files[0].size",
     "expected a non-negative integer, got -1"),
    (lambda t: t.replace('"pypi:ziglang==0.14.1"', '"ftp:x"', 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].locators[0]", "got 'ftp:x'"),
    (lambda t: t.replace("linux-x86_64", "plan9-mips"), "llvm.hosts.plan9-mips", "unknown host 'plan9-mips'"),
    (lambda t: t.replace('member = ', 'colour = "blue"\nmember = '), "builtins", "unknown field 'builtins.colour'"),
    (lambda t: t.replace('version = "0.0~git20220510.9886d3d"\n', ''), "wasi-libc",
     "missing field 'wasi-libc.version'"),
    (lambda t: t.replace('default-provider = "ziglang"', 'default-provider = "debian"'),
     "llvm.hosts.linux-x86_64.default-provider", "expected one of the host's providers (ziglang), got 'debian'"),
    (lambda t: t.replace('name = "b.deb"', 'name = "../b.deb"'), "builtins.files[0].name",
     "expected a plain file name, got '../b.deb'"),
    (lambda t: t.split("[libcxx]")[0], "", "missing field 'libcxx'"),
    (lambda t: t.replace('headers = "usr/lib/llvm-19/include/wasm32-wasi/c++/v1"\n', ""), "libcxx",
     "missing field 'libcxx.headers'"),
    (lambda t: t.replace('libraries = "usr/lib/llvm-19/lib', 'libraries = "usr/lib/../lib'), "libcxx.libraries",
     "expected a relative directory inside the package"),
    (lambda t: t.replace('headers = "usr/', 'headers = "/usr/'), "libcxx.headers",
     "got '/usr/lib/llvm-19/include/wasm32-wasi/c++/v1'"),
    (lambda t: t.replace('[libcxx]\n', '[libcxx]\nexceptions = true\n'), "libcxx",
     "unknown field 'libcxx.exceptions'"),
    (lambda t: t.replace('locators = ["file:///nonexistent/libcxx.deb"]', 'locators = []'),
     "libcxx.files[0].locators",
     "expected a non-empty list of strings"),
])
def test_each_bad_field_names_its_place(mutate, where: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    error = error_of(mutate(good_lock()))
    assert error.where == where
    assert problem in error.problem


def test_malformed_toml_is_a_lock_error_with_the_line() -> None:
    error = error_of("lock-version = 1\n[llvm\n")
    assert "not valid TOML" in str(error)
    assert "line 2" in str(error)


def test_unreadable_lock_says_so(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot read it"):
        load_lock(tmp_path / "missing.lock")


def test_unpinned_host_lists_the_supported_hosts() -> None:
    lock = parse_lock(good_lock().encode())
    with pytest.raises(HostNotSupported) as info:
        lock.host_pins("macos-arm64")
    assert "no LLVM 19.1.7 is pinned for this host (macos-arm64); pinned hosts: linux-x86_64" in str(info.value)


def test_unknown_provider_for_host_names_the_available_ones() -> None:
    lock = parse_lock(good_lock().encode())
    with pytest.raises(HostNotSupported, match="available: ziglang"):
        lock.llvm_files("linux-x86_64", "debian")
