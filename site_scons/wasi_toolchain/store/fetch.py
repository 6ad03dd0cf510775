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

import hashlib
import os
import stat
import urllib.parse
import urllib.request
from pathlib import Path

from ..errors import DiskFullError, FetchError, LocatorError, OfflineError, StoreError
from ..killpoints import kill_point
from ..net import SourceFailed
from ..pins.locators import PipSource, Source, UrlSource, sources_for
from ..pins.toolchain_lock import Artifact
from ..settings import Settings
from .digest import CHUNK, is_verified, megabytes, mismatch, sha256_file
from .http_download import RetryPolicy, SlowAnswer, fetch_http
from .lane import Lane
from .pip_download import DISK_FULL, fetch_with_pip
from .store import Store
from ..log import Log, log_to_stderr


def fetch(artifact: Artifact, store: Store, settings: Settings, *, log: Log = log_to_stderr,
          apt_root: Path = Path("/"), retry: RetryPolicy | None = None, lane: Lane | None = None) -> Path:
    """Return the store path of ``artifact``, downloading and verifying it first if needed. ``lane``: the fetch
    runs beside other work (store/background.py), which may tell it to stop."""
    return fetch_to(artifact, store.download_path(artifact), store, settings, log=log, apt_root=apt_root,
                    retry=retry, lane=lane)


def fetch_to(artifact: Artifact, final: Path, store: Store, settings: Settings, *, log: Log = log_to_stderr,
             apt_root: Path = Path("/"), retry: RetryPolicy | None = None, lane: Lane | None = None) -> Path:
    """Make ``final`` hold ``artifact``'s verified bytes (it may be outside the store, e.g. for wasi-fetch-all).

    The store's lock for this sha256 serialises every writer of it, in the store or not.
    """
    if final.is_file():
        if is_verified(final, artifact):
            return final
        log(f"wasi: cached {artifact.name} does not match its pin any more; fetching it again")
    retry = retry or RetryPolicy.from_settings(settings)
    with store.locked(f"download-{artifact.sha256}", f"downloading {artifact.name} to {final.parent}", log=log,
                      while_waiting=lane.check if lane is not None else None):
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
                _obtain(artifact, final, partial, store, settings, log, apt_root, retry, lane)
            except OSError as e:  # every source turns its network and read errors into SourceFailed: this is local
                raise _local_write_error(e, artifact, final, store) from None
        except Exception:  # FetchCancelled too: a lane told to stop ends as a failed fetch
            partial.unlink(missing_ok=True)  # a failed fetch leaves nothing; only a killed one leaves bytes to resume
            raise
        kill_point("fetch.published")
        return final


def _obtain(artifact: Artifact, final: Path, partial: Path, store: Store, settings: Settings, log: Log,
            apt_root: Path, retry: RetryPolicy, lane: Lane | None) -> None:
    attempts: list[tuple[str, str]] = []
    if settings.distdir is not None:
        where = f"WASI_DISTDIR {settings.distdir / artifact.name}"
        try:
            _copy_local(settings.distdir / artifact.name, artifact, partial, where, log, lane)
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
    slow: list[UrlSource] = []  # sources whose answer did not come within the header bound: asked again last
    for locator in artifact.locators:
        try:
            sources = sources_for(locator, settings, apt_root=apt_root)
        except LocatorError as e:
            locator_errors.append(e)
            attempts.append((locator, e.message))
            continue
        for source in sorted(sources, key=_known_slow):  # stable: the configured order, slow servers last
            if settings.offline and not _is_local(source):
                attempts.append((source.describe(), "not tried: WASI_OFFLINE=1"))
                continue
            network_attempts += 1
            if lane is not None:
                lane.check()
            try:
                if isinstance(source, PipSource):
                    fetch_with_pip(source, artifact, partial, store, settings, log, lane)
                elif source.url.startswith("file://"):
                    path = Path(urllib.request.url2pathname(urllib.parse.urlparse(source.url).path))
                    _copy_local(path, artifact, partial, source.url, log, lane)
                else:
                    fetch_http(source.url, artifact, partial, settings, retry, log, lane=lane)
                _publish(partial, final)
                return
            except SlowAnswer as e:
                attempts.append((source.describe(), str(e)))
                if isinstance(source, UrlSource):
                    slow.append(source)
                    _SLOW_SERVERS.add(_server(source.url))
            except SourceFailed as e:
                attempts.append((source.describe(), str(e)))
    # Every other source failed too: a server slow to answer may still deliver, given the time a silent one gets.
    for source in slow if settings.fetch_header_timeout < settings.fetch_timeout else ():
        log(f"wasi: no other source delivered {artifact.name}; asking {source.url} again, waiting up to "
            f"{settings.fetch_timeout:g} s (WASI_FETCH_TIMEOUT) for its answer")
        try:
            fetch_http(source.url, artifact, partial, settings, retry, log, patient=True, lane=lane)
            _publish(partial, final)
            return
        except SourceFailed as e:
            attempts.append((f"{source.describe()}, again", str(e)))

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
    if error.errno in DISK_FULL:
        return DiskFullError(
            f"no space left on the device while writing {artifact.name} into {where}{store_note}: "
            f"{os.strerror(error.errno)}; it needs {artifact.size} bytes ({megabytes(artifact.size)}) free there",
            hint="free that much space on the disk, or point WASI_CACHE_DIR at a disk with room; then run the build "
                 "again")
    return StoreError(f"cannot write {artifact.name} into {where}{store_note}: {error.strerror or error}",
                      hint="check that the directory is writable, or point WASI_CACHE_DIR elsewhere")


# Servers (scheme://host:port) that did not answer within WASI_FETCH_HEADER_TIMEOUT in this process: the later
# files of the same build ask them after the other mirrors, so one slow mirror costs a build its bound once.
_SLOW_SERVERS: set[str] = set()


def _server(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _known_slow(source: Source) -> bool:
    return isinstance(source, UrlSource) and _server(source.url) in _SLOW_SERVERS


def _is_local(source: Source) -> bool:
    return isinstance(source, UrlSource) and source.url.startswith("file://")


def _publish(partial: Path, final: Path) -> None:
    """Move verified bytes into place: fsync first, so a crash cannot leave a renamed but empty file."""
    with open(partial, "rb+") as f:
        os.fsync(f.fileno())
    kill_point("fetch.verified")
    os.replace(partial, final)


# -- local files (WASI_DISTDIR, file:// URLs) --------------------------------------------------------------------
def _copy_local(path: Path, artifact: Artifact, partial: Path, where: str, log: Log,
                lane: Lane | None = None) -> None:
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
        log(f"wasi: copying {artifact.name} ({megabytes(artifact.size)}) from {where}")
        digest = hashlib.sha256()
        with open(partial, "wb") as out:  # an OSError writing is local: fetch_to reports it
            while True:
                try:
                    chunk = source.read(CHUNK)
                except OSError as e:
                    raise SourceFailed(f"cannot read it: {e.strerror}") from None
                if not chunk:
                    break
                if lane is not None:
                    lane.check()
                digest.update(chunk)
                out.write(chunk)
    if digest.hexdigest() != artifact.sha256:
        partial.unlink()
        raise SourceFailed(mismatch(artifact, digest.hexdigest(), size))


def _file_kind(mode: int) -> str:
    kinds = [(stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
             (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")]
    return next((kind for test, kind in kinds if test(mode)), "not a file")


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


