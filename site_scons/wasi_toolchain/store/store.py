"""The private cache: verified downloads and published toolchain entries, behind file locks.

Layout under the root (WASI_CACHE_DIR):

    downloads/<sha256>/<file name>   verified files, content-addressed
    downloads/<sha256>/.partial-<file name>
                                     the bytes of an interrupted download, resumed with an HTTP Range request by the
                                     next run; never trusted until the whole file matches its sha256
    sysroots/<key>/                  a complete toolchain + sysroot entry; STAMP marks it complete and MANIFEST holds
                                     the sha256 of every file in it (for `scons wasi-verify`)
    locks/<name>.lock                one lock per download and per entry (flock: the OS releases it when its holder
                                     dies, even by kill -9)
    locks/<name>.owner               who holds that lock and why, for the timeout message
    logs/                            logs of failed sysroot builds
    parsed-locks/<sha256>.json       the TOML data of each toolchain.lock read, under the sha256 of its bytes, so a
                                     warm start need not parse TOML (pins/lock_cache.py); small, never trusted
                                     without the lock's strict checks
    .wasi-store                      the marker: the tool created this directory as its store (written when the
                                     first write creates the root, or finds it empty); commands that remove things
                                     (wasi-verify, wasi-prune) refuse a directory without it, so a wrong
                                     WASI_CACHE_DIR never costs the user their files

Everything big is built in a temp path beside its final place and moved in with ``os.replace``, so an entry is
either absent or complete; a run killed half-way leaves only temp paths (and a partial download), which the next
run sweeps (or resumes) while holding the lock that guards them.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..errors import StoreError, StoreLockTimeout
from ..killpoints import kill_point
from ..log import Log
from ..pins.toolchain_lock import Artifact
from .digest import sha256_file

STAMP = ".wasi-complete.json"
MANIFEST = ".wasi-manifest.json"
TEMP_PREFIX = ".tmp-"
PARTIAL_PREFIX = ".partial-"
STORE_MARKER = ".wasi-store"
MARKER_CONTENT = {"store-version": 1, "created-by": "scons-wasi"}
# The SCons CacheDir that a build with only a remote cache (--remote-cache) uses as its first level.
SCONS_CACHEDIR = "scons-cachedir"
PARSED_LOCKS = "parsed-locks"
# distcc/: a distcc worker's list of allowed compilers (wasi_toolchain.distributed.worker).
STORE_TOP_LEVEL_NAMES = frozenset({"downloads", "sysroots", "locks", "logs", SCONS_CACHEDIR, "distcc", PARSED_LOCKS})

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

    def lock_path(self, name: str) -> Path:
        return self.root / "locks" / f"{name}.lock"

    def parsed_locks_dir(self) -> Path | None:
        """Where parsed locks are kept (pins/lock_cache.py); None unless the root is marked as the tool's store."""
        return self.root / PARSED_LOCKS if self.is_marked() else None

    # -- the marker, and removing only what lies inside the store ------------------------------------------------
    def claim(self) -> None:
        """Before the first write: create the root and mark it as the tool's, or mark a root that is empty. A root
        that holds anything else without the marker is used but never marked: it may be the user's (a wrong
        WASI_CACHE_DIR), so the commands that remove things keep refusing it. One stat when the marker is there."""
        if (self.root / STORE_MARKER).is_file():
            return
        try:
            self.root.mkdir(parents=True)
        except FileExistsError:
            if any(not name.startswith(f"{TEMP_PREFIX}{STORE_MARKER}-") for name in os.listdir(self.root)):
                return  # not made by the tool (or by a scons-wasi from before the marker): left unmarked
        self.mark()

    def mark(self) -> None:
        """Write the marker: this directory is a scons-wasi store. Idempotent."""
        marker = self.root / STORE_MARKER
        if marker.is_file():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        temp = self.root / f"{TEMP_PREFIX}{STORE_MARKER}-{os.getpid()}-{os.urandom(4).hex()}"
        temp.write_text(json.dumps(MARKER_CONTENT) + "\n", encoding="utf-8")
        os.replace(temp, marker)

    def is_marked(self) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.root / STORE_MARKER).st_mode)
        except OSError:
            return False

    def require_marker(self, command: str) -> None:
        """Refuse (StoreError) to let ``command`` remove anything unless the root carries the marker the tool wrote
        when it created it. A missing root is fine: there is nothing to remove. Nothing is written here: a root
        that only looks like a store (downloads/, sysroots/) is refused like any other, and left as it was."""
        try:
            root_stat = os.stat(self.root)
        except FileNotFoundError:
            return
        hint = (f"check WASI_CACHE_DIR (it is {self.root}); it must name the directory scons-wasi keeps its "
                f"toolchains in, which holds a {STORE_MARKER} file")
        if not stat.S_ISDIR(root_stat.st_mode):
            raise StoreError(f"{command}: {self.root} is not a directory, so it is not a scons-wasi store; refusing "
                             f"to remove anything", hint=hint)
        if self.is_marked():
            return
        names = sorted(os.listdir(self.root))
        shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "") or "nothing"
        raise StoreError(f"{command}: {self.root} is not a scons-wasi store (no {STORE_MARKER} marker: the tool did "
                         f"not create it; it holds {shown}); refusing to remove anything in it",
                         hint=f"{hint}. A store made before the marker existed, or restored by CI without its "
                              f"{STORE_MARKER} (docs/ci.md caches it): delete it, and the next build makes a marked "
                              f"one")

    def remove_owned(self, path: Path) -> int:
        """Remove ``path``, which must lie inside the store without a symlinked directory on the way; a symlink is
        unlinked itself, never followed. Returns the bytes freed (lstat sizes of the files and links removed).
        StoreError for a path outside."""
        root = os.path.abspath(self.root)
        target = os.path.abspath(path)
        if target == root or os.path.commonpath([root, target]) != root:
            raise StoreError(f"refusing to remove {path}: it is not inside the store {self.root}")
        current = root
        for part in os.path.relpath(target, root).split(os.sep)[:-1]:
            current = os.path.join(current, part)
            try:
                mode = os.lstat(current).st_mode
            except FileNotFoundError:
                return 0
            if not stat.S_ISDIR(mode):
                raise StoreError(f"refusing to remove {path}: {current} is a symlink or not a directory, so the path "
                                 f"may lead out of the store {self.root}")
        try:
            target_stat = os.lstat(target)
        except FileNotFoundError:
            return 0
        if not stat.S_ISDIR(target_stat.st_mode):
            os.unlink(target)
            return target_stat.st_size
        # The bytes of the files and links inside (what a report of space freed means; directories' own sizes are
        # the file system's bookkeeping).
        freed = 0
        for directory, dirs, files in os.walk(target):  # os.walk never follows symlinked directories by default
            for name in files + [d for d in dirs if os.path.islink(os.path.join(directory, d))]:
                with contextlib.suppress(OSError):
                    freed += os.lstat(os.path.join(directory, name)).st_size
        shutil.rmtree(target, onerror=_make_writable_and_retry)  # rmtree unlinks symlinks, never follows them
        return freed

    # -- locks -------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self, name: str, what: str, *, timeout: float | None = None, log: Log | None = None,
               while_waiting: Callable[[], None] | None = None) -> Iterator[None]:
        """Hold the store lock ``name`` (a file under locks/) while doing ``what``.

        ``timeout`` defaults to the store's (WASI_LOCK_TIMEOUT); 0 tries once. While the lock is held, a sidecar
        ``<name>.owner`` says who holds it, for other processes' timeout messages. It is removed just before the
        lock is released, so finding one on acquiring means its writer died holding the lock (killed): the lock
        itself was released by the OS, and what it guarded is swept by the caller. ``while_waiting`` is called
        every fraction of a second while the lock is held elsewhere; what it raises ends the wait (a fetch lane
        that was cancelled, store/lane.py).
        """
        import filelock  # lazy: a warm build never takes a lock

        path = self.lock_path(name)
        self.claim()  # every write into the store happens under a lock, so the first lock marks a new store
        path.parent.mkdir(parents=True, exist_ok=True)
        owner = path.with_name(f"{name}.owner")
        wait = self.lock_timeout if timeout is None else timeout
        lock = filelock.FileLock(str(path), timeout=wait)
        try:
            try:
                lock.acquire(timeout=0)
            except filelock.Timeout:
                if wait <= 0:
                    raise
                if log is not None:
                    log(f"wasi: waiting for {_describe_owner(owner, holder=False)} (up to {wait:g} s, "
                        f"WASI_LOCK_TIMEOUT)")
                if while_waiting is None:
                    lock.acquire()
                else:
                    _acquire_checking(lock, wait, while_waiting)
        except filelock.Timeout:
            holder = _describe_owner(owner)
            raise StoreLockTimeout(
                f"timed out after {wait:g} s waiting for the store lock {path}: it guards {_what_lock_guards(name)}, "
                f"and {holder}",
                hint="wait for the other build to finish, or raise WASI_LOCK_TIMEOUT; a lock left by a killed "
                     "process is released by the operating system, so a timeout means a live holder (on this or "
                     "another machine sharing WASI_CACHE_DIR)",
            ) from None
        try:
            if log is not None and owner.is_file():
                log(f"wasi: an earlier run was interrupted while it held {path.name} "
                    f"({_describe_owner(owner, holder=False)}); cleaning up after it")
            _write_owner(owner, what)
            yield
        finally:
            owner.unlink(missing_ok=True)
            lock.release()

    # -- temp paths and atomic publication ---------------------------------------------------------------------
    def temp_path(self, final: Path) -> Path:
        """A fresh temp path beside ``final``, on the same filesystem so ``os.replace`` is atomic."""
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.parent / f"{TEMP_PREFIX}{final.name}-{os.getpid()}-{os.urandom(4).hex()}"

    @staticmethod
    def partial_path(final: Path) -> Path:
        """Where the bytes of an interrupted download of ``final`` are kept for resuming. Guarded by final's lock."""
        return final.parent / f"{PARTIAL_PREFIX}{final.name}"

    def sweep_temps(self, final: Path) -> None:
        """Remove temp paths left for ``final`` by killed runs. Call only while holding final's lock."""
        if not final.parent.is_dir():
            return
        for leftover in final.parent.glob(f"{TEMP_PREFIX}{final.name}-*"):
            remove_tree(leftover)

    def sweep_stale(self, log: Log | None = None) -> list[Path]:
        """Clean up after killed runs anywhere in the store, each thing under the lock that guards it.

        Removes temp paths, and the owner notes of locks whose holder died (the OS released the locks themselves).
        A lock that is held means its temp paths may be live: they are left for the holder. Returns the temp paths
        removed. Partial downloads are kept: the next fetch of that file resumes them (wasi-verify removes them).
        """
        removed: list[Path] = []
        for lock_name, leftovers in self._stale_by_lock().items():
            try:
                with self.locked(lock_name, "cleaning up after interrupted runs", timeout=0, log=log):
                    for leftover in leftovers:
                        if leftover.exists() or leftover.is_symlink():
                            self.remove_owned(leftover)
                            removed.append(leftover)
            except StoreLockTimeout:
                continue
        if removed and log is not None:
            log(f"wasi: removed {len(removed)} temp path(s) left by interrupted runs")
        return removed

    def _stale_by_lock(self) -> dict[str, list[Path]]:
        found: dict[str, list[Path]] = {}
        locks = self.root / "locks"
        if locks.is_dir():
            for owner in locks.glob("*.owner"):
                found.setdefault(owner.name[: -len(".owner")], [])
        for sha_dir in scan_dir(self.root / "downloads"):
            if sha_dir.is_dir(follow_symlinks=False):
                temps = [Path(e.path) for e in scan_dir(Path(sha_dir.path)) if e.name.startswith(TEMP_PREFIX)]
                if temps:
                    found.setdefault(f"download-{sha_dir.name}", []).extend(temps)
        for entry in scan_dir(self.root / "sysroots"):
            if entry.name.startswith(TEMP_PREFIX):
                temp = Path(entry.path)
                key = temp.name[len(TEMP_PREFIX):].rsplit("-", 2)[0]
                found.setdefault(f"sysroot-{key}", []).append(temp)
        return found

    @contextlib.contextmanager
    def building_entry(self, key: str, what: str, *, complete: Callable[[], bool], log: Log,
                       kill_points: str = "entry") -> Iterator[EntryBuild | None]:
        """Build the entry ``sysroots/<key>`` under its lock: what every kind of entry (a toolchain, the -Oz libc,
        wasm-opt, the component tools) does around its own recipe.

        Yields None when the entry is complete, or became so while this process waited for the lock: nothing to
        do. Otherwise it sweeps the temp paths killed runs left for the entry, removes an incomplete entry (a file
        removed by hand, say), and yields an EntryBuild: fill its ``temp``, then ``publish`` it. The temp path is
        removed at the end, whether it was published or not. ``kill_points`` names the entry's kill points
        (``<name>.locked``, ``.stamped``, ``.published``; see killpoints.py)."""
        root = self.entry_path(key)
        with self.locked(f"sysroot-{key}", what, log=log):
            if complete():
                yield None
                return
            kill_point(f"{kill_points}.locked")
            self.sweep_temps(root)
            if root.exists():
                log(f"wasi: store entry {root} is incomplete; rebuilding it")
                remove_tree(root)
            build = EntryBuild(self, root, self.temp_path(root), kill_points)
            try:
                yield build
            finally:
                remove_tree(build.temp)

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


