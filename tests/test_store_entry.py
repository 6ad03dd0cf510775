"""Store.building_entry, the skeleton every kind of store entry is built in (toolchain, -Oz libc, wasm-opt,
component tools): nothing to do for a complete entry, an incomplete one removed, the temp dir never left behind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wasi_toolchain.store.store import MANIFEST, STAMP, Store


def test_a_build_publishes_the_temp_dir_with_its_manifest_and_stamp(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    root = store.entry_path("k1")
    with store.building_entry("k1", "testing", complete=lambda: (root / STAMP).is_file(), log=print) as build:
        assert build is not None and not root.exists()
        (build.temp / "bin").mkdir(parents=True)
        (build.temp / "bin" / "tool").write_text("x")
        build.publish(lambda: {"key": "k1", "files": sorted(p.name for p in build.temp.iterdir())})
    assert (root / "bin" / "tool").read_text() == "x"
    # The stamp was written after the manifest, and says so when it is a function.
    assert json.loads((root / STAMP).read_text()) == {"key": "k1", "files": [MANIFEST, "bin"]}
    assert [p.name for p in root.parent.iterdir()] == ["k1"]  # no temp left beside it


def test_a_complete_entry_yields_nothing_to_do_and_is_left_alone(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    root = store.entry_path("k2")
    root.mkdir(parents=True)
    (root / STAMP).write_text("{}")
    with store.building_entry("k2", "testing", complete=lambda: True, log=print) as build:
        assert build is None
    assert (root / STAMP).read_text() == "{}"


def test_an_incomplete_entry_is_removed_and_a_failed_build_leaves_no_temp(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    root = store.entry_path("k3")
    (root / "half").mkdir(parents=True)
    said: list[str] = []
    with pytest.raises(RuntimeError, match="recipe failed"):
        with store.building_entry("k3", "testing", complete=lambda: False, log=said.append) as build:
            assert build is not None
            assert not root.exists()  # removed before the recipe runs
            build.temp.mkdir()
            raise RuntimeError("recipe failed")
    assert said == [f"wasi: store entry {root} is incomplete; rebuilding it"]
    assert not root.parent.exists() or list(root.parent.iterdir()) == []
