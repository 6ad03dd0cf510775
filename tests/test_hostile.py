"""Hostile mirrors and a hostile disk (issue 11, items 1-4): malformed headers, trickling answers, a FIFO in
WASI_DISTDIR, and a full disk while fetching, while pip downloads, and while unpacking.

Each hostile answer is written byte for byte by the loopback server (tests/support/helpers.py: raw_answer, trickle). A full
disk is simulated by raising OSError(ENOSPC) where the bytes are written.
"""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from support.helpers import make_deb, make_zip, raw_answer, sha256, store_leftovers, trickle
from test_faults import NAME, PAYLOAD, POOL, Rig, rig, verified  # noqa: F401 - rig is a fixture
from wasi_toolchain.store import archive as archive_module
from wasi_toolchain.store import fetch as fetch_module
from wasi_toolchain.store import http_download as http_download_module
from wasi_toolchain.store import pip_download as pip_download_module
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import DiskFullError, FetchError
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store


# -- item 1: an answer the code cannot parse is that URL's failure; the next mirror is tried -------------------
MALFORMED = {
    "location-0xff": (b"HTTP/1.1 302 Found\r\nLocation: /a/\xff\xfe/file.deb\r\nContent-Length: 0\r\n\r\n",
                      "an answer this tool cannot parse (UnicodeDecodeError: "),
    # 0xB2 is '²' in ISO-8859-1, the charset http.client decodes headers with; '²'.isdigit() is True.
    "content-length-superscript": (b"HTTP/1.1 200 OK\r\nContent-Length: \xb2\r\n\r\n" + PAYLOAD,
                                   "HTTP 200 OK with a Content-Length this tool cannot parse: '\u00b2'"),
    "retry-after-superscript": (b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: \xb2\r\nContent-Length: 0\r\n\r\n",
                                "HTTP 503 Service Unavailable with a Retry-After this tool cannot parse: '\u00b2'"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_header_fails_that_mirror_and_the_next_one_delivers(rig: Rig, case: str) -> None:
    answer, _ = MALFORMED[case]
    rig.a.faults[rig.path_a] = raw_answer(answer)
    assert verified(rig.fetch("ab"))
    assert rig.b.paths_requested() == [rig.path_b]
    assert rig.sleeps == []
    rig.assert_store_holds_only_verified_files()


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_header_from_the_only_mirror_is_named_in_our_error(rig: Rig, case: str) -> None:
    answer, reason = MALFORMED[case]
    rig.a.faults[rig.path_a] = raw_answer(answer)
    error = rig.fails("a")
    (source, got), = error.attempts
    assert source == rig.a.url(rig.path_a)
    assert got.startswith(reason), got
    assert len(rig.a.requests) == 1  # not retried: the answer will not parse any better next time
    rig.assert_store_holds_only_verified_files()


# -- item 2: a trickling mirror is cut off; a slow but steady one still finishes ---------------------------------
TRICKLE_ENV = {"WASI_FETCH_TIMEOUT": "5", "WASI_FETCH_MIN_RATE": "50000", "WASI_FETCH_GRACE": "0.5"}
HEAD = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PAYLOAD)}\r\n\r\n".encode()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_mirror_trickling_one_byte_at_a_time_is_cut_off_and_the_next_one_asked(rig: Rig, where: str) -> None:
    sent: list[int] = []
    hostile = trickle(b"", HEAD + PAYLOAD, interval=0.2, sent=sent) if where == "headers" else \
        trickle(HEAD, PAYLOAD, interval=0.2, sent=sent)
    rig.a.faults[rig.path_a] = hostile
    assert verified(rig.fetch("ab", attempts=1, **TRICKLE_ENV))
    assert rig.b.paths_requested() == [rig.path_b]
    # Cut off within seconds, long before the trickle's own 20 s end (about 100 bytes): the bound did it.
    assert sum(sent) < 50
    rig.assert_store_holds_only_verified_files()


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_trickle_from_the_only_mirror_is_our_error_naming_the_bound(rig: Rig, where: str) -> None:
    rig.a.faults[rig.path_a] = trickle(b"", HEAD + PAYLOAD, interval=0.2) if where == "headers" else \
        trickle(HEAD, PAYLOAD, interval=0.2)
    error = rig.fails("a", attempts=1, **TRICKLE_ENV)
    (source, reason), = error.attempts
    assert reason.startswith("too slow: "), reason
    assert "under the 50000 bytes/s that WASI_FETCH_MIN_RATE asks for after the first 0.5 s (WASI_FETCH_GRACE)" \
        in reason
    rig.assert_store_holds_only_verified_files()