class EntryBuild:
    """An entry being built (Store.building_entry): ``temp`` is filled, then published as ``root``. A plain class,
    not a dataclass: this module is imported by every scons start-up, which would pay ~1 ms to generate the
    dataclass's methods for an object only a cold build makes."""

    __slots__ = ("store", "root", "temp", "kill_points")

    def __init__(self, store: Store, root: Path, temp: Path, kill_points: str) -> None:
        self.store = store
        self.root = root
        self.temp = temp
        self.kill_points = kill_points

    def publish(self, stamp: Mapping[str, object] | Callable[[], Mapping[str, object]], *,
                timed: Callable[[str], contextlib.AbstractContextManager[object]] | None = None) -> None:
        """Write the manifest (for `scons wasi-verify`; in ``timed("manifest")`` when given) and the stamp that
        marks the entry complete, then move the entry into place atomically. ``stamp`` may be a function, called
        after the manifest is written, so the stamp can record how long that took."""
        with timed("manifest") if timed else contextlib.nullcontext():
            write_manifest(self.temp)
        fields = stamp() if callable(stamp) else stamp
        (self.temp / STAMP).write_text(json.dumps(dict(fields), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        kill_point(f"{self.kill_points}.stamped")
        self.store.publish(self.temp, self.root)
        kill_point(f"{self.kill_points}.published")


def _acquire_checking(lock: Any, wait: float, while_waiting: Callable[[], None]) -> None:
    """``lock.acquire()`` (a filelock.FileLock) within ``wait`` seconds, filelock.Timeout past them, calling
    ``while_waiting`` between short tries."""
    import filelock

    deadline = time.monotonic() + wait
    while True:
        while_waiting()
        try:
            lock.acquire(timeout=max(0.0, min(0.1, deadline - time.monotonic())))
            return
        except filelock.Timeout:
            if time.monotonic() >= deadline:
                raise


def _write_owner(owner: Path, what: str) -> None:
    import socket  # lazy: only a cold build takes a lock

    info = {"pid": os.getpid(), "host": socket.gethostname(), "what": what,
            "since": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    temp = owner.with_name(f"{owner.name}.{os.getpid()}")
    temp.write_text(json.dumps(info) + "\n", encoding="utf-8")
    os.replace(temp, owner)


def _describe_owner(owner: Path, *, holder: bool = True) -> str:
    try:
        info = json.loads(owner.read_text(encoding="utf-8"))
        text = f"pid {info['pid']} on {info['host']}, since {info['since']}, while {info['what']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "its holder did not say who it is" if holder else "holder unknown"
    return f"it is held by {text}" if holder else text


def _what_lock_guards(name: str) -> str:
    kind, _, rest = name.partition("-")
    if kind == "download":
        return f"the download with sha256 {rest}"
    if kind == "sysroot":
        return f"the toolchain entry {rest}"
    return name


# -- manifests: what a published entry holds, so `scons wasi-verify` can re-hash it ------------------------------
def tree_manifest(root: Path) -> dict[str, str]:
    """Every file and symlink under ``root`` (except STAMP and MANIFEST): ``sha256:<hex>`` or ``symlink:<target>``."""
    manifest: dict[str, str] = {}
    for directory, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            if relative in (STAMP, MANIFEST):
                continue
            if path.is_symlink():
                manifest[relative] = f"symlink:{os.readlink(path)}"
            elif path.is_file():
                manifest[relative] = f"sha256:{sha256_file(path)[0]}"
    return manifest


def write_manifest(root: Path) -> None:
    (root / MANIFEST).write_text(json.dumps(tree_manifest(root), indent=0, sort_keys=True) + "\n", encoding="utf-8")


def check_manifest(root: Path) -> list[str]:
    """Differences between ``root`` and its MANIFEST, one line each; [] when they agree."""
    try:
        recorded = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"no {MANIFEST}"]
    except (OSError, ValueError) as e:
        return [f"unreadable {MANIFEST}: {e}"]
    if not isinstance(recorded, dict):
        return [f"unreadable {MANIFEST}: not a JSON object"]
    actual = tree_manifest(root)
    problems = [f"{name}: missing" for name in sorted(recorded.keys() - actual.keys())]
    problems += [f"{name}: not in the manifest" for name in sorted(actual.keys() - recorded.keys())]
    problems += [f"{name}: expected {recorded[name]}, got {actual[name]}"
                 for name in sorted(recorded.keys() & actual.keys()) if recorded[name] != actual[name]]
    return problems


def scan_dir(path: Path) -> list[os.DirEntry[str]]:
    """The entries of ``path``, sorted by name, if it is a real directory (not a symlink to one); else []."""
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            return []
        with os.scandir(path) as entries:
            return sorted(entries, key=lambda e: e.name)
    except FileNotFoundError:
        return []


def _make_writable_and_retry(func, p, _exc):  # type: ignore[no-untyped-def]
    os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
    func(p)


def remove_tree(path: Path) -> None:
    """Remove a file or tree, including read-only members; a missing path is fine."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.exists():
        shutil.rmtree(path, onerror=_make_writable_and_retry)
