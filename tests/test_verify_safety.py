"""`scons wasi-verify` never removes what is not the store's (issue 11, items 5 and 6), and the shared store-safety
API it uses (store.py: the .wasi-store marker, require_marker, remove_owned)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, sha256
from wasi_toolchain.errors import StoreError
from wasi_toolchain.store.store import MANIFEST, STAMP, STORE_MARKER, Store, write_manifest
from wasi_toolchain.store.verify import verify_store

SHA = sha256(b"pinned bytes")


def quiet(message: str) -> None:
    pass


def make_store(root: Path) -> Store:
    store = Store(root)
    store.mark()
    return store


def outside_tree(tmp_path: Path) -> Path:
    """The user's own files, outside any store."""
    outside = tmp_path / "users-files"
    outside.mkdir()
    (outside / "thesis.tex").write_text("years of work\n")
    (outside / ".tmp-notes").write_text("also mine\n")
    (outside / ".partial-draft").write_text("mine too\n")
    return outside


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- item 5: symlinks are never followed out of the store -----------------------------------------------------------
def test_a_symlinked_download_directory_is_unlinked_and_its_target_left_alone(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    before = snapshot(outside)
    store = make_store(tmp_path / "store")
    (store.root / "downloads").mkdir()
    (store.root / "downloads" / SHA).symlink_to(outside, target_is_directory=True)
    report = verify_store(store, None, log=quiet)
    assert report.removed == [(f"downloads/{SHA}", "a symlink where the tool makes none; the link was removed, "
                                                  "not what it points to")]
    assert not (store.root / "downloads" / SHA).is_symlink()
    assert snapshot(outside) == before


def test_symlinks_inside_a_download_directory_and_in_sysroots_are_unlinked_only(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    before = snapshot(outside)
    store = make_store(tmp_path / "store")
    sha_dir = store.root / "downloads" / SHA
    sha_dir.mkdir(parents=True)
    (sha_dir / "file.deb").symlink_to(outside / "thesis.tex")
    (store.root / "sysroots").mkdir()
    (store.root / "sysroots" / "ziglang-linux-x86_64-0123456789abcdef01234567").symlink_to(outside)
    (store.root / "sysroots" / ".tmp-key-1-abcd").symlink_to(outside)
    report = verify_store(store, None, log=quiet)
    assert sorted(path for path, _ in report.removed) == sorted([
        f"downloads/{SHA}/file.deb", "sysroots/.tmp-key-1-abcd", "sysroots/ziglang-linux-x86_64-0123456789abcdef01234567"])
    assert snapshot(outside) == before
    assert list((store.root / "sysroots").iterdir()) == []


def test_a_symlinked_downloads_directory_is_unlinked_not_walked(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside / SHA).mkdir(parents=True)
    (outside / SHA / "file.deb").write_text("not the pinned bytes\n")
    store = make_store(tmp_path / "store")
    (store.root / "downloads").symlink_to(outside, target_is_directory=True)
    report = verify_store(store, None, log=quiet)
    assert [path for path, _ in report.removed] == ["downloads"]
    assert (outside / SHA / "file.deb").read_text() == "not the pinned bytes\n"


def test_a_directory_that_is_not_a_store_is_refused_and_nothing_in_it_removed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "sysroots" / "my-project").mkdir(parents=True)
    (home / "sysroots" / "my-project" / "main.c").write_text("int main(void) { return 0; }\n")
    (home / "downloads" / "photos").mkdir(parents=True)
    (home / "downloads" / "photos" / "cat.jpg").write_bytes(b"\xff\xd8 a cat")
    (home / "notes.txt").write_text("a wrong WASI_CACHE_DIR\n")
    before = snapshot(home)
    with pytest.raises(StoreError) as info:
        verify_store(Store(home), None, log=quiet)
    assert str(info.value).startswith(f"wasi-verify: {home} is not a scons-wasi store (no {STORE_MARKER} marker: the "
                                      f"tool did not create it; it holds downloads, notes.txt, sysroots); refusing to "
                                      f"remove anything in it\n  next step: check WASI_CACHE_DIR")
    assert snapshot(home) == before
    assert not (home / STORE_MARKER).exists()


def test_a_directory_holding_only_store_like_names_is_refused_not_adopted(tmp_path: Path) -> None:
    """Only a directory the tool created carries the marker: one that merely looks like a store (issue 23: a user's
    sysroots/my-project/notes.txt and downloads/readme.txt) is refused, and nothing is written into it either."""
    root = tmp_path / "looks-like-a-store"
    (root / "sysroots" / "my-project").mkdir(parents=True)
    (root / "sysroots" / "my-project" / "notes.txt").write_text("mine\n")
    (root / "downloads").mkdir()
    (root / "downloads" / "readme.txt").write_text("mine too\n")
    before = snapshot(root)
    with pytest.raises(StoreError, match=f"wasi-verify: {root} is not a scons-wasi store .* it holds downloads, "
                                         f"sysroots\\); refusing to remove anything in it"):
        verify_store(Store(root), None, log=quiet)
    assert snapshot(root) == before
    assert sorted(p.name for p in root.iterdir()) == ["downloads", "sysroots"]  # no marker, no locks/


def test_a_root_the_tool_creates_or_finds_empty_is_marked_and_a_full_one_is_not(tmp_path: Path) -> None:
    created, empty, full = Store(tmp_path / "new" / "store"), Store(tmp_path / "empty"), Store(tmp_path / "full")
    empty.root.mkdir()
    full.root.mkdir()
    (full.root / "notes.txt").write_text("mine\n")
    for store in (created, empty, full):
        with store.locked("download-x", "a test"):
            pass
    assert json.loads((created.root / STORE_MARKER).read_text()) == {"store-version": 1, "created-by": "scons-wasi"}
    assert empty.is_marked() and not full.is_marked()
    with pytest.raises(StoreError, match="is not a scons-wasi store"):
        verify_store(full, None, log=quiet)


def test_a_missing_store_is_nothing_to_do(tmp_path: Path) -> None:
    report = verify_store(Store(tmp_path / "absent"), None, log=quiet)
    assert (report.ok, report.removed) == ([], [])
    assert not (tmp_path / "absent").exists()


def test_a_download_directory_not_named_by_a_sha256_is_left_alone(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    (store.root / "downloads" / "mine").mkdir(parents=True)
    (store.root / "downloads" / "mine" / "keep.txt").write_text("keep\n")
    report = verify_store(store, None, log=quiet)
    assert report.removed == [] and report.left_alone == ["downloads/mine"]
    assert (store.root / "downloads" / "mine" / "keep.txt").is_file()


def test_remove_owned_removes_inside_and_refuses_outside_or_through_a_symlink(tmp_path: Path) -> None:
    outside = outside_tree(tmp_path)
    before = snapshot(outside)
    store = make_store(tmp_path / "store")
    (store.root / "logs").mkdir()
    (store.root / "logs" / "a.log").write_bytes(b"x" * 100)
    assert store.remove_owned(store.root / "logs" / "a.log") == 100
    (store.root / "via").symlink_to(outside, target_is_directory=True)
    with pytest.raises(StoreError, match="is a symlink or not a directory"):
        store.remove_owned(store.root / "via" / "thesis.tex")
    with pytest.raises(StoreError, match="it is not inside the store"):
        store.remove_owned(outside / "thesis.tex")
    with pytest.raises(StoreError, match="it is not inside the store"):
        store.remove_owned(store.root / ".." / "users-files" / "thesis.tex")
    with pytest.raises(StoreError, match="it is not inside the store"):
        store.remove_owned(store.root)
    store.remove_owned(store.root / "via")  # the link itself
    assert not (store.root / "via").is_symlink()
    assert snapshot(outside) == before
    assert store.remove_owned(store.root / "never-there") == 0


def test_the_first_lock_marks_a_new_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "new")
    assert not store.is_marked()
    with store.locked("download-x", "a test"):
        pass
    assert store.is_marked()


def test_wasi_verify_in_a_directory_that_is_not_a_store_is_our_error(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    wrong = tmp_path / "wrong"
    (wrong / "sysroots" / "work").mkdir(parents=True)
    (wrong / "sysroots" / "work" / "report.odt").write_text("mine\n")
    (wrong / "Documents").mkdir()
    result = rig.run("wasi-verify", WASI_CACHE_DIR=str(wrong))
    assert result.returncode == 2
    assert f"scons: *** [wasi-verify] wasi-verify: {wrong} is not a scons-wasi store" in result.stderr
    assert "Traceback" not in result.stderr
    assert (wrong / "sysroots" / "work" / "report.odt").read_text() == "mine\n"


# -- item 6: an entry without its manifest is incomplete: removed, then rebuilt -------------------------------------
def test_an_entry_without_its_manifest_is_removed_by_hand(tmp_path: Path) -> None:
    store = make_store(tmp_path / "store")
    entry = store.entry_path("ziglang-linux-x86_64-0123456789abcdef01234567")
    (entry / "sysroot" / "include").mkdir(parents=True)
    (entry / "sysroot" / "include" / "stdio.h").write_text("/* edited */\n")
    (entry / STAMP).write_text("{}\n")
    report = verify_store(store, None, log=quiet)
    assert report.removed == [(f"sysroots/{entry.name}", f"incomplete: no {MANIFEST}, so its files cannot be "
                                                         f"checked")]
    assert not entry.exists()


def test_a_deleted_manifest_does_not_hide_an_edited_header(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    assert rig.run().returncode == 0
    entry = rig.entries()[0]
    header = entry / "sysroot" / "include" / "stdio.h"
    original = header.read_bytes()
    header.write_text("/* edited */\n")
    (entry / MANIFEST).unlink()
    result = rig.run("wasi-verify")
    assert result.returncode == 0, result.stderr
    assert f"wasi-verify: sysroots/{entry.name}: incomplete: no {MANIFEST}, so its files cannot be checked; " \
           f"removed" in result.stdout
    assert not entry.exists()
    rebuilt = rig.run()
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert header.read_bytes() == original and (entry / MANIFEST).is_file()
    assert rig.standin.builds() == 2
    assert "0 removed" in rig.run("wasi-verify").stdout


def test_write_manifest_is_what_verify_checks(tmp_path: Path) -> None:
    """The hand-made entries above are only meaningful if a manifest makes an entry pass."""
    store = make_store(tmp_path / "store")
    entry = store.entry_path("ziglang-linux-x86_64-0123456789abcdef01234567")
    (entry / "sysroot").mkdir(parents=True)
    (entry / "sysroot" / "libc.a").write_bytes(b"!<arch>\n")
    write_manifest(entry)
    (entry / STAMP).write_text("{}\n")
    assert verify_store(store, None, log=quiet).ok == [f"sysroots/{entry.name}"]


def test_a_build_treats_an_entry_without_its_manifest_as_incomplete(tmp_path: Path, repo: Path) -> None:
    """Not only wasi-verify: the next build sees it too, and rebuilds the entry instead of trusting it."""
    from support.standin import fake_entry

    project = tmp_path / "project"
    project.mkdir()
    (project / "toolchain.lock").write_text((repo / "toolchain.lock").read_text())
    toolchain, _ = fake_entry(project, tmp_path / "cache")
    assert toolchain.is_complete()
    (toolchain.root / MANIFEST).unlink()
    assert not toolchain.is_complete()


def test_wasi_verify_in_a_directory_that_was_never_a_store_removes_nothing_and_fails(tmp_path: Path,
                                                                                     server: LoopbackServer) -> None:
    """The issue's case, through scons: it named the directory, removed nothing, wrote nothing, and exited nonzero."""
    rig = ColdRig.create(tmp_path, server)
    wrong = tmp_path / "not-a-store"
    (wrong / "sysroots" / "my-project").mkdir(parents=True)
    (wrong / "sysroots" / "my-project" / "notes.txt").write_text("mine\n")
    (wrong / "downloads").mkdir()
    (wrong / "downloads" / "readme.txt").write_text("mine too\n")
    before = snapshot(wrong)
    for command in ("wasi-verify", "wasi-prune"):
        result = rig.run(command, WASI_CACHE_DIR=str(wrong))
        assert result.returncode == 2, result.stdout
        assert (f"scons: *** [{command}] {command}: {wrong} is not a scons-wasi store (no {STORE_MARKER} marker: the "
                f"tool did not create it; it holds downloads, sysroots); refusing to remove anything in it\n"
                f"  next step: check WASI_CACHE_DIR") in result.stderr
        assert "removed" not in result.stdout
        assert snapshot(wrong) == before
        assert sorted(p.name for p in wrong.iterdir()) == ["downloads", "sysroots"]
