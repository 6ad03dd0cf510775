"""The from-source libc flavour (WASI_LIBC='source'): wasi-libc built from the pinned source with the pinned clang.

This is the recipe that replaces `make` in a wasi-libc checkout by hand. The only source the mirrors serve is the
2022 snapshot (9886d3d, what wasi-sdk 16 shipped): it has no setjmp/longjmp (no setjmp.h, no libsetjmp.a), and
none of the libc fixes since. Its output is a flat ``include/`` and ``lib/wasm32-wasi/``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from ..settings import Settings
from ..errors import BuildError, ToolchainError
from .entry import LIB_DIR, LibcOptimize, Timings, Toolchain
from ..store.store import Store
from ..log import Log

# wasi-libc Makefile variables. EXTRA_CFLAGS is its default plus --sysroot: its Makefile passes only -isystem for
# the headers it is building, and without --sysroot clang would also search /include (the empty default sysroot).
MAKE_VARIABLES = {"THREAD_MODEL": "single", "MALLOC_IMPL": "dlmalloc", "EXTRA_CFLAGS": "-O2 -DNDEBUG"}
# The same for the libc of WASI_OPTIMIZE='size' (its own entry): only the optimisation level differs. wasi-libc's
# Makefile takes the level from EXTRA_CFLAGS alone, so this builds every object of libc.a, crt1*.o and the
# emulation libraries at -Oz. Changing either table changes its entry's key (sysroot.key_inputs records it).
SIZE_MAKE_VARIABLES = {**MAKE_VARIABLES, "EXTRA_CFLAGS": "-Oz -DNDEBUG"}


def make_variables(optimize: LibcOptimize) -> dict[str, str]:
    return dict(SIZE_MAKE_VARIABLES if optimize == "size" else MAKE_VARIABLES)

# Appended to every compile of the 2022 source by clang 22, after the Makefile's own -Wall -Wextra -Werror (which
# come after EXTRA_CFLAGS, so they cannot go there): its Makefile passes --target=wasm32-wasi, which clang 22
# deprecates (-Wdeprecated), and musl's tables of char arrays sized without their NUL trip clang 21's
# -Wunterminated-string-initialization. Both were fixed upstream after 2022.
APPENDED_FLAGS = ("-Wno-deprecated", "-Wno-unterminated-string-initialization")

# The compiler make runs: the pinned clang with APPENDED_FLAGS at the end. It is named `clang`, and `llvm-ar` and
# `llvm-nm` sit beside it, because the Makefile derives AR and NM from CC by replacing a trailing `clang`.
# They are scripts, not links: a wrapper finds its entry from the path it was started by.
_SCRIPT = """\
#!/bin/sh
exec "{tool}" "$@"{flags}
"""


def build(staged: Toolchain, libc_source: Path, settings: Settings, store: Store, log: Log,
          timings: Timings) -> None:
    make = shutil.which("make")
    if make is None:
        raise ToolchainError("building wasi-libc needs make, and no make is on PATH",
                             hint="install GNU make (Debian/Ubuntu: apt-get install make; macOS: xcode-select "
                                  "--install), or use the default WASI_LIBC=debian, which needs no make")
    # wasi-libc's Makefile puts paths into shell commands and rules unquoted, so a space, a quote or a make
    # metacharacter in the store's path breaks it (`find: '/tmp/odd': No such file or directory`). Then make reaches
    # the staged entry through a symlink in a private temp dir with a plain name, and is told that path as its
    # CURDIR: every byte it writes (the unpacked source, objects, the sysroot) still lands in the staged entry, in the
    # store's temp area, which the next build or `scons wasi-prune` sweeps if this one is killed; the temp dir holds
    # only the two links. The entry of the -Oz libc holds only the sysroot, and its tools are its base entry's: that
    # path must be safe too.
    safe = all(_MAKE_SAFE_PATH.fullmatch(str(path)) for path in (staged.root, staged.tools_root))
    private = None if safe else _private_make_dir(staged.root, staged.tools_root)
    work = private / "toolchain" if private is not None else staged.root
    try:
        _make_wasi_libc(make, staged, work, libc_source, settings, store, log, timings)
    finally:
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)


# Characters that pass through make and sh unquoted. Anything else in a path handed to make is unsafe.
_MAKE_SAFE_PATH = re.compile(r"[A-Za-z0-9_./+@-]+")
_PRIVATE_PREFIX = "scons-wasi-libc-"


def _private_make_dir(entry_root: Path, tools_root: Path) -> Path:
    """A fresh temp dir with a make-safe name holding ``toolchain`` -> ``entry_root`` and ``tools`` -> the entry
    whose bin/ make runs (the same one, but for the -Oz libc's entry); ToolchainError if none. Such dirs left by
    killed builds whose staged entry is gone (swept) are removed first."""
    for base in (tempfile.gettempdir(), "/tmp"):
        if _MAKE_SAFE_PATH.fullmatch(base) and os.path.isdir(base):
            _sweep_private_make_dirs(Path(base))
            private = Path(tempfile.mkdtemp(prefix=_PRIVATE_PREFIX, dir=base))
            (private / "toolchain").symlink_to(entry_root, target_is_directory=True)
            (private / "tools").symlink_to(tools_root, target_is_directory=True)
            return private
    raise ToolchainError(
        f"wasi-libc's make cannot work in {entry_root}: the path holds a space, a quote or another character make "
        f"and sh do not take unquoted, and no temp dir with a plain name was found to build in instead",
        hint="set TMPDIR to a directory whose path has only letters, digits and ._+@-/, or use a WASI_CACHE_DIR "
             "without such characters")


def _sweep_private_make_dirs(base: Path) -> None:
    """Remove ``scons-wasi-libc-*`` dirs that hold nothing but our two links, the ``toolchain`` one dangling."""
    for leftover in base.glob(f"{_PRIVATE_PREFIX}*"):
        try:
            names = {entry.name: entry for entry in os.scandir(leftover)}
        except OSError:
            continue
        if (names and set(names) <= {"toolchain", "tools"} and all(e.is_symlink() for e in names.values())
                and not (leftover / "toolchain").exists()):
            for entry in names.values():
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
            with contextlib.suppress(OSError):
                os.rmdir(leftover)


def _make_wasi_libc(make: str, staged: Toolchain, work: Path, libc_source: Path, settings: Settings, store: Store,
                    log: Log, timings: Timings) -> None:
    from ..store.archive import unpack

    build_dir = work / "build"
    with timings.phase("unpack"):
        unpack(libc_source, build_dir / "src")
    makefiles = list((build_dir / "src").glob("*/Makefile"))
    if len(makefiles) != 1:
        raise ToolchainError(f"{libc_source.name} does not unpack to one directory with a Makefile")
    source_dir = makefiles[0].parent
    # The tools as make reaches them: through the private dir's link when the entry's own path is not make-safe.
    private = work != staged.root
    bin_dir = work.parent / "tools" / "bin" if private else staged.bin_dir
    cc = _compiler_dir(bin_dir, build_dir / "cc")
    sysroot = work / "sysroot"
    variables = make_variables(staged.libc_optimize)
    variables["EXTRA_CFLAGS"] += f" --sysroot={sysroot}"
    # `-o check-symbols`: that step compares against symbol lists written for clang 14 and fails with later clangs
    # (new predefined macros, __indirect_function_table). Upstream ties expected/ to one clang version on purpose:
    # https://github.com/WebAssembly/wasi-libc/pull/251 and https://github.com/WebAssembly/wasi-libc/issues/619
    command = [make, f"-j{settings.jobs}", f"CC={cc}", f"SYSROOT={sysroot}", f"OBJDIR={build_dir / 'obj'}",
               *(f"{k}={v}" for k, v in variables.items()), "-o", "check-symbols"]
    if private:  # make would take its CURDIR from getcwd(), the store's own path, which it cannot use
        command.append(f"CURDIR={source_dir}")
    level = variables["EXTRA_CFLAGS"].split()[0]
    log(f"wasi: building wasi-libc from source with the pinned clang (make -j{settings.jobs}, {level})")
    started = time.monotonic()
    log_file = build_dir / "make.log"
    with open(log_file, "wb") as out, timings.phase("sysroot build"):
        result = subprocess.run(command, cwd=source_dir, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, env=_make_environment())
    if result.returncode != 0:
        kept = store.log_path(f"wasi-libc-{staged.key}.log")
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log_file, kept)
        tail = "\n".join(log_file.read_text(errors="replace").splitlines()[-25:])
        raise BuildError("building wasi-libc", command, result.returncode, tail, log_path=str(kept))
    # clang spells the preview-1 target wasm32-wasip1 and then looks in lib/wasm32-wasip1; same ABI, same files.
    (staged.sysroot / "lib" / "wasm32-wasip1").symlink_to(Path(LIB_DIR).name)
    shutil.rmtree(build_dir)
    log(f"wasi: wasi-libc built in {time.monotonic() - started:.1f} s")


def _compiler_dir(bin_dir: Path, directory: Path) -> Path:
    """A directory holding the `clang` make runs, and `llvm-ar`/`llvm-nm` beside it; returns the clang."""
    directory.mkdir(parents=True)
    for tool in ("clang", "llvm-ar", "llvm-nm", "llvm-ranlib"):
        flags = "".join(f" {flag}" for flag in APPENDED_FLAGS) if tool == "clang" else ""
        script = directory / tool
        script.write_text(_SCRIPT.format(tool=bin_dir / tool, flags=flags), encoding="utf-8")
        script.chmod(0o755)
    return directory / "clang"


def _make_environment() -> dict[str, str]:
    """make and its recipes need the host's sh, cp, sed and find; the compiler itself is isolated by its wrapper.
    Nothing else is passed on: no CFLAGS, CPATH, MAKEFLAGS or ccache settings from the caller."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
