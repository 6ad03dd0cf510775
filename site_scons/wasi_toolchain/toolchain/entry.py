"""What every step of the sysroot recipe shares: the staged entry's layout, phase timings, and running a tool.

The steps themselves are one module each: llvm (the LLVM provider), libc_debian and libc_source (the two libc
flavours), libcxx (libc++), extra_symbols (what the pinned parts need from libc.a). sysroot.py orders them.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import BuildError
from .llvm import BUILTINS_PATHS
from ..store.store import MANIFEST, STAMP

LibcFlavour = Literal["debian", "source"]
LIBC_FLAVOURS: tuple[LibcFlavour, ...] = ("debian", "source")
# What the sysroot's libc was built for: 'speed' (its Makefile's -O2, the default entry) or 'size' (-Oz, only the
# source flavour, in an entry of its own; see sysroot.plan_size_libc).
LibcOptimize = Literal["speed", "size"]
# The target the recipe compiles for: WASI preview 1. clang 22 deprecates the old spelling, wasm32-wasi (a
# -Wdeprecated warning, an error under -Werror), so the recipe and the builders always pass this one; the
# sysroot keeps lib/ and include/ for both names.
TARGET = "wasm32-wasip1"
# Where the preview-1 libraries live: wasi-libc's own name for the directory, which both flavours create;
# lib/wasm32-wasip1 links to it.
LIB_DIR = "lib/wasm32-wasi"


@dataclass(frozen=True)
class Toolchain:
    key: str
    provider: str
    host: str
    root: Path
    libc: LibcFlavour = "debian"
    # An entry that holds only a sysroot (the -Oz libc) names the entry whose LLVM, wrappers and resource dir it
    # uses: two copies of a 200 MB LLVM would differ only in where they sit.
    base: Toolchain | None = None
    # WASI_HOST_EMULATOR, for an entry of another host's pins (WASI_HOST): its wrappers start each tool through it.
    emulator: str | None = None

    @property
    def libc_optimize(self) -> LibcOptimize:
        return "speed" if self.base is None else "size"

    @property
    def tools_root(self) -> Path:
        """The entry holding bin/ and resource/: this one, or the base of a sysroot-only entry."""
        return self.root if self.base is None else self.base.root

    @property
    def bin_dir(self) -> Path:
        return self.tools_root / "bin"

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
        return self.tools_root / "resource"

    @property
    def sysroot(self) -> Path:
        return self.root / "sysroot"

    def is_complete(self) -> bool:
        """Four stats: the stamp, the manifest (an entry without it cannot be verified, so it is rebuilt), the
        compiler wrapper and the builtins (whose absence is the classic failure). A sysroot-only entry also needs
        its base complete (whose wrapper and builtins those are) and its libc.a."""
        return ((self.root / STAMP).is_file() and (self.root / MANIFEST).is_file() and self.clang.is_file()
                and (self.resource_dir / BUILTINS_PATHS[0]).is_file()
                and (self.base is None
                     or (self.base.is_complete() and (self.sysroot / LIB_DIR / "libc.a").is_file())))


# The phases of an entry build, in the order they run (the build may skip some: Debian's libc has no make).
PHASES = ("fetch", "unpack", "sysroot build", "libc++ install", "manifest")


class Timings:
    """Seconds spent in each phase of an entry build (fetch, unpack, sysroot build, libc++ install, manifest), on
    the build's own path: they add up to its wall time, give or take the checks between phases. Work done in
    another lane meanwhile (the LLVM download, store/background.py) is recorded apart, with ``alongside``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.beside: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.monotonic() - started

    def alongside(self, name: str, seconds: float) -> None:
        """Record ``seconds`` of work that ran beside the phases (so it is not added to them)."""
        self.beside[name] = self.beside.get(name, 0.0) + seconds

    def rounded(self) -> dict[str, float]:
        return {name: round(seconds, 3) for name, seconds in self.seconds.items()}

    def stamp_fields(self, total: float) -> dict[str, object]:
        """What the entry's stamp records: ``timings`` (the phases), ``timings-alongside`` and ``timings-total``
        (the entry's build, start to stamp, in seconds)."""
        return {"timings": self.rounded(),
                "timings-alongside": {name: round(seconds, 3) for name, seconds in self.beside.items()},
                "timings-total": round(total, 3)}

    @classmethod
    def from_stamp(cls, stamp: Mapping[str, object]) -> Timings:
        """The timings an entry's stamp recorded (an entry from before issue 22 has only ``timings``)."""
        timings = cls()
        for field, record in (("timings", timings.seconds), ("timings-alongside", timings.beside)):
            recorded = stamp.get(field)
            if isinstance(recorded, Mapping):
                # The stamp's keys are sorted; the phases are shown in the order a build runs them.
                names = sorted(recorded, key=lambda n: (PHASES.index(n) if n in PHASES else len(PHASES), n))
                record.update({str(n): float(recorded[n]) for n in names if isinstance(recorded[n], (int, float))})
        return timings

    def summary(self) -> str:
        """The phases in the order they ran, for the build's last line: `fetch 0.4 s, unpack 1.5 s, …`, then what
        ran alongside them: `; alongside: LLVM fetch 1.6 s`."""
        text = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.seconds.items())
        if self.beside:
            text += "; alongside: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in self.beside.items())
        return text


def move_tree(source: Path, dest: Path) -> None:
    """Put the unpacked directory ``source`` at ``dest`` (which must not exist), both inside the staged entry: one
    rename, where copying a package's thousand headers cost ~0.5 s here (a file created is ~0.3 ms on this VM). A
    ``source`` that is a symlink is copied as before (``copytree``, links kept), never moved as a link."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_symlink():
        shutil.copytree(source, dest, symlinks=True)
    else:
        os.rename(source, dest)


def run_tool(command: list[str], what: str, *, cwd: Path) -> str:
    """Run one recipe command; a failure is a BuildError with the command, its exit code and its output's tail."""
    result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        raise BuildError(what, command, result.returncode, (result.stderr + result.stdout)[-3000:])
    return result.stdout
