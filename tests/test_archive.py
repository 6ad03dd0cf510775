from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from helpers import make_deb, make_tar, make_zip
from wasi_toolchain.archive import unpack
from wasi_toolchain.errors import ArchiveError


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_tar_xz_unpacks_with_a_member_filter(tmp_path: Path) -> None:
    archive = write(tmp_path, "src.tar.xz", make_tar([("pkg/Makefile", b"all:\n"), ("pkg/docs/a.txt", b"a")]))
    written = unpack(archive, tmp_path / "out", include=lambda n: n.endswith("Makefile"))
    assert written == ["pkg/Makefile"]
    assert (tmp_path / "out/pkg/Makefile").read_bytes() == b"all:\n"
    assert not (tmp_path / "out/pkg/docs").exists()


def test_deb_data_is_unpacked_from_the_ar_container(tmp_path: Path) -> None:
    deb = write(tmp_path, "x_1_all.deb", make_deb([("./usr/lib/x/libx.a", b"!<arch>\n"), ("./usr/share/doc", b"d")]))
    unpack(deb, tmp_path / "out", include=lambda n: n.startswith("usr/lib/"))
    assert (tmp_path / "out/usr/lib/x/libx.a").read_bytes() == b"!<arch>\n"
    assert not (tmp_path / "out/usr/share").exists()


def test_deb_without_data_tar_is_refused(tmp_path: Path) -> None:
    deb = write(tmp_path, "x_1_all.deb", make_deb([], with_data=False))
    with pytest.raises(ArchiveError, match="it has no data.tar.\\* member"):
        unpack(deb, tmp_path / "out")


def test_wheel_members_keep_their_exec_bit_but_not_setuid(tmp_path: Path) -> None:
    whl = write(tmp_path, "z-1-py3-none-any.whl", make_zip([("z/zig", b"#!", 0o104755), ("z/a.h", b"h")]))
    unpack(whl, tmp_path / "out")
    assert (tmp_path / "out/z/zig").stat().st_mode & 0o7777 == 0o755
    assert (tmp_path / "out/z/a.h").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("member", [
    ("../evil", b"x"),
    ("/abs/evil", b"x"),
    link("ok/escape", "../../outside"),
    link("ok/abs", "/etc/passwd"),
    link("ok/hard", "/etc/passwd", tarfile.LNKTYPE),
])
def test_tar_members_leaving_the_destination_are_refused(tmp_path: Path, member: object) -> None:
    archive = write(tmp_path, "bad.tar.xz", make_tar([member]))  # type: ignore[list-item]
    with pytest.raises(ArchiveError, match="refusing member"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "evil").exists() and not (tmp_path / "outside").exists()
    assert list((tmp_path / "out").rglob("*")) == []


def test_device_members_are_refused(tmp_path: Path) -> None:
    device = tarfile.TarInfo("dev/null")
    device.type = tarfile.CHRTYPE
    archive = write(tmp_path, "dev.tar.xz", make_tar([device]))
    with pytest.raises(ArchiveError, match="refusing member 'dev/null'"):
        unpack(archive, tmp_path / "out")


@pytest.mark.parametrize("name", ["../evil", "/abs/evil", "a\\..\\evil"])
def test_zip_members_leaving_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    archive = write(tmp_path, "bad.zip", make_zip([(name, b"x")]))
    with pytest.raises(ArchiveError, match="its path leaves the destination"):
        unpack(archive, tmp_path / "out")


def test_zip_symlinks_are_refused(tmp_path: Path) -> None:
    archive = write(tmp_path, "bad.whl", make_zip([("z/link", b"/etc/passwd", 0o120777)]))
    with pytest.raises(ArchiveError, match="not a regular file or directory"):
        unpack(archive, tmp_path / "out")


def test_truncated_xz_is_an_archive_error(tmp_path: Path) -> None:
    data = make_tar([("a/b", b"x" * 10000)])
    archive = write(tmp_path, "cut.tar.xz", data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="cut.tar.xz is corrupt or truncated"):
        unpack(archive, tmp_path / "out")


def test_duplicate_members_are_refused(tmp_path: Path) -> None:
    archive = write(tmp_path, "dup.tar.xz", make_tar([("a/b", b"1"), ("a/b", b"2")]))
    with pytest.raises(ArchiveError, match="duplicate member 'a/b'"):
        unpack(archive, tmp_path / "out")


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="unknown archive format"):
        unpack(write(tmp_path, "x.rar", b"Rar!"), tmp_path / "out")
