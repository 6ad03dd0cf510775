from __future__ import annotations

import pytest

from wasi_toolchain.targets import buildvars
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
    # Both names reach clang as wasm32-wasip1: clang 22 deprecates wasm32-wasi.
    assert buildvars.clang_target("wasm32-wasi") == buildvars.clang_target("wasm32-wasip1") == "wasm32-wasip1"
    with pytest.raises(ConfigError, match="wasm32-wasip1, wasm32-wasi, wasm32-wasip2, got 'wasm32-unknown-unknown'"):
        buildvars.target("wasm32-unknown-unknown")
    assert [buildvars.is_cxx_source(p) for p in ("a.cpp", "b.cc", "c.cxx", "d.c++", "e.c", "f.h")] == [
        True, True, True, True, False, False]


def test_setjmp_follows_the_libc_flavour_unless_set() -> None:
    assert buildvars.setjmp_enabled("auto", "debian") is True
    assert buildvars.setjmp_enabled("auto", "source") is False  # the 2022 source has no setjmp
    assert buildvars.setjmp_enabled(0, "debian") is False
    assert buildvars.setjmp_enabled("no", "source") is False
    with pytest.raises(ConfigError) as info:
        buildvars.setjmp_enabled(True, "source")
    assert str(info.value) == (
        "WASI_SETJMP: the 'source' libc flavour (the 2022 wasi-libc source) has no setjmp/longjmp (no setjmp.h, no "
        "libsetjmp.a)\n  next step: use the default WASI_LIBC='debian', or leave WASI_SETJMP unset")


def test_emulations_are_validated_names_in_order_once() -> None:
    assert buildvars.emulations([]) == []
    assert buildvars.emulations("mman") == ["mman"]
    assert buildvars.emulations(["getpid", "mman", "getpid"]) == ["getpid", "mman"]
    for bad in (["pthread"], [1], {"signal": True}):
        with pytest.raises(ConfigError, match="WASI_EMULATE: expected"):
            buildvars.emulations(bad)
