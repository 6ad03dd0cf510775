"""WASI_OFFLINE and WASI_DISTDIR, in process. An audit hook proves that offline fetches open no socket and start
no subprocess (so no pip)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.helpers import LoopbackServer, sha256, store_leftovers, unverified_downloads
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ConfigError, FetchError, OfflineError
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store

DATA = bytes(range(256)) * 1000
NAME = "off_1.0_all.deb"
POOL = f"pool/main/o/off/{NAME}"
ART = Artifact(NAME, sha256(DATA), len(DATA), (f"debian:{POOL}",), "test")

_refusing = False
_refused: list[str] = []


def _audit(event: str, args: tuple[object, ...]) -> None:
    if _refusing and event in ("socket.connect", "subprocess.Popen", "os.posix_spawn", "os.exec", "os.system"):
        _refused.append(event)
        raise RuntimeError(f"offline test: refused {event}")


sys.addaudithook(_audit)  # inert unless a test is inside no_network()


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    global _refusing
    _refused.clear()
    _refusing = True
    try:
        yield
    finally:
        _refusing = False
    assert _refused == []


def settings(tmp_path: Path, server: LoopbackServer | None = None, **env: str) -> Settings:
    base = {"WASI_CACHE_DIR": str(tmp_path / "cache")}
    if server is not None:
        base["WASI_DEBIAN_MIRROR"] = server.url("/debian")
    return Settings.from_environ({**base, **env})


def quiet(_: str) -> None:
    pass


def test_the_guard_really_refuses_sockets(server: LoopbackServer) -> None:
    import socket

    with pytest.raises(RuntimeError, match="refused socket.connect"):
        with no_network():
            socket.create_connection(("127.0.0.1", server.httpd.server_address[1]))


def test_offline_a_stored_artifact_is_used_without_any_socket(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL}"] = DATA
    fetch(ART, Store(tmp_path / "cache"), settings(tmp_path, server), log=quiet)
    server.requests.clear()
    with no_network():
        path = fetch(ART, Store(tmp_path / "cache"), settings(tmp_path, server, WASI_OFFLINE="1"), log=quiet)
    assert path.read_bytes() == DATA and server.requests == []


def test_offline_a_missing_artifact_names_it_and_says_how_to_get_it(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL}"] = DATA
    with no_network(), pytest.raises(OfflineError) as info:
        fetch(ART, Store(tmp_path / "cache"), settings(tmp_path, server, WASI_OFFLINE="1"), log=quiet)
    final = tmp_path / "cache" / "downloads" / ART.sha256 / NAME
    assert str(info.value) == (
        f"could not fetch {NAME} (sha256 {ART.sha256}):\n"
        f"  - the store: no verified copy at {final}\n"
        f"  - {server.url('/debian/' + POOL)}: not tried: WASI_OFFLINE=1\n"
        f"  next step: WASI_OFFLINE=1 is set, so nothing is downloaded: run `scons wasi-toolchain` once while online "
        f"(with the same WASI_CACHE_DIR), or copy it into a directory and point WASI_DISTDIR at it "
        f"(`scons wasi-fetch-all DIR` fills one on a connected machine)")
    assert server.requests == []
    assert store_leftovers(tmp_path / "cache") == []


def test_offline_pip_is_never_run(tmp_path: Path) -> None:
    wheel = Artifact("ziglang-0.14.1-py3-none-any.whl", "ab" * 32, 10, ("pypi:ziglang==0.14.1",), "test")
    with no_network(), pytest.raises(OfflineError) as info:
        fetch(wheel, Store(tmp_path / "cache"), settings(tmp_path, WASI_OFFLINE="yes"), log=quiet)
    assert ("pip download ziglang==0.14.1 (from pip's configured index)", "not tried: WASI_OFFLINE=1") \
        in info.value.attempts


def test_offline_with_a_distdir(tmp_path: Path) -> None:
    distdir = tmp_path / "dist"
    distdir.mkdir()
    (distdir / NAME).write_bytes(DATA)
    messages: list[str] = []
    with no_network():
        path = fetch(ART, Store(tmp_path / "cache"),
                     settings(tmp_path, WASI_OFFLINE="1", WASI_DISTDIR=str(distdir)), log=messages.append)
    assert path.read_bytes() == DATA and path == tmp_path / "cache" / "downloads" / ART.sha256 / NAME
    assert messages == [f"wasi: copying {NAME} (0.3 MB) from WASI_DISTDIR {distdir / NAME}"]
    assert (distdir / NAME).read_bytes() == DATA  # copied, never moved out of the user's directory


def test_offline_file_urls_still_work(tmp_path: Path) -> None:
    source = tmp_path / "mirror" / NAME
    source.parent.mkdir()
    source.write_bytes(DATA)
    art = Artifact(NAME, ART.sha256, ART.size, (source.as_uri(),), "test")
    with no_network():
        assert fetch(art, Store(tmp_path / "cache"), settings(tmp_path, WASI_OFFLINE="1"), log=quiet).read_bytes() \
            == DATA


def test_distdir_is_checked_before_the_network(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL}"] = DATA
    distdir = tmp_path / "dist"
    distdir.mkdir()
    (distdir / NAME).write_bytes(DATA)
    fetch(ART, Store(tmp_path / "cache"), settings(tmp_path, server, WASI_DISTDIR=str(distdir)), log=quiet)
    assert server.requests == []


@pytest.mark.parametrize("content, reason", [
    (DATA[:-1] + b"?", f"sha256 mismatch: expected {sha256(DATA)}, got {sha256(DATA[:-1] + b'?')} "
                       f"({len(DATA)} bytes, pinned {len(DATA)}); the file was discarded"),
    (DATA + b"?", f"it has {len(DATA) + 1} bytes, the pin is {len(DATA)}; ignored"),
    (None, "no such file"),
])
def test_a_bad_distdir_file_is_skipped_for_the_network(tmp_path: Path, server: LoopbackServer,
                                                       content: bytes | None, reason: str) -> None:
    distdir = tmp_path / "dist"
    distdir.mkdir()
    if content is not None:
        (distdir / NAME).write_bytes(content)
    s = settings(tmp_path, server, WASI_DISTDIR=str(distdir))
    with pytest.raises(FetchError) as info:
        fetch(ART, Store(s.cache_dir), s, log=quiet)
    assert info.value.attempts[0] == (f"WASI_DISTDIR {distdir / NAME}", reason)
    assert "put the file in WASI_DISTDIR" in str(info.value)
    server.files[f"/debian/{POOL}"] = DATA
    assert fetch(ART, Store(s.cache_dir), s, log=quiet).read_bytes() == DATA
    assert store_leftovers(tmp_path / "cache") == [] and unverified_downloads(tmp_path / "cache") == []
    if content is not None:
        assert (distdir / NAME).read_bytes() == content  # the user's file is left as it was


def test_a_missing_distdir_does_not_break_start_up(tmp_path: Path) -> None:
    s = settings(tmp_path, WASI_DISTDIR=str(tmp_path / "nowhere"))
    assert s.distdir == tmp_path / "nowhere"


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("ON", True), ("0", False), ("", False),
                                             ("no", False)])
def test_offline_values(tmp_path: Path, value: str, expected: bool) -> None:
    assert settings(tmp_path, WASI_OFFLINE=value).offline is expected


def test_a_bad_offline_value_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="WASI_OFFLINE: expected 1 or 0"):
        settings(tmp_path, WASI_OFFLINE="maybe")


def test_the_loopback_guard_refuses_any_other_host_in_processes_a_test_starts(server: LoopbackServer) -> None:
    """tests/conftest.py's guard, seen from a Python process an offline test starts (as scons and pip are)."""
    import os
    import subprocess

    probe = ("import socket, sys\n"
             "socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=5).close()\n"
             "socket.getaddrinfo('registry.invalid', 443)\n")
    port = server.httpd.server_address[1]
    result = subprocess.run([sys.executable, "-c", probe, str(port)], capture_output=True, text=True)
    notes = Path(os.environ["WASI_TEST_LOOPBACK_ONLY"])
    noted = notes.read_text()
    notes.write_text("")  # this test's own refusal is expected; the fixture checks the file stays empty otherwise
    assert result.returncode != 0 and "test guard: refused socket.getaddrinfo 'registry.invalid'" in result.stderr
    assert noted == "socket.getaddrinfo 'registry.invalid'\n"
