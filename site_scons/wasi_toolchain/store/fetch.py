"""Fetch pinned artifacts into the store, verified by size and sha256 before anyone may use them.

Where a file comes from, in order: the store itself (re-verified before it is trusted), WASI_DISTDIR (a directory
of pre-downloaded files, matched by file name), then every URL of every locator in the lock, in order (one per
configured mirror). With WASI_OFFLINE=1 only the store, WASI_DISTDIR and ``file://`` URLs are used: no socket is
opened and pip is never run.

Per URL, connection errors, timeouts, HTTP 5xx and 429 are retried with capped exponential backoff, honouring
``Retry-After``; an interrupted body is resumed with an HTTP ``Range`` request, and restarted from byte 0 where the
server ignores the Range or the resumed file fails its hash. Any other answer (4xx, an HTML page, a wrong length or
sha256, a redirect loop, a header this code cannot parse) moves on to the next URL at once, and so does an attempt
that trickles: after WASI_FETCH_GRACE seconds, one averaging under WASI_FETCH_MIN_RATE bytes/s is cut off (its bytes
are kept for the next URL to resume). When every source fails, one error lists each and why.

Writing is local: a full disk (ENOSPC, EDQUOT) or any other error writing into the store stops the fetch at once
with DiskFullError or StoreError, naming the directory and the space the pinned file needs; it is never retried.
Only regular files are read from WASI_DISTDIR and ``file://`` URLs: a FIFO or a device there is skipped, not opened
for reading (which would block for ever).

Bytes stream into ``.partial-<name>`` beside the final path while they are hashed; the file is compared with the
pin, fsynced and moved in with ``os.replace``, all under the download's store lock. A failed fetch removes the
partial file; a killed one leaves it for the next run to resume, and nothing ever reads it as the artifact.
"""

from __future__ import annotations

import contextlib
import email.utils
import errno
import functools
import hashlib
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..settings import Settings
from ..errors import DiskFullError, FetchError, LocatorError, OfflineError, StoreError
from ..killpoints import kill_point
from ..pins.toolchain_lock import Artifact
from ..pins.locators import PipSource, Source, UrlSource, sources_for
from .store import Log, Store, log_to_stderr, remove_tree

CHUNK = 1 << 20
# Network reads are smaller: bytes read but not yet written when a connection breaks are lost to the resume.
NET_CHUNK = 64 << 10
PROGRESS_BAR_MIN_BYTES = 4 << 20
CONNECT_TIMEOUT = 15.0
MAX_REDIRECTS = 10
_ASCII_DIGITS = re.compile(r"[0-9]+")  # str.isdigit() is true for '²', which int() refuses
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)

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


class SourceFailed(Exception):
    """One source could not deliver the artifact; the next one is tried."""


