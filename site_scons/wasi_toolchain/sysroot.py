"""The toolchain entry: pinned LLVM + private resource dir + wasi-libc built from source, under one content key.

``plan()`` is pure and cheap (it reads nothing but the already-parsed lock), so SCons can put the key and paths
into every command line at start-up. ``ensure()`` does the cold work once per key, behind a store lock, and
publishes the entry atomically; a warm call only checks the stamp file.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .config import Settings
from .errors import BuildError, ToolchainError
from .host import detect_host, detect_libc
from .killpoints import kill_point
from .llvm import BUILTINS_PATHS, provider_class
from .lock import Lock
from .store import STAMP, Log, Store, log_to_stderr, remove_tree

# Only what plan() and a warm ensure() need is imported above: SCons imports this module at every start-up. The
# cold path's modules (fetch pulls in urllib, http.client, ssl and email; archive pulls in tarfile, zipfile and the
# compressors) are imported inside the functions that use them.

# Bump when anything below changes what ends up in an entry: it is part of the key.
RECIPE_VERSION = 2
TARGET = "wasm32-wasi"
# wasi-libc Makefile variables. EXTRA_CFLAGS is its default plus --sysroot: its Makefile passes only -isystem for
# the headers it is building, and without --sysroot clang would also search /include (the empty default sysroot).
MAKE_VARIABLES = {"THREAD_MODEL": "single", "MALLOC_IMPL": "dlmalloc", "EXTRA_CFLAGS": "-O2 -DNDEBUG"}

# Debian's builtins were compiled with -fstack-protector-strong, so members such as __divmoddi4 and __udivmodti4
# reference these two symbols; the 2022 wasi-libc defines neither. A fixed guard value keeps the output
# reproducible; the failure path traps, as musl's a_crash() does.
STACK_PROTECTOR_C = """\
/* Added to libc.a by scons-wasi: symbols that Debian's compiler-rt builtins need. */
#include <stdint.h>
uintptr_t __stack_chk_guard = 0x5a17c0de;
_Noreturn void __stack_chk_fail(void) { __builtin_trap(); }
"""

# Where libc++ goes in the sysroot. clang 19's WebAssembly toolchain adds <sysroot>/include/<triple>/c++/v1 and
# then <sysroot>/include/c++/v1, but only once it has found a c++/v<N> directory under <sysroot>/include; the
# generic path serves both spellings of the target (wasm32-wasi and wasm32-wasip1). The libraries sit beside
# libc.a in lib/wasm32-wasi (lib/wasm32-wasip1 links to it). Debian's libc++.a also carries libc++abi's objects;
# with every member of both linked in, the only imports left are WASI preview 1 calls, so the 2022 wasi-libc
# needs nothing added for them.
LIBCXX_INCLUDE = "include/c++/v1"
LIBCXX_REQUIRED = ("include/c++/v1/__config", "include/c++/v1/__config_site", "include/c++/v1/cxxabi.h",
                   f"lib/{TARGET}/libc++.a", f"lib/{TARGET}/libc++abi.a")


@dataclass(frozen=True)
class Toolchain:
    key: str
    provider: str
    host: str
    root: Path

    @property
    def bin_dir(self) -> Path:
        return self.root / "bin"

    @property
    def clang(self) -> Path:
        return self.bin_dir / "clang"

    @property
    def wasm_ld(self) -> Path:
        return self.bin_dir / "wasm-ld"

    @property
    def llvm_ar(self) -> Path:
        return self.bin_dir / "llvm-ar"

    @property
    def llvm_ranlib(self) -> Path:
        return self.bin_dir / "llvm-ranlib"

    @property
    def resource_dir(self) -> Path:
        return self.root / "resource"

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    def is_complete(self) -> bool:
        """Three stats: the stamp, the compiler wrapper and the builtins (whose absence is the classic failure)."""
        return ((self.root / STAMP).is_file() and self.clang.is_file()
                and (self.resource_dir / BUILTINS_PATHS[0]).is_file())


def key_inputs(lock: Lock, host: str, provider: str) -> dict[str, object]:
    """Everything that shapes an entry. The lock's own digest is not used: comments and other hosts' pins must
    not change this host's key."""
    return {
        "recipe": RECIPE_VERSION,
        "host": host,
        "provider": provider,
        "llvm": {"version": lock.llvm_version, "files": [a.sha256 for a in lock.llvm_files(host, provider)]},
        "builtins": {"sha256": lock.builtins.sha256, "member": lock.builtins_member},
        "wasi-libc": {"sha256": lock.wasi_libc.sha256, "make": MAKE_VARIABLES},
        "libcxx": {"files": [a.sha256 for a in lock.libcxx.files], "headers": lock.libcxx.headers,
                   "libraries": lock.libcxx.libraries},
        "target": TARGET,
    }


