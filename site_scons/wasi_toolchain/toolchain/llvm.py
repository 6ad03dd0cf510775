"""LLVM providers: unpack a pinned LLVM 22 and give it a uniform layout inside a store entry.

Every provider produces, relative to the entry root:

    llvm/        the unpacked distribution, never modified after unpacking
    bin/         clang, wasm-ld, llvm-ar, llvm-ranlib, llvm-nm: small POSIX sh wrappers
    resource/    a private clang resource dir: include/ (clang's headers) and the compiler-rt builtins at every
                 path clang searches for wasm32-wasi, wasm32-wasip1 and wasm32-wasip2

The wrappers, and starting a tool without them, are launch.py's.
"""

from __future__ import annotations

import shutil
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path

from ..errors import HostNotSupported, ToolchainError
from ..host import Libc
from .launch import (GLIBC_LOADER, GLIBC_MULTIARCH, TOP, ToolSpec, check_starts, emulated, glibc_loader,
                     loader_tool_spec, missing_tool_script, wrapper_script)

# Where clang looks for the builtins (see `clang --target=… -print-libgcc-file-name`): first the per-target
# runtime dir, then the older per-OS dir with the arch in the file name; for each spelling of the target.
BUILTINS_PATHS = (
    "lib/wasm32-unknown-wasip1/libclang_rt.builtins.a",
    "lib/wasip1/libclang_rt.builtins-wasm32.a",
    "lib/wasm32-unknown-wasi/libclang_rt.builtins.a",
    "lib/wasi/libclang_rt.builtins-wasm32.a",
    "lib/wasm32-unknown-wasip2/libclang_rt.builtins.a",
    "lib/wasip2/libclang_rt.builtins-wasm32.a",
)
TOOLS = ("clang", "wasm-ld", "llvm-ar", "llvm-ranlib", "llvm-nm")
class LlvmProvider(ABC):
    name: str
    # Only the hosts a provider's binaries can run on; the lock says which of them are pinned.
    hosts: tuple[str, ...]
    # Whether one clang driver run may compile several sources (WASI_BATCH_SIZE, targets/batch.py), where a batch
    # cannot run as one -cc1 (frontend_spec); without, those batches compile file by file.
    driver_batches: bool = True

    def __init__(self, host: str | None = None, emulator: str | None = None) -> None:
        self.host = host  # the lock's host name; providers whose layout depends on it require it
        self.emulator = emulator  # what starts the host's binaries here (WASI_HOST_EMULATOR), if they cannot run

    @classmethod
    def check_runs_here(cls, host: str, libc: Libc | None) -> None:
        """Raise HostNotSupported if this provider's binaries cannot run on this machine."""
        if host not in cls.hosts:
            raise HostNotSupported(f"the {cls.name} LLVM provider has no binaries for {host}; it has them for "
                                   f"{', '.join(cls.hosts)}", hint="set WASI_LLVM_PROVIDER=ziglang")

    @abstractmethod
    def unpack(self, files: Sequence[Path], llvm_dir: Path) -> None:
        """Unpack the provider's pinned files into ``llvm_dir``."""

    @abstractmethod
    def tools(self) -> dict[str, ToolSpec | None]:
        """What each name in TOOLS (and any alias) runs; None for a tool this provider does not ship."""

    def specs(self) -> dict[str, ToolSpec | None]:
        """What each wrapper runs: tools(), started through the emulator when there is one."""
        return {tool: emulated(spec, self.emulator) if spec else None for tool, spec in self.tools().items()}

    def frontend_spec(self) -> ToolSpec | None:
        """What starts this provider's clang as -cc1 (``<words> -cc1 …``), through the emulator when there is one,
        for a batch compiled by one -cc1 (targets/frontend_batch.py); None when it cannot be started that way."""
        return None

    def scripts(self) -> dict[str, str]:
        """Wrapper script text for each tool."""
        return {tool: wrapper_script(spec) if spec else missing_tool_script(tool, self.name)
                for tool, spec in self.specs().items()}

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
    """The ziglang wheels: one static ``zig`` binary that bundles clang and lld 22.1.8.

    Only ``ziglang/zig`` and ``ziglang/lib/include/`` are unpacked (244 of 19,540 members): the raw clang/lld
    drivers never read zig's bundled libc sources. ``zig clang -print-resource-dir`` names a directory that does
    not exist, so the wrapper passes -resource-dir itself.

    clang names itself in diagnostics after argv[0], which for ``zig clang`` is ``zig`` (``zig: error: linker
    command failed``). zig picks its subcommand from argv[1] and finds its files from /proc/self/exe, so clang is
    started through ``libexec/clang``, a link to ``zig``: then it speaks as ``clang:``.
    """

    name = "ziglang"
    hosts = ("linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64")

    def unpack(self, files: Sequence[Path], llvm_dir: Path) -> None:
        from ..store.archive import unpack  # lazy, like every cold-path module: SCons imports this one at start-up

        wheels = [f for f in files if f.name.endswith(".whl")]
        if len(wheels) != 1:
            raise ToolchainError(f"the ziglang provider needs exactly one wheel, got {[f.name for f in files]}")
        written = unpack(wheels[0], llvm_dir,
                         include=lambda n: n == "ziglang/zig" or n.startswith("ziglang/lib/include/"))
        if "ziglang/zig" not in written:
            raise ToolchainError(f"{wheels[0].name} has no ziglang/zig executable")
        (llvm_dir / "ziglang" / "zig").chmod(0o755)

    def install(self, files: Sequence[Path], entry: Path, builtins_archive: Path) -> None:
        super().install(files, entry, builtins_archive)
        self.link_clang(entry)

    @staticmethod
    def link_clang(entry: Path) -> None:
        """``libexec/clang`` -> ``zig`` (relative, so the entry can move): what the clang wrapper starts."""
        (entry / "libexec").mkdir(exist_ok=True)
        (entry / "libexec" / "clang").symlink_to(Path("..") / "llvm" / "ziglang" / "zig")

    def clang_headers(self) -> str:
        return "llvm/ziglang/lib/include"

    # zig picks clang from argv[1] (started as libexec/clang, so that it speaks as clang:), and clang its -cc1 mode
    # from the next word: `… clang -cc1 …`.
    CLANG = (f"{TOP}/libexec/clang", "clang")

    def frontend_spec(self) -> ToolSpec | None:
        return emulated((self.CLANG, ()), self.emulator)

    def tools(self) -> dict[str, ToolSpec | None]:
        zig = f"{TOP}/llvm/ziglang/zig"
        return {
            "clang": ((*self.CLANG, "-resource-dir", f"{TOP}/resource"), ()),
            "wasm-ld": ((zig, "wasm-ld"), ()),
            "llvm-ar": ((zig, "ar"), ()),
            "llvm-ranlib": ((zig, "ranlib"), ()),
            "llvm-nm": None,
        }


