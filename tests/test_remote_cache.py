"""The remote-cache client on its own, against a loopback server with injected faults.

What is checked: the envelope (what is PUT, and that only a verified body reaches its destination), 404 as a miss,
malformed, truncated, oversized, slow and hostile answers, 5xx and refused connections (one warning, then off after
the error budget), 401 (off at once), PUT failures, credentials (token, URL user info, .netrc) and that none of
them appears in any message, connection reuse across targets, and the counters of the report line.
tests/test_remote_cache_nginx.py runs the hit and miss paths against a real nginx through scons.
"""

from __future__ import annotations

import base64
import hashlib
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from support.helpers import Fault, ThreadedLoopback, reset_after, stall_after, status, truncate_after
from wasi_toolchain.errors import ConfigError
from wasi_toolchain.remote_cache.client import RemoteCache
from wasi_toolchain.remote_cache.config import RemoteCacheConfig, parse_url, redact
from wasi_toolchain.remote_cache.envelope import MAX_PAYLOAD, entry_key, parse_header

@dataclass
class CacheServer(ThreadedLoopback):
    """A loopback HTTP cache: GET answers what was PUT (or 404); ``faults`` by (method, path) take over."""

    files: dict[str, bytes] = field(default_factory=dict)
    faults: dict[tuple[str, str], Fault] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str], int]] = field(default_factory=list)  # + client port

    def start(self) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            body: bytes | None = None

            def log_message(self, *args: object) -> None:
                pass

            def _fault(self, method: str) -> bool:
                outer.requests.append((method, self.path, dict(self.headers), self.client_address[1]))
                fault = outer.faults.get((method, self.path))
                return fault is not None and fault(self) is not False

            def do_GET(self) -> None:
                self.body = outer.files.get(self.path)
                if self._fault("GET"):
                    return
                if self.body is None:
                    status(404)(self)
                    return
                status(200, body=self.body)(self)

            def do_PUT(self) -> None:
                data = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self._fault("PUT"):
                    return
                outer.files[self.path] = data
                status(201)(self)

        self.serve(Handler)

    def methods(self) -> list[str]:
        return [method for method, *_ in self.requests]


@pytest.fixture
def cache_server() -> CacheServer:
    srv = CacheServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


SIG = "0123456789abcdef0123456789abcdef"  # a SCons cache signature (md5 hex, SCons's default hash)
OTHER_SIG = "fedcba9876543210fedcba9876543210"


def client(base: str, *, warnings: list[str] | None = None, **config: object) -> RemoteCache:
    sink = warnings if warnings is not None else []
    return RemoteCache(RemoteCacheConfig(base_url=base, **config), warn=sink.append)  # type: ignore[arg-type]


def entry_path(signature: str, prefix: str = "/cache") -> str:
    return f"{prefix}/ac/{entry_key(signature)}"


def envelope(payload: bytes, *, sha: str | None = None, length: int | None = None, mode: str = "644") -> bytes:
    """An entry as docs/remote-cache.md describes it, built here independently of the client."""
    digest = sha or hashlib.sha256(payload).hexdigest()
    return f"scons-wasi-cache 1 sha256={digest} length={len(payload) if length is None else length} " \
           f"mode={mode}\n".encode() + payload


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


PAYLOAD = bytes(range(256)) * 300  # 76,800 bytes: more than one network read


# -- configuration ---------------------------------------------------------------------------------------------
def test_the_url_loses_its_credentials_and_the_options_win_over_the_environment() -> None:
    base, auth = parse_url("--remote-cache", "https://ci%40corp:s%3Acret@cache.example:8443/scons/")
    assert (base, auth) == ("https://cache.example:8443/scons", ("ci@corp", "s:cret"))
    assert redact("https://ci:s3cret@cache.example/x?token=abc#f") == "https://***@cache.example/x"

    environ = {"WASI_REMOTE_CACHE": "http://from-env:1/a", "WASI_REMOTE_CACHE_MODE": "read-only"}
    from_env = RemoteCacheConfig.from_settings(None, None, environ)
    assert from_env is not None and (from_env.base_url, from_env.mode) == ("http://from-env:1/a", "read-only")
    from_options = RemoteCacheConfig.from_settings("http://from-option:2", "read-write", environ)
    assert from_options is not None and (from_options.base_url, from_options.mode) == \
        ("http://from-option:2", "read-write")
    assert RemoteCacheConfig.from_settings(None, None, {}) is None
    assert "t0k" not in repr(RemoteCacheConfig("http://x", token="t0k", basic_auth=("u", "pw-secret")))
    assert "pw-secret" not in repr(RemoteCacheConfig("http://x", token="t0k", basic_auth=("u", "pw-secret")))


