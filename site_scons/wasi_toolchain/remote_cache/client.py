"""A remote artifact cache over plain HTTP: GET, PUT (and nothing else) on ``<base>/ac/<key>``.

This is the client behind ``scons --remote-cache=URL``; the SCons glue (``site_tools/wasi/remote.py``) calls
:meth:`RemoteCache.fetch` when the local CacheDir misses and :meth:`RemoteCache.store` after a target was built.
It never imports SCons.

**Layout.** An entry lives at ``<base>/ac/<key>``, where ``key`` is the sha256 (64 lowercase hex characters) of a
format tag and the SCons cache signature of the target. That is bazel-remote's action-cache URL, the only layout it
accepts (``/ac/<64 hex>``, optionally below one instance-name segment), and a path any WebDAV server such as nginx
serves unchanged, so the same URL works against both. Hashing the signature gives the 64 characters bazel-remote
wants whatever ``hash_format`` SCons uses, and the format tag sends a client speaking another envelope version to
other keys instead of to bodies it cannot read.

**Envelope.** One header line and then the payload; see envelope.py.

**Faults.** Nothing here raises into the build. A refused connection, a timeout (connect, or the whole request), a
5xx, a body cut short or too slow is an error: the caller builds the target itself. The first error prints one
warning; after ``error_budget`` errors the cache is turned off for the rest of the process. An authorization failure
(401/403) turns it off at once (on PUT, only uploads). Counters feed the one report line at the end of a build.

**Credentials.** ``WASI_REMOTE_CACHE_TOKEN`` (sent as ``Authorization: Bearer``), else ``user:pass@`` in the URL,
else requests' own ``~/.netrc`` lookup. None of them is ever part of a message: the URL is kept and shown without
its user info, and every message is scrubbed of the secrets as well.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..net import NET_CHUNK, innermost, new_session
from .config import RemoteCacheConfig
from .envelope import MAX_HEADER, BadEntry, _EnvelopeBody, entry_key, header_for, parse_header

USER_AGENT = "scons-wasi-remote-cache/1"

Warn = Callable[[str], None]


def _warn_to_stderr(message: str) -> None:
    print(f"scons: warning: {message}", file=sys.stderr, flush=True)


# -- counters --------------------------------------------------------------------------------------------------
@dataclass
class Stats:
    hits: int = 0
    misses: int = 0  # 404s, corrupt entries, and lookups skipped while the cache is turned off
    uploads: int = 0
    bytes_down: int = 0
    bytes_up: int = 0
    errors: int = 0
    corrupt: int = 0

    @property
    def requests(self) -> int:
        return self.hits + self.misses + self.uploads + self.errors


def human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


# -- the client ------------------------------------------------------------------------------------------------
class _Failure(Exception):
    def __init__(self, reason: str, *, auth: bool = False) -> None:
        super().__init__(reason)
        self.auth = auth


class RemoteCache:
    """One per build process. Thread-safe: SCons calls fetch/store from its job threads."""

    def __init__(self, config: RemoteCacheConfig, *, warn: Warn = _warn_to_stderr,
                 session_factory: Callable[[], Any] | None = None) -> None:
        self.config = config
        self.stats = Stats()
        self._warn = warn
        self._session_factory = session_factory or self._new_session
        self._local = threading.local()
        self._sessions: list[Any] = []
        self._lock = threading.Lock()
        self._warned_fault = False
        self._warned_corrupt = False
        self.turned_off: str | None = None  # why the cache is off for the rest of the build
        self.uploads_off: str | None = None  # why uploads are off (read-only mode, or a refused PUT)
        if config.mode == "read-only":
            self.uploads_off = "read-only mode"
        self._secrets = [s for s in (config.token, *(config.basic_auth or ("", ""))[1:]) if s]

    # -- public API ---------------------------------------------------------------------------------------------
    def entry_url(self, signature: str) -> str:
        return f"{self.config.base_url}/ac/{entry_key(signature)}"

    def fetch(self, signature: str, destination: Path) -> bool:
        """Download and verify the entry for ``signature`` into ``destination`` (atomically). True on a verified
        hit; False on a miss, a bad entry, or any fault (counted, and warned about once)."""
        if self.turned_off:
            with self._lock:
                self.stats.misses += 1
            return False
        url = self.entry_url(signature)
        try:
            received = self._get(url, destination)
        except BadEntry as e:
            self._bad_entry(url, str(e))
            return False
        except _Failure as e:
            self._fault("GET", e)
            return False
        with self._lock:
            if received is None:
                self.stats.misses += 1
                return False
            self.stats.hits += 1
            self.stats.bytes_down += received
        return True

    def store(self, signature: str, source: Path) -> bool:
        """Upload ``source`` as the entry for ``signature``. True when the server accepted it (any 2xx)."""
        if self.turned_off or self.uploads_off:
            return False
        url = self.entry_url(signature)
        try:
            sent = self._put(url, source)
        except _Failure as e:
            self._fault("PUT", e)
            return False
        with self._lock:
            self.stats.uploads += 1
            self.stats.bytes_up += sent
        return True

    def report_line(self) -> str:
        s = self.stats
        line = (f"remote cache {self.config.base_url}: {s.hits} hits, {s.misses} misses, {s.uploads} uploads, "
                f"{human_bytes(s.bytes_down)} down, {human_bytes(s.bytes_up)} up, {s.errors} errors")
        if s.corrupt:
            line += f", {s.corrupt} corrupt {'entry' if s.corrupt == 1 else 'entries'} ignored"
        if self.config.mode == "read-only":
            line += " (read-only)"
        if self.turned_off:
            line += f"; turned off: {self.turned_off}"
        elif self.uploads_off and self.config.mode != "read-only":
            line += f"; uploads turned off: {self.uploads_off}"
        return self._scrub(line)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()

    # -- HTTP ---------------------------------------------------------------------------------------------------
    def _new_session(self) -> Any:
        import requests  # imported on first use: a build without a remote cache never loads it

        session = new_session(max_redirects=5, headers={"User-Agent": USER_AGENT})
        if self.config.token:
            session.auth = _BearerAuth(self.config.token)
        elif self.config.basic_auth:
            session.auth = self.config.basic_auth
        else:  # ~/.netrc, or $NETRC, for the host: as requests does
            session.auth = requests.utils.get_netrc_auth(self.config.base_url)
        # requests' own environment settings (proxies with no_proxy, the CA bundle), resolved once per session:
        # with trust_env it re-reads the whole environment and the .netrc file on every request, ~1 ms per target.
        session.proxies.update(requests.utils.get_environ_proxies(self.config.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
        return session

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._session_factory()
            with self._lock:
                self._sessions.append(session)
        return session

    def _timeouts(self) -> tuple[float, float]:
        return (self.config.connect_timeout, self.config.timeout)

    def _get(self, url: str, destination: Path) -> int | None:
        """The payload size on a verified hit, None on a 404. Raises BadEntry or _Failure."""
        import requests
        import urllib3

        deadline = time.monotonic() + self.config.timeout
        try:
            with self._session().get(url, stream=True, timeout=self._timeouts()) as response:
                if response.status_code != 200:
                    _drain(response, deadline)
                    if response.status_code == 404:
                        return None
                    raise _answer_failure(response.status_code)
                size = self._receive(response, destination, deadline)
                response.raw.release_conn()  # the body was read to its end: the connection serves the next target
                return size
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, ValueError) as e:
            # urllib3's errors come through unwrapped while the body is read from response.raw; OSError is also
            # a local disk that is full.
            raise _Failure(_describe(e, self.config)) from None

    def _receive(self, response: Any, destination: Path, deadline: float) -> int:
        raw = response.raw
        read = getattr(raw, "read1", None) or raw.read  # read1: one recv at most, so the deadline is checked often

        def chunk() -> bytes:
            if time.monotonic() > deadline:
                raise _Failure(f"the answer took longer than {self.config.timeout:g} s")
            return read(NET_CHUNK)

        head = b""
        while b"\n" not in head:
            block = chunk()
            if not block:
                raise BadEntry("the body ended before its header line")
            head += block
            if len(head) > MAX_HEADER and b"\n" not in head[:MAX_HEADER]:
                break
        line, _, rest = head.partition(b"\n")
        header = parse_header(line + b"\n")

        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, temp_name = tempfile.mkstemp(prefix=".remote-", dir=destination.parent)
        temp = Path(temp_name)
        try:
            digest = hashlib.sha256()
            size = 0
            with os.fdopen(fd, "wb") as out:
                block = rest
                while True:
                    size += len(block)
                    if size > header.length:
                        raise BadEntry(f"the body is longer than the {header.length} bytes its header says")
                    digest.update(block)
                    out.write(block)
                    block = chunk()
                    if not block:
                        break
                if size != header.length:
                    raise BadEntry(f"the body has {size} of the {header.length} bytes its header says")
                if digest.hexdigest() != header.sha256:
                    raise BadEntry(f"expected sha256 {header.sha256}, got {digest.hexdigest()}")
            # No fsync: this is a file in SCons's local CacheDir, which SCons itself writes without one (a hit
            # costs ~3 ms less); what matters here is that nothing unverified is ever renamed into place.
            os.chmod(temp, 0o755 if header.executable else 0o644)
            os.replace(temp, destination)
            return size
        finally:
            temp.unlink(missing_ok=True)  # gone already after the rename; removes a failed download otherwise

    def _put(self, url: str, source: Path) -> int:
        import requests

        try:
            header = header_for(source)
            body = _EnvelopeBody(header.encode(), source)
        except OSError as e:
            raise _Failure(f"cannot read {source.name}: {e.strerror or e}") from None
        try:
            response = self._session().put(url, data=body, timeout=self._timeouts(),
                                           headers={"Content-Type": "application/octet-stream"})
            response.close()
        except (requests.exceptions.RequestException, OSError, ValueError) as e:
            raise _Failure(_describe(e, self.config)) from None
        finally:
            body.close()
        if not 200 <= response.status_code < 300:
            raise _answer_failure(response.status_code)
        return len(body)

    # -- bookkeeping --------------------------------------------------------------------------------------------
    def _fault(self, verb: str, failure: _Failure) -> None:
        with self._lock:
            self.stats.errors += 1
            if verb == "GET":
                self.stats.misses += 1
            first = not self._warned_fault
            self._warned_fault = True
            if failure.auth and verb == "PUT":
                self.uploads_off = self.uploads_off or f"PUT was refused ({failure})"
            elif failure.auth:
                self.turned_off = self.turned_off or f"{verb} was refused ({failure})"
            elif self.stats.errors >= self.config.error_budget:
                self.turned_off = self.turned_off or f"after {self.stats.errors} errors"
        if not first:
            return
        if failure.auth:
            what = "uploads are" if verb == "PUT" else "the remote cache is"
            message = (f"remote cache {self.config.base_url}: {verb} failed: {failure}; {what} turned off for "
                       f"this build, targets are built here (set WASI_REMOTE_CACHE_TOKEN, or put credentials in "
                       f"~/.netrc or the URL)")
        else:
            message = (f"remote cache {self.config.base_url}: {verb} failed: {failure}; targets are built here, "
                       f"and after {self.config.error_budget} errors the remote cache is turned off for this "
                       f"build (the count is in the report at the end)")
        self._warn(self._scrub(message))

    def _bad_entry(self, url: str, reason: str) -> None:
        with self._lock:
            self.stats.corrupt += 1
            self.stats.misses += 1
            first = not self._warned_corrupt
            self._warned_corrupt = True
        if first:
            key = url.rpartition("/")[2]
            self._warn(self._scrub(
                f"remote cache {self.config.base_url}: entry ac/{key} is not a valid entry ({reason}); it is "
                f"ignored and the target is built here (further bad entries are counted in the report at the end)"))

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


class _BearerAuth:
    """``Authorization: Bearer <token>`` on every request (a requests auth callable)."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: Any) -> Any:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def __repr__(self) -> str:
        return "_BearerAuth(***)"


