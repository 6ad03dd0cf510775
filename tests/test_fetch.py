from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import LoopbackServer, make_zip, sha256
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import FetchError
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store

PAYLOAD = bytes(range(256)) * 4000  # ~1 MB, made here
POOL_PATH = "pool/main/t/test/test_1.0_all.deb"


def artifact(data: bytes = PAYLOAD, locators: tuple[str, ...] = (f"debian:{POOL_PATH}",),
             name: str = "test_1.0_all.deb") -> Artifact:
    return Artifact(name=name, sha256=sha256(data), size=len(data), locators=locators, where="test")


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), **env})


def store_files(tmp_path: Path) -> list[str]:
    root = tmp_path / "cache" / "downloads"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def quiet(_: str) -> None:
    pass


def test_download_is_verified_and_stored_under_its_sha(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL_PATH}"] = PAYLOAD
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    path = fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    assert path.read_bytes() == PAYLOAD
    assert store_files(tmp_path) == [f"{sha256(PAYLOAD)}/test_1.0_all.deb"]


def test_one_changed_byte_is_rejected_and_nothing_stays(tmp_path: Path, server: LoopbackServer) -> None:
    tampered = bytearray(PAYLOAD)
    tampered[500_000] ^= 0x01
    server.files[f"/debian/{POOL_PATH}"] = bytes(tampered)
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    with pytest.raises(FetchError) as info:
        fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    message = str(info.value)
    assert f"could not fetch test_1.0_all.deb (sha256 {sha256(PAYLOAD)})" in message
    assert f"sha256 mismatch: expected {sha256(PAYLOAD)}, got {sha256(bytes(tampered))}" in message
    assert "the file was discarded" in message
    assert store_files(tmp_path) == []


def test_a_failing_mirror_falls_through_to_the_next(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/good/{POOL_PATH}"] = PAYLOAD
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=f"{server.url('/gone')} {server.url('/good')}")
    path = fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    assert path.read_bytes() == PAYLOAD
    assert server.paths_requested() == [f"/gone/{POOL_PATH}", f"/good/{POOL_PATH}"]


def test_every_failure_is_listed_when_all_sources_fail(tmp_path: Path, server: LoopbackServer) -> None:
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=f"{server.url('/a')} {server.url('/b')}")
    with pytest.raises(FetchError) as info:
        fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    assert [reason for _, reason in info.value.attempts] == ["HTTP 404 Not Found", "HTTP 404 Not Found"]
    assert [source for source, _ in info.value.attempts] == [server.url(f"/a/{POOL_PATH}"),
                                                              server.url(f"/b/{POOL_PATH}")]


def test_more_bytes_than_pinned_are_refused_from_the_announced_length(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL_PATH}"] = PAYLOAD + b"extra"
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    with pytest.raises(FetchError, match=f"{len(PAYLOAD) + 5} bytes in all, the pin is {len(PAYLOAD)}"):
        fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    assert store_files(tmp_path) == []


def test_file_locator(tmp_path: Path) -> None:
    source = tmp_path / "local.deb"
    source.write_bytes(PAYLOAD)
    s = settings(tmp_path)
    path = fetch(artifact(locators=(source.as_uri(),)), Store(s.cache_dir), s, log=quiet)
    assert path.read_bytes() == PAYLOAD


def test_a_verified_cache_hit_opens_no_connection(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL_PATH}"] = PAYLOAD
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    server.requests.clear()
    del server.files[f"/debian/{POOL_PATH}"]
    path = fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    assert path.read_bytes() == PAYLOAD
    assert server.requests == []


def test_a_corrupted_cached_file_is_fetched_again(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL_PATH}"] = PAYLOAD
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    path = fetch(artifact(), Store(s.cache_dir), s, log=quiet)
    path.write_bytes(b"rotten" + PAYLOAD[6:])
    messages: list[str] = []
    assert fetch(artifact(), Store(s.cache_dir), s, log=messages.append).read_bytes() == PAYLOAD
    assert "wasi: cached test_1.0_all.deb does not match its pin any more; fetching it again" in messages


def test_progress_is_one_plain_line_off_a_terminal(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/debian/{POOL_PATH}"] = PAYLOAD
    s = settings(tmp_path, WASI_DEBIAN_MIRROR=server.url("/debian"))
    messages: list[str] = []
    fetch(artifact(), Store(s.cache_dir), s, log=messages.append)
    assert messages == [f"wasi: fetching test_1.0_all.deb (1.0 MB) from {server.url('/debian/' + POOL_PATH)}"]


def make_simple_index(root: Path, wheel_name: str, wheel: bytes) -> str:
    """A PEP 503 index on disk that pip reads through file://, offline."""
    project = root / "simple" / "wasitestpkg"
    project.mkdir(parents=True)
    (project / wheel_name).write_bytes(wheel)
    (project / "index.html").write_text(
        f'<html><body><a href="{wheel_name}#sha256={sha256(wheel)}">{wheel_name}</a></body></html>')
    return (root / "simple").as_uri() + "/"


def fake_wheel() -> bytes:
    return make_zip([("wasitestpkg/__init__.py", b""),
                     ("wasitestpkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: wasitestpkg\nVersion: 1.0\n"),
                     ("wasitestpkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
                     ("wasitestpkg-1.0.dist-info/RECORD", b"")])


def test_pypi_locator_is_fetched_by_pip_and_verified(tmp_path: Path) -> None:
    wheel = fake_wheel()
    name = "wasitestpkg-1.0-py3-none-any.whl"
    index = make_simple_index(tmp_path / "index", name, wheel)
    s = settings(tmp_path, WASI_PYPI_INDEX=index)
    path = fetch(artifact(wheel, ("pypi:wasitestpkg==1.0",), name), Store(s.cache_dir), s, log=quiet)
    assert path.read_bytes() == wheel
    assert store_files(tmp_path) == [f"{sha256(wheel)}/{name}"]


def test_pip_refuses_a_wheel_whose_hash_is_not_the_pin(tmp_path: Path) -> None:
    wheel = fake_wheel()
    name = "wasitestpkg-1.0-py3-none-any.whl"
    index = make_simple_index(tmp_path / "index", name, wheel + b"\0")
    s = settings(tmp_path, WASI_PYPI_INDEX=index)
    with pytest.raises(FetchError, match="pip exited with 1"):
        fetch(artifact(wheel, ("pypi:wasitestpkg==1.0",), name), Store(s.cache_dir), s, log=quiet)
    assert store_files(tmp_path) == []
