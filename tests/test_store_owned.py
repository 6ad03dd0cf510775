"""Store.remove_owned, which wasi-prune reports its bytes from: what it removes and counts, and what it refuses.
The marker and adoption rules are tested with wasi-verify in test_verify_safety.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from wasi_toolchain.errors import StoreError
from wasi_toolchain.store.store import Store


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
