from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from helpers import make_zip
from wasi_toolchain.errors import ToolchainError
from wasi_toolchain.llvm import BUILTINS_PATHS, ZiglangProvider

# A stand-in zig that reports what it was started with: its arguments and its whole environment.
FAKE_ZIG = b"""#!/bin/sh
printf 'ARGS'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
/usr/bin/env | /usr/bin/sort
"""


def install(tmp_path: Path) -> Path:
    wheel = tmp_path / "ziglang-0.14.1-py3-none-any.whl"
    wheel.write_bytes(make_zip([("ziglang/zig", FAKE_ZIG, 0o100755), ("ziglang/lib/include/stddef.h", b"/**/"),
                                ("ziglang/lib/libc/musl/huge.c", b"not needed")]))
    builtins = tmp_path / "libclang_rt.builtins-wasm32.a"
    builtins.write_bytes(b"!<arch>\nbuiltins")
    entry = tmp_path / "entry"
    ZiglangProvider().install([wheel], entry, builtins)
    return entry


def run(tool: Path, *args: str, env: dict[str, str] | None = None) -> list[str]:
    result = subprocess.run([str(tool), *args], capture_output=True, text=True, env=env, check=True)
    return result.stdout.splitlines()


def test_layout_has_uniform_bin_and_a_private_resource_dir(tmp_path: Path) -> None:
    entry = install(tmp_path)
    assert sorted(p.name for p in (entry / "bin").iterdir()) == ["clang", "llvm-ar", "llvm-nm", "llvm-ranlib",
                                                                 "wasm-ld"]
    for relative in BUILTINS_PATHS:
        assert (entry / "resource" / relative).read_bytes() == b"!<arch>\nbuiltins"
    assert (entry / "resource/include/stddef.h").read_bytes() == b"/**/"
    assert not (entry / "llvm/ziglang/lib/libc").exists()  # zig's libc sources are never unpacked


def test_wrappers_run_the_tool_with_only_a_controlled_environment(tmp_path: Path) -> None:
    entry = install(tmp_path)
    polluted = {**os.environ, "PATH": f"{tmp_path}/host-tools:/usr/bin:/bin", "CPATH": "/usr/include",
                "CFLAGS": "-march=native", "LD_LIBRARY_PATH": "/opt/evil"}
    lines = run(entry / "bin" / "clang", "-c", "a b.c", env=polluted)
    bin_dir = f"{entry}/bin"
    assert lines[0] == f"ARGS [clang] [-resource-dir] [{bin_dir}/../resource] [-c] [a b.c]"
    environment = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    environment.pop("PWD", None)  # set by the shell itself
    environment.pop("SHLVL", None)
    environment.pop("_", None)
    assert environment == {"PATH": bin_dir, "SOURCE_DATE_EPOCH": "0"}


def test_wrappers_map_each_llvm_tool_to_its_zig_subcommand(tmp_path: Path) -> None:
    entry = install(tmp_path)
    assert run(entry / "bin" / "wasm-ld", "--version")[0] == "ARGS [wasm-ld] [--version]"
    assert run(entry / "bin" / "llvm-ar", "rcsD", "x.a")[0] == "ARGS [ar] [rcsD] [x.a]"
    assert run(entry / "bin" / "llvm-ranlib", "x.a")[0] == "ARGS [ranlib] [x.a]"
    nm = subprocess.run([str(entry / "bin" / "llvm-nm")], capture_output=True, text=True)
    assert nm.returncode == 1 and "not available with the ziglang LLVM provider" in nm.stderr


def test_an_entry_still_works_after_it_is_moved(tmp_path: Path) -> None:
    entry = install(tmp_path)
    moved = tmp_path / "published"
    entry.rename(moved)
    assert run(moved / "bin" / "clang")[0] == f"ARGS [clang] [-resource-dir] [{moved}/bin/../resource]"
    # Relative invocation, as make does with a relative CC.
    result = subprocess.run(["bin/clang"], cwd=moved, capture_output=True, text=True, check=True)
    assert result.stdout.splitlines()[0] == f"ARGS [clang] [-resource-dir] [{moved}/bin/../resource]"


def test_a_wheel_without_zig_is_refused(tmp_path: Path) -> None:
    wheel = tmp_path / "ziglang-0.14.1-py3-none-any.whl"
    wheel.write_bytes(make_zip([("ziglang/lib/include/stddef.h", b"")]))
    with pytest.raises(ToolchainError, match="has no ziglang/zig executable"):
        ZiglangProvider().install([wheel], tmp_path / "entry", tmp_path / "unused")
