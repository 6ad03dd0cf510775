"""Fetch pinned artifacts into the store, verified by size and sha256 before anyone may use them.

Where a file comes from, in order: the store itself (re-verified before it is trusted), WASI_DISTDIR (a directory
of pre-downloaded files, matched by file name), then every URL of every locator in the lock, in order (one per
configured mirror). With WASI_OFFLINE=1 only the store, WASI_DISTDIR and ``file://`` URLs are used: no socket is
opened and pip is never run.

Per URL, connection errors, timeouts, HTTP 5xx and 429 are retried with capped exponential backoff, honouring
``Retry-After``; an interrupted body is resumed with an HTTP ``Range`` request, and restarted from byte 0 where the
server ignores the Range or the resumed file fails its hash. Any other answer (4xx, an HTML page, a wrong length or
sha256, a redirect loop) moves on to the next URL at once. When every source fails, one error lists each and why.

Bytes stream into ``.partial-<name>`` beside the final path while they are hashed; the file is compared with the
pin, fsynced and moved in with ``os.replace``, all under the download's store lock. A failed fetch removes the
partial file; a killed one leaves it for the next run to resume, and nothing ever reads it as the artifact.
"""

from __future__ import annotations

import email.utils
import hashlib
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .config import Settings
from .errors import FetchError, LocatorError, OfflineError
from .killpoints import kill_point
from .lock import Artifact
from .locators import PipSource, Source, UrlSource, sources_for
from .store import Log, Store, log_to_stderr, remove_tree

CHUNK = 1 << 20
# Network reads are smaller: bytes read but not yet written when a connection breaks are lost to the resume.
NET_CHUNK = 64 << 10
PROGRESS_BAR_MIN_BYTES = 4 << 20
CONNECT_TIMEOUT = 15.0
MAX_REDIRECTS = 10

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
            _obtain(artifact, final, partial, store, settings, log, apt_root, retry)
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
        source = open(path, "rb")
    except FileNotFoundError:
        raise SourceFailed("no such file") from None
    except OSError as e:
        raise SourceFailed(f"cannot read it: {e.strerror}") from None
    with source:
        size = os.fstat(source.fileno()).st_size
        if size != artifact.size:
            raise SourceFailed(f"it has {size} bytes, the pin is {artifact.size}; ignored")
        log(f"wasi: copying {artifact.name} ({_megabytes(artifact.size)}) from {where}")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:
            while chunk := source.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != artifact.sha256:
        partial.unlink()
        raise SourceFailed(_mismatch(artifact, digest.hexdigest(), size))


# -- HTTP(S) with retries and resume -----------------------------------------------------------------------------
def _fetch_http(url: str, artifact: Artifact, partial: Path, settings: Settings, retry: RetryPolicy,
                log: Log) -> None:
    import requests  # lazy: a warm build never downloads

    kept = partial.stat().st_size if partial.is_file() else 0
    resuming = f", resuming an interrupted download at byte {kept}" if 0 < kept < artifact.size else ""
    log(f"wasi: fetching {artifact.name} ({_megabytes(artifact.size)}) from {url}{resuming}")
    session = requests.Session()
    session.max_redirects = MAX_REDIRECTS
    failures = 0
    restarted = False
    with session:
        while True:
            try:
                resumed, actual = _http_attempt(session, url, artifact, partial, settings, log)
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
                  log: Log) -> tuple[bool, str]:
    """One GET. Returns (resumed, sha256 of the whole partial file) once it holds ``artifact.size`` bytes."""
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
        raise _Retry(f"no answer for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT)") from None
    except (requests.ConnectionError, requests.Timeout) as e:
        raise _Retry(_describe_exception(e)) from None
    except requests.RequestException as e:
        raise SourceFailed(_describe_exception(e)) from None
    with response:
        status = response.status_code
        reason = f"HTTP {status} {response.reason or ''}".rstrip()
        if status == 429 or 500 <= status <= 599:
            raise _Retry(reason, _retry_after(response.headers.get("Retry-After")))
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
        if length is not None and length.isdigit() and offset + int(length) != artifact.size:
            raise SourceFailed(f"{reason} with Content-Length {length}: {offset + int(length)} bytes in all, "
                               f"the pin is {artifact.size}")

        digest = hashlib.sha256()
        if offset:
            with open(partial, "rb") as f:
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
        size = offset
        with open(partial, "ab" if offset else "wb") as out:
            try:
                for chunk in _progress(response.raw.stream(NET_CHUNK, decode_content=False), artifact, offset):
                    size += len(chunk)
                    if size > artifact.size:
                        raise SourceFailed(f"sent more than the pinned {artifact.size} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                    kill_point("fetch.chunk")
            except (urllib3.exceptions.ReadTimeoutError, TimeoutError, requests.Timeout):
                raise _Retry(f"no data for {settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT) after {size} of "
                             f"{artifact.size} bytes") from None
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as e:
                raise _Retry(f"the connection broke after {size} of {artifact.size} bytes "
                             f"({_describe_exception(e)})") from None
        if size < artifact.size:
            raise _Retry(f"the body ended after {size} of {artifact.size} bytes")
        return offset > 0, digest.hexdigest()


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: a number of seconds or an HTTP date (RFC 9110 10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
            tail = "\n".join(((result.stderr or "") + (result.stdout or "")).strip().splitlines()[-6:])
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
    finally:
        temp.unlink(missing_ok=True)


def _mismatch(artifact: Artifact, actual_sha256: str, actual_size: int) -> str:
    return (f"sha256 mismatch: expected {artifact.sha256}, got {actual_sha256} "
            f"({actual_size} bytes, pinned {artifact.size}); the file was discarded")


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
