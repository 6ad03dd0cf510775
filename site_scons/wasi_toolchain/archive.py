"""Unpack .deb, .whl/.zip and .tar.* archives defensively.

Every member is checked before anything is written: no absolute paths, no ``..``, no links leading outside the
destination, no device or FIFO members, no duplicates, and caps on member count and unpacked size. Tar members go
through tarfile's ``data`` filter (PEP 706), which also drops setuid/setgid bits. Archive-level errors (truncated or
corrupt data) become ArchiveError.
"""

from __future__ import annotations

import io
import lzma
import posixpath
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .errors import ArchiveError

MAX_MEMBERS = 200_000
MAX_UNPACKED_BYTES = 4 << 30

Include = Callable[[str], bool]


def unpack(archive: Path, dest: Path, *, include: Include | None = None) -> list[str]:
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
                return _unpack_tar(tar, dest, include, f"{name}!{data_name}")
        if name.endswith((".whl", ".zip")):
            with zipfile.ZipFile(archive) as zf:
                return _unpack_zip(zf, dest, include, name)
        if ".tar" in name or name.endswith(".tgz"):
            with tarfile.open(archive, mode="r:*") as tar:
                return _unpack_tar(tar, dest, include, name)
    except ArchiveError:
        raise
    except (tarfile.TarError, zipfile.BadZipFile, lzma.LZMAError, zlib.error, EOFError) as e:
        raise ArchiveError(f"{name} is corrupt or truncated: {type(e).__name__}: {e}",
                           hint="delete it from the store (or run the build again to re-verify it)") from None
    raise ArchiveError(f"{name}: unknown archive format; expected .deb, .whl, .zip or .tar.*")


def _deb_data_tar(f: BinaryIO, name: str) -> tuple[str, bytes]:
    """Return (member name, bytes) of the data.tar.* member of a Debian package, which is an ``ar`` archive."""
    if f.read(8) != b"!<arch>\n":
        raise ArchiveError(f"{name} is not a Debian package: it does not start with the ar magic '!<arch>'")
    while True:
        header = f.read(60)
        if not header:
            break
        if len(header) < 60 or header[58:60] != b"`\n":
            raise ArchiveError(f"{name}: truncated or corrupt ar member header")
        member = header[:16].decode("ascii", "replace").strip().rstrip("/")
        try:
            size = int(header[48:58].decode("ascii").strip())
        except ValueError:
            raise ArchiveError(f"{name}: corrupt ar member size in {member!r}") from None
        if member.startswith("data.tar"):
            data = f.read(size)
            if len(data) != size:
                raise ArchiveError(f"{name}: ar member {member} is truncated ({len(data)} of {size} bytes)")
            return member, data
        f.seek(size + (size & 1), io.SEEK_CUR)
    raise ArchiveError(f"{name} is not a usable Debian package: it has no data.tar.* member")


def _normalise(member_name: str) -> str:
    return member_name[2:] if member_name.startswith("./") else member_name


def _unpack_tar(tar: tarfile.TarFile, dest: Path, include: Include | None, label: str) -> list[str]:
    chosen: list[tarfile.TarInfo] = []
    seen: set[str] = set()
    total = 0
    for count, member in enumerate(tar, start=1):
        if count > MAX_MEMBERS:
            raise ArchiveError(f"{label}: more than {MAX_MEMBERS} members; refusing a possible decompression bomb")
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
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"{label}: unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing a possible "
                               f"decompression bomb")
        chosen.append(checked)
    try:
        tar.extractall(dest, members=chosen, filter="data")
    except tarfile.FilterError as e:
        raise ArchiveError(f"{label}: refusing a member: {e}") from None
    return [_normalise(m.name) for m in chosen]


def _unpack_zip(zf: zipfile.ZipFile, dest: Path, include: Include | None, label: str) -> list[str]:
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ArchiveError(f"{label}: more than {MAX_MEMBERS} members; refusing a possible decompression bomb")
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
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"{label}: unpacks to more than {MAX_UNPACKED_BYTES} bytes; refusing a possible "
                               f"decompression bomb")
        chosen.append(info)
    for info in chosen:
        target = dest.joinpath(*posixpath.normpath(info.filename).split("/"))
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        with zf.open(info) as src, open(target, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        # Keep the permission bits (zig must stay executable) but never setuid/setgid/sticky.
        mode = (info.external_attr >> 16) & 0o777
        target.chmod(mode if mode else 0o644)
    return [info.filename.rstrip("/") for info in chosen]
