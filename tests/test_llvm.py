from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from support.helpers import ar_archive, make_zip
from wasi_toolchain.errors import HostNotSupported, ToolchainError
from wasi_toolchain.toolchain.launch import direct_command, wrapper_script
from wasi_toolchain.toolchain.llvm import BUILTINS_PATHS, DebianProvider, ZiglangProvider, provider_class

# A stand-in zig that reports what it was started with: its arguments and its whole environment.
FAKE_ZIG = b"""#!/bin/sh
printf 'ARGS'; for a in "$@"; do printf ' [%s]' "$a"; done; echo
/usr/bin/env | /usr/bin/sort
"""


def install(tmp_path: Path) -> Path:
    wheel = tmp_path / "ziglang-0.17.1-py3-none-any.whl"
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
    # clang is started through a link named clang, so that it names itself `clang:` in its diagnostics.
    assert os.readlink(entry / "libexec/clang") == "../llvm/ziglang/zig"
    assert '"$top/libexec/clang" clang' in (entry / "bin/clang").read_text()


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
    wheel = tmp_path / "ziglang-0.17.1-py3-none-any.whl"
    wheel.write_bytes(make_zip([("ziglang/lib/include/stddef.h", b"")]))
    with pytest.raises(ToolchainError, match="has no ziglang/zig executable"):
        ZiglangProvider().install([wheel], tmp_path / "entry", tmp_path / "unused")


# -- the Debian provider ---------------------------------------------------------------------------------------------
# A stand-in for each Debian binary: it reports the name it was run as, its arguments and its environment.
FAKE_TOOL = b"""#!/bin/sh
printf 'RAN %s ARGS' "${0##*/}"; for a in "$@"; do printf ' [%s]' "$a"; done; echo
/usr/bin/env | /usr/bin/sort
"""
# A stand-in for glibc's loader: `ld.so --library-path DIRS PROGRAM ARGS…` runs PROGRAM (by the path given, as the
# real one does for argv[0]) with ARGS, and tells it DIRS through STANDIN_LIBRARY_PATH so the tests can see them.
FAKE_LOADER = b"""#!/bin/sh
[ "$1" = --library-path ] || { echo "stand-in ld.so: expected --library-path, got $1" >&2; exit 2; }
STANDIN_LIBRARY_PATH=$2; export STANDIN_LIBRARY_PATH; program=$3; shift 3
exec "$program" "$@"
"""
LOADERS = {"x86_64-linux-gnu": "ld-linux-x86-64.so.2", "aarch64-linux-gnu": "ld-linux-aarch64.so.1"}


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def fake_debs(tmp_path: Path, arch: str, multiarch: str, *, clang: bytes = FAKE_TOOL) -> list[Path]:
    """The LLVM packages and the runtime's libc6, laid out as Debian lays them out (names, symlinks and all), with
    stand-in binaries."""
    bin_ = "./usr/lib/llvm-22/bin"
    contents: dict[str, list[tarfile.TarInfo | tuple[str, bytes]]] = {
        "clang-22": [(f"{bin_}/clang", clang), link(f"{bin_}/clang-22", "clang"),
                     ("./usr/share/doc/clang-22/copyright", b"doc"),
                     link("./usr/bin/clang-22", "../lib/llvm-22/bin/clang")],
        "libclang-cpp22": [(f"./usr/lib/{multiarch}/libclang-cpp.so.22.1", b"\x7fELF cpp"),
                           link("./usr/lib/llvm-22/lib/libclang-cpp.so.22.1",
                                f"../../{multiarch}/libclang-cpp.so.22.1")],
        "libllvm22": [(f"./usr/lib/{multiarch}/libLLVM.so.22.1", b"\x7fELF llvm"),
                      link(f"./usr/lib/{multiarch}/libLLVM-22.so", "libLLVM.so.22.1")],
        "lld-22": [(f"{bin_}/lld", FAKE_TOOL), link(f"{bin_}/wasm-ld", "lld"), link(f"{bin_}/ld.lld", "lld"),
                   link("./usr/bin/wasm-ld-22", "../lib/llvm-22/bin/wasm-ld")],
        "llvm-22": [(f"{bin_}/llvm-ar", FAKE_TOOL), link(f"{bin_}/llvm-ranlib", "llvm-ar"),
                    (f"{bin_}/llvm-nm", FAKE_TOOL),
                    (f"{bin_}/llvm-exegesis", b"a big tool nobody here runs"),
                    ("./usr/lib/llvm-22/lib/cmake/llvm/LLVMConfig.cmake", b"cmake")],
        "libclang-common-22-dev": [("./usr/lib/llvm-22/lib/clang/22/include/stddef.h", b"/* debian */"),
                                   link("./usr/lib/clang/22", "../llvm-22/lib/clang/22")],
        "libc6": [(f"./usr/lib/{multiarch}/{LOADERS[multiarch]}", FAKE_LOADER),
                  (f"./usr/lib/{multiarch}/libc.so.6", b"\x7fELF libc"),
                  ("./usr/share/doc/libc6/copyright", b"doc")],
    }
    debs = []
    for package, members in contents.items():
        deb = tmp_path / f"{package}_22.1.8-1~deb13u5_{arch}.deb"
        deb.write_bytes(make_deb_with_modes(members))
        debs.append(deb)
    return debs


