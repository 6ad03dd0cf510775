"""`scons wasi-fetch-all DIR`: fill a directory with every pinned file for every host, for WASI_DISTDIR elsewhere.

Each file lands under its lock name, verified like any download (temp file, sha256, ``os.replace``). A file already
in DIR or in the store is re-verified and reused, so a second run, or a run on a machine that has built the
toolchain, downloads nothing. Other hosts' wheels come through pip with ``--platform`` taken from the file name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from ..errors import ConfigError
from .digest import is_verified
from .fetch import copy_verified, fetch_to
from .http_download import RetryPolicy
from ..log import Log, log_to_stderr
from ..pins.toolchain_lock import Artifact, Lock
from .store import Store


@dataclass(frozen=True)
class Filled:
    artifact: Artifact
    how: str  # "already there", "copied from the store", "fetched"


def pinned_files(lock: Lock) -> list[Artifact]:
    """Every distinct pinned file, once, in lock order."""
    by_name: dict[str, Artifact] = {}
    for artifact in lock.all_artifacts():
        other = by_name.setdefault(artifact.name, artifact)
        if other.sha256 != artifact.sha256:
            raise ConfigError(
                f"{other.where} and {artifact.where} in {lock.path} are both named {artifact.name} but have "
                f"different sha256; one directory cannot hold both",
                hint="give the two pins different file names in toolchain.lock")
    return list(by_name.values())


def fill_distdir(lock: Lock, dest: Path, settings: Settings, *, log: Log = log_to_stderr,
                 retry: RetryPolicy | None = None) -> list[Filled]:
    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    dest = dest.absolute()
    dest.mkdir(parents=True, exist_ok=True)
    filled: list[Filled] = []
    for artifact in pinned_files(lock):
        target = dest / artifact.name
        if is_verified(target, artifact):
            filled.append(Filled(artifact, "already there"))
        elif is_verified(store.download_path(artifact), artifact):
            copy_verified(store.download_path(artifact), artifact, target, store, log)
            filled.append(Filled(artifact, "copied from the store"))
        else:
            fetch_to(artifact, target, store, settings, log=log, retry=retry)
            filled.append(Filled(artifact, "fetched"))
        log(f"wasi-fetch-all: {artifact.name}: {filled[-1].how}")
    return filled
