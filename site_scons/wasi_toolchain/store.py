"""The private cache: verified downloads and published toolchain entries, behind file locks.

Layout under the root (WASI_CACHE_DIR):

    downloads/<sha256>/<file name>   verified files, content-addressed
    sysroots/<key>/                  a complete toolchain + sysroot entry; STAMP marks it complete
    locks/<name>.lock                one lock per download and per entry
    logs/                            logs of failed sysroot builds

Everything big is built in a temp path beside its final place and moved in with ``os.replace``, so an entry is
either absent or complete; a run killed half-way leaves only temp paths, which the next lock holder sweeps.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

from .errors import StoreLockTimeout
from .lock import Artifact

STAMP = ".wasi-complete.json"
TEMP_PREFIX = ".tmp-"


class Store:
    def __init__(self, root: Path, *, lock_timeout: float = 1800.0) -> None:
        self.root = Path(root)
        self.lock_timeout = lock_timeout

    # -- paths -------------------------------------------------------------------------------------------------
    def download_path(self, artifact: Artifact) -> Path:
        return self.root / "downloads" / artifact.sha256 / artifact.name

    def entry_path(self, key: str) -> Path:
        return self.root / "sysroots" / key

    def log_path(self, name: str) -> Path:
        return self.root / "logs" / name

    # -- locks -------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, name: str, what: str) -> Iterator[None]:
        """Hold the store lock ``name`` (a file under locks/) while doing ``what``."""
        import filelock  # lazy: a warm build never takes a lock

        path = self.root / "locks" / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = filelock.FileLock(str(path), timeout=self.lock_timeout)
        try:
            lock.acquire()
        except filelock.Timeout:
            raise StoreLockTimeout(
                f"timed out after {self.lock_timeout:.0f} s waiting for the store lock {path} "
                f"(held by another process while it is {what})",
                hint="wait for the other build to finish, or raise WASI_LOCK_TIMEOUT; a lock left by a killed "
                     "process is released by the operating system, so a timeout means a live holder",
            ) from None
        try:
            yield
        finally:
            lock.release()

    # -- temp paths and atomic publication ---------------------------------------------------------------------
    def temp_path(self, final: Path) -> Path:
        """A fresh temp path beside ``final``, on the same filesystem so ``os.replace`` is atomic."""
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.parent / f"{TEMP_PREFIX}{final.name}-{os.getpid()}-{secrets.token_hex(4)}"

    def sweep_temps(self, final: Path) -> None:
        """Remove temp paths left for ``final`` by killed runs. Call only while holding final's lock."""
        if not final.parent.is_dir():
            return
        for leftover in final.parent.glob(f"{TEMP_PREFIX}{final.name}-*"):
            remove_tree(leftover)

    @staticmethod
    def publish(temp: Path, final: Path) -> bool:
        """Move a finished temp dir into place. Returns False (and drops ours) if another process won the race."""
        try:
            os.replace(temp, final)
            return True
        except OSError as e:
            if e.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not final.exists():
                raise
            remove_tree(temp)
            return False


def remove_tree(path: Path) -> None:
    """Remove a file or tree, including read-only members; a missing path is fine."""

    def make_writable_and_retry(func, p, _exc):  # type: ignore[no-untyped-def]
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=make_writable_and_retry)
