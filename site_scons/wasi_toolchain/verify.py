"""`scons wasi-verify`: re-hash the store, report every entry, and remove the bad ones.

- ``downloads/<sha256>/<name>``: hashed; a file whose sha256 is not its directory's name (or, for a file this lock
  pins, whose size or sha256 is not the pin) is removed.
- ``sysroots/<key>/``: an entry without its stamp, or whose files differ from the manifest written when it was
  built, is removed.
- Temp paths and partial downloads left by interrupted runs are removed.

Each thing is checked while holding the store lock that guards it, taken without waiting: what another process is
working on right now is reported as busy and left alone. The next build fetches or rebuilds whatever was removed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StoreLockTimeout
from .fetch import Log, log_to_stderr, sha256_file
from .lock import Artifact, Lock
from .store import MANIFEST, PARTIAL_PREFIX, STAMP, TEMP_PREFIX, Store, check_manifest, remove_tree


@dataclass
class Report:
    ok: list[str] = field(default_factory=list)
    removed: list[tuple[str, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"wasi-verify: {len(self.ok)} verified, {len(self.removed)} removed, {len(self.busy)} busy "
                f"(in use by another process, not checked)")


def verify_store(store: Store, lock: Lock | None, *, log: Log = log_to_stderr) -> Report:
    report = Report()
    pinned = {(a.sha256, a.name): a for a in lock.all_artifacts()} if lock else {}
    downloads = store.root / "downloads"
    for sha_dir in sorted(downloads.iterdir()) if downloads.is_dir() else []:
        if not sha_dir.is_dir():
            continue
        _under_lock(store, f"download-{sha_dir.name}", sha_dir, report, log,
                    lambda: _verify_download_dir(sha_dir, pinned, store, report, log))
    sysroots = store.root / "sysroots"
    for entry in sorted(sysroots.iterdir()) if sysroots.is_dir() else []:
        key = entry.name[len(TEMP_PREFIX):].rsplit("-", 2)[0] if entry.name.startswith(TEMP_PREFIX) else entry.name
        _under_lock(store, f"sysroot-{key}", entry, report, log,
                    lambda: _verify_entry(entry, store, report, log))
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
    for path in sorted(sha_dir.iterdir()):
        if path.name.startswith(TEMP_PREFIX):
            _remove(path, "left by an interrupted run", store, report, log)
        elif path.name.startswith(PARTIAL_PREFIX):
            _remove(path, "the unverified part of an interrupted download", store, report, log)
        elif path.is_file() and not path.is_symlink():
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
    if not any(sha_dir.iterdir()):
        sha_dir.rmdir()


def _verify_entry(entry: Path, store: Store, report: Report, log: Log) -> None:
    if entry.name.startswith(TEMP_PREFIX):
        _remove(entry, "left by an interrupted run", store, report, log)
        return
    if not (entry / STAMP).is_file():
        _remove(entry, f"incomplete: no {STAMP}", store, report, log)
        return
    if not (entry / MANIFEST).is_file():
        report.ok.append(_rel(store, entry))
        log(f"wasi-verify: {_rel(store, entry)}: complete (built without a {MANIFEST}, so its files were not "
            f"re-hashed)")
        return
    problems = check_manifest(entry)
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        _remove(entry, "changed since it was built: " + "; ".join(problems[:3]) + more, store, report, log)
        return
    report.ok.append(_rel(store, entry))
    log(f"wasi-verify: {_rel(store, entry)}: ok")


def _remove(path: Path, why: str, store: Store, report: Report, log: Log) -> None:
    remove_tree(path)
    report.removed.append((_rel(store, path), why))
    log(f"wasi-verify: {_rel(store, path)}: {why}; removed")


def _rel(store: Store, path: Path) -> str:
    return path.relative_to(store.root).as_posix()
