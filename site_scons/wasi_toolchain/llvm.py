"""LLVM providers: unpack a pinned LLVM 19 and give it a uniform layout inside a store entry.

Every provider produces, relative to the entry root:

    llvm/        the unpacked distribution, never modified after unpacking
    bin/         clang, wasm-ld, llvm-ar, llvm-ranlib, llvm-nm: small POSIX sh wrappers
    resource/    a private clang resource dir: include/ (clang's headers) and the compiler-rt builtins at every
                 path clang searches for wasm32-wasi and wasm32-wasip1

The wrappers are the one place where the compiler's environment is controlled: they ``exec`` the real tool under
``env -i`` with PATH set to bin/ only, so neither a host clang nor a host ``wasm-opt`` can be picked up (clang 19
runs any wasm-opt it finds on PATH when optimising and has no switch to stop it before clang 20). They locate the
entry from their own path, so an entry can be built in a temp dir and moved into place.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from .archive import unpack
from .errors import ToolchainError

# Where clang 19 looks for the builtins (see `clang --target=… -print-libgcc-file-name`): first the per-target
# runtime dir, then the older per-OS dir with the arch in the file name.
BUILTINS_PATHS = (
    "lib/wasm32-unknown-wasi/libclang_rt.builtins.a",
    "lib/wasi/libclang_rt.builtins-wasm32.a",
    "lib/wasm32-unknown-wasip1/libclang_rt.builtins.a",
    "lib/wasip1/libclang_rt.builtins-wasm32.a",
)
TOOLS = ("clang", "wasm-ld", "llvm-ar", "llvm-ranlib", "llvm-nm")
# Exported to the compiler unless the caller sets it: __DATE__/__TIME__ follow it, so output does not depend on
# the day of the build.
DEFAULT_SOURCE_DATE_EPOCH = "0"

_WRAPPER_HEAD = """\
#!/bin/sh
# Written by scons-wasi. Runs a pinned LLVM tool with a controlled environment.
case "$0" in */*) bin=${0%/*} ;; *) bin=. ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
top="$bin/.."
"""


def wrapper_script(command: str, *, extra_env: Sequence[str] = ()) -> str:
    """A wrapper that execs ``command`` (sh words; may use $top and $bin) with only PATH and a few pinned vars."""
    env_words = " ".join(["PATH=\"$bin\"", 'SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-%s}"' % DEFAULT_SOURCE_DATE_EPOCH,
                          *extra_env])
    return f'{_WRAPPER_HEAD}exec /usr/bin/env -i {env_words} {command} "$@"\n'


def missing_tool_script(tool: str, provider: str) -> str:
    return (f"#!/bin/sh\necho '{tool}: not available with the {provider} LLVM provider "
            f"(it ships no {tool})' >&2\nexit 1\n")


class LlvmProvider(ABC):
    name: str

    @abstractmethod
    def unpack(self, files: Sequence[Path], llvm_dir: Path) -> None:
        """Unpack the provider's pinned files into ``llvm_dir``."""

    @abstractmethod
    def scripts(self) -> dict[str, str]:
        """Wrapper script text for each name in TOOLS."""

    @abstractmethod
    def clang_headers(self) -> str:
        """Path of clang's resource headers, relative to the entry root."""

    def install(self, files: Sequence[Path], entry: Path, builtins_archive: Path) -> None:
        """Lay out llvm/, bin/ and resource/ under ``entry``."""
        self.unpack(files, entry / "llvm")
        headers = entry / self.clang_headers()
        if not (headers / "stddef.h").is_file():
            raise ToolchainError(f"{self.name} LLVM has no clang resource headers at {headers}",
                                 hint="the pinned LLVM files do not have the expected layout; check toolchain.lock")
        bin_dir = entry / "bin"
        bin_dir.mkdir(parents=True, exist_ok=True)
        for tool, text in self.scripts().items():
            path = bin_dir / tool
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)
        resource = entry / "resource"
        resource.mkdir(parents=True, exist_ok=True)
        # A relative link keeps the entry relocatable (it is built in a temp dir, then moved).
        (resource / "include").symlink_to(Path("..") / self.clang_headers())
        for relative in BUILTINS_PATHS:
            target = resource / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(builtins_archive, target)


class ZiglangProvider(LlvmProvider):
    """The ziglang wheels: one static ``zig`` binary that bundles clang and lld 19.1.7.

    Only ``ziglang/zig`` and ``ziglang/lib/include/`` are unpacked (212 of 14,690 members): the raw clang/lld
    drivers never read zig's bundled libc sources. ``zig clang -print-resource-dir`` names a directory that does
    not exist, so the wrapper passes -resource-dir itself.
    """

    name = "ziglang"

    def unpack(self, files: Sequence[Path], llvm_dir: Path) -> None:
        wheels = [f for f in files if f.name.endswith(".whl")]
        if len(wheels) != 1:
            raise ToolchainError(f"the ziglang provider needs exactly one wheel, got {[f.name for f in files]}")
        written = unpack(wheels[0], llvm_dir,
                         include=lambda n: n == "ziglang/zig" or n.startswith("ziglang/lib/include/"))
        if "ziglang/zig" not in written:
            raise ToolchainError(f"{wheels[0].name} has no ziglang/zig executable")
        (llvm_dir / "ziglang" / "zig").chmod(0o755)

    def clang_headers(self) -> str:
        return "llvm/ziglang/lib/include"

    def scripts(self) -> dict[str, str]:
        zig = '"$top/llvm/ziglang/zig"'
        return {
            "clang": wrapper_script(f'{zig} clang -resource-dir "$top/resource"'),
            "wasm-ld": wrapper_script(f"{zig} wasm-ld"),
            "llvm-ar": wrapper_script(f"{zig} ar"),
            "llvm-ranlib": wrapper_script(f"{zig} ranlib"),
            "llvm-nm": missing_tool_script("llvm-nm", self.name),
        }


PROVIDER_CLASSES: dict[str, type[LlvmProvider]] = {"ziglang": ZiglangProvider}


def get_provider(name: str) -> LlvmProvider:
    try:
        return PROVIDER_CLASSES[name]()
    except KeyError:
        raise ToolchainError(f"LLVM provider {name!r} is not implemented yet; implemented: "
                             f"{', '.join(PROVIDER_CLASSES)}", hint="set WASI_LLVM_PROVIDER=ziglang") from None
