from __future__ import annotations

from pathlib import Path

import pytest

from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ConfigError, HostNotSupported, LocatorError
from wasi_toolchain.store.pip_download import wheel_platform_tags
from wasi_toolchain.host import detect_host
from wasi_toolchain.pins.locators import PipSource, UrlSource, apt_archive_bases, sources_for

POOL = "debian:pool/main/w/wasi-libc/x.orig.tar.xz"


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), **env})


def test_debian_mirror_variable_gives_one_url_per_base_in_order(tmp_path: Path) -> None:
    s = settings(tmp_path, WASI_DEBIAN_MIRROR="http://127.0.0.1:1/a/  file:///srv/mirror")
    assert sources_for(POOL, s, apt_root=tmp_path) == [
        UrlSource("http://127.0.0.1:1/a/pool/main/w/wasi-libc/x.orig.tar.xz"),
        UrlSource("file:///srv/mirror/pool/main/w/wasi-libc/x.orig.tar.xz"),
    ]


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_apt_sources_in_both_formats_are_read_in_order_without_duplicates(tmp_path: Path) -> None:
    write(tmp_path / "etc/apt/sources.list",
          "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://mirror.test/debian bookworm main\n"
          "deb-src http://mirror.test/debian/ bookworm main\n")
    write(tmp_path / "etc/apt/sources.list.d/a.sources",
          "Types: deb\nURIs: http://second.test/debian\n  http://third.test/debian\nSuites: bookworm\n\n"
          "Enabled: no\nTypes: deb\nURIs: http://disabled.test/debian\n\n"
          "Types: deb\nURIs: mirror+file:/etc/apt/mirrors.txt\n")
    write(tmp_path / "etc/apt/sources.list.d/ignored.list.disabled", "deb http://never.test/debian x main\n")
    assert apt_archive_bases(tmp_path) == [
        "http://mirror.test/debian", "http://second.test/debian", "http://third.test/debian"]


def test_apt_sources_are_used_when_the_variable_is_unset(tmp_path: Path) -> None:
    write(tmp_path / "etc/apt/sources.list", "deb http://mirror.test/debian bookworm main\n")
    assert sources_for(POOL, settings(tmp_path), apt_root=tmp_path) == [
        UrlSource("http://mirror.test/debian/pool/main/w/wasi-libc/x.orig.tar.xz")]


def test_no_mirror_anywhere_says_to_set_the_variable(tmp_path: Path) -> None:
    with pytest.raises(LocatorError) as info:
        sources_for(POOL, settings(tmp_path), apt_root=tmp_path)
    assert "WASI_DEBIAN_MIRROR is unset and apt has no http(s) sources" in str(info.value)
    assert "next step: set WASI_DEBIAN_MIRROR to a Debian archive base URL" in str(info.value)


def test_pypi_locator_goes_through_pip_with_the_configured_index(tmp_path: Path) -> None:
    assert sources_for("pypi:ziglang==0.14.1", settings(tmp_path), apt_root=tmp_path) == [
        PipSource("ziglang==0.14.1", None)]
    s = settings(tmp_path, WASI_PYPI_INDEX="https://index.test/simple")
    assert sources_for("pypi:ziglang==0.14.1", s) == [PipSource("ziglang==0.14.1", "https://index.test/simple")]


@pytest.mark.parametrize("locator", ["pypi:ziglang", "debian:dists/x", "gopher://x", "ziglang==1"])
def test_malformed_locators_are_refused(tmp_path: Path, locator: str) -> None:
    with pytest.raises(LocatorError):
        sources_for(locator, settings(tmp_path, WASI_DEBIAN_MIRROR="http://m.test"))


def test_plain_urls_pass_through(tmp_path: Path) -> None:
    assert sources_for("https://x.test/f.deb", settings(tmp_path)) == [UrlSource("https://x.test/f.deb")]
    assert sources_for("file:///tmp/f.deb", settings(tmp_path)) == [UrlSource("file:///tmp/f.deb")]


@pytest.mark.parametrize("name, value, message", [
    ("WASI_DEBIAN_MIRROR", "mirror.test/debian", "expected http://, https:// or file:// base URLs"),
    ("WASI_PYPI_INDEX", "index.test", "expected an http://, https:// or file:// URL"),
    ("WASI_JOBS", "0", "expected a whole number from 1 to 1024, got '0'"),
    ("WASI_LOCK_TIMEOUT", "soon", "expected a number of seconds above 0 and at most 604800, got 'soon'"),
])
def test_bad_environment_values_are_config_errors(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        settings(tmp_path, **{name: value})


def test_cache_dir_defaults_to_the_user_cache_dir() -> None:
    import platformdirs

    assert Settings.from_environ({}).cache_dir == Path(platformdirs.user_cache_dir("scons-wasi", appauthor=False))


def test_wheel_platform_tags_come_from_the_file_name() -> None:
    assert wheel_platform_tags(
        "ziglang-0.14.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl") == [
        "manylinux_2_12_x86_64", "manylinux2010_x86_64", "musllinux_1_1_x86_64"]
    assert wheel_platform_tags("ziglang-0.14.1-py3-none-macosx_12_0_arm64.whl") == ["macosx_12_0_arm64"]
    assert wheel_platform_tags("x.deb") == []


@pytest.mark.parametrize("system, machine, host", [
    ("Linux", "x86_64", "linux-x86_64"), ("Linux", "aarch64", "linux-aarch64"),
    ("Darwin", "arm64", "macos-arm64"), ("Darwin", "x86_64", "macos-x86_64"),
])
def test_host_detection(system: str, machine: str, host: str) -> None:
    assert detect_host(system, machine) == host


def test_windows_and_unknown_hosts_get_clear_errors() -> None:
    with pytest.raises(HostNotSupported, match="Windows is not supported yet"):
        detect_host("Windows", "AMD64")
    with pytest.raises(HostNotSupported, match="supported hosts: linux-x86_64, linux-aarch64"):
        detect_host("Linux", "riscv64")
