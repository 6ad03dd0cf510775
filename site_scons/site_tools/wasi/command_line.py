"""The tool's `scons` options, listed by `scons --help` under "Local Options"."""

from __future__ import annotations

import os
from typing import Any

import SCons.Script

from wasi_toolchain.settings import Settings

_options_added: set[str] = set()  # the dests of the options this tool added


def add_options() -> None:
    """The tool's `scons` options; listed by `scons --help` under "Local Options". Added once per process, and
    never over an option of the same name that the SConstruct defined itself."""
    import SCons.Script.Main

    parser = SCons.Script.Main.OptionsParser
    if not parser.has_option("--wasi-offline"):
        SCons.Script.AddOption("--wasi-offline", dest="wasi_offline", action="store_true", default=False,
                               help="never download: use only the toolchain store (sets WASI_OFFLINE=1)")
        _options_added.add("wasi_offline")
    if not parser.has_option("--cache-dir"):
        SCons.Script.AddOption("--cache-dir", dest="wasi_scons_cache_dir", metavar="DIR", default=None,
                               help="share built objects and modules through the SCons CacheDir DIR; its "
                                    "entries serve any checkout path and any WASI_CACHE_DIR")
        _options_added.add("wasi_scons_cache_dir")
    if not parser.has_option("--remote-cache"):
        # The help never shows a value: a URL may carry user:password@.
        SCons.Script.AddOption("--remote-cache", dest="wasi_remote_cache", metavar="URL", default=None,
                               help="also share built objects and modules through the HTTP cache at URL (nginx "
                                    "WebDAV, bazel-remote): GET/PUT URL/ac/<key>; the local CacheDir (--cache-dir, "
                                    "else one in WASI_CACHE_DIR) stays the first level; or set WASI_REMOTE_CACHE")
        _options_added.add("wasi_remote_cache")
    if not parser.has_option("--remote-cache-mode"):
        SCons.Script.AddOption("--remote-cache-mode", dest="wasi_remote_cache_mode", metavar="MODE", default=None,
                               help="read-write (default) or read-only: download hits but never upload, for "
                                    "untrusted builds; or set WASI_REMOTE_CACHE_MODE")
        _options_added.add("wasi_remote_cache_mode")
    # `scons wasi-distcc-worker` options (site_tools/wasi/distcc.py checks them).
    for name, dest, kw, text in (
            ("--wasi-listen", "wasi_listen", {"metavar": "ADDR:PORT"},
             "wasi-distcc-worker: the address and port distccd listens on"),
            ("--wasi-allow", "wasi_allow", {"metavar": "CIDR", "action": "append", "default": []},
             "wasi-distcc-worker: a client network to admit (repeatable; required: distcc has no authentication)"),
            ("--wasi-jobs", "wasi_jobs", {"metavar": "N"},
             "wasi-distcc-worker: at most N compiles at once (default: distccd's, the CPUs + 2)"),
            ("--wasi-log", "wasi_log", {"metavar": "FILE"},
             "wasi-distcc-worker: append distccd's log here, one COMPILE_OK line per job (default: stderr)"),
            ("--wasi-ssh", "wasi_ssh", {"action": "store_true", "default": False},
             "wasi-distcc-worker: prepare this machine for ssh hosts (@host:<store>/distcc/distccd-ssh) and exit")):
        if not parser.has_option(name):
            SCons.Script.AddOption(name, dest=dest, help=text, **{"default": None, **kw})
            _options_added.add(dest)
    # `scons wasi-prune` options. Prefixed: SCons owns -n/--dry-run (which would run no action at all), and a bare
    # --keep would be taken as an abbreviation of SCons's --keep-going by any scons run that has not loaded the tool.
    if not parser.has_option("--wasi-keep"):
        SCons.Script.AddOption("--wasi-keep", dest="wasi_keep", metavar="KEY", action="append", default=[],
                               help="wasi-prune: keep the entry with this sysroot key (repeatable); without it, "
                                    "the keys this SConstruct's environments use are kept")
        _options_added.add("wasi_keep")
    if not parser.has_option("--wasi-dry-run"):
        SCons.Script.AddOption("--wasi-dry-run", dest="wasi_dry_run", action="store_true", default=False,
                               help="wasi-prune: list what would be removed and the bytes it holds; remove nothing")
        _options_added.add("wasi_dry_run")


def prune_options() -> tuple[list[str], bool]:
    """The keys given with --wasi-keep (in order, repeats dropped) and whether --wasi-dry-run was given."""
    keys = list(dict.fromkeys(_option("wasi_keep") or []))
    return keys, bool(_option("wasi_dry_run"))


def worker_options() -> tuple[str | None, list[str], str | None, str | None, bool]:
    """--wasi-listen, --wasi-allow (every one given), --wasi-jobs, --wasi-log (None: not given) and --wasi-ssh."""
    return (_option("wasi_listen"), list(_option("wasi_allow") or []), _option("wasi_jobs"), _option("wasi_log"),
            bool(_option("wasi_ssh")))


def _option(dest: str) -> Any:
    return SCons.Script.GetOption(dest) if dest in _options_added else None


def apply_options(env: Any) -> None:
    """Options that must act before the settings are read from the environment."""
    if _option("wasi_offline"):
        # Read by Settings.from_environ, like a WASI_OFFLINE=1 set by the user.
        os.environ["WASI_OFFLINE"] = "1"


def apply_cache_options(env: Any, settings: Settings) -> None:
    """--cache-dir, and the remote cache behind it (--remote-cache / WASI_REMOTE_CACHE). Raises ConfigError."""
    cache_dir = _option("wasi_scons_cache_dir")
    remote = None
    url, mode = _option("wasi_remote_cache"), _option("wasi_remote_cache_mode")
    if url or mode or any(name.startswith("WASI_REMOTE_CACHE") for name in os.environ):
        # Imported only when asked for: its dataclasses and regex would cost every warm start a few ms.
        from wasi_toolchain.remote_cache.config import RemoteCacheConfig

        remote = RemoteCacheConfig.from_settings(url, mode)
    if remote is not None and not settings.offline:  # WASI_OFFLINE=1 opens no socket, so no remote cache either
        from .remote import LOCAL_LEVEL, use_remote_cache

        use_remote_cache(env, remote, cache_dir or str(settings.cache_dir / LOCAL_LEVEL))
    elif cache_dir:
        env.CacheDir(cache_dir)

