"""toolchain.lock, parsed once per content: its TOML data kept as JSON under the sha256 of the lock's bytes.

Every scons run reads the lock. Parsing its TOML (and importing tomllib) was the largest single cost of a warm start
(about 4 ms of the tool's ~40); reading the same data back as JSON costs a twentieth of that. The file is keyed by
the digest of the very bytes read in this run, so it can never be stale, and its data still goes through the strict
checks of toolchain_lock.lock_from_data: what a warm start gets is exactly what parsing the TOML gives. Anything
wrong with a cached file (unreadable, not JSON, refused by the checks) means: parse the TOML, as without a cache.
Only a lock that parsed cleanly is written, so error messages always come from the lock itself.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path

from ..errors import LockError
from .toolchain_lock import Lock, lock_from_data, toml_data


def load_lock_cached(path: str | Path, cache_dir: Path | None) -> Lock:
    """The lock at ``path``; its parsed data read from (or, after a parse, written to) ``cache_dir`` when given
    (Store.parsed_locks_dir). Raises LockError as toolchain_lock.load_lock does."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise LockError(str(path), "", f"cannot read it ({e.strerror})") from None
    digest = hashlib.sha256(text).hexdigest()
    cached = cache_dir / f"{digest}.json" if cache_dir is not None else None
    if cached is not None:
        try:
            return lock_from_data(json.loads(cached.read_bytes()), digest, str(path))
        except (OSError, ValueError, LockError):
            pass  # none yet, or not usable: parse the TOML
    data = toml_data(text, str(path))
    lock = lock_from_data(data, digest, str(path))
    if cached is not None:
        _write(cached, data)
    return lock


def _write(cached: Path, data: object) -> None:
    """Best effort, atomically (a temp file beside it, then os.replace): a read-only or missing store just means
    the next run parses the TOML again."""
    try:
        payload = json.dumps(data, sort_keys=True).encode()
    except (TypeError, ValueError):  # a TOML value JSON has no form for (a date): no cache for this lock
        return
    temp = cached.with_name(f".tmp-{cached.name}-{os.getpid()}-{os.urandom(4).hex()}")
    try:
        cached.parent.mkdir(exist_ok=True)
        temp.write_bytes(payload)
        os.replace(temp, cached)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
