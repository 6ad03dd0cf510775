"""Downloading one pinned file over HTTP(S): retries with capped backoff (honouring ``Retry-After``), resume with a
``Range`` request, and the guard that cuts off a mirror that trickles or is slow to answer. Sessions, timeouts and
error wording come from ``net``; what to do with the bytes (publish, the next mirror) is fetch.py's.
"""

from __future__ import annotations

import contextlib
import email.utils
import functools
import hashlib
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..killpoints import kill_point
from ..net import CONNECT_TIMEOUT, MAX_REDIRECTS, NET_CHUNK, SourceFailed, describe_exception, new_session
from ..pins.toolchain_lock import Artifact
from ..settings import Settings
from .digest import CHUNK, megabytes, mismatch
from .lane import FetchCancelled, Lane
from ..log import Log

PROGRESS_BAR_MIN_BYTES = 4 << 20
_ASCII_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() is true for '²', which int() refuses

@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one URL. ``sleep`` is injectable so tests never wait."""

    attempts: int = 4  # in all, per URL, for connection errors, timeouts, 5xx and 429
    base_delay: float = 1.0  # seconds before the first retry; doubled for each further one
    max_delay: float = 30.0  # cap on any wait, Retry-After included
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(attempts=settings.fetch_retries + 1)

    def delay(self, failures: int, retry_after: float | None) -> float | None:
        """Seconds to wait before retry number ``failures``; None if the server asks for more than the cap."""
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        return min(self.max_delay, self.base_delay * 2 ** (failures - 1))



class _Retry(Exception):
    """A failure worth retrying on the same URL (connection, timeout, 5xx, 429, a body cut short)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def fetch_http(url: str, artifact: Artifact, partial: Path, settings: Settings, retry: RetryPolicy,
               log: Log, *, patient: bool = False, lane: Lane | None = None) -> None:
    """Download ``url`` into ``partial``. Each request's answer (its first byte and its header block) is due within
    WASI_FETCH_HEADER_TIMEOUT, or within WASI_FETCH_TIMEOUT when ``patient`` (the last try of a slow source); past
    that, SlowAnswer. In a ``lane``, no progress bar is drawn, and a cancelled lane ends the download at once
    (FetchCancelled): the rate guard's watcher shuts the connection, and no retry is waited for."""
    kept = partial.stat().st_size if partial.is_file() else 0
    resuming = f", resuming an interrupted download at byte {kept}" if 0 < kept < artifact.size else ""
    log(f"wasi: fetching {artifact.name} ({megabytes(artifact.size)}) from {url}{resuming}")
    failures = 0
    restarted = False
    while True:
        if lane is not None:
            lane.check()
        try:
            # A session per attempt: its connections are made under that attempt's rate guard.
            with new_session(adapter=_guarded_adapter_class()()) as session:
                with _RateGuard(settings, patient=patient, lane=lane) as guard:
                    resumed, actual = _http_attempt(session, url, artifact, partial, settings, log, guard,
                                                    bars=lane is None)
        except _Retry as e:
            failures += 1
            if failures >= retry.attempts:
                raise SourceFailed(f"{e}; gave up after {failures} attempts") from None
            delay = retry.delay(failures, e.retry_after)
            if delay is None:
                raise SourceFailed(f"{e}; it asks to retry after {e.retry_after:g} s, more than the "
                                   f"{retry.max_delay:g} s this tool waits") from None
            have = partial.stat().st_size if partial.is_file() else 0
            resume = f", resuming at byte {have}" if have else ""
            log(f"wasi: {url}: {e}; retry {failures} of {retry.attempts - 1} in {delay:g} s{resume}")
            if lane is not None:
                lane.sleep(delay, retry.sleep)
            else:
                retry.sleep(delay)
            continue
        if actual == artifact.sha256:
            return
        partial.unlink(missing_ok=True)
        if resumed and not restarted:
            # The bytes kept from before may not be this file's (an earlier mirror's, or a changed file).
            log(f"wasi: the resumed {artifact.name} does not match its sha256; downloading it again from the "
                f"start")
            restarted = True
            continue
        raise SourceFailed(mismatch(artifact, actual, artifact.size))