def test_a_slow_but_steady_mirror_still_finishes(rig: Rig) -> None:
    data = os.urandom(300_000)
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\n\r\n".encode()
    rig.a.faults[rig.path_a] = trickle(head, data, interval=0.05, piece=8192)  # 160 kB/s for about 2 s
    path = rig.fetch("a", data=data, attempts=1, **{**TRICKLE_ENV, "WASI_FETCH_TIMEOUT": "1"})
    assert path.read_bytes() == data
    assert len(rig.a.requests) == 1


def test_a_rate_of_zero_turns_the_bound_off() -> None:
    settings = Settings.from_environ({"WASI_CACHE_DIR": "/x", "WASI_FETCH_MIN_RATE": "0"})
    assert settings.fetch_min_rate == 0
    defaults = Settings.from_environ({"WASI_CACHE_DIR": "/x"})
    assert (defaults.fetch_min_rate, defaults.fetch_grace) == (10_000.0, 30.0)


# -- item 3: a FIFO (or any non-regular file) in WASI_DISTDIR is skipped and named -------------------------------
def _fetch_in_thread(rig: Rig, mirrors: str, **env: str) -> tuple[threading.Thread, list[object]]:
    outcome: list[object] = []

    def target() -> None:
        try:
            outcome.append(rig.fetch(mirrors, **env))
        except Exception as e:  # noqa: BLE001 - handed to the test
            outcome.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=30)
    return thread, outcome


def _unblock(fifo: Path) -> None:
    """Before the fix the fetch blocks opening the FIFO for reading: a writer lets the test end."""
    if not fifo.is_fifo():
        return
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:
        pass


@pytest.mark.parametrize("kind", ["FIFO", "directory"])
@pytest.mark.parametrize("mirrors", ["a", ""])
def test_a_fifo_in_the_distdir_is_skipped_and_named(rig: Rig, tmp_path: Path, mirrors: str, kind: str) -> None:
    distdir = tmp_path / "dist"
    distdir.mkdir()
    fifo = distdir / NAME
    os.mkfifo(fifo) if kind == "FIFO" else fifo.mkdir()
    if not mirrors:
        del rig.a.files[rig.path_a]  # nothing else works: the error must name the FIFO
    thread, outcome = _fetch_in_thread(rig, "a", WASI_DISTDIR=str(distdir))
    if thread.is_alive():
        _unblock(fifo)
        thread.join(timeout=30)
        pytest.fail("the fetch blocked on the FIFO in WASI_DISTDIR")
    (result,) = outcome
    if mirrors:
        assert isinstance(result, Path) and verified(result)
    else:
        assert isinstance(result, FetchError)
        assert result.attempts[0] == (f"WASI_DISTDIR {fifo}", f"not a regular file (a {kind}); skipped")
    rig.assert_store_holds_only_verified_files()


# -- item 4: a full disk is a local error: named, sized, never retried ---------------------------------------------
class _FullDisk:
    """Stands in for ``open`` in a module: files whose name starts with one of ``prefixes`` take no bytes."""

    def __init__(self, *prefixes: str) -> None:
        self.prefixes = prefixes
        self.writes = 0

    def __call__(self, file: object, mode: str = "r", *args: object, **kw: object):  # type: ignore[no-untyped-def]
        handle = open(file, mode, *args, **kw)  # noqa: SIM115 - wrapped and returned
        if "w" in mode or "a" in mode:
            if isinstance(file, (str, os.PathLike)) and os.path.basename(os.fspath(file)).startswith(self.prefixes):
                outer = self

                class Full:
                    def __enter__(self):  # type: ignore[no-untyped-def]
                        return self

                    def __exit__(self, *exc: object) -> None:
                        handle.close()

                    def write(self, data: bytes) -> int:
                        outer.writes += 1
                        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

                    def __getattr__(self, name: str) -> object:
                        return getattr(handle, name)

                return Full()
        return handle


def _assert_disk_full_message(error: DiskFullError, rig: Rig, directory: Path) -> None:
    text = str(error)
    assert "no space left on the device while writing" in text, text
    assert str(directory) in text and f"(the store WASI_CACHE_DIR={rig.cache})" in text
    assert f"it needs {len(PAYLOAD)} bytes (1.1 MB) free there" in text
    assert "check your network" not in text and "Traceback" not in text


