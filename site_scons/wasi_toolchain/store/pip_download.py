"""Downloading a pinned wheel with pip itself, so the user's pip configuration (index, proxy, certificates,
credentials) applies unchanged; the bytes are verified here afterwards."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

from ..killpoints import kill_point
from ..net import SourceFailed
from ..pins.locators import PipSource
from ..pins.toolchain_lock import Artifact
from .digest import megabytes, mismatch, sha256_file
from .store import Store, remove_tree
from ..log import Log

DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def fetch_with_pip(source: PipSource, artifact: Artifact, partial: Path, store: Store, log: Log) -> None:
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
        log(f"wasi: fetching {artifact.name} ({megabytes(artifact.size)}) with pip")
        result = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=None if interactive else subprocess.PIPE, text=True)
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


def wheel_platform_tags(file_name: str) -> list[str]:
    """Platform tags of a wheel file name (PEP 427), so pip picks that host's wheel; [] for other files."""
    if not file_name.endswith(".whl"):
        return []
    parts = file_name[: -len(".whl")].split("-")
    return parts[-1].split(".") if len(parts) >= 5 else []