class _Retry(Exception):
    """A failure worth retrying on the same URL (connection, timeout, 5xx, 429, a body cut short)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def is_verified(path: Path, artifact: Artifact) -> bool:
    """True if ``path`` holds exactly the pinned bytes."""
    try:
        if not path.is_file() or path.stat().st_size != artifact.size:
            return False
    except OSError:
        return False
    return sha256_file(path)[0] == artifact.sha256


def fetch(artifact: Artifact, store: Store, settings: Settings, *, log: Log = log_to_stderr,
          apt_root: Path = Path("/"), retry: RetryPolicy | None = None) -> Path:
    """Return the store path of ``artifact``, downloading and verifying it first if needed."""
    return fetch_to(artifact, store.download_path(artifact), store, settings, log=log, apt_root=apt_root,
                    retry=retry)


def fetch_to(artifact: Artifact, final: Path, store: Store, settings: Settings, *, log: Log = log_to_stderr,
             apt_root: Path = Path("/"), retry: RetryPolicy | None = None) -> Path:
    """Make ``final`` hold ``artifact``'s verified bytes (it may be outside the store, e.g. for wasi-fetch-all).

    The store's lock for this sha256 serialises every writer of it, in the store or not.
    """
    if final.is_file():
        if is_verified(final, artifact):
            return final
        log(f"wasi: cached {artifact.name} does not match its pin any more; fetching it again")
    retry = retry or RetryPolicy.from_settings(settings)
    with store.locked(f"download-{artifact.sha256}", f"downloading {artifact.name} to {final.parent}", log=log):
        if final.is_file():
            if is_verified(final, artifact):
                return final  # another process fetched it while we waited
            final.unlink()
        final.parent.mkdir(parents=True, exist_ok=True)
        store.sweep_temps(final)
        kill_point("fetch.locked")
        partial = store.partial_path(final)
        try:
            try:
                _obtain(artifact, final, partial, store, settings, log, apt_root, retry)
            except OSError as e:  # every source turns its network and read errors into SourceFailed: this is local
                raise _local_write_error(e, artifact, final, store) from None
        except Exception:
            partial.unlink(missing_ok=True)  # a failed fetch leaves nothing; only a killed one leaves bytes to resume
            raise
        kill_point("fetch.published")
        return final


def _obtain(artifact: Artifact, final: Path, partial: Path, store: Store, settings: Settings, log: Log,
            apt_root: Path, retry: RetryPolicy) -> None:
    attempts: list[tuple[str, str]] = []
    if settings.distdir is not None:
        where = f"WASI_DISTDIR {settings.distdir / artifact.name}"
        try:
            _copy_local(settings.distdir / artifact.name, artifact, partial, where, log)
            _publish(partial, final)
            return
        except SourceFailed as e:
            attempts.append((where, str(e)))

    if partial.is_file() and partial.stat().st_size == artifact.size:
        # A run was killed after the last byte arrived and before the file was moved in.
        if sha256_file(partial)[0] == artifact.sha256:
            _publish(partial, final)
            return
        partial.unlink()

    locator_errors: list[LocatorError] = []
    network_attempts = 0
    for locator in artifact.locators:
        try:
            sources = sources_for(locator, settings, apt_root=apt_root)
        except LocatorError as e:
            locator_errors.append(e)
            attempts.append((locator, e.message))
            continue
        for source in sources:
            if settings.offline and not _is_local(source):
                attempts.append((source.describe(), "not tried: WASI_OFFLINE=1"))
                continue
            network_attempts += 1
            try:
                if isinstance(source, PipSource):
                    _fetch_with_pip(source, artifact, partial, store, log)
                elif source.url.startswith("file://"):
                    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(source.url).path))
                    _copy_local(path, artifact, partial, source.url, log)
                else:
                    _fetch_http(source.url, artifact, partial, settings, retry, log)
                _publish(partial, final)
                return
            except SourceFailed as e:
                attempts.append((source.describe(), str(e)))

    if settings.offline:
        attempts.insert(0, ("the store", f"no verified copy at {final}"))
        distdir = ("copy it into a directory and point WASI_DISTDIR at it (`scons wasi-fetch-all DIR` fills one on a "
                   "connected machine)")
        raise OfflineError(
            artifact.name, artifact.sha256, attempts,
            hint=f"WASI_OFFLINE=1 is set, so nothing is downloaded: run `scons wasi-toolchain` once while online "
                 f"(with the same WASI_CACHE_DIR), or {distdir}",
        )
    if locator_errors and network_attempts == 0 and settings.distdir is None:
        raise locator_errors[0]
    raise FetchError(
        artifact.name, artifact.sha256, attempts,
        hint="check your network and mirrors (WASI_DEBIAN_MIRROR, WASI_PYPI_INDEX, pip's configuration), or put the "
             "file in WASI_DISTDIR; then run the build again",
    )


def _local_write_error(error: OSError, artifact: Artifact, final: Path, store: Store) -> DiskFullError | StoreError:
    """A failure writing into the store (or the wasi-fetch-all directory): the user's disk, not the network."""
    where = final.parent
    in_store = os.path.abspath(where).startswith(os.path.abspath(store.root) + os.sep)
    store_note = f" (the store WASI_CACHE_DIR={store.root})" if in_store else ""
    if error.errno in _DISK_FULL:
        return DiskFullError(
            f"no space left on the device while writing {artifact.name} into {where}{store_note}: "
            f"{os.strerror(error.errno)}; it needs {artifact.size} bytes ({_megabytes(artifact.size)}) free there",
            hint="free that much space on the disk, or point WASI_CACHE_DIR at a disk with room; then run the build "
                 "again")
    return StoreError(f"cannot write {artifact.name} into {where}{store_note}: {error.strerror or error}",
                      hint="check that the directory is writable, or point WASI_CACHE_DIR elsewhere")


