"""The remote cache's keys and its entry envelope: one header line, then the target's bytes::

    scons-wasi-cache 1 sha256=<64 hex> length=<bytes> mode=<644|755>\\n<payload>

The digest travels in the same body as the bytes it describes: one GET per hit, and no window in which a sidecar
and its payload disagree (a PUT replaces both at once, which two files on a WebDAV server cannot).
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..store.digest import sha256_file

FORMAT_TAG = b"scons-wasi remote cache entry, envelope 1\0"
MAGIC = b"scons-wasi-cache 1"
MAX_HEADER = 256  # bytes, newline included; a real header is about 110
MAX_PAYLOAD = 1 << 30  # 1 GiB: nginx's client_max_body_size in docs/remote-cache.md's config; a bigger claim is hostile
_HEADER = re.compile(rb"scons-wasi-cache 1 sha256=([0-9a-f]{64}) length=([0-9]{1,12}) mode=(644|755)\n\Z")


def entry_key(signature: str) -> str:
    """bazel-remote's action-cache key for a SCons cache signature: 64 lowercase hex characters."""
    return hashlib.sha256(FORMAT_TAG + signature.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class Header:
    sha256: str
    length: int
    executable: bool

    def encode(self) -> bytes:
        return b"%s sha256=%s length=%d mode=%s\n" % (MAGIC, self.sha256.encode(), self.length,
                                                       b"755" if self.executable else b"644")


class BadEntry(Exception):
    """A body that is not a verified entry: it is a miss, never used."""


def parse_header(line: bytes) -> Header:
    match = _HEADER.match(line)
    if match is None:
        shown = line[:60].decode("ascii", "replace")
        raise BadEntry(f"the body does not start with a scons-wasi-cache 1 header (got {shown!r})")
    length = int(match.group(2))
    if length > MAX_PAYLOAD:
        raise BadEntry(f"the header claims {length} bytes, more than the {MAX_PAYLOAD} an entry may have")
    return Header(match.group(1).decode(), length, match.group(3) == b"755")


def header_for(path: Path) -> Header:
    sha256, size = sha256_file(path)
    return Header(sha256, size, bool(os.stat(path).st_mode & stat.S_IXUSR))


class _EnvelopeBody:
    """The header then the file, read in blocks (requests sends a file-like with a length without buffering it)."""

    def __init__(self, header: bytes, path: Path) -> None:
        self._header = header
        self._file: BinaryIO = open(path, "rb")
        self._length = len(header) + os.fstat(self._file.fileno()).st_size
        self.sent = 0

    def __len__(self) -> int:
        return self._length

    def read(self, size: int = -1) -> bytes:
        if self._header:
            block, self._header = self._header, b""
        else:
            block = self._file.read(size if size and size > 0 else 1 << 20)
        self.sent += len(block)
        return block

    def close(self) -> None:
        self._file.close()

