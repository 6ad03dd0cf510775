"""A mirror that is slow to answer (issue 23): the first byte and the whole header block of each answer are due
within WASI_FETCH_HEADER_TIMEOUT; past it the next mirror is asked at once, the slow one is tried last for the rest
of the process, and asked again with the patient bound only when no other source delivers.

The rate bound (WASI_FETCH_MIN_RATE) is turned off in these tests, so only the header bound can cut a mirror off.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.helpers import LoopbackServer, sha256, status, store_leftovers, trickle
from test_faults import NAME, PAYLOAD, POOL, Rig, rig, verified  # noqa: F401 - rig is a fixture
from test_fetch import fake_wheel
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ConfigError, FetchError
from wasi_toolchain.store import fetch as fetch_module
from wasi_toolchain.store.fetch import RetryPolicy, fetch
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store

HEAD = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PAYLOAD)}\r\nX-Padding: {'x' * 100}\r\n\r\n".encode()
BOUND = {"WASI_FETCH_HEADER_TIMEOUT": "1", "WASI_FETCH_TIMEOUT": "20", "WASI_FETCH_MIN_RATE": "0"}


@pytest.fixture(autouse=True)
def no_slow_servers_known() -> Iterator[None]:
    fetch_module._SLOW_SERVERS.clear()
    yield
    fetch_module._SLOW_SERVERS.clear()


def silent(seconds: float):  # type: ignore[no-untyped-def]
    """Accept the request, then send nothing for ``seconds``."""
    def fault(handler) -> None:  # type: ignore[no-untyped-def]
        handler.close_connection = True
        time.sleep(seconds)
    return fault


def late_headers(delay: float):  # type: ignore[no-untyped-def]
    """The status line at once, the rest of the headers after ``delay`` seconds, then the body at full speed."""
    def fault(handler) -> None:  # type: ignore[no-untyped-def]
        handler.close_connection = True
        split = HEAD.index(b"\r\n") + 2
        try:
            handler.wfile.write(HEAD[:split])
            handler.wfile.flush()
            time.sleep(delay)
            handler.wfile.write(HEAD[split:] + PAYLOAD)
            handler.wfile.flush()
        except OSError:
            pass
    return fault


def test_a_mirror_trickling_its_headers_is_left_for_the_next_one_at_the_header_bound(rig: Rig) -> None:
    sent: list[int] = []
    rig.a.faults[rig.path_a] = trickle(b"", HEAD + PAYLOAD, interval=0.2, sent=sent)
    assert verified(rig.fetch("ab", **BOUND))
    assert rig.b.paths_requested() == [rig.path_b]
    # About 5 header bytes in the 1 s bound; the trickle would go on for its own 20 s (100 bytes) otherwise.
    assert 0 < sum(sent) < 40
    assert len(rig.a.requests) == 1  # moved on, not retried on the same mirror
    rig.assert_store_holds_only_verified_files()


def test_a_mirror_that_never_answers_is_left_at_the_header_bound_not_the_read_timeout(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = silent(30)
    assert verified(rig.fetch("ab", attempts=4, **BOUND))
    # The read timeout (20 s) would have been retried on the same mirror, after a backoff: neither happened.
    assert len(rig.a.requests) == 1 and rig.sleeps == []
    assert not any("retry" in message for message in rig.messages), rig.messages


def test_the_reasons_name_the_bounds_when_every_mirror_is_slow(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = silent(30)
    rig.b.faults[rig.path_b] = trickle(b"", HEAD + PAYLOAD, interval=0.2)
    error = rig.fails("ab", attempts=1, **{**BOUND, "WASI_FETCH_TIMEOUT": "2"})
    url_a, url_b = rig.a.url(rig.path_a), rig.b.url(rig.path_b)
    assert error.attempts == [
        (url_a, "no answer within 1 s of the request (WASI_FETCH_HEADER_TIMEOUT); cut off"),
        (url_b, "its headers were not all in within 1 s of the request (WASI_FETCH_HEADER_TIMEOUT); cut off"),
        # the patient round: the read timeout for the silent one, the header bound at WASI_FETCH_TIMEOUT for the other
        (f"{url_a}, again", "no answer for 2 s (WASI_FETCH_TIMEOUT); gave up after 1 attempts"),
        (f"{url_b}, again", "its headers were not all in within 2 s of the request (WASI_FETCH_TIMEOUT); cut off"),
    ]
    rig.assert_store_holds_only_verified_files()


def test_a_slow_mirror_is_asked_after_the_others_for_the_next_files(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = trickle(b"", HEAD + PAYLOAD, interval=0.2)
    assert verified(rig.fetch("ab", **BOUND))
    other = bytes(reversed(PAYLOAD))
    rig.a.files[rig.path_a] = other
    rig.b.files[rig.path_b] = other
    del rig.a.faults[rig.path_a]
    settings = rig.settings("ab", **BOUND)
    artifact = Artifact(name=NAME, sha256=sha256(other), size=len(other), locators=(f"debian:{POOL}",), where="t")
    path = fetch(artifact, Store(settings.cache_dir), settings, log=rig.messages.append,
                 retry=RetryPolicy(sleep=rig.sleeps.append))
    assert path.read_bytes() == other
    assert len(rig.a.requests) == 1  # only the first file's attempt: the second file went to b first
    assert rig.b.paths_requested() == [rig.path_b, rig.path_b]


def test_a_slow_only_mirror_still_delivers_with_the_patient_bound(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = late_headers(2.5)
    assert verified(rig.fetch("a", **BOUND))
    assert len(rig.a.requests) == 2
    assert any(m.startswith(f"wasi: no other source delivered {NAME}; asking {rig.a.url(rig.path_a)} again, "
                            f"waiting up to 20 s (WASI_FETCH_TIMEOUT) for its answer") for m in rig.messages)
    rig.assert_store_holds_only_verified_files()


def test_a_mirror_answering_within_the_bound_is_not_cut_off(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = late_headers(0.3)
    assert verified(rig.fetch("ab", **BOUND))
    assert rig.b.requests == [] and len(rig.a.requests) == 1


def test_the_header_bound_is_a_setting_checked_like_the_others() -> None:
    assert Settings.from_environ({"WASI_CACHE_DIR": "/x"}).fetch_header_timeout == 5.0
    assert Settings.from_environ({"WASI_CACHE_DIR": "/x", "WASI_FETCH_HEADER_TIMEOUT": "2.5"}).fetch_header_timeout \
        == 2.5
    for bad in ("0", "-1", "inf", "nan", "soon"):
        with pytest.raises(ConfigError, match=f"WASI_FETCH_HEADER_TIMEOUT: expected a number of seconds above 0 "
                                              f"and at most 86400, got '{bad}'"):
            Settings.from_environ({"WASI_CACHE_DIR": "/x", "WASI_FETCH_HEADER_TIMEOUT": bad})


# -- pip: a package index that trickles is stopped by the same rate bound ----------------------------------------
def test_pip_downloading_from_a_trickling_index_is_stopped_by_the_rate_bound(tmp_path: Path,
                                                                               server: LoopbackServer) -> None:
    wheel = fake_wheel()
    name = "wasitestpkg-1.0-py3-none-any.whl"
    server.faults["/simple/wasitestpkg/"] = status(200, headers={"Content-Type": "text/html"}, body=(
        f'<html><body><a href="/files/{name}#sha256={sha256(wheel)}">{name}</a></body></html>').encode())
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(wheel)}\r\n\r\n"
            ).encode()
    sent: list[int] = []
    server.faults[f"/files/{name}"] = trickle(head, wheel, interval=0.2, sent=sent, give_up_after=60)
    s = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_PYPI_INDEX": server.url("/simple/"),
                               "WASI_FETCH_MIN_RATE": "100000", "WASI_FETCH_GRACE": "4"})
    art = Artifact(name=name, sha256=sha256(wheel), size=len(wheel), locators=("pypi:wasitestpkg==1.0",), where="t")
    with pytest.raises(FetchError) as info:
        fetch(art, Store(s.cache_dir), s, log=lambda message: None)
    (source, reason), = info.value.attempts
    assert reason.startswith("too slow: pip wrote "), reason
    assert reason.endswith(" bytes/s that WASI_FETCH_MIN_RATE asks for after the first 4 s (WASI_FETCH_GRACE); "
                           "stopped")
    assert 0 < sum(sent) < len(wheel)  # pip was downloading the wheel, and was stopped long before its end
    assert store_leftovers(tmp_path / "cache") == []
