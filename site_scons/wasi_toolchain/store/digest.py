"""The one file hasher, and the words for a file that is not what its pin says."""

from __future__ import annotations

import hashlib
from pathlib import Path

from ..pins.toolchain_lock import Artifact

CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """The sha256 (hex) and size of the file at ``path``."""
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


def mismatch(artifact: Artifact, actual_sha256: str, actual_size: int) -> str:
    return (f"sha256 mismatch: expected {artifact.sha256}, got {actual_sha256} "
            f"({actual_size} bytes, pinned {artifact.size}); the file was discarded")


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"