@pytest.mark.parametrize("environ, expected", [
    ({"WASI_REMOTE_CACHE": "ftp://u:hunter2@host/x"},
     "WASI_REMOTE_CACHE: expected an http:// or https:// URL of the cache, got 'ftp://***@host/x'"),
    ({"WASI_REMOTE_CACHE": "http://u:hunter2@host/x?key=1"},
     "WASI_REMOTE_CACHE: expected a base URL without ?query or #fragment, got 'http://***@host/x'"),
    ({"WASI_REMOTE_CACHE": "http://host", "WASI_REMOTE_CACHE_MODE": "sometimes"},
     "WASI_REMOTE_CACHE_MODE: expected 'read-write' or 'read-only', got 'sometimes'"),
    ({"WASI_REMOTE_CACHE": "http://host", "WASI_REMOTE_CACHE_TOKEN": "hunter2\nX-Evil: 1"},
     "WASI_REMOTE_CACHE_TOKEN: expected one word of printable characters; the value has spaces or control "
     "characters (not shown)"),
    ({"WASI_REMOTE_CACHE": "http://host", "WASI_REMOTE_CACHE_TIMEOUT": "-1"},
     "WASI_REMOTE_CACHE_TIMEOUT: expected a positive number of seconds, got '-1'"),
])
def test_bad_settings_are_config_errors_that_never_show_a_secret(environ: dict[str, str], expected: str) -> None:
    with pytest.raises(ConfigError) as raised:
        RemoteCacheConfig.from_settings(None, None, environ)
    assert raised.value.message == expected
    assert "hunter2" not in str(raised.value)


def test_keys_are_bazel_remote_action_cache_keys() -> None:
    for signature in (SIG, hashlib.sha256(b"x").hexdigest()):  # md5 and sha256 signatures alike
        key = entry_key(signature)
        assert len(key) == 64 and key == key.lower() and int(key, 16) >= 0
    assert entry_key(SIG) == entry_key(SIG) and entry_key(SIG) != entry_key(OTHER_SIG)


# -- the envelope and the hit/miss path ------------------------------------------------------------------------
def test_a_stored_entry_is_an_envelope_and_comes_back_byte_for_byte(cache_server: CacheServer,
                                                                    tmp_path: Path) -> None:
    source = tmp_path / "out" / "prog.wasm"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    source.chmod(0o755)
    cache = client(cache_server.base + "/cache")
    assert cache.store(SIG, source)
    assert cache_server.files[entry_path(SIG)] == envelope(PAYLOAD, mode="755")
    assert cache_server.requests[-1][2]["Content-Type"] == "application/octet-stream"

    destination = tmp_path / "local" / "AB" / SIG
    assert cache.fetch(SIG, destination)
    assert destination.read_bytes() == PAYLOAD
    assert destination.stat().st_mode & 0o777 == 0o755
    assert leftovers(destination.parent) == [SIG]
    assert (cache.stats.hits, cache.stats.uploads, cache.stats.bytes_down, cache.stats.bytes_up) == \
        (1, 1, len(PAYLOAD), len(envelope(PAYLOAD)))


def test_a_404_is_a_miss_and_writes_nothing(cache_server: CacheServer, tmp_path: Path) -> None:
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings)
    assert not cache.fetch(SIG, tmp_path / "d" / SIG)
    assert leftovers(tmp_path / "d") == []
    assert (cache.stats.misses, cache.stats.errors, warnings, cache.turned_off) == (1, 0, [], None)


