"""The remote cache in SCons: a CacheDir subclass whose misses ask the HTTP cache, and whose pushes upload.

SCons (>= 4.2) takes the class through ``env.CacheDir(path, custom_class)``. The local directory stays the first
level: a target is looked up there first, a remote hit is written there (verified, through a temp file and a
rename) and then retrieved from it as from any CacheDir, and a built target is pushed there and then uploaded.
SCons calls ``retrieve`` and ``push`` from its job threads, so with ``-jN`` up to N requests run at once, each
thread with its own connection pool (see ``wasi_toolchain.remote_cache``, where all the logic is).

One ``RemoteCache`` serves the whole process (every environment that loads the tool); at exit it prints the report
line, if the build asked it anything.
"""

from __future__ import annotations

import atexit
from pathlib import Path
from typing import Any, ClassVar

import SCons.Action

from wasi_toolchain.remote_cache.client import RemoteCache
from wasi_toolchain.remote_cache.config import RemoteCacheConfig
from wasi_toolchain.store.store import SCONS_CACHEDIR

from .batching import BatchCacheDir

LOCAL_LEVEL = SCONS_CACHEDIR  # under WASI_CACHE_DIR, when only a remote cache is given


class RemoteCacheDir(BatchCacheDir):
    """A CacheDir with a remote second level. ``remote`` is set once per process by :func:`use_remote_cache`.
    Batches are retrieved all or none (BatchCacheDir), each target through both levels (``retrieve_one``)."""

    remote: ClassVar[RemoteCache | None] = None

    def retrieve_one(self, node: Any) -> bool:
        if super().retrieve_one(node):
            return True
        remote = type(self).remote
        # -n never downloads (SCons runs CacheRetrieve even then, and checks execute_actions itself).
        if remote is None or not self.is_enabled() or not SCons.Action.execute_actions:
            return False
        _, cachefile = self.cachepath(node)
        if not remote.fetch(node.get_cachedir_bsig(), Path(cachefile)):
            return False
        return super().retrieve_one(node)

    def push(self, node: Any) -> Any:
        result = super().push(node)
        remote = type(self).remote
        if remote is None or self.is_readonly() or not self.is_enabled() or node.nocache:
            return result
        if node.islink() or not node.isfile():
            return result  # a symlink or a directory: the local level handles it, the remote carries files
        remote.store(node.get_cachedir_bsig(), Path(node.get_abspath()))
        return result


_client: RemoteCache | None = None


def use_remote_cache(env: Any, config: RemoteCacheConfig, local_dir: str) -> None:
    """Make ``env`` use ``local_dir`` as its CacheDir with the remote cache behind it."""
    global _client
    if _client is None or _client.config != config:
        if _client is not None:
            _client.close()
        _client = RemoteCache(config)
        RemoteCacheDir.remote = _client
        if not getattr(use_remote_cache, "_report_registered", False):
            atexit.register(_report)
            use_remote_cache._report_registered = True  # type: ignore[attr-defined]
    env.CacheDir(local_dir, RemoteCacheDir)


def _report() -> None:
    """The build's one line about the remote cache; nothing when it was never asked (a null build, --help, -c)."""
    client = _client
    if client is None:
        return
    try:
        if client.stats.requests or client.stats.corrupt:
            print(client.report_line(), flush=True)
    finally:
        client.close()
