from __future__ import annotations

import pytest

from wasi_toolchain import buildvars
from wasi_toolchain.errors import ConfigError


@pytest.mark.parametrize("value, expected", [
    (True, True), (False, False), (1, True), (0, False), ("1", True), ("0", False), ("yes", True), (" No ", False),
    ("true", True), ("off", False), ("", False),
])
def test_flag_accepts_the_usual_spellings(value: object, expected: bool) -> None:
    assert buildvars.flag("WASI_STRIP", value) is expected


@pytest.mark.parametrize("value", ["maybe", None, 0.5, [1]])
def test_flag_rejects_anything_else(value: object) -> None:
    with pytest.raises(ConfigError, match=r"WASI_STRIP: expected a boolean"):
        buildvars.flag("WASI_STRIP", value)


def test_reactor_link_flags_export_each_name() -> None:
    assert buildvars.link_flags(buildvars.exec_model("reactor"), buildvars.exports(["add", "_sum2"])) == [
        "-mexec-model=reactor", "-Wl,--export=add", "-Wl,--export=_sum2"]
    assert buildvars.link_flags(buildvars.exec_model("command"), buildvars.exports("main2")) == [
        "-Wl,--export=main2"]


@pytest.mark.parametrize("value", [["2fast"], ["a b"], ["--export-all"], [3], {"add": 1}])
def test_exports_must_be_c_identifiers(value: object) -> None:
    with pytest.raises(ConfigError, match="WASI_EXPORTS: expected"):
        buildvars.exports(value)


def test_targets_and_cxx_suffixes() -> None:
    assert buildvars.target("wasm32-wasip1") == "wasm32-wasip1"
    with pytest.raises(ConfigError, match="wasm32-wasi, wasm32-wasip1, got 'wasm32-unknown-unknown'"):
        buildvars.target("wasm32-unknown-unknown")
    assert [buildvars.is_cxx_source(p) for p in ("a.cpp", "b.cc", "c.cxx", "d.c++", "e.c", "f.h")] == [
        True, True, True, True, False, False]
