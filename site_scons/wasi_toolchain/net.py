"""The one HTTP path: sessions, timeouts, the bounded GET and the wording of network errors.

Every request this package makes goes through here: the store's resumable download (store/http_download.py), the
lock generator's index and package reads (lockgen/), and the remote cache client (remote_cache/client.py). Each
keeps only what is its own: the download its retries, resume and rate guard; the cache its envelope and error
budget.

``requests`` is imported on first use, never at module level: a warm build that downloads nothing never loads it.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Network reads are small: bytes read but not yet written when a connection breaks are lost to a resume.
NET_CHUNK = 64 << 10
# Seconds to connect to a mirror or an index; the remote cache uses less (a black-holed cache costs this per target).
CONNECT_TIMEOUT = 15.0
MAX_REDIRECTS = 10
# The bytes on the wire must be the file's bytes, with no transfer decoding in between: pins and envelopes are
# hashed as stored.
IDENTITY = {"Accept-Encoding": "identity"}


class SourceFailed(Exception):
    """One source could not deliver what was asked; the caller tries the next one or reports them all."""


def new_session(*, max_redirects: int = MAX_REDIRECTS, headers: Mapping[str, str] | None = None,
                adapter: Any = None) -> Any:
    """A ``requests.Session`` that asks for identity encoding; ``adapter`` (if given) serves http and https."""
    import requests

    session = requests.Session()
    session.max_redirects = max_redirects
    session.headers.update(IDENTITY)
    session.headers.update(headers or {})
    if adapter is not None:
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def innermost(error: BaseException, *, follow_context: bool = False) -> BaseException:
    """The exception at the bottom of requests' and urllib3's wrappers (``reason``, exception args and, with
    ``follow_context``, the implicit context of anything but an OSError), e.g. the ConnectionRefusedError inside a
    ConnectionError."""
    inner = error
    for _ in range(10):  # wrappers nest a few deep; a cycle must not hang a build
        nested = getattr(inner, "reason", None)
        args = [a for a in getattr(inner, "args", ()) if isinstance(a, BaseException)]
        if isinstance(nested, BaseException):
            inner = nested
        elif args:
            inner = args[-1]
        elif follow_context and inner.__context__ is not None and not isinstance(inner, OSError):
            inner = inner.__context__
        else:
            break
    return inner


def describe_exception(error: BaseException) -> str:
    """The innermost useful reason, e.g. 'ReadTimeoutError: Read timed out.' rather than a nest of wrappers."""
    inner = innermost(error)
    return f"{type(inner).__name__}: {str(inner) or repr(inner)}"


def bounded_get(url: str, limit: int, *, read_timeout: float = 60.0) -> bytes:
    """All bytes at ``url`` (http, https or file), refusing more than ``limit``. Raises SourceFailed.

    For files with no pinned hash of their own (Debian's indexes, checked by signature; npm's package documents), so
    a plain bounded GET rather than the store's verified, resumable fetch."""
    if url.startswith("file://"):
        path = Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
        try:
            if path.stat().st_size > limit:
                raise SourceFailed(f"{path} is larger than {limit} bytes")
            return path.read_bytes()
        except OSError as e:
            raise SourceFailed(f"cannot read {path}: {e.strerror}") from None
    import requests

    chunks: list[bytes] = []
    size = 0
    try:
        with new_session() as session, session.get(url, stream=True,
                                                   timeout=(CONNECT_TIMEOUT, read_timeout)) as response:
            if response.status_code != 200:
                raise SourceFailed(f"HTTP {response.status_code} {response.reason or ''}".rstrip())
            for chunk in response.iter_content(NET_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise SourceFailed(f"sent more than {limit} bytes")
                chunks.append(chunk)
    except requests.TooManyRedirects:
        raise SourceFailed(f"more than {MAX_REDIRECTS} redirects (a redirect loop?)") from None
    except requests.RequestException as e:
        raise SourceFailed(describe_exception(e)) from None
    return b"".join(chunks)