def test_a_full_disk_while_downloading_stops_at_once_naming_the_store_and_the_size(
        rig: Rig, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _FullDisk(".partial-")
    monkeypatch.setattr(http_download_module, "open", full, raising=False)
    with pytest.raises(DiskFullError) as info:
        rig.fetch("ab")
    _assert_disk_full_message(info.value, rig, rig.cache / "downloads" / sha256(PAYLOAD))
    assert full.writes == 1 and len(rig.a.requests) == 1  # no retry on this mirror
    assert rig.b.requests == [] and rig.sleeps == []  # and no other mirror: the disk is the problem
    assert store_leftovers(rig.cache) == []


def test_a_full_disk_while_copying_from_the_distdir_is_the_same_error(
        rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    distdir = tmp_path / "dist"
    distdir.mkdir()
    (distdir / NAME).write_bytes(PAYLOAD)
    monkeypatch.setattr(fetch_module, "open", _FullDisk(".partial-"), raising=False)
    with pytest.raises(DiskFullError) as info:
        rig.fetch("ab", WASI_DISTDIR=str(distdir))
    _assert_disk_full_message(info.value, rig, rig.cache / "downloads" / sha256(PAYLOAD))
    assert rig.a.requests == [] and rig.b.requests == []


PIP_DISK_FULL = """\
Collecting ziglang==0.14.1
  Downloading ziglang-0.14.1-py3-none-manylinux_2_12_x86_64.whl (83.2 MB)
ERROR: Exception:
Traceback (most recent call last):
  File "/usr/lib/python3/dist-packages/pip/_internal/cli/base_command.py", line 180, in exc_logging_wrapper
    status = run_func(*args)
OSError: [Errno 28] No space left on device
"""


def test_a_full_disk_while_pip_downloads_is_our_error_without_pips_traceback(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def pip_on_a_full_disk(command: list[str], *args: object) -> subprocess.CompletedProcess[str]:
        calls.append(command)
        return subprocess.CompletedProcess(command, 2, stdout="", stderr=PIP_DISK_FULL)

    monkeypatch.setattr(pip_download_module, "_run_pip", pip_on_a_full_disk)  # how pip is started, bounded
    cache = tmp_path / "cache"
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(cache)})
    wheel = "ziglang-0.14.1-py3-none-manylinux_2_12_x86_64.whl"
    artifact = Artifact(name=wheel, sha256="ab" * 32, size=83_184_072, locators=("pypi:ziglang==0.14.1",),
                        where="test")
    with pytest.raises(DiskFullError) as info:
        fetch(artifact, Store(cache, lock_timeout=5), settings, log=lambda m: None)
    text = str(info.value)
    assert len(calls) == 1
    assert f"while writing {wheel} into {cache / 'downloads' / ('ab' * 32)}" in text
    assert "it needs 83184072 bytes (83.2 MB) free there" in text
    assert "Traceback" not in text and "base_command.py" not in text
    assert store_leftovers(cache) == []


@pytest.mark.parametrize("kind", ["deb", "whl"])
def test_a_full_disk_while_unpacking_names_the_archive_the_place_and_the_size(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str) -> None:
    member = os.urandom(5000)
    if kind == "deb":
        archive = tmp_path / "pkg_1.0_all.deb"
        archive.write_bytes(make_deb([("./usr/lib/big.bin", member)]))
        import tarfile

        def full(*args: object, **kw: object) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(tarfile, "copyfileobj", full)
        label = "pkg_1.0_all.deb!data.tar.xz"
    else:
        archive = tmp_path / "pkg-1.0-py3-none-any.whl"
        archive.write_bytes(make_zip([("pkg/big.bin", member)]))
        monkeypatch.setattr(archive_module, "open", _FullDisk("big.bin"), raising=False)
        label = archive.name
    dest = tmp_path / "out dir"
    with pytest.raises(DiskFullError) as info:
        archive_module.unpack(archive, dest)
    text = str(info.value)
    assert text.startswith(f"no space left on the device while unpacking {label} into {dest}: "
                           f"{os.strerror(errno.ENOSPC)}; it unpacks to 5000 bytes"), text
    assert "next step: free that much space" in text