def _is_local(source: Source) -> bool:
    return isinstance(source, UrlSource) and source.url.startswith("file://")


def _publish(partial: Path, final: Path) -> None:
    """Move verified bytes into place: fsync first, so a crash cannot leave a renamed but empty file."""
    with open(partial, "rb+") as f:
        os.fsync(f.fileno())
    kill_point("fetch.verified")
    os.replace(partial, final)


# -- local files (WASI_DISTDIR, file:// URLs) --------------------------------------------------------------------
def _copy_local(path: Path, artifact: Artifact, partial: Path, where: str, log: Log) -> None:
    try:
        # O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer, for ever. It changes nothing for
        # a regular file, and anything else is refused below before a byte is read.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise SourceFailed("no such file") from None
    except OSError as e:
        raise SourceFailed(f"cannot read it: {e.strerror}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise SourceFailed(f"not a regular file ({_file_kind(mode)}); skipped")
    with open(fd, "rb") as source:
        os.set_blocking(fd, True)
        size = os.fstat(fd).st_size
        if size != artifact.size:
            raise SourceFailed(f"it has {size} bytes, the pin is {artifact.size}; ignored")
        log(f"wasi: copying {artifact.name} ({_megabytes(artifact.size)}) from {where}")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:  # an OSError writing is local: fetch_to reports it
            while True:
                try:
                    chunk = source.read(CHUNK)
                except OSError as e:
                    raise SourceFailed(f"cannot read it: {e.strerror}") from None
                if not chunk:
                    break
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != artifact.sha256:
        partial.unlink()
        raise SourceFailed(_mismatch(artifact, digest.hexdigest(), size))


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    return next((kind for test, kind in kinds if test(mode)), "not a file")


# -- HTTP(S) with retries and resume -----------------------------------------------------------------------------
def _fetch_http(url: str, artifact: Artifact, partial: Path, settings: Settings, retry: RetryPolicy,
                log: Log) -> None:
    import requests  # lazy: a warm build never downloads

    kept = partial.stat().st_size if partial.is_file() else 0
    resuming = f", resuming an interrupted download at byte {kept}" if 0 < kept < artifact.size else ""
    log(f"wasi: fetching {artifact.name} ({_megabytes(artifact.size)}) from {url}{resuming}")
    failures = 0
    restarted = False
    while True:
        try:
            # A session per attempt: its connections are made under that attempt's rate guard.
            with requests.Session() as session:
                session.max_redirects = MAX_REDIRECTS
                adapter = _guarded_adapter_class()()
                session.mount("http://", adapter)
                session.mount("https://", adapter)
                with _RateGuard(settings) as guard:
                    resumed, actual = _http_attempt(session, url, artifact, partial, settings, log, guard)
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
        raise SourceFailed(_mismatch(artifact, actual, artifact.size))


def _http_attempt(session: Any, url: str, artifact: Artifact, partial: Path, settings: Settings,
                  log: Log, guard: _RateGuard) -> tuple[bool, str]:
    """One GET. Returns (resumed, sha256 of the whole partial file) once it holds ``artifact.size`` bytes."""
    import http.client

    import requests
    import urllib3

    offset = partial.stat().st_size if partial.is_file() else 0
    if offset >= artifact.size:  # cannot be this file's prefix (a complete one was checked before)
        partial.unlink()
        offset = 0
    # identity: the bytes on the wire must be the file's bytes, with no transfer decoding in between.
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(url, headers=headers, stream=True,
                               timeout=(CONNECT_TIMEOUT, settings.fetch_timeout))
    except requests.TooManyRedirects:
        raise SourceFailed(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)") from None
    except requests.ReadTimeout:
        raise guard.failure() or _Retry(f"no answer for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT)") from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise guard.failure() or _Retry(_describe_exception(e)) from None
    except requests.RequestException as e:
        raise guard.failure() or SourceFailed(_describe_exception(e)) from None
    except (ValueError, LookupError, http.client.HTTPException) as e:
        # e.g. a redirect whose Location holds byte 0xFF: requests fails decoding it (UnicodeDecodeError).
        raise guard.failure() or SourceFailed(f"an answer this tool cannot parse ({_describe_exception(e)})") from None
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
            chunks = iter(_progress(response.raw.stream(NET_CHUNK, decode_content=False), artifact, offset))
            while True:
                try:
                    chunk = next(chunks, None)
                except (urllib3.exceptions.ReadTimeoutError, TimeoutError, requests.Timeout):
                    raise guard.failure() or _Retry(f"no data for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT) "
                                                    f"after {size} of {artifact.size} bytes") from None
                except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
                    raise guard.failure() or _Retry(f"the connection broke after {size} of {artifact.size} bytes "
                                                    f"({_describe_exception(e)})") from None
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
            raise _Retry(f"the body ended after {size} of {artifact.size} bytes")
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


class _RateGuard:
    """Ends an HTTP attempt that is hopeless although never silent (a mirror sending 1 byte a second, even in its
    headers): after ``settings.fetch_grace`` seconds, if the attempt has averaged fewer than
    ``settings.fetch_min_rate`` bytes/s since it began, the attempt's sockets are shut down from a watcher thread,
    which ends any blocking read at once. The failure then moves on to the next URL.

    ``received`` counts body bytes as the reads return them, which is up to one read (NET_CHUNK) late; that much is
    allowed as slack so a mirror just above the rate is never cut off.
    """

    def __init__(self, settings: Settings) -> None:
        self.min_rate = settings.fetch_min_rate
        self.grace = settings.fetch_grace
        self.received = 0
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._failure: SourceFailed | None = None
        self._started = time.monotonic()

    def __enter__(self) -> _RateGuard:
        _guard_of_this_thread.guard = self
        if self.min_rate > 0:
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

    def failure(self) -> SourceFailed | None:
        return self._failure

    def _watch(self) -> None:
        poll = min(0.5, max(0.02, self.grace / 5))
        while not self._stopped.wait(poll):
            elapsed = time.monotonic() - self._started
            if elapsed >= self.grace and self.received + NET_CHUNK < self.min_rate * elapsed:
                with self._lock:
                    self._failure = SourceFailed(
                        f"too slow: {self.received} bytes in {elapsed:.1f} s, under the {self.min_rate:g} bytes/s "
                        f"that WASI_FETCH_MIN_RATE asks for after the first {self.grace:g} s (WASI_FETCH_GRACE); "
                        f"cut off")
                    for sock in self._sockets:
                        self._shut(sock)
                return

    @staticmethod
    def _shut(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            # The plain socket's shutdown, also for a TLS socket: it wakes a blocked read in another thread without
            # touching the TLS state that thread is using.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


_guard_of_this_thread = threading.local()


@functools.lru_cache(maxsize=None)
def _guarded_adapter_class() -> Any:
    """A requests HTTPAdapter whose connections register their sockets with the calling thread's _RateGuard."""
    import requests.adapters
    import urllib3.connection
    import urllib3.connectionpool

    def register(sock: socket.socket | None) -> None:
        guard = getattr(_guard_of_this_thread, "guard", None)
        if guard is not None and sock is not None:
            guard.watch(sock)

    class GuardedHTTPConnection(urllib3.connection.HTTPConnection):
        def connect(self) -> None:
            super().connect()
            register(self.sock)

    class GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            register(self.sock)

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


def _describe_exception(e: BaseException) -> str:
    """The innermost useful reason, e.g. 'ReadTimeoutError: Read timed out.' rather than a nest of wrappers."""
    inner: BaseException = e
    while True:
        reason = getattr(inner, "reason", None)
        nested = [a for a in inner.args if isinstance(a, BaseException)]
        if isinstance(reason, BaseException):
            inner = reason
        elif nested:
            inner = nested[-1]
        else:
            break
    text = str(inner) or repr(inner)
    return f"{type(inner).__name__}: {text}"


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


# -- pip ---------------------------------------------------------------------------------------------------------
def _fetch_with_pip(source: PipSource, artifact: Artifact, partial: Path, store: Store, log: Log) -> None:
    """Let pip download the file, so the user's pip configuration applies; then verify it ourselves."""
    temp_dir = store.temp_path(partial.with_name(artifact.name))
    temp_dir.mkdir()
    try:
        requirements = temp_dir / "requirements.txt"
        requirements.write_text(f"{source.requirement} --hash=sha256:{artifact.sha256}\n", encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                   "--disable-pip-version-check", "--dest", str(temp_dir / "out"), "-r", str(requirements)]
        for platform_tag in wheel_platform_tags(artifact.name):
            command += ["--platform", platform_tag]
        if source.index_url:
            command += ["--index-url", source.index_url]
        interactive = sys.stderr.isatty()
        if not interactive:
            command += ["--progress-bar", "off"]
        log(f"wasi: fetching {artifact.name} ({_megabytes(artifact.size)}) with pip")
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=None if interactive else subprocess.PIPE, text=True)
        if result.returncode != 0:
            output = (result.stderr or "") + (result.stdout or "")
            for number in _DISK_FULL:
                # pip's own report of a full disk ends in a traceback line; ours names the store and the size.
                if f"[Errno {number}]" in output or os.strerror(number) in output:
                    raise OSError(number, os.strerror(number), str(temp_dir))
            tail = "\n".join(output.strip().splitlines()[-6:])
            raise SourceFailed(f"pip exited with {result.returncode}: {tail}")
        downloaded = temp_dir / "out" / artifact.name
        if not downloaded.is_file():
            got = ", ".join(p.name for p in (temp_dir / "out").glob("*")) or "nothing"
            raise SourceFailed(f"pip saved {got}, not {artifact.name}")
        kill_point("fetch.pip-downloaded")
        actual, size = sha256_file(downloaded)
        if actual != artifact.sha256 or size != artifact.size:
            raise SourceFailed(_mismatch(artifact, actual, size))
        os.replace(downloaded, partial)
    finally:
        remove_tree(temp_dir)


def wheel_platform_tags(file_name: str) -> list[str]:
    """Platform tags of a wheel file name (PEP 427), so pip picks that host's wheel; [] for other files."""
    if not file_name.endswith(".whl"):
        return []
    parts = file_name[: -len(".whl")].split("-")
    return parts[-1].split(".") if len(parts) >= 5 else []


def copy_verified(source: Path, artifact: Artifact, final: Path, store: Store, log: Log = log_to_stderr) -> None:
    """Copy a file known to hold ``artifact`` to ``final``, re-verifying it on the way (temp file, then replace)."""
    temp = store.temp_path(final)
    try:
        _copy_local(source, artifact, temp, str(source), log)
        _publish(temp, final)
    except SourceFailed as e:
        raise FetchError(artifact.name, artifact.sha256, [(str(source), str(e))]) from None
    except OSError as e:
        raise _local_write_error(e, artifact, final, store) from None
    finally:
        temp.unlink(missing_ok=True)


def _mismatch(artifact: Artifact, actual_sha256: str, actual_size: int) -> str:
    return (f"sha256 mismatch: expected {artifact.sha256}, got {actual_sha256} "
            f"({actual_size} bytes, pinned {artifact.size}); the file was discarded")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
