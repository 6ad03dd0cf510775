"""The store's safety API: the .wasi-store marker, adopting a store from before the marker, and removing only what
lies inside the store (lexically, with no symlink on the way)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from wasi_toolchain.errors import StoreError
from wasi_toolchain.store import STORE_MARKER, Store


def test_taking_a_lock_marks_the_store_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    assert not store.is_marked()
    with store.locked("download-" + "ab" * 32, "a test"):
        pass
    assert store.is_marked()
    marker = tmp_path / "cache" / STORE_MARKER
    assert json.loads(marker.read_text()) == {"store-version": 1, "created-by": "scons-wasi"}
    before = marker.stat().st_mtime_ns
    store.mark()
    assert marker.stat().st_mtime_ns == before  # idempotent: not rewritten
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [STORE_MARKER, "locks"]


def test_a_missing_root_needs_no_marker(tmp_path: Path) -> None:
    store = Store(tmp_path / "nowhere")
    store.require_marker("wasi-prune")
    assert not (tmp_path / "nowhere").exists()


def test_a_store_from_before_the_marker_is_adopted(tmp_path: Path) -> None:
    root = tmp_path / "cache"
    for name in ("downloads", "sysroots", "locks", "logs", ".tmp-.wasi-store-1-abcd"):
        (root / name).mkdir(parents=True)
    store = Store(root)
    store.require_marker("wasi-prune")
    assert store.is_marked()


def test_a_directory_that_is_not_a_store_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "sysroots").mkdir(parents=True)
    (home / "Documents").mkdir()
    (home / "notes.txt").write_text("mine")
    with pytest.raises(StoreError) as info:
        Store(home).require_marker("wasi-prune")
    assert str(info.value).startswith(
        f"wasi-prune: {home} does not look like a scons-wasi store (no .wasi-store marker); refusing to remove "
        f"anything in it\n  next step: check WASI_CACHE_DIR (that directory holds Documents, notes.txt, which "
        f"scons-wasi never writes there)")
    assert not (home / STORE_MARKER).exists()


def test_remove_owned_removes_files_and_trees_and_counts_their_bytes(tmp_path: Path) -> None:
    store = Store(tmp_path / "cache")
    tree = tmp_path / "cache" / "sysroots" / "k"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "clang").write_bytes(b"x" * 1000)
    (tree / "data").write_bytes(b"y" * 24)
    (tree / "link").symlink_to("data")
    os.chmod(tree / "bin", 0o500)  # read-only members are removed too
    single = tmp_path / "cache" / "downloads" / "f"
    single.parent.mkdir(parents=True)
    single.write_bytes(b"z" * 7)
    assert store.remove_owned(tree) == 1000 + 24 + len("data")
    assert store.remove_owned(single) == 7
    assert not tree.exists() and not single.exists()
    assert store.remove_owned(single) == 0  # already gone


@pytest.mark.parametrize("outside", ["..", "../elsewhere", "."])
def test_remove_owned_refuses_a_path_outside_the_store(tmp_path: Path, outside: str) -> None:
    root = tmp_path / "cache"
    root.mkdir()
    with pytest.raises(StoreError, match="is not inside the store"):
        Store(root).remove_owned(root / outside)
    assert root.exists()


def test_remove_owned_unlinks_a_symlink_and_never_its_target(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "file").write_text("keep me")
    root = tmp_path / "cache"
    (root / "sysroots").mkdir(parents=True)
    link = root / "sysroots" / "k"
    link.symlink_to(precious)
    assert Store(root).remove_owned(link) == len(str(precious))
    assert not os.path.lexists(link)
    assert (precious / "file").read_text() == "keep me"


def test_remove_owned_refuses_to_go_through_a_symlinked_directory(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    (precious / "k").mkdir(parents=True)
    (precious / "k" / "file").write_text("keep me")
    root = tmp_path / "cache"
    root.mkdir()
    (root / "sysroots").symlink_to(precious)
    with pytest.raises(StoreError) as info:
        Store(root).remove_owned(root / "sysroots" / "k")
    assert f"{root / 'sysroots'} is a symlink or not a directory" in str(info.value)
    assert (precious / "k" / "file").read_text() == "keep me"
