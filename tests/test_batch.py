"""Batched compiles, the plain-Python half (wasi_toolchain.targets.batch): the batch size setting, the batch command
made from a one-file command, and the diagnostics spelled back. The builds themselves: tests/test_e2e_batch.py."""

from __future__ import annotations

import pytest

from wasi_toolchain.errors import ConfigError
from wasi_toolchain.targets import batch

TOP = "/work/proj"
ONE = ["/store/bin/clang", "--target=wasm32-wasip1", "--sysroot=/store/sysroot", f"-ffile-prefix-map={TOP}=.",
       "-O2", "-Iinclude", "-c", "-o", "src/a.wasi.o", "src/a.c"]


def test_batch_size_from_the_construction_variable_then_the_environment_then_the_default() -> None:
    assert batch.batch_size(4, {"WASI_BATCH_SIZE": "9"}) == 4
    assert batch.batch_size("1", {}) == 1
    assert batch.batch_size(None, {"WASI_BATCH_SIZE": " 9 "}) == 9
    assert batch.batch_size(None, {}) == batch.DEFAULT_BATCH_SIZE == 16


def test_both_providers_batch_and_only_ziglang_in_its_driver() -> None:
    from wasi_toolchain.toolchain.llvm import provider_class

    # A batch runs as one -cc1, which both providers start themselves.
    assert provider_class("ziglang")().frontend_spec() is not None
    assert provider_class("debian")("linux-x86_64").frontend_spec() is not None
    assert provider_class("ziglang").driver_batches
    assert not provider_class("debian").driver_batches  # its driver's -cc1 would start as the loader


@pytest.mark.parametrize("value", [0, -3, "many", 2.5, True, "1e3", batch.MAX_BATCH_SIZE + 1])
def test_a_bad_batch_size_says_what_it_expects(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        batch.batch_size(value, {})
    assert str(caught.value) == (f"WASI_BATCH_SIZE: expected a whole number from 1 to {batch.MAX_BATCH_SIZE}, "
                                 f"got {value!r}\n  next step: set WASI_BATCH_SIZE=1 to compile each file on its own, "
                                 f"or e.g. 16 (the default)")


def test_a_bad_batch_size_in_the_environment_is_reported_too() -> None:
    with pytest.raises(ConfigError, match="WASI_BATCH_SIZE: expected a whole number from 1 to 1024, got 'none'"):
        batch.batch_size(None, {"WASI_BATCH_SIZE": "none"})


def test_object_names_are_what_clang_writes_without_o() -> None:
    assert batch.object_name("src/a.c") == "a.o"
    assert batch.object_name("x/lib.v2.cpp") == "lib.v2.o"
    assert batch.object_name("Makefile") == "Makefile.o"


def test_the_batch_command_makes_paths_absolute_and_spells_them_back(tmp_path: object) -> None:
    plan = batch.plan(ONE, "src/a.wasi.o", ["src/a.c", "src/b.c", "/elsewhere/c.c"], top=TOP, work_dir="/tmp/w")
    assert plan is not None
    assert plan.argv == ["/store/bin/clang", "--target=wasm32-wasip1", "--sysroot=/store/sysroot",
                         f"-ffile-prefix-map={TOP}=.", "-O2", f"-I{TOP}/include", "-c", f"{TOP}/src/a.c",
                         f"{TOP}/src/b.c", "/elsewhere/c.c", f"-ffile-prefix-map={TOP}/=",
                         f"-ffile-compilation-dir={TOP}", "-working-directory=/tmp/w"]
    assert plan.batched == [(0, "a.o"), (1, "b.o"), (2, "c.o")]
    assert plan.alone == []


def test_sources_that_cannot_share_the_batch_compile_alone() -> None:
    plan = batch.plan(ONE, "src/a.wasi.o", ["src/a.c", "../up/b.c", "lib/a.c", "src/c.c"], top=TOP, work_dir="/w")
    assert plan is not None
    assert plan.batched == [(0, "a.o"), (3, "c.o")]
    assert plan.alone == [1, 2]  # leaves the top directory; a second a.o


def test_a_path_flag_as_its_own_word_is_made_absolute() -> None:
    words = [*ONE[:5], "-include", "config.h", "-isystem", "third/inc", *ONE[5:]]
    plan = batch.plan(words, "src/a.wasi.o", ["src/a.c", "src/b.c"], top=TOP, work_dir="/w")
    assert plan is not None
    assert ["-include", f"{TOP}/config.h", "-isystem", f"{TOP}/third/inc"] == plan.argv[5:9]


@pytest.mark.parametrize("flags", [["-MD"], ["-MMD", "-MF", "x.d"], ["-save-temps=obj"], ["-ftime-trace"],
                                   ["--coverage"], ["-ffile-compilation-dir=/x"], ["-I../shared"],
                                   [f"-ffile-prefix-map={TOP}/src=/src"], ["-fdebug-prefix-map=src=/src"]])
def test_commands_that_a_batch_cannot_reproduce_are_not_batched(flags: list[str]) -> None:
    words = [*ONE[:5], *flags, *ONE[5:]]
    assert batch.plan(words, "src/a.wasi.o", ["src/a.c", "src/b.c"], top=TOP, work_dir="/w") is None


def test_another_flag_naming_a_file_of_the_project_is_not_batched(tmp_path: object) -> None:
    from pathlib import Path

    top = Path(str(tmp_path))
    (top / "profile.data").write_text("")
    words = [ONE[0], "-fprofile-instr-use=profile.data", "-c", "-o", "src/a.wasi.o", "src/a.c"]
    assert batch.plan(words, "src/a.wasi.o", ["src/a.c", "src/b.c"], top=str(top), work_dir="/w") is None
    words[1] = "-fprofile-instr-use=/abs/profile.data"
    assert batch.plan(words, "src/a.wasi.o", ["src/a.c", "src/b.c"], top=str(top), work_dir="/w") is not None


def test_a_command_without_exactly_one_o_target_and_source_is_not_batched() -> None:
    assert batch.plan(ONE, "src/other.wasi.o", ["src/a.c", "src/b.c"], top=TOP, work_dir="/w") is None
    assert batch.plan([*ONE, "src/a.c"], "src/a.wasi.o", ["src/a.c", "src/b.c"], top=TOP, work_dir="/w") is None


def test_diagnostics_name_sources_as_a_one_file_compile_does() -> None:
    text = (f"In file included from {TOP}/src/a.c:2:\n{TOP}/include/h.h:1:5: error: unknown type name 'x'\n"
            f"note: see /other{TOP}/y.c and {TOP}x/z.c\n")
    assert batch.relative_diagnostics(text, TOP) == (
        "In file included from src/a.c:2:\ninclude/h.h:1:5: error: unknown type name 'x'\n"
        f"note: see /other{TOP}/y.c and {TOP}x/z.c\n")
