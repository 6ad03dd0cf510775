"""Unpack .deb, .whl/.zip and .tar.* archives defensively.

Every member is checked before anything is written, and an archive with one bad member is refused as a whole:
- no absolute paths and no ``..`` (also no drive letters or backslashes in zip names);
- no symlinks or hard links leading outside the destination (zip: no links at all; wheels have none);
- no device or FIFO members;
- no duplicate members (two members for one path make the result depend on order);
- caps on the member count and on the unpacked size, counted both from the headers (before writing) and from the
  bytes actually written (zip), so a decompression bomb stops early;
- setuid, setgid and sticky bits are dropped, never refused: tar members go through tarfile's ``data`` filter
  (PEP 706), which also re-checks every path and link target at extraction time, when earlier members exist.
Archive-level errors (truncated or corrupt .ar, .tar, .xz, .gz, .zip data; a .deb without data.tar.*) become
ArchiveError. A full disk while writing becomes DiskFullError, naming the archive, the destination and the size.
"""

from __future__ import annotations

import errno
import gzip
import io
import lzma
import os
import posixpath
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..errors import ArchiveError, DiskFullError
from ..killpoints import kill_point

# The real pins are far below these: the ziglang wheel has 14,690 members and unpacks to 341 MB in full.
MAX_MEMBERS = 200_000
MAX_UNPACKED_BYTES = 4 << 30
# Compressions tarfile reads for a .deb's data.tar member (dpkg also allows zstd, which Python 3.11 cannot read).
_DEB_DATA_MEMBERS = ("data.tar", "data.tar.xz", "data.tar.gz", "data.tar.bz2")

Include = Callable[[str], bool]


@dataclass(frozen=True)
class Limits:
    max_members: int = MAX_MEMBERS
    max_bytes: int = MAX_UNPACKED_BYTES


def unpack(archive: Path, dest: Path, *, include: Include | None = None, limits: Limits = Limits()) -> list[str]:
    """Unpack ``archive`` into ``dest`` (created if needed). Returns the member names written.

    ``include`` selects members by their normalised name (no leading ``./``); by default everything is unpacked.
    """
    name = archive.name
    dest.mkdir(parents=True, exist_ok=True)
    try:
        if name.endswith(".deb"):
            with open(archive, "rb") as f:
                data_name, data = _deb_data_tar(f, name)
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as tar:
                return _unpack_tar(tar, dest, include, f"{name}!{data_name}", limits)
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                return _unpack_zip(zf, dest, include, name, limits)
        if ".tar" in name or name.endswith(".tgz"):
            with tarfile.open(archive, mode="r:*") as tar:
                return _unpack_tar(tar, dest, include, name, limits)
    except ArchiveError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, zlib.error, gzip.BadGzipFile, EOFError) as e:
        raise ArchiveError(f"{name} is corrupt or truncated: {type(e).__name__}: {e}",
                           hint="delete it from the store (or run the build again to re-verify it)") from None
    raise ArchiveError(f"{name}: unknown archive format; expected .deb, .whl, .zip or .tar.*")


def _deb_data_tar(f: BinaryIO, name: str) -> tuple[str, bytes]:
    """Return (member name, bytes) of the data.tar.* member of a Debian package, which is an ``ar`` archive."""
    if f.read(8) != b"!<arch>\n":
        raise ArchiveError(f"{name} is not a Debian package: it does not start with the ar magic '!<arch>'")
    file_size = os.fstat(f.fileno()).st_size
    members: list[str] = []
    while True:
        header = f.read(60)
        if not header:
            break
        if len(header) < 60 or header[58:60] != b"`\n":
            raise ArchiveError(f"{name}: truncated or corrupt ar member header at byte {f.tell() - len(header)}")
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise ArchiveError(f"{name}: corrupt ar member size in {member!r}") from None
        if size < 0 or f.tell() + size > file_size:
            raise ArchiveError(f"{name}: ar member {member} is truncated ({max(0, file_size - f.tell())} of "
                               f"{size} bytes)")
        members.append(member)
        if member.startswith("data.tar"):
            if member not in _DEB_DATA_MEMBERS:
                raise ArchiveError(f"{name}: its {member} member uses a compression this tool cannot read; expected "
                                   f"one of {', '.join(_DEB_DATA_MEMBERS)}")
            return member, f.read(size)
        f.seek(size + (size & 1), io.SEEK_CUR)
    raise ArchiveError(f"{name} is not a usable Debian package: it has no data.tar.* member "
                       f"(members: {', '.join(members) or 'none'})")