BAD_BODIES = {
    "one byte changed": envelope(PAYLOAD)[:-1] + b"\x00",
    "shorter than its header says": envelope(PAYLOAD)[:-10],
    "longer than its header says": envelope(PAYLOAD) + b"more",
    "a header that lies about the digest": envelope(PAYLOAD, sha="0" * 64),
    "an HTML page": b"<!doctype html><html><body>Welcome to nginx!</body></html>",
    "no header line at all": b"x" * 4096,
    "an empty body": b"",
    "a header claiming more than an entry may hold": envelope(b"", length=MAX_PAYLOAD + 1),
    "another envelope version": envelope(PAYLOAD).replace(b"cache 1 ", b"cache 2 ", 1),
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_a_body_that_fails_the_check_is_a_miss_and_never_reaches_the_destination(
        cache_server: CacheServer, tmp_path: Path, name: str) -> None:
    cache_server.files[entry_path(SIG)] = BAD_BODIES[name]
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings)
    destination = tmp_path / "local" / "01" / SIG
    assert not cache.fetch(SIG, destination)
    assert leftovers(destination.parent) == []  # neither the file nor a temp file
    assert (cache.stats.hits, cache.stats.misses, cache.stats.corrupt, cache.stats.errors) == (0, 1, 1, 0)
    assert len(warnings) == 1 and f"entry ac/{entry_key(SIG)} is not a valid entry" in warnings[0]
    assert cache.turned_off is None  # a bad entry is the entry's problem, not the server's


def test_bad_entries_are_reported_once_and_counted(cache_server: CacheServer, tmp_path: Path) -> None:
    for signature in (SIG, OTHER_SIG):
        cache_server.files[entry_path(signature)] = BAD_BODIES["one byte changed"]
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings)
    assert not cache.fetch(SIG, tmp_path / SIG) and not cache.fetch(OTHER_SIG, tmp_path / OTHER_SIG)
    assert len(warnings) == 1
    assert cache.stats.corrupt == 2
    assert "2 corrupt entries ignored" in cache.report_line()


# -- faults ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("fault_name", ["500", "503 with a body", "reset mid-body", "closed mid-body"])
def test_server_faults_build_locally_warn_once_and_turn_the_cache_off_after_the_budget(
        cache_server: CacheServer, tmp_path: Path, fault_name: str) -> None:
    faults = {"500": status(500), "503 with a body": status(503, body=b"<h1>busy</h1>"),
              "reset mid-body": reset_after(100), "closed mid-body": truncate_after(100)}
    signatures = [f"{i:032x}" for i in range(5)]
    for signature in signatures:
        cache_server.files[entry_path(signature)] = envelope(PAYLOAD)
        cache_server.faults[("GET", entry_path(signature))] = faults[fault_name]
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings, error_budget=3)
    results = [cache.fetch(signature, tmp_path / signature) for signature in signatures]
    assert results == [False] * 5
    assert leftovers(tmp_path) == []
    # Three requests reached the server; after them the cache was off and asked nothing more.
    assert cache_server.methods() == ["GET"] * 3
    assert len(warnings) == 1 and "GET failed" in warnings[0]
    assert cache.stats.errors == 3 and cache.turned_off == "after 3 errors"
    assert "3 errors; turned off: after 3 errors" in cache.report_line()
    assert not cache.store(signatures[0], tmp_path)  # no uploads either once it is off
    assert cache_server.methods() == ["GET"] * 3


def test_a_refused_connection_is_an_error_not_an_exception(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nobody listens here once the socket is closed
    warnings: list[str] = []
    cache = client(f"http://127.0.0.1:{port}/cache", warnings=warnings)
    source = tmp_path / "obj.o"
    source.write_bytes(b"x")
    assert not cache.fetch(SIG, tmp_path / "d" / SIG)
    assert not cache.store(SIG, source)
    assert warnings == [f"remote cache http://127.0.0.1:{port}/cache: GET failed: connection refused; targets are "
                        f"built here, and after 3 errors the remote cache is turned off for this build (the count "
                        f"is in the report at the end)"]
    assert cache.stats.errors == 2


@pytest.mark.timeout(30)
def test_a_stalled_body_times_out(cache_server: CacheServer, tmp_path: Path) -> None:
    cache_server.files[entry_path(SIG)] = envelope(PAYLOAD)
    cache_server.faults[("GET", entry_path(SIG))] = stall_after(1000, 10)
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings, timeout=0.5, connect_timeout=0.5)
    assert not cache.fetch(SIG, tmp_path / SIG)
    assert leftovers(tmp_path) == []
    assert cache.stats.errors == 1 and "no data for 0.5 s" in warnings[0]


