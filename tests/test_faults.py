"""Network faults injected by the loopback server. Each test ends with the verified artifact from a good mirror, or
with our clear error, and never with a partial or unverified file in the store.

Backoff waits are recorded by an injected ``sleep`` instead of being slept, so nothing here waits for seconds.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support.helpers import (LoopbackServer, html_page, redirect, reset_after, send_file, sequence, sha256,
                     stall_after, status, store_leftovers, truncate_after, unverified_downloads)
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import FetchError
from wasi_toolchain.net import NET_CHUNK
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.store.http_download import RetryPolicy
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store

PAYLOAD = bytes(range(251)) * 4200  # 1,054,200 bytes: many network chunks
NAME = "fault_1.0_all.deb"
POOL = f"pool/main/f/fault/{NAME}"


@dataclass
class Rig:
    """Two mirrors on two loopback servers, a cache, and a recorder for backoff waits and log lines."""

    tmp_path: Path
    a: LoopbackServer
    b: LoopbackServer
    sleeps: list[float] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def cache(self) -> Path:
        return self.tmp_path / "cache"

    @property
    def path_a(self) -> str:
        return f"/a/{POOL}"

    @property
    def path_b(self) -> str:
        return f"/b/{POOL}"

    def settings(self, mirrors: str = "ab", **env: str) -> Settings:
        bases = {"a": self.a.url("/a"), "b": self.b.url("/b")}
        return Settings.from_environ({"WASI_CACHE_DIR": str(self.cache),
                                      "WASI_DEBIAN_MIRROR": " ".join(bases[m] for m in mirrors), **env})

    def fetch(self, mirrors: str = "ab", *, data: bytes = PAYLOAD, attempts: int = 4, max_delay: float = 30.0,
              **env: str) -> Path:
        s = self.settings(mirrors, **env)
        policy = RetryPolicy(attempts=attempts, max_delay=max_delay, sleep=self.sleeps.append)
        art = Artifact(name=NAME, sha256=sha256(data), size=len(data), locators=(f"debian:{POOL}",), where="test")
        return fetch(art, Store(s.cache_dir, lock_timeout=5), s, log=self.messages.append, retry=policy)

    def fails(self, mirrors: str = "ab", **kw: object) -> FetchError:
        with pytest.raises(FetchError) as info:
            self.fetch(mirrors, **kw)  # type: ignore[arg-type]
        return info.value

    def assert_store_holds_only_verified_files(self) -> None:
        assert store_leftovers(self.cache) == []
        assert unverified_downloads(self.cache) == []


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    a, b = LoopbackServer(), LoopbackServer()
    a.start()
    b.start()
    a.files[f"/a/{POOL}"] = PAYLOAD
    b.files[f"/b/{POOL}"] = PAYLOAD
    try:
        yield Rig(tmp_path, a, b)
    finally:
        a.stop()
        b.stop()


def verified(path: Path) -> bool:
    return path.read_bytes() == PAYLOAD and path.name == NAME and path.parent.name == sha256(PAYLOAD)


# -- 1. 404 (and other 4xx): the next URL at once ---------------------------------------------------------------
@pytest.mark.parametrize("code", [404, 403, 410])
def test_4xx_moves_to_the_next_mirror_at_once(rig: Rig, code: int) -> None:
    rig.a.faults[rig.path_a] = status(code)
    assert verified(rig.fetch())
    assert rig.a.paths_requested() == [rig.path_a]
    assert rig.b.paths_requested() == [rig.path_b]
    assert rig.sleeps == []
    rig.assert_store_holds_only_verified_files()


def test_404_everywhere_is_one_error_listing_each_url(rig: Rig) -> None:
    del rig.a.files[rig.path_a], rig.b.files[rig.path_b]
    error = rig.fails()
    assert error.attempts == [(rig.a.url(rig.path_a), "HTTP 404 Not Found"),
                              (rig.b.url(rig.path_b), "HTTP 404 Not Found")]
    assert str(error).startswith(f"could not fetch {NAME} (sha256 {sha256(PAYLOAD)}):\n")
    assert "next step: check your network and mirrors" in str(error)
    rig.assert_store_holds_only_verified_files()


# -- 2. 500, then success -----------------------------------------------------------------------------------------
def test_500_then_success_is_retried_on_the_same_mirror_after_a_backoff(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = sequence(status(500))
    assert verified(rig.fetch())
    assert rig.a.paths_requested() == [rig.path_a, rig.path_a]
    assert rig.b.requests == []
    assert rig.sleeps == [1.0]
    assert f"wasi: {rig.a.url(rig.path_a)}: HTTP 500 Internal Server Error; retry 1 of 3 in 1 s" in rig.messages
    rig.assert_store_holds_only_verified_files()


def test_backoff_doubles_up_to_its_cap_then_the_next_mirror_is_tried(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = status(502)
    assert verified(rig.fetch(attempts=5, max_delay=5.0))
    assert rig.sleeps == [1.0, 2.0, 4.0, 5.0]
    assert len(rig.a.requests) == 5


def test_a_mirror_that_keeps_failing_is_named_with_how_often_it_was_tried(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = status(500)
    error = rig.fails("a", attempts=3)
    assert error.attempts == [(rig.a.url(rig.path_a), "HTTP 500 Internal Server Error; gave up after 3 attempts")]
    rig.assert_store_holds_only_verified_files()


# -- 3. 503 with Retry-After (and 429) ---------------------------------------------------------------------------
def test_503_with_retry_after_waits_as_asked(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = sequence(status(503, headers={"Retry-After": "7"}))
    assert verified(rig.fetch())
    assert rig.sleeps == [7.0]
    assert rig.b.requests == []
    rig.assert_store_holds_only_verified_files()


def test_429_with_an_http_date_retry_after(rig: Rig) -> None:
    import email.utils

    when = email.utils.formatdate(time.time() + 12, usegmt=True)
    rig.a.faults[rig.path_a] = sequence(status(429, headers={"Retry-After": when}))
    assert verified(rig.fetch())
    assert len(rig.sleeps) == 1 and 9.0 < rig.sleeps[0] <= 12.0


def test_a_retry_after_beyond_the_cap_moves_on_instead_of_waiting(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = status(503, headers={"Retry-After": "3600"})
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a), "HTTP 503 Service Unavailable; it asks to retry after "
                                                      "3600 s, more than the 30 s this tool waits")]
    assert verified(rig.fetch("ab"))
    assert rig.sleeps == []
    assert len(rig.a.requests) == 2 and len(rig.b.requests) == 1


# -- 4. connection reset mid-body, resumed with Range -----------------------------------------------------------
def test_connection_reset_mid_body_resumes_with_a_range_request(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = sequence(reset_after(600_000))
    assert verified(rig.fetch())
    ranges = rig.a.ranges_requested(rig.path_a)
    assert ranges[0] is None and len(ranges) == 2
    resumed_at = int(ranges[1].removeprefix("bytes=").removesuffix("-"))
    assert 0 < resumed_at <= 600_000 and resumed_at % NET_CHUNK == 0
    assert any("the connection broke after" in m and f"resuming at byte {resumed_at}" in m for m in rig.messages)
    rig.assert_store_holds_only_verified_files()


def test_resets_on_every_attempt_fall_through_to_the_next_mirror(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = reset_after(200_000)
    assert verified(rig.fetch(attempts=2))
    assert len(rig.a.requests) == 2
    # The bytes from mirror a are kept and resumed from mirror b: the final hash decides.
    assert rig.b.ranges_requested(rig.path_b)[0] is not None
    rig.assert_store_holds_only_verified_files()


# -- 5. body truncated under a correct Content-Length ------------------------------------------------------------
def test_truncated_body_is_detected_and_resumed(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = sequence(truncate_after(500_000))
    assert verified(rig.fetch())
    ranges = rig.a.ranges_requested(rig.path_a)
    assert ranges[0] is None and ranges[1] is not None
    assert any("the connection broke after" in m for m in rig.messages)
    rig.assert_store_holds_only_verified_files()


def test_a_truncated_body_from_the_only_mirror_ends_in_our_error(rig: Rig) -> None:
    rig.a.honour_range = False
    rig.a.faults[rig.path_a] = truncate_after(500_000)
    error = rig.fails("a", attempts=2)
    (source, reason), = error.attempts
    assert source == rig.a.url(rig.path_a)
    assert reason.startswith("the connection broke after") and reason.endswith("gave up after 2 attempts")
    rig.assert_store_holds_only_verified_files()


# -- 6. wrong bytes of the right length --------------------------------------------------------------------------
def test_wrong_bytes_of_the_right_length_move_to_the_next_mirror(rig: Rig) -> None:
    wrong = bytearray(PAYLOAD)
    wrong[123_456] ^= 0xFF
    rig.a.files[rig.path_a] = bytes(wrong)
    assert verified(rig.fetch())
    assert rig.sleeps == []
    rig.assert_store_holds_only_verified_files()


def test_wrong_bytes_everywhere_name_both_hashes(rig: Rig) -> None:
    wrong = bytes(reversed(PAYLOAD))
    rig.a.files[rig.path_a] = wrong
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a),
                               f"sha256 mismatch: expected {sha256(PAYLOAD)}, got {sha256(wrong)} "
                               f"({len(PAYLOAD)} bytes, pinned {len(PAYLOAD)}); the file was discarded")]
    rig.assert_store_holds_only_verified_files()


# -- 7. a stall past the read timeout ----------------------------------------------------------------------------
def test_a_stall_past_the_read_timeout_is_retried_and_resumed(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = sequence(stall_after(300_000, 3.0))
    started = time.monotonic()
    assert verified(rig.fetch(WASI_FETCH_TIMEOUT="0.3"))
    assert time.monotonic() - started < 2.5
    assert rig.a.ranges_requested(rig.path_a)[1] is not None
    assert any("no data for 0.3 s (WASI_FETCH_TIMEOUT) after" in m for m in rig.messages)
    rig.assert_store_holds_only_verified_files()


def test_a_mirror_that_always_stalls_gives_way_to_the_next(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = stall_after(100_000, 3.0)
    started = time.monotonic()
    assert verified(rig.fetch(attempts=2, WASI_FETCH_TIMEOUT="0.3"))
    assert time.monotonic() - started < 2.5
    assert len(rig.a.requests) == 2
    rig.assert_store_holds_only_verified_files()


# -- 8. redirect to another mirror; 9. a redirect loop -----------------------------------------------------------
def test_a_redirect_to_another_mirror_is_followed(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = redirect(rig.b.url("/elsewhere/" + NAME))
    rig.b.files["/elsewhere/" + NAME] = PAYLOAD
    assert verified(rig.fetch("a"))
    assert rig.b.paths_requested() == ["/elsewhere/" + NAME]
    rig.assert_store_holds_only_verified_files()


def test_a_redirect_loop_is_our_clear_error(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = redirect(rig.a.url("/loop"))
    rig.a.faults["/loop"] = redirect(rig.a.url(rig.path_a))
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a), "more than 10 redirects (a redirect loop?)")]
    assert len(rig.a.requests) == 11
    rig.assert_store_holds_only_verified_files()


def test_a_redirect_loop_gives_way_to_the_next_mirror(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = redirect(rig.a.url(rig.path_a))
    assert verified(rig.fetch())
    assert rig.sleeps == []


# -- 10. an HTML error page with status 200 ----------------------------------------------------------------------
def test_an_html_page_with_status_200_is_not_taken_for_the_file(rig: Rig) -> None:
    rig.a.faults[rig.path_a] = html_page(200)
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a), "HTTP 200 OK but the body is an HTML page (Content-Type "
                                                      "text/html; charset=utf-8), not the file; an error page or a "
                                                      "login portal?")]
    rig.assert_store_holds_only_verified_files()
    assert verified(rig.fetch("ab"))
    rig.assert_store_holds_only_verified_files()


def test_a_wrong_content_length_is_refused_before_the_body_is_read(rig: Rig) -> None:
    rig.a.files[rig.path_a] = PAYLOAD + b"trailing junk"
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a), f"HTTP 200 OK with Content-Length {len(PAYLOAD) + 13}: "
                                                      f"{len(PAYLOAD) + 13} bytes in all, the pin is {len(PAYLOAD)}")]
    rig.assert_store_holds_only_verified_files()
    assert verified(rig.fetch("ab"))


def test_a_body_longer_than_pinned_without_a_length_is_cut_off(rig: Rig) -> None:
    def unannounced(handler) -> None:  # type: ignore[no-untyped-def]
        handler.send_response(200)
        handler.send_header("Connection", "close")
        handler.end_headers()
        handler.wfile.write(PAYLOAD + b"more")
        handler.close_connection = True

    rig.a.faults[rig.path_a] = unannounced
    error = rig.fails("a")
    assert error.attempts == [(rig.a.url(rig.path_a), f"sent more than the pinned {len(PAYLOAD)} bytes")]
    rig.assert_store_holds_only_verified_files()


# -- 11. Range ignored (200 on resume); 12. Range honoured -------------------------------------------------------
def test_range_ignored_restarts_from_the_first_byte(rig: Rig) -> None:
    rig.a.honour_range = False
    rig.a.faults[rig.path_a] = sequence(truncate_after(700_000))
    assert verified(rig.fetch("a"))
    ranges = rig.a.ranges_requested(rig.path_a)
    assert ranges[0] is None and ranges[1] is not None and len(ranges) == 2
    assert (f"wasi: {rig.a.url(rig.path_a)} ignored the Range request; downloading {NAME} again from the start"
            in rig.messages)
    rig.assert_store_holds_only_verified_files()


def test_range_honoured_fetches_only_the_rest(rig: Rig) -> None:
    sent: list[int] = []

    def counting(handler) -> None:  # type: ignore[no-untyped-def]
        wanted = handler.headers.get("Range", "bytes=0-")
        sent.append(len(PAYLOAD) - int(wanted[6:-1]))
        send_file(handler, PAYLOAD)

    rig.a.faults[rig.path_a] = sequence(truncate_after(700_000), counting)
    assert verified(rig.fetch("a"))
    resumed_at = int(rig.a.ranges_requested(rig.path_a)[1][6:-1])
    assert resumed_at > 0 and sent == [len(PAYLOAD) - resumed_at]
    rig.assert_store_holds_only_verified_files()


def test_a_resumed_file_that_fails_its_hash_is_downloaded_again_from_scratch(rig: Rig) -> None:
    wrong = bytes(b ^ 0x55 for b in PAYLOAD)

    def wrong_then_cut(handler) -> None:  # type: ignore[no-untyped-def]
        handler.body = wrong
        truncate_after(400_000)(handler)

    rig.a.faults[rig.path_a] = sequence(wrong_then_cut)
    assert verified(rig.fetch("a"))
    ranges = rig.a.ranges_requested(rig.path_a)
    assert ranges[0] is None and ranges[1] is not None and ranges[2] is None
    assert f"wasi: the resumed {NAME} does not match its sha256; downloading it again from the start" in rig.messages
    rig.assert_store_holds_only_verified_files()


def test_a_partial_file_left_by_a_killed_run_is_resumed(rig: Rig) -> None:
    directory = rig.cache / "downloads" / sha256(PAYLOAD)
    directory.mkdir(parents=True)
    (directory / f".partial-{NAME}").write_bytes(PAYLOAD[:400_000])
    assert verified(rig.fetch("a"))
    assert rig.a.ranges_requested(rig.path_a) == ["bytes=400000-"]
    assert rig.messages == [f"wasi: fetching {NAME} (1.1 MB) from {rig.a.url(rig.path_a)}, resuming an interrupted "
                            f"download at byte 400000"]
    rig.assert_store_holds_only_verified_files()


def test_a_complete_partial_file_left_by_a_killed_run_is_verified_and_moved_in(rig: Rig) -> None:
    directory = rig.cache / "downloads" / sha256(PAYLOAD)
    directory.mkdir(parents=True)
    (directory / f".partial-{NAME}").write_bytes(PAYLOAD)
    assert verified(rig.fetch("a"))
    assert rig.a.requests == []
    rig.assert_store_holds_only_verified_files()


# -- all of them at once -----------------------------------------------------------------------------------------
def test_one_error_lists_every_url_and_why_it_failed(rig: Rig, tmp_path: Path) -> None:
    c = LoopbackServer()
    c.start()
    try:
        rig.a.faults[rig.path_a] = html_page(200)
        rig.b.files[rig.path_b] = PAYLOAD[:-1] + b"!"
        c.faults[f"/c/{POOL}"] = status(500)
        mirrors = f"{rig.a.url('/a')} {rig.b.url('/b')} {c.url('/c')} http://127.0.0.1:9/closed"
        with pytest.raises(FetchError) as info:
            rig.fetch("a", attempts=2, WASI_DEBIAN_MIRROR=mirrors)
    finally:
        c.stop()
    reasons = [reason for _, reason in info.value.attempts]
    assert [source for source, _ in info.value.attempts] == [
        rig.a.url(rig.path_a), rig.b.url(rig.path_b), c.url(f"/c/{POOL}"), f"http://127.0.0.1:9/closed/{POOL}"]
    assert reasons[0].startswith("HTTP 200 OK but the body is an HTML page")
    assert reasons[1].startswith(f"sha256 mismatch: expected {sha256(PAYLOAD)}, got {sha256(PAYLOAD[:-1] + b'!')}")
    assert reasons[2] == "HTTP 500 Internal Server Error; gave up after 2 attempts"
    assert "ConnectionRefusedError" in reasons[3] or "Connection refused" in reasons[3]
    assert reasons[3].endswith("gave up after 2 attempts")
    for source, reason in info.value.attempts:
        assert f"  - {source}: {reason}" in str(info.value)
    rig.assert_store_holds_only_verified_files()


def test_the_default_policy_comes_from_the_environment() -> None:
    s = Settings.from_environ({"WASI_CACHE_DIR": "/x", "WASI_FETCH_RETRIES": "0", "WASI_FETCH_TIMEOUT": "2.5"})
    assert RetryPolicy.from_settings(s).attempts == 1
    assert s.fetch_timeout == 2.5
    assert RetryPolicy().delay(1, None) == 1.0 and RetryPolicy().delay(9, None) == 30.0


def test_nothing_listens_on_the_closed_port() -> None:
    """The all-at-once test relies on port 9 (discard) being closed on loopback."""
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", 9)) != 0