def _normalise(member_name: str) -> str:
    return member_name[2:] if member_name.startswith("./") else member_name


def _unpack_tar(tar: tarfile.TarFile, dest: Path, include: Include | None, label: str, limits: Limits) -> list[str]:
    chosen: list[tarfile.TarInfo] = []
    seen: set[str] = set()
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > limits.max_members:
            raise ArchiveError(f"{label}: more than {limits.max_members} members; refusing a possible decompression "
                               f"bomb")
        name = _normalise(member.name).rstrip("/")
        if not name or name == ".":
            continue
        if include is not None and not include(name):
            continue
        if name in seen:
            raise ArchiveError(f"{label}: duplicate member {name!r}; refusing an ambiguous archive")
        seen.add(name)
        if member.name.startswith("/") or ".." in member.name.split("/"):
            # The data filter would silently strip a leading '/'; an archive that asks for one is not trusted.
            raise ArchiveError(f"{label}: refusing member {member.name!r}: its path leaves the destination")
        try:
            checked = tarfile.data_filter(member, str(dest))
        except tarfile.FilterError as e:
            raise ArchiveError(f"{label}: refusing member {member.name!r}: {e}") from None
        total += checked.size
        if total > limits.max_bytes:
            raise ArchiveError(f"{label}: unpacks to more than {limits.max_bytes} bytes; refusing a possible "
                               f"decompression bomb")
        chosen.append(checked)
    try:
        tar.extractall(dest, members=chosen, filter="data")
    except tarfile.FilterError as e:
        raise ArchiveError(f"{label}: refusing a member: {e}") from None
    except OSError as e:
        _raise_if_disk_full(e, label, dest, total)
        raise
    return [_normalise(m.name) for m in chosen]


def _raise_if_disk_full(error: OSError, label: str, dest: Path, needed: int) -> None:
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFullError(
            f"no space left on the device while unpacking {label} into {dest}: {os.strerror(error.errno)}; it "
            f"unpacks to {needed} bytes ({needed / 1e6:.1f} MB), which must be free there",
            hint="free that much space on the disk (the store is WASI_CACHE_DIR), or point WASI_CACHE_DIR at a disk "
                 "with room; then run the build again") from None


def _unpack_zip(zf: zipfile.ZipFile, dest: Path, include: Include | None, label: str, limits: Limits) -> list[str]:
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise ArchiveError(f"{label}: more than {limits.max_members} members; refusing a possible decompression bomb")
    chosen: list[zipfile.ZipInfo] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename.rstrip("/")
        if include is not None and not include(name):
            continue
        parts = name.split("/")
        if name.startswith("/") or "\\" in name or ".." in parts or (parts and ":" in parts[0]):
            raise ArchiveError(f"{label}: refusing member {info.filename!r}: its path leaves the destination")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode) or (mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))):
            raise ArchiveError(f"{label}: refusing member {info.filename!r}: not a regular file or directory")
        if name in seen:
            raise ArchiveError(f"{label}: duplicate member {name!r}; refusing an ambiguous archive")
        seen.add(name)
        total += info.file_size
        if total > limits.max_bytes:
            raise ArchiveError(f"{label}: unpacks to more than {limits.max_bytes} bytes; refusing a possible "
                               f"decompression bomb")
        chosen.append(info)
    try:
        _write_zip_members(zf, chosen, dest, label, limits)
    except OSError as e:
        _raise_if_disk_full(e, label, dest, total)
        raise
    return [info.filename.rstrip("/") for info in chosen]


def _write_zip_members(zf: zipfile.ZipFile, chosen: list[zipfile.ZipInfo], dest: Path, label: str,
                       limits: Limits) -> None:
    written = 0
    for info in chosen:
        kill_point("archive.member")
        target = dest.joinpath(*posixpath.normpath(info.filename).split("/"))
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            # Count what is really written too: the sizes in a zip's directory are only claims.
            while chunk := src.read(1 << 20):
                written += len(chunk)
                if written > limits.max_bytes:
                    raise ArchiveError(f"{label}: unpacks to more than {limits.max_bytes} bytes; refusing a "
                                       f"possible decompression bomb")
                out.write(chunk)
        # Keep the permission bits (zig must stay executable) but never setuid/setgid/sticky.
        mode = (info.external_attr >> 16) & 0o777
        target.chmod(mode if mode else 0o644)