@pytest.mark.timeout(30)
def test_a_body_that_trickles_is_cut_at_the_total_timeout(cache_server: CacheServer, tmp_path: Path) -> None:
    """Each byte arrives well within the read timeout, so only the deadline for the whole answer can stop it."""
    body = envelope(PAYLOAD)

    def trickle(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            for i in range(len(body)):
                handler.wfile.write(body[i:i + 1])
                handler.wfile.flush()
                time.sleep(0.05)
        except OSError:
            pass  # the client gave up, as it should
        handler.close_connection = True

    cache_server.files[entry_path(SIG)] = body
    cache_server.faults[("GET", entry_path(SIG))] = trickle
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings, timeout=1.0, connect_timeout=1.0)
    assert not cache.fetch(SIG, tmp_path / SIG)
    assert leftovers(tmp_path) == []
    assert "the answer took longer than 1 s" in warnings[0]


@pytest.mark.timeout(30)
def test_a_server_that_never_answers_times_out(tmp_path: Path) -> None:
    with socket.socket() as listener:  # the kernel accepts the connection; nobody ever reads or answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        cache = client(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.5, connect_timeout=0.5)
        assert not cache.fetch(SIG, tmp_path / SIG)
    assert cache.stats.errors == 1


def test_put_failures_are_not_fatal(cache_server: CacheServer, tmp_path: Path) -> None:
    source = tmp_path / "obj.o"
    source.write_bytes(PAYLOAD)
    cache_server.faults[("PUT", entry_path(SIG))] = status(507)
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings)
    assert not cache.store(SIG, source)
    assert cache.store(OTHER_SIG, source)  # one failure does not stop uploads
    assert "PUT failed: HTTP 507" in warnings[0]
    assert (cache.stats.uploads, cache.stats.errors) == (1, 1)
    assert not cache.store(SIG, tmp_path / "gone.o")  # a target that vanished: an error, not an exception


def test_a_401_turns_the_cache_off_at_once_and_says_how_to_authenticate(cache_server: CacheServer,
                                                                        tmp_path: Path) -> None:
    cache_server.faults[("GET", entry_path(SIG))] = status(401)
    warnings: list[str] = []
    cache = client(cache_server.base + "/cache", warnings=warnings)
    assert not cache.fetch(SIG, tmp_path / SIG)
    assert not cache.fetch(OTHER_SIG, tmp_path / OTHER_SIG)
    assert cache_server.methods() == ["GET"]
    assert "HTTP 401 (not authorized)" in warnings[0] and "WASI_REMOTE_CACHE_TOKEN" in warnings[0]


def test_a_refused_put_turns_off_uploads_but_keeps_downloads(cache_server: CacheServer, tmp_path: Path) -> None:
    source = tmp_path / "obj.o"
    source.write_bytes(PAYLOAD)
    cache_server.files[entry_path(OTHER_SIG)] = envelope(PAYLOAD)
    cache_server.faults[("PUT", entry_path(SIG))] = status(403)
    cache = client(cache_server.base + "/cache")
    assert not cache.store(SIG, source)
    assert not cache.store(OTHER_SIG, source)
    assert cache.fetch(OTHER_SIG, tmp_path / OTHER_SIG)
    assert cache_server.methods() == ["PUT", "GET"]
    assert "uploads turned off: PUT was refused (HTTP 403 (forbidden))" in cache.report_line()


def test_read_only_mode_never_uploads(cache_server: CacheServer, tmp_path: Path) -> None:
    source = tmp_path / "obj.o"
    source.write_bytes(PAYLOAD)
    cache_server.files[entry_path(OTHER_SIG)] = envelope(PAYLOAD)
    cache = client(cache_server.base + "/cache", mode="read-only")
    assert not cache.store(SIG, source)
    assert cache.fetch(OTHER_SIG, tmp_path / OTHER_SIG)
    assert cache_server.methods() == ["GET"]
    assert cache.report_line().endswith("(read-only)")


# -- credentials -----------------------------------------------------------------------------------------------
def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def authorization_headers(server: CacheServer) -> list[str | None]:
    return [headers.get("Authorization") for _, _, headers, _ in server.requests]