def plan(lock: Lock, settings: Settings, *, host: str | None = None, provider: str | None = None) -> Toolchain:
    """Key and paths of the entry for ``host`` (default: this machine) and ``provider`` (default: the explicit
    argument, then WASI_LLVM_PROVIDER, then the lock's default for the host)."""
    this_machine = host is None
    host = host or detect_host()
    provider = provider or settings.provider or lock.host_pins(host).default_provider
    inputs = key_inputs(lock, host, provider)  # raises HostNotSupported if the lock has no such provider here
    if this_machine:
        provider_class(provider).check_runs_here(host, detect_libc() if host.startswith("linux-") else None)
    digest = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()
    key = f"{provider}-{host}-{digest[:24]}"
    return Toolchain(key=key, provider=provider, host=host, root=Store(settings.cache_dir).entry_path(key))


def ensure(toolchain: Toolchain, lock: Lock, settings: Settings, *, log: Log = log_to_stderr) -> Toolchain:
    """Make sure the entry exists and is complete; build it if not. Returns ``toolchain``."""
    if toolchain.is_complete():
        return toolchain
    from .fetch import fetch
    from .store import write_manifest

    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.locked(f"sysroot-{toolchain.key}", f"building the sysroot {toolchain.key}", log=log):
        if toolchain.is_complete():
            return toolchain  # another process built it while we waited
        kill_point("sysroot.locked")
        store.sweep_temps(toolchain.root)
        store.sweep_stale(log)  # what killed runs left elsewhere in the store (other pins, other keys)
        if toolchain.root.exists():  # incomplete (e.g. a file removed by hand): rebuild it
            log(f"wasi: toolchain entry {toolchain.root} is incomplete; rebuilding it")
            remove_tree(toolchain.root)
        started = time.monotonic()
        timings = Timings()
        log(f"wasi: preparing toolchain {toolchain.key} (first use; it is cached in {settings.cache_dir})")
        with timings.phase("fetch"):
            # Small pins first, so a bad builtins or wasi-libc pin fails before the big LLVM download.
            builtins_deb = fetch(lock.builtins, store, settings, log=log)
            libc_source = fetch(lock.wasi_libc, store, settings, log=log)
            libcxx_debs = [fetch(a, store, settings, log=log) for a in lock.libcxx.files]
            llvm_files = [fetch(a, store, settings, log=log)
                          for a in lock.llvm_files(toolchain.host, toolchain.provider)]
        temp = store.temp_path(toolchain.root)
        try:
            staged = Toolchain(toolchain.key, toolchain.provider, toolchain.host, temp)
            _install_llvm(staged, lock, llvm_files, builtins_deb, log, timings)
            kill_point("sysroot.llvm-installed")
            _build_sysroot(staged, libc_source, settings, store, log, timings)
            _install_libcxx(staged, lock, libcxx_debs, log, timings)
            kill_point("sysroot.built")
            with timings.phase("manifest"):
                write_manifest(temp)  # for `scons wasi-verify`
            # The timings are a record for bench/cold_start.py, not an input: the key is computed from key_inputs.
            stamp = {"key": toolchain.key, **key_inputs(lock, toolchain.host, toolchain.provider),
                     "timings": timings.rounded()}
            (temp / STAMP).write_text(json.dumps(stamp, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            kill_point("sysroot.stamped")
            store.publish(temp, toolchain.root)
            kill_point("sysroot.published")
        finally:
            remove_tree(temp)
        log(f"wasi: toolchain {toolchain.key} ready in {time.monotonic() - started:.1f} s")
    return toolchain


class Timings:
    """Seconds spent in each phase of an entry build (fetch, unpack, sysroot build, libc++, manifest)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def rounded(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}


def _install_llvm(staged: Toolchain, lock: Lock, llvm_files: list[Path], builtins_deb: Path, log: Log,
                  timings: Timings | None = None) -> None:
    from .archive import unpack
    from .llvm import get_provider

    timings = timings or Timings()

    log(f"wasi: unpacking LLVM {lock.llvm_version} ({staged.provider}) and compiler-rt builtins")
    scratch = staged.root / "build" / "builtins"
    member = lock.builtins_member.lstrip("./")
    with timings.phase("unpack"):
        unpack(builtins_deb, scratch, include=lambda name: name == member)
    builtins_archive = scratch / member
    if not builtins_archive.is_file():
        raise ToolchainError(
            f"{lock.builtins.name} (sha256 {lock.builtins.sha256}) has no member {lock.builtins_member}",
            hint="builtins.member in toolchain.lock must name libclang_rt.builtins-wasm32.a inside that package",
        )
    with timings.phase("unpack"):
        get_provider(staged.provider, staged.host).install(llvm_files, staged.root, builtins_archive)
    # Ask clang itself where it will look, so a layout mistake surfaces here and never as a wasm-ld error.
    found = _run([str(staged.clang), f"--target={TARGET}", "-print-libgcc-file-name"], "locating the builtins",
                 cwd=staged.root).strip()
    if not Path(found).is_file():
        raise ToolchainError(f"clang looks for the builtins at {found}, which the recipe did not create",
                             hint="this is a bug in the recipe; please report it with the clang version")


def _build_sysroot(staged: Toolchain, libc_source: Path, settings: Settings, store: Store, log: Log,
                   timings: Timings | None = None) -> None:
    timings = timings or Timings()
    make = shutil.which("make")
    if make is None:
        raise ToolchainError("building wasi-libc needs make, and no make is on PATH",
                             hint="install GNU make (Debian/Ubuntu: apt-get install make; macOS: xcode-select "
                                  "--install)")
    # wasi-libc's Makefile puts paths into shell commands and rules unquoted, so a space, a quote or a make
    # metacharacter in the store's path breaks it (`find: '/tmp/odd': No such file or directory`). Then make runs in
    # a private temp dir with a plain name, reaching the entry through a symlink there, and the sysroot is moved in.
    private = None if _MAKE_SAFE_PATH.fullmatch(str(staged.root)) else _private_make_dir(staged.root)
    work = private if private is not None else staged.root
    build = work / "build"
    try:
        _make_wasi_libc(make, staged, work, build, libc_source, settings, store, log, timings)
    finally:
        if private is not None:
            remove_tree(private)


# Characters that pass through make and sh unquoted. Anything else in a path handed to make is unsafe.
_MAKE_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@-]+")


def _private_make_dir(entry_root: Path) -> Path:
    """A fresh temp dir with a make-safe name holding ``toolchain`` -> ``entry_root``; ToolchainError if none."""
    for base in (tempfile.gettempdir(), "/tmp"):
        if _MAKE_SAFE_PATH.fullmatch(base) and os.path.isdir(base):
            private = Path(tempfile.mkdtemp(prefix="scons-wasi-libc-", dir=base))
            (private / "toolchain").symlink_to(entry_root, target_is_directory=True)
            return private
    raise ToolchainError(
        f"wasi-libc's make cannot work in {entry_root}: the path holds a space, a quote or another character make "
        f"and sh do not take unquoted, and no temp dir with a plain name was found to build in instead",
        hint="set TMPDIR to a directory whose path has only letters, digits and ._+@-/, or use a WASI_CACHE_DIR "
             "without such characters")


def _make_wasi_libc(make: str, staged: Toolchain, work: Path, build: Path, libc_source: Path, settings: Settings,
                    store: Store, log: Log, timings: Timings) -> None:
    from .archive import unpack

    with timings.phase("unpack"):
        unpack(libc_source, build / "src")
    makefiles = list((build / "src").glob("*/Makefile"))
    if len(makefiles) != 1:
        raise ToolchainError(f"{libc_source.name} does not unpack to one directory with a Makefile")
    source_dir = makefiles[0].parent
    sysroot = work / "sysroot"
    clang = staged.clang if work == staged.root else work / "toolchain" / "bin" / "clang"
    variables = dict(MAKE_VARIABLES)
    variables["EXTRA_CFLAGS"] += f" --sysroot={sysroot}"
    # `-o check-symbols`: that step compares against symbol lists written for clang 14 and fails with clang 19
    # (new predefined macros, __indirect_function_table). Upstream ties expected/ to one clang version on purpose:
    # https://github.com/WebAssembly/wasi-libc/pull/251 and https://github.com/WebAssembly/wasi-libc/issues/619
    command = [make, f"-j{settings.jobs}", f"CC={clang}", f"SYSROOT={sysroot}", f"OBJDIR={build / 'obj'}",
               *(f"{k}={v}" for k, v in variables.items()), "-o", "check-symbols"]
    log(f"wasi: building wasi-libc from source with the pinned clang (make -j{settings.jobs})")
    started = time.monotonic()
    log_file = build / "make.log"
    with open(log_file, "wb") as out, timings.phase("sysroot build"):
        result = subprocess.run(command, cwd=source_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=_make_environment())
    if result.returncode != 0:
        kept = store.log_path(f"wasi-libc-{staged.key}.log")
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_file, kept)
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise BuildError("building wasi-libc", command, result.returncode, tail, log_path=str(kept))
    if sysroot != staged.sysroot:
        shutil.move(sysroot, staged.sysroot)
        sysroot = staged.sysroot
    lib = sysroot / "lib" / TARGET
    stack_c = build / "stack_protector.c"
    stack_c.write_text(STACK_PROTECTOR_C, encoding="utf-8")
    stack_o = build / "stack_protector.o"
    with timings.phase("sysroot build"):
        _run([str(staged.clang), f"--target={TARGET}", f"--sysroot={sysroot}", "-O2", "-c", str(stack_c),
              "-o", str(stack_o)], "compiling the stack-protector symbols", cwd=build)
        _run([str(staged.llvm_ar), "rs", str(lib / "libc.a"), str(stack_o)], "adding them to libc.a", cwd=build)
    # clang 19 spells the target wasm32-wasip1 too and then looks in lib/wasm32-wasip1; same ABI, same files.
    (sysroot / "lib" / "wasm32-wasip1").symlink_to(TARGET)
    remove_tree(build)
    log(f"wasi: wasi-libc built in {time.monotonic() - started:.1f} s")


def _install_libcxx(staged: Toolchain, lock: Lock, debs: list[Path], log: Log,
                    timings: Timings | None = None) -> None:
    """Put the pinned libc++/libc++abi headers and static libraries into the sysroot (see LIBCXX_INCLUDE)."""
    from .archive import unpack

    timings = timings or Timings()
    log(f"wasi: adding libc++ {lock.libcxx.version} to the sysroot")
    pins = lock.libcxx
    scratch = staged.root / "build-libcxx"
    wanted = (pins.headers + "/", pins.libraries + "/")
    with timings.phase("unpack"):
        for deb in debs:
            unpack(deb, scratch, include=lambda name: name.startswith(wanted))
    headers, libraries = scratch / pins.headers, scratch / pins.libraries
    sysroot = staged.sysroot
    with timings.phase("libc++ install"):
        if headers.is_dir():
            shutil.copytree(headers, sysroot / LIBCXX_INCLUDE, symlinks=True)
        lib = sysroot / "lib" / TARGET
        for archive in sorted(libraries.glob("*.a")) if libraries.is_dir() else []:
            shutil.copyfile(archive, lib / archive.name)
    missing = [relative for relative in LIBCXX_REQUIRED if not (sysroot / relative).is_file()]
    if missing:
        names = ", ".join(a.name for a in pins.files)
        raise ToolchainError(
            f"the libc++ packages ({names}) did not provide {', '.join(missing)} from libcxx.headers "
            f"{pins.headers!r} and libcxx.libraries {pins.libraries!r}",
            hint="libcxx.headers must name the directory holding __config and cxxabi.h, and libcxx.libraries the "
                 "one holding libc++.a and libc++abi.a, inside those packages; fix them in toolchain.lock",
        )
    remove_tree(scratch)


def _make_environment() -> dict[str, str]:
    """make and its recipes need the host's sh, cp, sed and find; the compiler itself is isolated by its wrapper.
    Nothing else is passed on: no CFLAGS, CPATH, MAKEFLAGS or ccache settings from the caller."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}


def _run(command: list[str], what: str, *, cwd: Path) -> str:
    result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(what, command, result.returncode, (result.stderr + result.stdout)[-3000:])
    return result.stdout
