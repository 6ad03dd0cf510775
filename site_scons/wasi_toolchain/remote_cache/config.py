"""The remote cache's settings: ``--remote-cache``/``WASI_REMOTE_CACHE`` (the URL, with credentials taken out of it),
the mode, the token and the timeout, each validated with the name the user set it by."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from ..errors import ConfigError

Mode = Literal["read-write", "read-only"]
MODES: tuple[Mode, ...] = ("read-write", "read-only")
DEFAULT_TIMEOUT = 30.0  # seconds for a whole request
CONNECT_TIMEOUT = 3.0  # seconds to connect, at most; a black-holed server costs this much per request
DEFAULT_ERROR_BUDGET = 3


@dataclass(frozen=True)
class RemoteCacheConfig:
    """Where the cache is and how to talk to it. ``base_url`` never holds credentials; ``repr`` never shows them."""

    base_url: str  # scheme://host[:port][/prefix], no user info, no trailing slash
    mode: Mode = "read-write"
    token: str | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = CONNECT_TIMEOUT
    error_budget: int = DEFAULT_ERROR_BUDGET

    @classmethod
    def from_settings(cls, url_option: str | None, mode_option: str | None,
                      environ: Mapping[str, str] | None = None) -> RemoteCacheConfig | None:
        """The options win over WASI_REMOTE_CACHE and WASI_REMOTE_CACHE_MODE; None when no remote is configured."""
        env = os.environ if environ is None else environ
        url_source, url = ("--remote-cache", url_option) if url_option else \
            ("WASI_REMOTE_CACHE", env.get("WASI_REMOTE_CACHE", ""))
        mode_source, mode_value = ("--remote-cache-mode", mode_option) if mode_option else \
            ("WASI_REMOTE_CACHE_MODE", env.get("WASI_REMOTE_CACHE_MODE", ""))
        mode = parse_mode(mode_source, mode_value)
        token = parse_token(env.get("WASI_REMOTE_CACHE_TOKEN", ""))
        timeout = _positive_seconds("WASI_REMOTE_CACHE_TIMEOUT", env.get("WASI_REMOTE_CACHE_TIMEOUT", ""))
        if not url.strip():
            return None
        base_url, basic_auth = parse_url(url_source, url)
        return cls(base_url=base_url, mode=mode, token=token, basic_auth=basic_auth, timeout=timeout,
                   connect_timeout=min(CONNECT_TIMEOUT, timeout))


def parse_url(source: str, value: str) -> tuple[str, tuple[str, str] | None]:
    """The base URL without user info, and the (user, password) it carried, if any."""
    value = value.strip()
    try:
        parts = urllib.parse.urlsplit(value)
        port = parts.port  # raises for a port that is not a number
    except ValueError:
        parts, port = None, None
    shown = redact(value)
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{source}: expected an http:// or https:// URL of the cache, got {shown!r}",
                          hint=f"set {source} to e.g. http://cache.example:8080/scons")
    if parts.query or parts.fragment:
        raise ConfigError(f"{source}: expected a base URL without ?query or #fragment, got {shown!r}",
                          hint="entries are read and written at <URL>/ac/<key>; give credentials through "
                               "WASI_REMOTE_CACHE_TOKEN, ~/.netrc or user:password@ in the URL")
    basic_auth = None
    if parts.username is not None or parts.password is not None:
        basic_auth = (urllib.parse.unquote(parts.username or ""), urllib.parse.unquote(parts.password or ""))
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    netloc = host if port is None else f"{host}:{port}"
    base = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
    return base, basic_auth


def parse_mode(source: str, value: str) -> Mode:
    word = value.strip().lower() or "read-write"
    for mode in MODES:
        if word == mode:
            return mode
    raise ConfigError(f"{source}: expected 'read-write' or 'read-only', got {value.strip()!r}",
                      hint="use read-only for builds you do not trust to write to the cache (pull requests)")


def parse_token(value: str) -> str | None:
    token = value.strip()
    if not token:
        return None
    if any(c.isspace() or not c.isprintable() for c in token):
        # A newline would let the token inject headers; the message never shows the value.
        raise ConfigError("WASI_REMOTE_CACHE_TOKEN: expected one word of printable characters; the value has "
                          "spaces or control characters (not shown)",
                          hint="set WASI_REMOTE_CACHE_TOKEN to the bare token, without 'Bearer '")
    return token


def _positive_seconds(name: str, value: str) -> float:
    if not value.strip():
        return DEFAULT_TIMEOUT
    try:
        number = float(value)
    except ValueError:
        number = 0.0
    if not number > 0:
        raise ConfigError(f"{name}: expected a positive number of seconds, got {value!r}",
                          hint=f"unset {name} or fix it")
    return number


def redact(url: str) -> str:
    """``url`` without user info, query or fragment: what any message may show of a cache URL."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        netloc = parts.netloc.rpartition("@")[2]
        marker = "***@" if "@" in parts.netloc else ""
        return urllib.parse.urlunsplit((parts.scheme, marker + netloc, parts.path, "", ""))
    except ValueError:
        return "<an unparsable URL>"

