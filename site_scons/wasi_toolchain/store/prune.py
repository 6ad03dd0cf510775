"""`scons wasi-prune`: shrink the store to what the kept keys need, e.g. before a CI job saves its cache.

A build with a complete entry needs nothing else from the store, so after a prune the store holds:

- ``sysroots/<key>/`` for each kept key whose entry is complete;
- the downloads that a kept key without a complete entry still needs (so building it offline stays possible).

Everything else goes, each with the reason and the bytes it held:

- entries whose key is not kept (another pin, another provider), incomplete entries, and anything other than a
  directory where an entry should be;
- downloads already unpacked into a complete kept entry (they are pinned, so they can be fetched again), the
  downloads of the entries being removed, and downloads no kept key needs;
- temp paths and partial downloads left by killed runs.

``parsed-locks/`` is left alone: a few KB per lock content, read by every build (pins/lock_cache.py).

Which downloads fed an entry: its stamp (STAMP) records the key's inputs, and with them the sha256 of every pinned
file it was built from; a download is ``downloads/<sha256>/<name>``. What a kept key without an entry needs comes
from the same inputs computed for this checkout (``needs_of``); for a ``--wasi-keep`` key this checkout does not
plan, it is unknown, and then downloads no entry records are kept.

Safety, as for `scons wasi-verify`: nothing is removed unless the root carries the store marker (or is a store from
before it), every removal goes through ``Store.remove_owned`` (inside the store, no symlink followed), and every
path is removed under the store lock that guards it, taken without waiting: what another process holds is reported
as busy and left alone. While any entry is being built (its lock is held), no download is removed at all: that
build may be about to unpack one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError, StoreLockTimeout
from .store import PARTIAL_PREFIX, STAMP, TEMP_PREFIX, Store
from ..log import Log, log_to_stderr

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# plan() names a key "<provider>-<host>-<24 hex digits>"; anything else given to --wasi-keep is a mistake that
# would otherwise keep nothing.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_.]+(?:-[A-Za-z0-9_.]+)+-[0-9a-f]{24}$")


@dataclass(frozen=True)
class Keep:
    """A key to keep, the reason, and the sha256s of the pinned files its entry is built from (None: unknown)."""

    key: str
    why: str
    needs: frozenset[str] | None = None


@dataclass
class PruneReport:
    dry_run: bool = False
    removed: list[tuple[str, str, int]] = field(default_factory=list)  # (path in the store, why, bytes)
    kept: list[tuple[str, str]] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(size for _, _, size in self.removed)

    def summary(self) -> str:
        removed, freed = ("would remove", "would free") if self.dry_run else ("removed", "freed")
        return (f"wasi-prune: {removed} {len(self.removed)} path(s), {freed} {describe_bytes(self.freed)}; "
                f"kept {len(self.kept)}; {len(self.busy)} busy (in use by another process, left alone)")


def describe_bytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB ({size:,} bytes)"


def sha256s_in(record: object) -> set[str]:
    """Every sha256 (64 lowercase hex digits) anywhere in a stamp or a key's inputs: the pinned files they name.

    Read by value rather than by field, so a change of the inputs' shape (a new component) needs no change here."""
    found: set[str] = set()
    if isinstance(record, str):
        if _SHA256.match(record):
            found.add(record)
    elif isinstance(record, Mapping):
        for name, value in record.items():
            if name not in ("key", "timings"):
                found |= sha256s_in(value)
    elif isinstance(record, (list, tuple)):
        for value in record:
            found |= sha256s_in(value)
    return found


def needs_of(key_inputs: Mapping[str, object]) -> frozenset[str]:
    """The sha256s of the pinned files an entry is built from, given sysroot.key_inputs() for its key."""
    return frozenset(sha256s_in(key_inputs))


def check_key(key: str) -> str:
    if not KEY_PATTERN.match(key):
        raise ConfigError(f"--wasi-keep: {key!r} is not a sysroot key (expected <provider>-<host>-<24 hex digits>, "
                          f"e.g. ziglang-linux-x86_64-9cc7a92495b28c0ae7084f39)",
                          hint="print this checkout's key with `scons -Q wasi-cache-key`, or list "
                               "WASI_CACHE_DIR/sysroots/")
    return key