def test_a_token_is_sent_as_bearer_and_wins_over_netrc(cache_server: CacheServer, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    monkeypatch.setenv("NETRC", str(netrc))
    cache = client(cache_server.base, token="the-token")
    cache.fetch(SIG, tmp_path / SIG)
    assert authorization_headers(cache_server) == ["Bearer the-token"]


def test_user_info_in_the_url_is_basic_auth(cache_server: CacheServer, tmp_path: Path) -> None:
    config = RemoteCacheConfig.from_settings(f"http://ci:pa%3Ass@{cache_server.base[7:]}/cache", None, {})
    assert config is not None and "pa:ss" not in config.base_url
    RemoteCache(config, warn=lambda _: None).fetch(SIG, tmp_path / SIG)
    assert authorization_headers(cache_server) == [basic("ci", "pa:ss")]
    assert cache_server.requests[0][1] == entry_path(SIG)


def test_netrc_is_used_when_nothing_else_is_given(cache_server: CacheServer, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login netrc-user password netrc-pass\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    client(cache_server.base).fetch(SIG, tmp_path / SIG)
    assert authorization_headers(cache_server) == [basic("netrc-user", "netrc-pass")]


def test_no_secret_appears_in_warnings_or_the_report(cache_server: CacheServer, tmp_path: Path) -> None:
    cache_server.faults[("GET", entry_path(SIG, prefix=""))] = status(500)
    cache_server.faults[("GET", entry_path(OTHER_SIG, prefix=""))] = status(401)
    cache_server.files[entry_path("1" * 32, prefix="")] = BAD_BODIES["one byte changed"]
    for token, url_auth in (("tok-SECRET-1", None), (None, ("user", "pw-SECRET-2"))):
        warnings: list[str] = []
        cache = client(cache_server.base, warnings=warnings, token=token, basic_auth=url_auth)
        for signature in ("1" * 32, SIG, OTHER_SIG):
            cache.fetch(signature, tmp_path / signature)
        assert len(warnings) == 2  # the bad entry, and the first fault
        text = "\n".join([*warnings, cache.report_line(), repr(cache.config)])
        assert "SECRET" not in text


# -- connections and threads -----------------------------------------------------------------------------------
def test_one_connection_serves_many_targets(cache_server: CacheServer, tmp_path: Path) -> None:
    signatures = [f"{i:032x}" for i in range(6)]
    for signature in signatures[:3]:
        cache_server.files[entry_path(signature)] = envelope(PAYLOAD)
    made: list[object] = []
    cache = client(cache_server.base + "/cache")
    factory = cache._session_factory
    cache._session_factory = lambda: made.append(1) or factory()  # count sessions made
    assert [cache.fetch(s, tmp_path / s) for s in signatures] == [True] * 3 + [False] * 3
    assert len(made) == 1
    assert len({port for *_, port in cache_server.requests}) == 1  # one TCP connection, kept alive
    cache.close()


def test_parallel_jobs_get_their_own_bytes_and_exact_counters(cache_server: CacheServer, tmp_path: Path) -> None:
    payloads = {f"{i:032x}": os.urandom(5000 + i) for i in range(16)}
    for signature, payload in payloads.items():
        cache_server.files[entry_path(signature)] = envelope(payload)
    cache = client(cache_server.base + "/cache")
    results: dict[str, bool] = {}

    def job(signatures: list[str]) -> None:
        for signature in signatures:
            results[signature] = cache.fetch(signature, tmp_path / signature[:2].upper() / signature)

    names = sorted(payloads)
    threads = [threading.Thread(target=job, args=(names[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(results.values()) and len(results) == 16
    for signature, payload in payloads.items():
        assert (tmp_path / signature[:2].upper() / signature).read_bytes() == payload
    assert cache.stats.hits == 16 and cache.stats.bytes_down == sum(map(len, payloads.values()))


def test_the_header_parser_accepts_only_the_documented_line() -> None:
    good = parse_header(b"scons-wasi-cache 1 sha256=" + b"a" * 64 + b" length=12 mode=755\n")
    assert (good.sha256, good.length, good.executable) == ("a" * 64, 12, True)
    assert parse_header(good.encode()) == good
