"""libc++ in the sysroot: the [libcxx] pins shape the key, and the packages' files land where clang looks."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from support.helpers import LIBCXX_HEADERS, LIBCXX_LIBRARIES, artifact_toml, lock_text, make_deb
from wasi_toolchain.toolchain import libcxx as libcxx_recipe
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.toolchain.entry import Timings
from wasi_toolchain.errors import ToolchainError
from wasi_toolchain.pins.toolchain_lock import parse_lock


def debian_layout(*, with_cxxabi: bool = True) -> tuple[bytes, bytes]:
    """Two packages laid out like Debian's libc++-22-dev-wasm32 and libc++abi-22-dev-wasm32."""
    link = tarfile.TarInfo("./usr/include/wasm32-wasi/c++/v1")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../../lib/llvm-22/include/wasm32-wasi/c++/v1"
    libcxx = make_deb([
        (f"./{LIBCXX_HEADERS}/__config", b"// config\n"),
        (f"./{LIBCXX_HEADERS}/__config_site", b"#define _LIBCPP_HAS_NO_THREADS\n"),
        (f"./{LIBCXX_HEADERS}/__memory/unique_ptr.h", b"// nested\n"),
        (f"./{LIBCXX_HEADERS}/iostream", b"// iostream\n"),
        (f"./{LIBCXX_LIBRARIES}/libc++.a", b"!<arch>\nlibc++"),
        (f"./{LIBCXX_LIBRARIES}/libc++experimental.a", b"!<arch>\n"),
        (f"./{LIBCXX_LIBRARIES}/libc++.modules.json", b"{}"),
        ("./usr/share/doc/libc++-22-dev-wasm32/copyright", b"license\n"),
        link,
    ])
    abi_headers = [(f"./{LIBCXX_HEADERS}/cxxabi.h", b"// cxxabi\n")] if with_cxxabi else []
    libcxxabi = make_deb([*abi_headers, (f"./{LIBCXX_LIBRARIES}/libc++abi.a", b"!<arch>\nlibc++abi")])
    return libcxx, libcxxabi


def staged(tmp_path: Path, libcxx: bytes, libcxxabi: bytes) -> tuple[sysroot.Toolchain, list[Path]]:
    debs = []
    for name, data in (("libc++.deb", libcxx), ("libc++abi.deb", libcxxabi)):
        debs.append(tmp_path / name)
        debs[-1].write_bytes(data)
    toolchain = sysroot.Toolchain("k", "ziglang", "linux-x86_64", tmp_path / "entry")
    (toolchain.sysroot / "lib" / "wasm32-wasi").mkdir(parents=True)
    return toolchain, debs


def lock_for(libcxx: bytes, libcxxabi: bytes) -> str:
    art = artifact_toml("f.whl", b"x", ["pypi:ziglang==0.17.1"])
    return lock_text(llvm={"linux-x86_64": art}, builtins=art.replace("f.whl", "b.deb"),
                     libcxx=[artifact_toml("libc++.deb", libcxx, ["file:///libc++.deb"]),
                             artifact_toml("libc++abi.deb", libcxxabi, ["file:///libc++abi.deb"])])


def test_headers_and_libraries_land_where_clang_looks(tmp_path: Path) -> None:
    libcxx, libcxxabi = debian_layout()
    lock = parse_lock(lock_for(libcxx, libcxxabi).encode())
    toolchain, debs = staged(tmp_path, libcxx, libcxxabi)
    libcxx_recipe.install(toolchain, lock, debs, lambda message: None, Timings())
    root = toolchain.sysroot
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) == [
        "include/c++/v1/__config", "include/c++/v1/__config_site", "include/c++/v1/__memory/unique_ptr.h",
        "include/c++/v1/cxxabi.h", "include/c++/v1/iostream",
        "lib/wasm32-wasi/libc++.a", "lib/wasm32-wasi/libc++abi.a", "lib/wasm32-wasi/libc++experimental.a"]
    assert (root / "lib/wasm32-wasi/libc++abi.a").read_bytes() == b"!<arch>\nlibc++abi"
    assert not (toolchain.root / "build-libcxx").exists()


def test_a_package_without_the_expected_files_is_a_clear_error(tmp_path: Path) -> None:
    libcxx, libcxxabi = debian_layout(with_cxxabi=False)
    lock = parse_lock(lock_for(libcxx, libcxxabi).encode())
    toolchain, debs = staged(tmp_path, libcxx, libcxxabi)
    with pytest.raises(ToolchainError) as info:
        libcxx_recipe.install(toolchain, lock, debs, lambda message: None, Timings())
    assert str(info.value) == (
        "the libc++ packages (libc++.deb, libc++abi.deb) did not provide include/c++/v1/cxxabi.h from "
        f"libcxx.headers '{LIBCXX_HEADERS}' and libcxx.libraries '{LIBCXX_LIBRARIES}'\n"
        "  next step: libcxx.headers must name the directory holding __config and cxxabi.h, and libcxx.libraries "
        "the one holding libc++.a and libc++abi.a, inside those packages; fix them in toolchain.lock")


def test_the_libcxx_pins_are_part_of_the_sysroot_key(tmp_path: Path) -> None:
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    libcxx, libcxxabi = debian_layout()
    base = lock_for(libcxx, libcxxabi)
    key = sysroot.plan(parse_lock(base.encode()), settings, host="linux-x86_64").key
    other_abi = sysroot.plan(parse_lock(lock_for(libcxx, libcxxabi + b"!").encode()), settings,
                             host="linux-x86_64").key
    other_dir = sysroot.plan(parse_lock(base.replace(LIBCXX_LIBRARIES, "usr/lib/wasm32-wasi").encode()), settings,
                             host="linux-x86_64").key
    assert len({key, other_abi, other_dir}) == 3