def _stamp_of(entry: Path) -> dict[str, object] | None:
    try:
        stamp = json.loads((entry / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def _entry_lock(name: str) -> str:
    """The lock guarding sysroots/<name>: a temp path ``.tmp-<key>-<pid>-<random>`` is guarded by its key's."""
    key = name[len(TEMP_PREFIX):].rsplit("-", 2)[0] if name.startswith(TEMP_PREFIX) else name
    return f"sysroot-{key}"


class _Pruner:
    def __init__(self, store: Store, keep: Iterable[Keep], dry_run: bool, log: Log) -> None:
        self.store = store
        self.keep = {k.key: k for k in keep}
        self.log = log
        self.report = PruneReport(dry_run=dry_run)
        self.unpacked_into: dict[str, str] = {}  # sha256 -> the complete kept entry it was unpacked into
        self.fed_removed: dict[str, str] = {}  # sha256 -> the removed entry it fed
        self.needed_by: dict[str, str] = {}  # sha256 -> a kept key without a complete entry that needs it
        self.unknown_needs: list[str] = []  # kept keys without a complete entry whose needs are unknown

    # -- reporting -----------------------------------------------------------------------------------------------
    def rel(self, path: Path) -> str:
        return path.relative_to(self.store.root).as_posix()

    def remove(self, path: Path, why: str) -> None:
        if self.report.dry_run:
            size = _lstat_bytes(path)
            verb = "would remove"
        else:
            size = self.store.remove_owned(path)
            verb = "removed"
        self.report.removed.append((self.rel(path), why, size))
        self.log(f"wasi-prune: {self.rel(path)}: {why}; {verb}, {describe_bytes(size)}")

    def kept(self, path: Path, why: str) -> None:
        self.report.kept.append((self.rel(path), why))
        self.log(f"wasi-prune: {self.rel(path)}: kept ({why})")

    def busy(self, path: Path, lock_name: str) -> None:
        self.report.busy.append(self.rel(path))
        self.log(f"wasi-prune: {self.rel(path)}: busy (another process holds {lock_name}); left alone")

    # -- the walk ------------------------------------------------------------------------------------------------
    def run(self) -> PruneReport:
        self.store.require_marker("wasi-prune")
        sysroots = self.store.root / "sysroots"
        if sysroots.is_symlink():
            self.remove(sysroots, "a symlink where scons-wasi keeps a directory (never followed)")
        entries = _scan(sysroots)
        # Every entry lock, including those of keys being built right now (their lock file exists in locks/
        # before any temp path does), taken without waiting and held to the end: a build that starts meanwhile
        # waits for the prune instead of unpacking a download the prune is removing.
        lock_names = {_entry_lock(e.name) for e in entries}
        locks = self.store.root / "locks"
        lock_names |= {p.name[: -len(".lock")] for p in _scan(locks) if p.name.startswith("sysroot-")
                       and p.name.endswith(".lock")}
        with contextlib.ExitStack() as held:
            busy_locks: set[str] = set()
            for name in sorted(lock_names):
                try:
                    held.enter_context(self.store.locked(name, "pruning the store", timeout=0))
                except StoreLockTimeout:
                    busy_locks.add(name)
            for entry in entries:
                if _entry_lock(entry.name) in busy_locks:
                    self.busy(entry, _entry_lock(entry.name))
                else:
                    self.prune_entry(entry)
            for key, keep in sorted(self.keep.items()):
                if not (sysroots / key / STAMP).is_file():
                    if keep.needs is None:
                        self.unknown_needs.append(key)
                    else:
                        self.needed_by.update((sha, key) for sha in keep.needs if sha not in self.needed_by)
            downloads = self.store.root / "downloads"
            if downloads.is_symlink():
                self.remove(downloads, "a symlink where scons-wasi keeps a directory (never followed)")
            elif busy_locks and downloads.is_dir():
                names = ", ".join(sorted(busy_locks))
                self.report.busy.append("downloads")
                self.log(f"wasi-prune: downloads: left alone, another process is building an entry ({names}) and "
                         f"may be about to unpack them")
            else:
                for sha_dir in _scan(downloads):
                    self.prune_download_dir(sha_dir)
        self.log(self.report.summary())
        return self.report

    def prune_entry(self, entry: Path) -> None:
        if entry.name.startswith(TEMP_PREFIX):
            self.remove(entry, "left by an interrupted run")
        elif entry.is_symlink() or not entry.is_dir():
            self.remove(entry, "not a directory (scons-wasi never puts anything else there)")
        elif entry.name not in self.keep:
            stamp = _stamp_of(entry)
            self.fed_removed.update((sha, entry.name) for sha in sha256s_in(stamp or {}))
            kept = ", ".join(sorted(self.keep)) or "none"
            self.remove(entry, f"its key is not kept (kept: {kept})")
        elif (stamp := _stamp_of(entry)) is None:
            self.remove(entry, f"incomplete (no readable {STAMP}); the next build rebuilds it")
        else:
            self.unpacked_into.update((sha, entry.name) for sha in sha256s_in(stamp))
            self.kept(entry, self.keep[entry.name].why)

    def prune_download_dir(self, sha_dir: Path) -> None:
        lock_name = f"download-{sha_dir.name}"
        try:
            with self.store.locked(lock_name, "pruning the store", timeout=0):
                if sha_dir.is_symlink() or not sha_dir.is_dir():
                    self.remove(sha_dir, "not a directory (scons-wasi never puts anything else there)")
                    return
                for path in _scan(sha_dir):
                    self.prune_download(sha_dir.name, path)
                if not self.report.dry_run and not any(sha_dir.iterdir()):
                    sha_dir.rmdir()
        except StoreLockTimeout:
            self.busy(sha_dir, lock_name)

    def prune_download(self, sha: str, path: Path) -> None:
        if path.name.startswith(TEMP_PREFIX):
            self.remove(path, "left by an interrupted run")
        elif path.name.startswith(PARTIAL_PREFIX):
            self.remove(path, "the unverified part of an interrupted download")
        elif path.is_symlink() or not path.is_file():
            self.remove(path, "not a regular file")
        elif sha in self.needed_by:
            self.kept(path, f"needed to build {self.needed_by[sha]}, which has no complete entry here")
        elif sha in self.unpacked_into:
            self.remove(path, f"unpacked into the complete entry {self.unpacked_into[sha]}")
        elif sha in self.fed_removed:
            self.remove(path, f"fed the removed entry {self.fed_removed[sha]}")
        elif self.unknown_needs:
            self.kept(path, f"{', '.join(self.unknown_needs)} has no complete entry here and is not a key this "
                            f"checkout plans, so what it needs is unknown")
        else:
            self.remove(path, "no kept key needs it")


def prune_store(store: Store, keep: Iterable[Keep], *, dry_run: bool = False,
                log: Log = log_to_stderr) -> PruneReport:
    """Remove from ``store`` what the ``keep`` keys do not need (see the module's docstring)."""
    return _Pruner(store, keep, dry_run, log).run()


def _scan(directory: Path) -> list[Path]:
    """The names in ``directory`` (none if it is missing), sorted, without following any symlink."""
    try:
        with os.scandir(directory) as found:
            return [directory / entry.name for entry in sorted(found, key=lambda e: e.name)]
    except (FileNotFoundError, NotADirectoryError):
        return []


def _lstat_bytes(path: Path) -> int:
    """What removing ``path`` would free: the lstat sizes of it (a file or link) or of every file and link in it."""
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size
    total = 0
    for directory, dirs, files in os.walk(path):  # does not descend into symlinked directories
        for name in dirs + files:
            member = os.lstat(os.path.join(directory, name))
            if not stat.S_ISDIR(member.st_mode):
                total += member.st_size
    return total
