from __future__ import annotations

import struct
import tarfile
import zipfile
from pathlib import Path

import pytest

from support.helpers import ar_archive, make_deb, make_tar, make_zip
from wasi_toolchain.store.archive import MAX_UNPACKED_BYTES, Limits, unpack
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


# -- hostile archives: every kind the store refuses, each generated here ------------------------------------------
def nothing_outside(tmp_path: Path) -> None:
    """Only the archives and out/ may exist under tmp_path after an unpack, however it ended."""
    stray = [p for p in tmp_path.iterdir() if p.name != "out" and not p.name.startswith(("bad", "ok", "cut"))]
    assert stray == []


def test_a_link_chain_that_escapes_is_refused(tmp_path: Path) -> None:
    # 'a' -> '.' is harmless alone; 'a/b' -> '..' then resolves through it to the destination's parent.
    archive = write(tmp_path, "bad.tar", make_tar([link("a", "."), link("a/b", ".."), ("a/b/escaped", b"x")],
                                                   compression=""))
    with pytest.raises(ArchiveError, match="refusing"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "escaped").exists()
    nothing_outside(tmp_path)


def test_a_symlink_to_a_directory_outside_cannot_be_written_through(tmp_path: Path) -> None:
    archive = write(tmp_path, "bad.tar.gz", make_tar([link("d", "../.."), ("d/evil", b"x")], compression="gz"))
    with pytest.raises(ArchiveError, match="refusing member 'd'"):
        unpack(archive, tmp_path / "out")
    nothing_outside(tmp_path)


@pytest.mark.parametrize("kind", [tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE])
def test_device_and_fifo_members_are_refused(tmp_path: Path, kind: bytes) -> None:
    special = tarfile.TarInfo("pkg/special")
    special.type = kind
    archive = write(tmp_path, "bad.tar.xz", make_tar([("pkg/ok", b"fine"), special]))
    with pytest.raises(ArchiveError, match="refusing member 'pkg/special'"):
        unpack(archive, tmp_path / "out")
    assert list((tmp_path / "out").rglob("*")) == []  # refused before anything was written
    nothing_outside(tmp_path)


def test_zip_device_members_are_refused(tmp_path: Path) -> None:
    archive = write(tmp_path, "bad.zip", make_zip([("z/dev", b"", 0o020644)]))
    with pytest.raises(ArchiveError, match="not a regular file or directory"):
        unpack(archive, tmp_path / "out")


