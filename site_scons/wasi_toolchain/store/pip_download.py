"""Downloading a pinned wheel with pip itself, so the user's pip configuration (index, proxy, certificates,
credentials) applies unchanged; the bytes are verified here afterwards."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..killpoints import kill_point
from ..net import NET_CHUNK, SourceFailed
from ..pins.locators import PipSource
from ..pins.toolchain_lock import Artifact
from ..settings import Settings
from .digest import megabytes, mismatch, sha256_file
from .lane import PROGRESS_EVERY, FetchCancelled, Lane
from .store import Store, remove_tree
from ..log import Log

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def fetch_with_pip(source: PipSource, artifact: Artifact, partial: Path, store: Store, settings: Settings,
                   log: Log, lane: Lane | None = None) -> None:
    """Let pip download the file, so the user's pip configuration applies; then verify it ourselves. pip runs under
    the bounds of our own downloads (see _run_pip). In a ``lane``, pip draws no progress bar (our lines say how far
    it got), and it is stopped when the lane is cancelled."""
    temp_dir = store.temp_path(partial.with_name(artifact.name))
    temp_dir.mkdir()
    try:
        requirements = temp_dir / "requirements.txt"
        requirements.write_text(f"{source.requirement} --hash=sha256:{artifact.sha256}\n", encoding="utf-8")
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
                   "--disable-pip-version-check", "--timeout", f"{settings.fetch_timeout:g}",
                   "--dest", str(temp_dir / "out"), "-r", str(requirements)]
        for platform_tag in wheel_platform_tags(artifact.name):
            command += ["--platform", platform_tag]
        if source.index_url:
            command += ["--index-url", source.index_url]
        interactive = lane is None and sys.stderr.isatty()
        if not interactive:
            command += ["--progress-bar", "off"]
        log(f"wasi: fetching {artifact.name} ({megabytes(artifact.size)}) with pip")
        result = _run_pip(command, temp_dir, settings, interactive, lane, artifact, log)
        if result.returncode != 0:
            output = (result.stderr or "") + (result.stdout or "")
            for number in DISK_FULL:
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
            raise SourceFailed(mismatch(artifact, actual, size))
        os.replace(downloaded, partial)
    finally:
        remove_tree(temp_dir)


def _run_pip(command: list[str], temp_dir: Path, settings: Settings, interactive: bool, lane: Lane | None,
             artifact: Artifact, log: Log) -> Any:
    """Run pip, bounded as _RateGuard bounds an HTTP attempt: past WASI_FETCH_GRACE seconds, pip must have written
    WASI_FETCH_MIN_RATE bytes/s on average, or it is stopped (SourceFailed). Its --timeout bounds only silence, so a
    package index that trickles would hang a cold start for ever. What pip has written is measured in its own
    TMPDIR, given here (pip streams a download into a temp dir before moving it to --dest). In a lane, pip is
    killed (FetchCancelled) when the lane is cancelled, and every PROGRESS_EVERY seconds a line says how far it got."""
    pip_tmp = temp_dir / "tmp"
    pip_tmp.mkdir()
    environment = {**os.environ, "TMPDIR": str(pip_tmp)}
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=None if interactive else subprocess.PIPE, text=True, env=environment)
    outputs: list[str] = []
    reader = threading.Thread(target=lambda: outputs.extend(process.communicate()), daemon=True)
    reader.start()
    started = time.monotonic()
    reported = started
    try:
        while process.poll() is None:
            reader.join(0.1 if lane is not None else 0.25)
            if lane is not None and lane.cancelled.is_set():
                process.kill()
                raise FetchCancelled()
            now = time.monotonic()
            elapsed = now - started
            if lane is not None and now - reported >= PROGRESS_EVERY and process.poll() is None:
                reported = now
                log(f"wasi: pip has {megabytes(min(_bytes_under(temp_dir), artifact.size))} of {artifact.name} "
                    f"({megabytes(artifact.size)}) after {elapsed:.0f} s")
            if settings.fetch_min_rate > 0 and elapsed >= settings.fetch_grace:
                written = _bytes_under(temp_dir)
                if written + NET_CHUNK < settings.fetch_min_rate * elapsed:
                    process.kill()
                    raise SourceFailed(
                        f"too slow: pip wrote {written} bytes in {elapsed:.1f} s, under the "
                        f"{settings.fetch_min_rate:g} bytes/s that WASI_FETCH_MIN_RATE asks for after the first "
                        f"{settings.fetch_grace:g} s (WASI_FETCH_GRACE); stopped")
    finally:
        if process.poll() is None:
            process.kill()
        reader.join()
    stdout, stderr = (outputs + ["", ""])[:2]
    return subprocess.CompletedProcess(command, process.returncode, stdout or "", stderr or "")


def _bytes_under(root: Path) -> int:
    total = 0
    for directory, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(directory, name)).st_size
    return total


def wheel_platform_tags(file_name: str) -> list[str]:
    """Platform tags of a wheel file name (PEP 427), so pip picks that host's wheel; [] for other files."""
    if not file_name.endswith(".whl"):
        return []
    parts = file_name[: -len(".whl")].split("-")
    return parts[-1].split(".") if len(parts) >= 5 else []