def _drain(response: Any, deadline: float, limit: int = 64 << 10) -> None:
    """Read a short error body (nginx's 404 page) to its end, so its connection goes back to the pool; a long or
    slow one is left for close() to cut."""
    raw = response.raw
    read = getattr(raw, "read1", None) or raw.read
    seen = 0
    while seen <= limit and time.monotonic() < deadline:
        block = read(NET_CHUNK)
        if not block:
            raw.release_conn()
            return
        seen += len(block)


def _answer_failure(code: int) -> _Failure:
    if code in (401, 403):
        return _Failure(f"HTTP {code} ({'not authorized' if code == 401 else 'forbidden'})", auth=True)
    return _Failure(f"HTTP {code}")


def _describe(error: BaseException, config: RemoteCacheConfig) -> str:
    """A short reason for a network error, without the URLs and wrappers requests puts into its messages."""
    import requests
    import urllib3

    if isinstance(error, (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError)):
        return f"no connection within {config.connect_timeout:g} s"
    if isinstance(error, (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return f"no data for {config.timeout:g} s"
    inner = innermost(error, follow_context=True)
    if isinstance(inner, ConnectionRefusedError):
        return "connection refused"
    if isinstance(inner, OSError) and inner.strerror:
        return inner.strerror.lower()
    if isinstance(inner, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
        return f"no data for {config.timeout:g} s"
    if isinstance(error, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
                          urllib3.exceptions.ProtocolError)):
        return f"the connection broke ({type(inner).__name__})"
    return type(inner).__name__