def _http_attempt(session: Any, url: str, artifact: Artifact, partial: Path, settings: Settings,
                  log: Log, guard: _RateGuard, *, bars: bool = True) -> tuple[bool, str]:
    """One GET. Returns (resumed, sha256 of the whole partial file) once it holds ``artifact.size`` bytes."""
    import http.client

    import requests
    import urllib3

    offset = partial.stat().st_size if partial.is_file() else 0
    if offset >= artifact.size:  # cannot be this file's prefix (a complete one was checked before)
        partial.unlink()
        offset = 0
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    try:
        response = session.get(url, headers=headers, stream=True,
                               timeout=(CONNECT_TIMEOUT, settings.fetch_timeout))
    except requests.TooManyRedirects:
        raise SourceFailed(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)") from None
    except requests.ReadTimeout:
        raise guard.failure() or _Retry(f"no answer for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT)") from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise guard.failure() or _Retry(describe_exception(e)) from None
    except requests.RequestException as e:
        raise guard.failure() or SourceFailed(describe_exception(e)) from None
    except (ValueError, LookupError, http.client.HTTPException) as e:
        # e.g. a redirect whose Location holds byte 0xFF: requests fails decoding it (UnicodeDecodeError).
        raise guard.failure() or SourceFailed(f"an answer this tool cannot parse ({describe_exception(e)})") from None
    if (cut := guard.failure()) is not None:  # cut off mid-headers: what arrived may parse as an empty answer
        response.close()
        raise cut
    with response:
        status = response.status_code
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status == 429 or 500 <= status <= 599:
            raw_retry_after = response.headers.get("Retry-After")
            try:
                retry_after = _retry_after(raw_retry_after)
            except ValueError:
                raise SourceFailed(f"{reason} with a Retry-After this tool cannot parse: {raw_retry_after!r}") from None
            raise _Retry(reason, retry_after)
        if status == 206 and offset:
            expected_range = f"bytes {offset}-{artifact.size - 1}/{artifact.size}"
            got_range = response.headers.get("Content-Range", "")
            if got_range.replace("/*", f"/{artifact.size}") != expected_range:
                partial.unlink()
                raise _Retry(f"answered the Range request with Content-Range {got_range!r}, expected "
                             f"{expected_range!r}; starting over")
        elif status == 200:
            if offset:
                log(f"wasi: {url} ignored the Range request; downloading {artifact.name} again from the start")
            offset = 0
        elif status == 416 and offset:
            partial.unlink()
            raise _Retry(f"{reason} for bytes {offset}-; starting over")
        else:
            raise SourceFailed(reason)
        content_type = response.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() == "text/html" and not artifact.name.endswith((".html", ".htm")):
            raise SourceFailed(f"{reason} but the body is an HTML page (Content-Type {content_type}), not the file; "
                               f"an error page or a login portal?")
        length = response.headers.get("Content-Length")
        if length is not None and not _ASCII_DIGITS.fullmatch(length.strip()):
            raise SourceFailed(f"{reason} with a Content-Length this tool cannot parse: {length!r}")
        if length is not None and offset + int(length) != artifact.size:
            raise SourceFailed(f"{reason} with Content-Length {length}: {offset + int(length)} bytes in all, "
                               f"the pin is {artifact.size}")

        digest = hashlib.sha256()
        if offset:
            with open(partial, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
        size = offset
        # Only reading is the network's: an OSError from writing (a full disk) leaves this function as it is, and
        # fetch_to reports it as the local problem it is, without a retry.
        with open(partial, "ab" if offset else "wb") as out:
            stream = response.raw.stream(NET_CHUNK, decode_content=False)
            chunks = iter(_progress(stream, artifact, offset) if bars else stream)
            while True:
                try:
                    chunk = next(chunks, None)
                except (urllib3.exceptions.ReadTimeoutError, TimeoutError, requests.Timeout):
                    raise guard.failure() or _Retry(f"no data for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT) "
                                                    f"after {size} of {artifact.size} bytes") from None
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
                    raise guard.failure() or _Retry(f"the connection broke after {size} of {artifact.size} bytes "
                                                    f"({describe_exception(e)})") from None
                if chunk is None:
                    break
                size += len(chunk)
                guard.received += len(chunk)
                if size > artifact.size:
                    raise SourceFailed(f"sent more than the pinned {artifact.size} bytes")
                digest.update(chunk)
                out.write(chunk)
                kill_point("fetch.chunk")
        if size < artifact.size:
            raise guard.failure() or _Retry(f"the body ended after {size} of {artifact.size} bytes")
        return offset > 0, digest.hexdigest()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date (RFC 9110 10.2.3). ValueError for
    anything else."""
    if not value:
        return None
    value = value.strip()
    if _ASCII_DIGITS.fullmatch(value):
        return float(value)  # a huge number gives inf, which is above any cap
    try:
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    except Exception as e:  # noqa: BLE001 - the email parser raises several kinds for junk (IndexError, TypeError)
        raise ValueError(f"not a number of seconds or an HTTP date: {value!r}") from e


class SlowAnswer(SourceFailed):
    """The server did not send the first byte of its answer, or the whole header block, within the header bound.
    The next source is tried at once, and this one only after every other has failed (see _obtain)."""


class _RateGuard:
    """Ends an HTTP attempt that is hopeless although never silent, from a watcher thread that shuts the attempt's
    sockets down (which ends any blocking read at once); the failure then moves on to the next URL:

    - its answer: from each request sent, the first byte within ``header_timeout`` seconds, and the whole header
      block too (a mirror that sends its status line, then a header byte every few seconds, never trips a read
      timeout; nor does the rate bound below count header bytes);
    - its rate: after ``settings.fetch_grace`` seconds, it must have averaged ``settings.fetch_min_rate`` bytes/s
      since it began.

    ``received`` counts body bytes as the reads return them, which is up to one read (NET_CHUNK) late; that much is
    allowed as slack so a mirror just above the rate is never cut off.
    """

    def __init__(self, settings: Settings, *, patient: bool = False, lane: Lane | None = None) -> None:
        self.min_rate = settings.fetch_min_rate
        self.grace = settings.fetch_grace
        # Patient (a slow server's last chance): the header block within WASI_FETCH_TIMEOUT, and the first byte
        # left to the read timeout, which is the same bound.
        self.patient = patient
        self.header_timeout = settings.fetch_timeout if patient else settings.fetch_header_timeout
        self._header_setting = "WASI_FETCH_TIMEOUT" if patient else "WASI_FETCH_HEADER_TIMEOUT"
        self.received = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        # A SourceFailed, or FetchCancelled when the lane the download runs in is told to stop.
        self._failure: SourceFailed | FetchCancelled | None = None
        self._lane = lane
        self._started = time.monotonic()
        self._awaiting: float | None = None  # when the request whose answer is awaited was sent
        self._first_byte = False

    def __enter__(self) -> _RateGuard:
        _guard_of_this_thread.guard = self
        threading.Thread(target=self._watch, name="wasi-fetch-rate-guard", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        _guard_of_this_thread.guard = None
        self._stopped.set()

    def watch(self, sock: socket.socket) -> None:
        """Called as each connection of the attempt is made (redirects may add more)."""
        with self._lock:
            self._sockets.append(sock)
            if self._failure is not None:
                self._shut(sock)

    def awaiting_answer(self) -> None:
        """A request was sent: its answer's first byte and header block are due within the header bound."""
        self._first_byte = False
        self._awaiting = time.monotonic()

    def first_byte(self) -> None:
        self._first_byte = True

    def answered(self) -> None:
        """The header block is in (or the request failed otherwise)."""
        self._awaiting = None

    def failure(self) -> SourceFailed | FetchCancelled | None:
        return self._failure

    def _watch(self) -> None:
        poll = min(0.5, max(0.02, min(self.grace, self.header_timeout) / 10))
        if self._lane is not None:
            poll = min(poll, 0.1)
        while not self._stopped.wait(poll):
            if self._lane is not None and self._lane.cancelled.is_set():
                self._fail(FetchCancelled())
                return
            now = time.monotonic()
            awaiting, elapsed = self._awaiting, now - self._started
            if awaiting is not None and now - awaiting >= self.header_timeout and (self._first_byte or
                                                                                 not self.patient):
                what = "its headers were not all in" if self._first_byte else "no answer"
                self._fail(SlowAnswer(f"{what} within {self.header_timeout:g} s of the request "
                                      f"({self._header_setting}); cut off"))
                return
            if self.min_rate > 0 and elapsed >= self.grace and self.received + NET_CHUNK < self.min_rate * elapsed:
                self._fail(SourceFailed(
                    f"too slow: {self.received} bytes in {elapsed:.1f} s, under the {self.min_rate:g} bytes/s "
                    f"that WASI_FETCH_MIN_RATE asks for after the first {self.grace:g} s (WASI_FETCH_GRACE); "
                    f"cut off"))
                return

    def _fail(self, failure: SourceFailed | FetchCancelled) -> None:
        with self._lock:
            self._failure = failure
            for sock in self._sockets:
                self._shut(sock)

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also for a TLS socket: it wakes a blocked read in another thread without
            # touching the TLS state that thread is using.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_guard_of_this_thread = threading.local()


@functools.lru_cache(maxsize=None)
def _guarded_adapter_class() -> Any:
    """A requests HTTPAdapter whose connections register their sockets with the calling thread's _RateGuard, and
    tell it when an answer is awaited, when its first byte came, and when its headers are in."""
    import http.client

    import requests.adapters
    import urllib3.connection
    import urllib3.connectionpool

    def guard() -> _RateGuard | None:
        return getattr(_guard_of_this_thread, "guard", None)

    class TimedResponse(http.client.HTTPResponse):
        def begin(self) -> None:
            if self.headers is None and (watcher := guard()) is not None:
                self.fp.peek(1)  # returns once the first byte is in (or the connection ended)
                watcher.first_byte()
            super().begin()

    class Guarded:
        sock: socket.socket | None
        response_class = TimedResponse

        def connect(self) -> None:
            super().connect()  # type: ignore[misc]
            if (watcher := guard()) is not None and self.sock is not None:
                watcher.watch(self.sock)

        def getresponse(self) -> Any:
            watcher = guard()
            if watcher is None:
                return super().getresponse()  # type: ignore[misc]
            watcher.awaiting_answer()
            try:
                return super().getresponse()  # type: ignore[misc]
            finally:
                watcher.answered()

    class GuardedHTTPConnection(Guarded, urllib3.connection.HTTPConnection):
        pass

    class GuardedHTTPSConnection(Guarded, urllib3.connection.HTTPSConnection):
        pass

    class GuardedHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection

    class GuardedHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    pools = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}

    class GuardedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = dict(pools)

        def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):  # SOCKS pools make their own connections: not guarded
                manager.pool_classes_by_scheme = dict(pools)
            return manager

    return GuardedAdapter


def _progress(chunks: Iterable[bytes], artifact: Artifact, start: int) -> Iterator[bytes]:
    """A tqdm bar on a terminal for big files; the plain 'fetching' line was logged already."""
    if artifact.size >= PROGRESS_BAR_MIN_BYTES and sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=artifact.size, initial=start, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                  desc=f"wasi: {artifact.name[:40]}", file=sys.stderr) as bar:
            for chunk in chunks:
                bar.update(len(chunk))
                yield chunk
    else:
        yield from chunks


