"""`scons wasi-verify`: re-hash the store, report every entry, and remove the bad ones.

- ``downloads/<sha256>/<name>``: hashed; a file whose sha256 is not its directory's name (or, for a file this lock
  pins, whose size or sha256 is not the pin) is removed.
- ``sysroots/<key>/``: an entry without its stamp or its manifest, or whose files differ from the manifest written
  when it was built, is removed (an entry without a manifest cannot be checked, so it is not trusted).
- Temp paths and partial downloads left by interrupted runs are removed.

What it will not do: remove anything unless the store's root carries the ``.wasi-store`` marker (or is a store
from before the marker, holding only the tool's own names); follow a symlink (one found where the tool makes a
directory or a file is reported and the link itself removed, never what it points to); remove anything outside
the store; touch a directory under ``downloads/`` whose name is not a sha256 (the tool never makes one).

Each thing is checked while holding the store lock that guards it, taken without waiting: what another process is
working on right now is reported as busy and left alone. The next build fetches or rebuilds whatever was removed.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import StoreLockTimeout
from .digest import sha256_file
from ..log import Log, log_to_stderr
from ..pins.toolchain_lock import Artifact, Lock
from .store import MANIFEST, PARTIAL_PREFIX, STAMP, TEMP_PREFIX, Store, check_manifest, scan_dir

_SHA256_NAME = re.compile(r"[0-9a-f]{64}")
SYMLINK_REMOVED = "a symlink where the tool makes none; the link was removed, not what it points to"


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"wasi-verify: {len(self.ok)} verified, {len(self.removed)} removed, {len(self.busy)} busy "
                f"(in use by another process, not checked)")


def verify_store(store: Store, lock: Lock | None, *, log: Log = log_to_stderr) -> Report:
    report = Report()
    store.require_marker("wasi-verify")  # a wrong WASI_CACHE_DIR must not cost the user their files
    pinned = {(a.sha256, a.name): a for a in lock.all_artifacts()} if lock else {}
    for top in ("downloads", "sysroots"):
        if (store.root / top).is_symlink():
            _remove(store.root / top, SYMLINK_REMOVED, store, report, log)
    for item in scan_dir(store.root / "downloads"):
        sha_dir = Path(item.path)
        if not item.is_dir(follow_symlinks=False):
            _remove(sha_dir, SYMLINK_REMOVED if item.is_symlink() else "not a directory", store, report, log)
        elif not _SHA256_NAME.fullmatch(item.name):
            report.left_alone.append(_rel(store, sha_dir))
            log(f"wasi-verify: {_rel(store, sha_dir)}: not made by scons-wasi (not a sha256); left alone")
        else:
            _under_lock(store, f"download-{item.name}", sha_dir, report, log,
                        lambda: _verify_download_dir(sha_dir, pinned, store, report, log))
    for item in scan_dir(store.root / "sysroots"):
        entry = Path(item.path)
        if not item.is_dir(follow_symlinks=False):
            _remove(entry, SYMLINK_REMOVED if item.is_symlink() else "not a directory", store, report, log)
            continue
        key = item.name[len(TEMP_PREFIX):].rsplit("-", 2)[0] if item.name.startswith(TEMP_PREFIX) else item.name
        _under_lock(store, f"sysroot-{key}", entry, report, log,
                    lambda: _verify_entry(entry, store, report, log))
    if store.root.is_dir():
        store.sweep_stale(log)  # notes of locks whose holders died
    log(report.summary())
    return report


def _under_lock(store: Store, lock_name: str, path: Path, report: Report, log: Log,
                check: Callable[[], None]) -> None:
    try:
        with store.locked(lock_name, "verifying the store", timeout=0):
            check()
    except StoreLockTimeout:
        report.busy.append(_rel(store, path))
        log(f"wasi-verify: {_rel(store, path)}: busy (another process holds {lock_name}); not checked")


def _verify_download_dir(sha_dir: Path, pinned: dict[tuple[str, str], Artifact], store: Store, report: Report,
                         log: Log) -> None:
    for item in scan_dir(sha_dir):
        path = Path(item.path)
        if item.name.startswith(TEMP_PREFIX):
            _remove(path, "left by an interrupted run", store, report, log)
        elif item.name.startswith(PARTIAL_PREFIX):
            _remove(path, "the unverified part of an interrupted download", store, report, log)
        elif item.is_symlink():
            _remove(path, SYMLINK_REMOVED, store, report, log)
        elif item.is_file(follow_symlinks=False):
            actual, size = sha256_file(path)
            artifact = pinned.get((sha_dir.name, path.name))
            if actual != sha_dir.name:
                _remove(path, f"sha256 mismatch: expected {sha_dir.name}, got {actual}", store, report, log)
            elif artifact is not None and size != artifact.size:
                _remove(path, f"size mismatch: the lock pins {artifact.size} bytes, got {size}", store, report, log)
            else:
                report.ok.append(_rel(store, path))
                log(f"wasi-verify: {_rel(store, path)}: ok" + ("" if artifact else " (not pinned by this lock)"))
        else:
            _remove(path, "not a regular file", store, report, log)
    if not scan_dir(sha_dir):
        os.rmdir(sha_dir)


def _verify_entry(entry: Path, store: Store, report: Report, log: Log) -> None:
    if entry.name.startswith(TEMP_PREFIX):
        _remove(entry, "left by an interrupted run", store, report, log)
        return
    if not _is_regular_file(entry / STAMP):
        _remove(entry, f"incomplete: no {STAMP}", store, report, log)
        return
    if not _is_regular_file(entry / MANIFEST):
        # Every entry is built with a manifest; without it nothing shows whether its files were changed.
        _remove(entry, f"incomplete: no {MANIFEST}, so its files cannot be checked", store, report, log)
        return
    problems = check_manifest(entry)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        _remove(entry, "changed since it was built: " + "; ".join(problems[:3]) + more, store, report, log)
        return
    report.ok.append(_rel(store, entry))
    log(f"wasi-verify: {_rel(store, entry)}: ok")


def _is_regular_file(path: Path) -> bool:
    return not path.is_symlink() and path.is_file()


def _remove(path: Path, why: str, store: Store, report: Report, log: Log) -> None:
    store.remove_owned(path)
    report.removed.append((_rel(store, path), why))
    log(f"wasi-verify: {_rel(store, path)}: {why}; removed")


def _rel(store: Store, path: Path) -> str:
    return path.relative_to(store.root).as_posix()
