"""Fetch pinned artifacts into the store, verified by size and sha256 before anyone may use them.

A download streams into a temp file beside its final place while it is hashed, is compared with the pin, fsynced
and moved in with ``os.replace``; the temp file is removed in ``finally`` (which also covers Ctrl-C). A cached file
is re-verified before it is trusted. Sources are tried in order; the error lists each one and why it failed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

from .config import Settings
from .errors import FetchError, LocatorError
from .lock import Artifact
from .locators import PipSource, Source, UrlSource, sources_for
from .store import Store, remove_tree

CHUNK = 1 << 20
PROGRESS_BAR_MIN_BYTES = 4 << 20
CONNECT_TIMEOUT = 15.0
READ_TIMEOUT = 60.0

Log = Callable[[str], None]


def log_to_stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class SourceFailed(Exception):
    """One source could not deliver the artifact; the next one is tried."""


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
        if path.stat().st_size != artifact.size:
            return False
    except FileNotFoundError:
        return False
    return sha256_file(path)[0] == artifact.sha256


def fetch(artifact: Artifact, store: Store, settings: Settings, *, log: Log = log_to_stderr,
          apt_root: Path = Path("/")) -> Path:
    """Return the store path of ``artifact``, downloading and verifying it first if needed."""
    final = store.download_path(artifact)
    if final.is_file():
        if is_verified(final, artifact):
            return final
        log(f"wasi: cached {artifact.name} does not match its pin any more; fetching it again")
    with store.locked(f"download-{artifact.sha256}", f"downloading {artifact.name}"):
        if final.is_file():
            if is_verified(final, artifact):
                return final  # another process fetched it while we waited
            final.unlink()
        store.sweep_temps(final)
        attempts: list[tuple[str, str]] = []
        locator_errors: list[LocatorError] = []
        for locator in artifact.locators:
            try:
                sources = sources_for(locator, settings, apt_root=apt_root)
            except LocatorError as e:
                locator_errors.append(e)
                attempts.append((locator, e.message))
                continue
            for source in sources:
                try:
                    _fetch_from(source, artifact, store, final, log)
                    return final
                except SourceFailed as e:
                    attempts.append((source.describe(), str(e)))
        if locator_errors and len(locator_errors) == len(attempts):
            raise locator_errors[0]
        raise FetchError(
            artifact.name, artifact.sha256, attempts,
            hint="check your network and mirrors (WASI_DEBIAN_MIRROR, WASI_PYPI_INDEX, pip's configuration), "
                 "then run the build again",
        )


def _fetch_from(source: Source, artifact: Artifact, store: Store, final: Path, log: Log) -> None:
    if isinstance(source, PipSource):
        _fetch_with_pip(source, artifact, store, final, log)
    else:
        _fetch_url(source, artifact, store, final, log)


def _fetch_url(source: UrlSource, artifact: Artifact, store: Store, final: Path, log: Log) -> None:
    temp = store.temp_path(final)
    try:
        with open(temp, "wb") as out:
            digest = hashlib.sha256()
            size = 0
            for chunk in _progress(_url_chunks(source.url), artifact, source.url, log):
                size += len(chunk)
                if size > artifact.size:
                    raise SourceFailed(f"sent more than the pinned {artifact.size} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        _check(artifact, source.describe(), digest.hexdigest(), size)
        os.replace(temp, final)
    finally:
        temp.unlink(missing_ok=True)


def _url_chunks(url: str) -> Iterator[bytes]:
    if url.startswith("file://"):
        path = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
        try:
            with open(path, "rb") as f:
                while chunk := f.read(CHUNK):
                    yield chunk
        except OSError as e:
            raise SourceFailed(f"cannot read {path}: {e.strerror}") from None
        return

    import requests  # lazy: a warm build never downloads

    try:
        with requests.get(url, stream=True, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT)) as response:
            if response.status_code != 200:
                raise SourceFailed(f"HTTP {response.status_code} {response.reason or ''}".rstrip())
            yield from response.iter_content(CHUNK)
    except requests.RequestException as e:
        raise SourceFailed(f"{type(e).__name__}: {e}") from None


def _progress(chunks: Iterable[bytes], artifact: Artifact, where: str, log: Log) -> Iterator[bytes]:
    """A tqdm bar on a terminal for big files, otherwise one plain line."""
    if artifact.size >= PROGRESS_BAR_MIN_BYTES and sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=artifact.size, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                  desc=f"wasi: {artifact.name[:40]}", file=sys.stderr) as bar:
            for chunk in chunks:
                bar.update(len(chunk))
                yield chunk
    else:
        log(f"wasi: fetching {artifact.name} ({_megabytes(artifact.size)}) from {where}")
        yield from chunks


def _fetch_with_pip(source: PipSource, artifact: Artifact, store: Store, final: Path, log: Log) -> None:
    """Let pip download the file, so the user's pip configuration applies; then verify it ourselves."""
    temp_dir = store.temp_path(final)
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
        actual, size = sha256_file(downloaded)
        _check(artifact, source.describe(), actual, size)
        with open(downloaded, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(downloaded, final)
    finally:
        remove_tree(temp_dir)


def wheel_platform_tags(file_name: str) -> list[str]:
    """Platform tags of a wheel file name (PEP 427), so pip picks that host's wheel; [] for other files."""
    if not file_name.endswith(".whl"):
        return []
    parts = file_name[: -len(".whl")].split("-")
    return parts[-1].split(".") if len(parts) >= 5 else []


def _check(artifact: Artifact, source: str, actual_sha256: str, actual_size: int) -> None:
    if actual_sha256 != artifact.sha256 or actual_size != artifact.size:
        raise SourceFailed(
            f"sha256 mismatch: expected {artifact.sha256}, got {actual_sha256} "
            f"({actual_size} bytes, pinned {artifact.size}); the file was discarded"
        )


def _megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