def test_tar_setuid_and_setgid_bits_are_dropped(tmp_path: Path) -> None:
    def member(name: str, mode: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.mode = mode
        return info

    import io

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, mode in [("bin/suid", 0o4755), ("bin/sgid", 0o2755), ("bin/sticky", 0o1777)]:
            tar.addfile(member(name, mode), io.BytesIO(b""))
    archive = write(tmp_path, "ok.tar", buf.getvalue())
    unpack(archive, tmp_path / "out")
    modes = {p.name: p.stat().st_mode & 0o7777 for p in (tmp_path / "out/bin").iterdir()}
    assert modes == {"suid": 0o755, "sgid": 0o755, "sticky": 0o755}


def test_duplicates_are_refused_however_they_are_spelled(tmp_path: Path) -> None:
    archive = write(tmp_path, "bad.tar.xz", make_tar([("./pkg/a", b"1"), ("pkg/a", b"2")]))
    with pytest.raises(ArchiveError, match="duplicate member 'pkg/a'"):
        unpack(archive, tmp_path / "out")
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name while writing it
        data = make_zip([("pkg/a", b"1"), ("pkg/a", b"2")])
    with pytest.raises(ArchiveError, match="duplicate member 'pkg/a'"):
        unpack(write(tmp_path, "bad.zip", data), tmp_path / "out")


def test_a_hard_link_inside_the_destination_is_fine(tmp_path: Path) -> None:
    archive = write(tmp_path, "ok.tar.xz", make_tar([("pkg/a", b"same"), link("pkg/b", "pkg/a", tarfile.LNKTYPE)]))
    unpack(archive, tmp_path / "out")
    assert (tmp_path / "out/pkg/b").read_bytes() == b"same"


# Decompression bombs: the caps are parameters so a real, highly compressed archive can exceed small ones here.
SMALL = Limits(max_members=10, max_bytes=1_000_000)


@pytest.mark.parametrize("name, data", [
    ("bad.tar.xz", make_tar([("zeros", bytes(2_000_000))])),
    ("bad.zip", make_zip([("zeros", bytes(2_000_000))], compression=zipfile.ZIP_DEFLATED)),
])
def test_an_archive_unpacking_to_more_than_the_cap_is_refused(tmp_path: Path, name: str, data: bytes) -> None:
    assert len(data) < 20_000  # a 100:1 bomb
    with pytest.raises(ArchiveError, match="unpacks to more than 1000000 bytes; refusing a possible decompression"):
        unpack(write(tmp_path, name, data), tmp_path / "out", limits=SMALL)
    assert not (tmp_path / "out/zeros").exists()


def test_a_zip_that_understates_a_members_size_cannot_write_more(tmp_path: Path) -> None:
    honest = make_zip([("zeros", bytes(2_000_000))], compression=zipfile.ZIP_DEFLATED)
    lying = honest.replace(struct.pack("<I", 2_000_000), struct.pack("<I", 1000))
    assert lying.count(struct.pack("<I", 1000)) == 2  # the local header and the central directory both lie
    with pytest.raises(ArchiveError, match="bad.zip is corrupt or truncated: BadZipFile: Bad CRC-32"):
        unpack(write(tmp_path, "bad.zip", lying), tmp_path / "out", limits=SMALL)
    assert (tmp_path / "out/zeros").stat().st_size <= 1000


@pytest.mark.parametrize("name, data", [
    ("bad.tar.xz", make_tar([(f"f{i}", b"") for i in range(11)])),
    ("bad.zip", make_zip([(f"f{i}", b"") for i in range(11)])),
])
def test_an_archive_with_more_members_than_the_cap_is_refused(tmp_path: Path, name: str, data: bytes) -> None:
    with pytest.raises(ArchiveError, match="more than 10 members; refusing a possible decompression bomb"):
        unpack(write(tmp_path, name, data), tmp_path / "out", limits=SMALL)
    assert list((tmp_path / "out").iterdir()) == []


def test_a_header_claiming_more_than_the_default_cap_is_refused_before_any_write(tmp_path: Path) -> None:
    huge = tarfile.TarInfo("huge")
    huge.size = MAX_UNPACKED_BYTES + 1
    archive = write(tmp_path, "bad.tar", huge.tobuf())  # only the header: the claim alone is refused
    with pytest.raises(ArchiveError, match=f"unpacks to more than {MAX_UNPACKED_BYTES} bytes"):
        unpack(archive, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_the_default_caps_hold_the_real_pins_with_room() -> None:
    assert Limits() == Limits(max_members=200_000, max_bytes=4 << 30)


# Truncated data of every container the store reads.
def _cut(data: bytes, keep: int) -> bytes:
    return data[:keep]


DEB = make_deb([("./usr/lib/x/libx.a", bytes(range(256)) * 200)])


@pytest.mark.parametrize("name, data, message", [
    ("cut.tar", _cut(make_tar([("a/b", bytes(range(256)) * 100)], compression=""), 5000),
     "cut.tar is corrupt or truncated: ReadError: unexpected end of data"),
    ("cut.tar.xz", _cut(make_tar([("a/b", bytes(range(256)) * 100)]), 300), "cut.tar.xz is corrupt or truncated"),
    ("cut.tar.gz", _cut(make_tar([("a/b", bytes(range(256)) * 100)], compression="gz"), 300),
     "cut.tar.gz is corrupt or truncated"),
    ("cut.whl", _cut(make_zip([("a/b", bytes(range(256)) * 100)]), 200), "cut.whl is corrupt or truncated"),
    ("cut_1_all.deb", _cut(DEB, len(DEB) - 100), "cut_1_all.deb: ar member data.tar.xz is truncated"),
    ("cut_1_all.deb", _cut(DEB, 8 + 30), "cut_1_all.deb: truncated or corrupt ar member header at byte 8"),
])
def test_truncated_archives_are_archive_errors(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(ArchiveError) as info:
        unpack(write(tmp_path, name, data), tmp_path / "out")
    assert message in str(info.value)


def test_a_deb_with_an_unreadable_data_compression_is_refused(tmp_path: Path) -> None:
    deb = ar_archive([("debian-binary", b"2.0\n"), ("data.tar.zst", b"(\xb5/\xfd")])
    with pytest.raises(ArchiveError, match="its data.tar.zst member uses a compression this tool cannot read"):
        unpack(write(tmp_path, "bad_1_all.deb", deb), tmp_path / "out")


def test_a_deb_without_data_lists_what_it_has(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        unpack(write(tmp_path, "bad_1_all.deb", make_deb([], with_data=False)), tmp_path / "out")
    assert str(info.value).startswith("bad_1_all.deb is not a usable Debian package: it has no data.tar.* member "
                                      "(members: debian-binary, control.tar.xz)")


def test_not_a_deb_at_all(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="does not start with the ar magic"):
        unpack(write(tmp_path, "bad_1_all.deb", b"<html>"), tmp_path / "out")