class DebianProvider(LlvmProvider):
    """Debian trixie's llvm-toolchain-22 binary packages, unpacked privately (never installed with dpkg), and run on
    their own pinned runtime.

    trixie's binaries need glibc >= 2.38 (Debian 12 has 2.36), libstdc++ 14 and libLLVM's libraries (libedit,
    libffi, libxml2, libz3, zstd, zlib, …). The lock pins those packages too (toolchain.in.toml: `runtime`), they
    are unpacked beside LLVM, and every tool is started through that glibc's own loader:
    ``<entry>/llvm/usr/lib/<multiarch>/ld-linux-….so --library-path <its lib dirs> <tool> …``. So no host library
    is loaded, whatever the host's glibc, and no LD_LIBRARY_PATH is set for the tool's children.

    Two consequences of starting a tool through the loader, where /proc/self/exe is the loader, not the tool:
    clang must run its -cc1 in-process (``-fintegrated-cc1``), since re-executing itself would start the loader
    with ``-cc1`` as the program; and lld is asked for its wasm flavour explicitly (``lld -flavor wasm``) rather
    than through its ``wasm-ld`` name. clang's driver still spawns a separate -cc1 when one command both compiles
    and links; the tool's builders always compile and link in separate commands.
    """

    name = "debian"
    # clang runs -cc1 in-process only when a command has one job; given several sources it starts each -cc1 as
    # /proc/self/exe, the loader here, which fails (`-cc1: cannot open shared object file`). So no driver batches;
    # a -cc1 batch starts clang through the loader itself (frontend_spec).
    driver_batches = False
    hosts = ("linux-x86_64", "linux-aarch64")
    MULTIARCH = GLIBC_MULTIARCH
    LOADER = GLIBC_LOADER
    PREFIX = "usr/lib/llvm-22"
    CLANG_MAJOR = "22"
    # The tools the wrappers run; llvm-ranlib is a symlink to llvm-ar that dispatches on its own name, so both
    # ends of the link are kept.
    BINARIES = ("clang", "lld", "llvm-ar", "llvm-ranlib", "llvm-nm")

    @classmethod
    def check_runs_here(cls, host: str, libc: Libc | None) -> None:
        super().check_runs_here(host, libc)
        if libc == "musl":
            raise HostNotSupported(
                f"the debian LLVM provider is not supported on this {host} host: its binaries and their pinned "
                f"glibc are built for glibc systems, and this system's C library is musl",
                hint="set WASI_LLVM_PROVIDER=ziglang (its zig is statically linked and runs on musl)",
            )

    @property
    def multiarch(self) -> str:
        try:
            return self.MULTIARCH[self.host or ""]
        except KeyError:
            raise HostNotSupported(f"the debian LLVM provider has no binaries for {self.host}",
                                   hint="set WASI_LLVM_PROVIDER=ziglang") from None

    @property
    def loader(self) -> str:
        """The pinned glibc's dynamic loader, relative to the entry root."""
        return glibc_loader(self.host or "", "llvm")

    def _wanted(self, name: str) -> bool:
        lib = f"{self.PREFIX}/lib/"
        return ((name.startswith(lib) and not name.startswith(f"{lib}cmake/"))
                or name.startswith(f"usr/lib/{self.multiarch}/")
                or name in {f"{self.PREFIX}/bin/{tool}" for tool in self.BINARIES})

    def unpack(self, files: Sequence[Path], llvm_dir: Path) -> None:
        from ..store.archive import unpack

        debs = [f for f in files if f.name.endswith(".deb")]
        if not debs or len(debs) != len(files):
            raise ToolchainError(f"the debian provider needs .deb files only, got {[f.name for f in files]}")
        for deb in debs:
            unpack(deb, llvm_dir, include=self._wanted)
        missing = [f"{self.PREFIX}/bin/{tool}" for tool in self.BINARIES
                   if not (llvm_dir / self.PREFIX / "bin" / tool).exists()]
        if not (llvm_dir.parent / self.loader).exists():
            missing.append(self.loader.removeprefix("llvm/"))
        if missing:
            raise ToolchainError(f"the pinned Debian packages have no {', '.join(missing)} "
                                 f"(unpacked: {', '.join(d.name for d in debs)})",
                                 hint=f"the debian provider needs clang-{self.CLANG_MAJOR}, lld-{self.CLANG_MAJOR}, "
                                      f"llvm-{self.CLANG_MAJOR} and, as its runtime, libc6; check toolchain.lock")

    def clang_headers(self) -> str:
        return f"llvm/{self.PREFIX}/lib/clang/{self.CLANG_MAJOR}/include"

    def _tool(self, name: str, *args: str) -> ToolSpec:
        """``<PREFIX>/bin/<name> <args>``, started through the pinned loader."""
        return loader_tool_spec(self.host or "", "llvm", f"{self.PREFIX}/bin/{name}", (f"{self.PREFIX}/lib",), *args)

    def tools(self) -> dict[str, ToolSpec | None]:
        tool = self._tool

        # --no-default-config: clang 16+ reads <triple>-clang.cfg / clang.cfg from its own bin dir and from
        # configured system and user dirs; an installed build must not pick up flags from the host.
        tools = {
            "clang": tool("clang", "--no-default-config", "-fintegrated-cc1", "-resource-dir", f"{TOP}/resource"),
            "wasm-ld": tool("lld", "-flavor", "wasm"),
            "llvm-ar": tool("llvm-ar"),
            "llvm-ranlib": tool("llvm-ranlib"),
            "llvm-nm": tool("llvm-nm"),
        }
        # Debian's clang runs the wasm linker by its versioned /usr/bin name, wasm-ld-22, which is not in
        # llvm-22/bin (https://github.com/actions/runner-images/issues/5366). Links made by this tool pass
        # -fuse-ld=<bin/wasm-ld>; this alias on the wrappers' PATH makes a plain `clang … -o x.wasm` link too.
        tools[f"wasm-ld-{self.CLANG_MAJOR}"] = tools["wasm-ld"]
        return tools

    def frontend_spec(self) -> ToolSpec | None:
        # The loader starts clang itself, whose first argument -cc1 selects its compiler mode: no driver, so no
        # /proc/self/exe to re-execute.
        return emulated(self._tool("clang"), self.emulator)

    def install(self, files: Sequence[Path], entry: Path, builtins_archive: Path) -> None:
        super().install(files, entry, builtins_archive)
        # Say now if a pinned binary does not start, rather than let the first compile fail with the loader's words.
        for tool in ("clang", "wasm-ld", "llvm-ar"):
            check_starts(entry / "bin" / tool, f"Debian's {tool}",
                         hint="add the package that ships it to `runtime` of the debian provider in toolchain.in.toml "
                              "and regenerate the lock, or set WASI_LLVM_PROVIDER=ziglang")


PROVIDER_CLASSES: dict[str, type[LlvmProvider]] = {"ziglang": ZiglangProvider, "debian": DebianProvider}


def provider_class(name: str) -> type[LlvmProvider]:
    try:
        return PROVIDER_CLASSES[name]
    except KeyError:
        raise ToolchainError(f"LLVM provider {name!r} is not implemented; implemented: "
                             f"{', '.join(PROVIDER_CLASSES)}", hint="set WASI_LLVM_PROVIDER=ziglang") from None


def get_provider(name: str, host: str, emulator: str | None = None) -> LlvmProvider:
    return provider_class(name)(host, emulator)