def make_deb_with_modes(members: list[tarfile.TarInfo | tuple[str, bytes]]) -> bytes:
    """Like helpers.make_deb, but files under bin/ are executable, as in the real packages."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
                continue
            name, data = member
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755 if "/bin/" in name or "/ld-linux" in name else 0o644
            tar.addfile(info, io.BytesIO(data))
    return ar_archive([("debian-binary", b"2.0\n"), ("control.tar.xz", b""), ("data.tar.xz", buf.getvalue())])


def install_debian(tmp_path: Path, host: str = "linux-x86_64", **kw: bytes) -> Path:
    arch, multiarch = {"linux-x86_64": ("amd64", "x86_64-linux-gnu"),
                       "linux-aarch64": ("arm64", "aarch64-linux-gnu")}[host]
    builtins = tmp_path / "libclang_rt.builtins-wasm32.a"
    builtins.write_bytes(b"!<arch>\nbuiltins")
    entry = tmp_path / "entry"
    DebianProvider(host).install(fake_debs(tmp_path, arch, multiarch, **kw), entry, builtins)
    return entry


def tool_environment(lines: list[str]) -> dict[str, str]:
    environment = dict(line.split("=", 1) for line in lines[1:] if "=" in line)
    for set_by_the_shell in ("PWD", "SHLVL", "_"):
        environment.pop(set_by_the_shell, None)
    return environment


def test_debian_layout_matches_the_zig_one_and_unpacks_only_what_runs(tmp_path: Path) -> None:
    entry = install_debian(tmp_path)
    assert sorted(p.name for p in (entry / "bin").iterdir()) == ["clang", "llvm-ar", "llvm-nm", "llvm-ranlib",
                                                                 "wasm-ld", "wasm-ld-22"]
    for relative in BUILTINS_PATHS:
        assert (entry / "resource" / relative).read_bytes() == b"!<arch>\nbuiltins"
    assert (entry / "resource/include/stddef.h").read_bytes() == b"/* debian */"
    llvm = entry / "llvm"
    assert (llvm / "usr/lib/x86_64-linux-gnu/libLLVM.so.22.1").read_bytes() == b"\x7fELF llvm"
    assert (llvm / "usr/lib/llvm-22/lib/libclang-cpp.so.22.1").read_bytes() == b"\x7fELF cpp"  # through its link
    assert (llvm / "usr/lib/x86_64-linux-gnu/libc.so.6").read_bytes() == b"\x7fELF libc"  # the pinned runtime
    assert os.readlink(llvm / "usr/lib/llvm-22/bin/llvm-ranlib") == "llvm-ar"
    for skipped in ("usr/share", "usr/bin", "usr/lib/llvm-22/bin/llvm-exegesis", "usr/lib/llvm-22/lib/cmake",
                    "usr/lib/llvm-22/bin/clang-22", "usr/lib/clang"):
        assert not (llvm / skipped).exists() and not (llvm / skipped).is_symlink(), skipped


def test_debian_wrappers_start_each_tool_through_the_pinned_loader_and_pass_nothing_from_the_caller(
        tmp_path: Path) -> None:
    entry = install_debian(tmp_path)
    polluted = {**os.environ, "PATH": f"{tmp_path}/host-tools:/usr/bin:/bin", "CPATH": "/usr/include",
                "LD_LIBRARY_PATH": "/opt/evil", "LD_PRELOAD": "/opt/evil.so"}
    lines = run(entry / "bin" / "clang", "-c", "a b.c", env=polluted)
    bin_dir = f"{entry}/bin"
    assert lines[0] == (f"RAN clang ARGS [--no-default-config] [-fintegrated-cc1] [-resource-dir] "
                        f"[{bin_dir}/../resource] [-c] [a b.c]")
    # The library path reaches the loader as an argument: no LD_LIBRARY_PATH for the tool or anything it starts.
    assert tool_environment(lines) == {
        "PATH": bin_dir, "SOURCE_DATE_EPOCH": "0",
        "STANDIN_LIBRARY_PATH": f"{bin_dir}/../llvm/usr/lib/x86_64-linux-gnu:{bin_dir}/../llvm/usr/lib/llvm-22/lib"}


def test_debian_wrappers_run_each_tool_by_the_name_it_dispatches_on(tmp_path: Path) -> None:
    entry = install_debian(tmp_path)
    # Through the loader, /proc/self/exe is the loader: lld is asked for its wasm flavour rather than relying on the
    # wasm-ld link, while llvm-ranlib still works by name (llvm-ar reads argv[0], which the loader sets).
    assert run(entry / "bin" / "wasm-ld", "-o", "x.wasm")[0] == "RAN lld ARGS [-flavor] [wasm] [-o] [x.wasm]"
    assert run(entry / "bin" / "wasm-ld-22", "--version")[0] == "RAN lld ARGS [-flavor] [wasm] [--version]"
    assert run(entry / "bin" / "llvm-ar", "rcsD", "x.a")[0] == "RAN llvm-ar ARGS [rcsD] [x.a]"
    assert run(entry / "bin" / "llvm-ranlib", "x.a")[0] == "RAN llvm-ranlib ARGS [x.a]"
    assert run(entry / "bin" / "llvm-nm", "x.a")[0] == "RAN llvm-nm ARGS [x.a]"  # a real nm, unlike zig's


def test_debian_on_aarch64_uses_its_loader_and_multiarch_library_dir(tmp_path: Path) -> None:
    entry = install_debian(tmp_path, "linux-aarch64")
    environment = tool_environment(run(entry / "bin" / "clang"))
    assert environment["STANDIN_LIBRARY_PATH"].split(":")[0] == f"{entry}/bin/../llvm/usr/lib/aarch64-linux-gnu"
    assert (entry / "llvm/usr/lib/aarch64-linux-gnu/libLLVM.so.22.1").is_file()
    assert "llvm/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1" in (entry / "bin" / "clang").read_text()


def test_debian_entry_still_works_after_it_is_moved(tmp_path: Path) -> None:
    entry = install_debian(tmp_path)
    moved = tmp_path / "published"
    entry.rename(moved)
    lines = run(moved / "bin" / "clang")
    assert lines[0] == (f"RAN clang ARGS [--no-default-config] [-fintegrated-cc1] [-resource-dir] "
                        f"[{moved}/bin/../resource]")
    assert (moved / "resource/include/stddef.h").is_file()


def test_debian_clang_that_cannot_load_a_library_is_reported_with_the_next_step(tmp_path: Path) -> None:
    broken = (b"#!/bin/sh\necho \"${0##*/}: error while loading shared libraries: libz3.so.4: cannot open shared "
              b"object file: No such file or directory\" >&2\nexit 127\n")
    with pytest.raises(ToolchainError) as info:
        install_debian(tmp_path, clang=broken)
    message = str(info.value)
    assert message.startswith("Debian's clang from the pinned packages does not start through their own loader: it "
                              "needs libz3.so.4, which no pinned package provides")
    assert "`runtime` of the debian provider in toolchain.in.toml" in message
    assert "WASI_LLVM_PROVIDER=ziglang" in message


def test_debian_packages_without_the_tools_or_the_loader_are_refused(tmp_path: Path) -> None:
    deb = tmp_path / "libllvm22_22.1.8-1~deb13u5_amd64.deb"
    deb.write_bytes(make_deb_with_modes([("./usr/lib/x86_64-linux-gnu/libLLVM.so.22.1", b"")]))
    with pytest.raises(ToolchainError) as info:
        DebianProvider("linux-x86_64").install([deb], tmp_path / "entry", tmp_path / "unused")
    assert str(info.value).startswith(
        "the pinned Debian packages have no usr/lib/llvm-22/bin/clang, usr/lib/llvm-22/bin/lld, "
        "usr/lib/llvm-22/bin/llvm-ar, usr/lib/llvm-22/bin/llvm-ranlib, usr/lib/llvm-22/bin/llvm-nm, "
        "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 (unpacked: libllvm22_22.1.8-1~deb13u5_amd64.deb)")


@pytest.mark.parametrize("provider, host, libc, problem", [
    ("debian", "linux-x86_64", "musl", "built for glibc systems, and this system's C library is musl"),
    ("debian", "macos-arm64", None, "the debian LLVM provider has no binaries for macos-arm64"),
])
def test_a_provider_that_cannot_run_here_says_so(provider: str, host: str, libc: str | None, problem: str) -> None:
    with pytest.raises(HostNotSupported) as info:
        provider_class(provider).check_runs_here(host, libc)  # type: ignore[arg-type]
    assert problem in str(info.value)
    assert "set WASI_LLVM_PROVIDER=ziglang" in str(info.value)


@pytest.mark.parametrize("provider, host, libc", [
    ("ziglang", "linux-x86_64", "musl"), ("ziglang", "macos-arm64", None), ("debian", "linux-aarch64", "glibc"),
    ("debian", "linux-x86_64", None),
])
def test_providers_that_run_here_pass_the_check(provider: str, host: str, libc: str | None) -> None:
    provider_class(provider).check_runs_here(host, libc)  # type: ignore[arg-type]


# -- the direct form: what the SCons tool starts instead of a wrapper --------------------------------------------------
# Reports the path it was started as, its arguments and its whole environment.
RECORD_ALL = b"""#!/bin/sh
printf 'RAN %s ARGS' "$0"; for a in "$@"; do printf ' [%s]' "$a"; done; echo
/usr/bin/env | /usr/bin/sort
"""


@pytest.mark.parametrize("provider", ["ziglang", "debian"])
@pytest.mark.parametrize("caller", [{}, {"SOURCE_DATE_EPOCH": "1700000000"}, {"SOURCE_DATE_EPOCH": ""}])
def test_the_direct_command_starts_what_the_wrapper_starts(tmp_path: Path, provider: str,
                                                          caller: dict[str, str]) -> None:
    base = tmp_path / "a store with spaces"
    base.mkdir()
    entry = install(base) if provider == "ziglang" else install_debian(base)
    tools = (ZiglangProvider() if provider == "ziglang" else DebianProvider("linux-x86_64")).tools()
    polluted = {**os.environ, "PATH": f"{tmp_path}/host-tools:/usr/bin:/bin", "CPATH": "/usr/include",
                "LD_LIBRARY_PATH": "/opt/evil", **caller}
    for tool, spec in tools.items():
        if spec is None:
            continue
        wrapper = str(entry / "bin" / tool)
        words, environment = direct_command(spec, wrapper, polluted)
        program = Path(words[0])
        program.resolve().write_bytes(RECORD_ALL)  # the real program behind any link
        via_wrapper = run(Path(wrapper), "-c", "a b.c", env=polluted)
        direct = subprocess.run([*words, "-c", "a b.c"], capture_output=True, text=True, env=environment,
                                check=True).stdout.splitlines()
        assert direct[0] == via_wrapper[0], tool
        assert tool_environment(direct) == tool_environment(via_wrapper), tool
        assert tool_environment(direct)["SOURCE_DATE_EPOCH"] == (caller.get("SOURCE_DATE_EPOCH") or "0")
        assert (Path(wrapper).read_text() == wrapper_script(spec))  # the wrapper is made from the same spec
