"""zlib's own test programs, `example` and `minigzip`, for bench/size_modes.py: their upstream source, the SConstruct
lines that build them with the tool, and the workloads that check their output exactly.

- The source is the upstream tarball as Debian's archive carries it (the zlib source package's orig tarball), pinned
  below by name, size and sha256, fetched through the tool's own fetch code into the store's downloads (so a second
  run is offline) from the Debian mirror the user's configuration names (WASI_DEBIAN_MIRROR, else apt's sources).
- `example` must print what a native build of the same example.c prints (host gcc, the same define), line for line;
  the one legitimate difference is the `compile flags` word (see FLAGS_LINE).
- `minigzip` compresses a generated text through stdin/stdout, which Python's gzip must decompress to the input, and
  `minigzip -d` must turn Python's gzip of the input back into the input.
"""

from __future__ import annotations

import difflib
import gzip
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import common  # noqa: F401  (it puts the tool's site_scons on sys.path)
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import WasiError
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.targets.run import run_module

# Facts about Debian's zlib source package 1:1.3.dfsg+really1.3.1-1 (trixie's main/source/Sources): its orig tarball
# is upstream zlib 1.3.1 (top directory zlib-1.3.1/, with test/example.c and test/minigzip.c).
ZLIB_VERSION = "1.3.1"
ZLIB_TARBALL = Artifact(
    name="zlib_1.3.dfsg+really1.3.1.orig.tar.gz",
    sha256="60dd315c07f616887caa029408308a018ace66e3d142726a97db164b3b8f69fb",
    size=1_325_737,
    locators=("debian:pool/main/z/zlib/zlib_1.3.dfsg+really1.3.1.orig.tar.gz",),
    where="bench/zlib_workload.py ZLIB_TARBALL",
)
_TOP = f"zlib-{ZLIB_VERSION}"

# The one define zlib needs, for the library and both programs alike: zlib's ./configure turns zconf.h's
# `#ifdef HAVE_UNISTD_H` into `#if 1` on any Unix. Without it gzlib.c, gzread.c and gzwrite.c call lseek/read/
# write/close undeclared (an error in C99 and later), and z_off_t would be `long` (32 bits on wasm32) rather than
# off_t (64 bits), so the programs must see the same define as the library.
DEFINES = ("HAVE_UNISTD_H",)
PROGRAMS = ("example", "minigzip")

# SConstruct lines (inside size_modes.py's `for mode, settings in MODES.items():` loop, with `e` the mode's
# environment): libz from every C file of zlib's top directory, and the two programs linked against it.
SCONSTRUCT_LINES = f"""\
    z = e.Clone(CPPDEFINES={list(DEFINES)!r})
    z.WasiLibrary(f'build/{{mode}}/z', Glob('zlib/*.c'))
    for program in {list(PROGRAMS)!r}:
        z.WasiProgram(f'build/{{mode}}/{{program}}', [f'zlib/test/{{program}}.c'], CPPPATH=['zlib'], LIBS=['z'],
                      LIBPATH=[f'build/{{mode}}'])
"""


def fetch_source(settings: Settings) -> Path:
    """The verified tarball in the store's downloads (fetched once; later runs use the store's copy offline)."""
    from wasi_toolchain.store.fetch import fetch
    from wasi_toolchain.store.store import Store

    try:
        return fetch(ZLIB_TARBALL, Store(settings.cache_dir, lock_timeout=settings.lock_timeout), settings)
    except WasiError as e:
        raise SystemExit(f"bench: cannot get zlib's source {ZLIB_TARBALL.name} (Debian's zlib source package) "
                         f"through the Debian mirror: {e.message}\n  next step: set WASI_DEBIAN_MIRROR to a Debian "
                         f"archive base URL that serves pool/main/z/zlib/, or put the file in WASI_DISTDIR") from None


def unpack_source(tarball: Path, project: Path) -> Path:
    """zlib's tree as ``project``/zlib."""
    from wasi_toolchain.store.archive import unpack

    staging = project / "zlib-unpacked"
    unpack(tarball, staging)
    tree = project / "zlib"
    (staging / _TOP).rename(tree)
    shutil.rmtree(staging)
    return tree


# -- example -------------------------------------------------------------------------------------------------------
# `zlib version 1.3.1 = 0x1310, compile flags = 0x95`: zlibCompileFlags() packs the sizes of uInt, uLong, voidpf and
# z_off_t (two bits each); wasm32 is ILP32, so uLong and pointers are 32 bits there and 64 bits natively.
FLAGS_LINE = re.compile(r"(zlib version \S+ = 0x[0-9a-f]+, compile flags = )(0x[0-9a-f]+)")


def flags_word(output: str) -> str | None:
    match = FLAGS_LINE.search(output)
    return match.group(2) if match else None


def example_differences(expected: str, got: str) -> list[str]:
    """How ``got`` (a wasm build's stdout of example) differs from ``expected`` (the native build's): a unified diff,
    empty when they are the same but for the compile-flags word."""
    def masked(text: str) -> list[str]:
        return [FLAGS_LINE.sub(r"\1<flags>", line, count=1) for line in text.splitlines(keepends=True)]

    return list(difflib.unified_diff(masked(expected), masked(got), "native", "wasm", lineterm="\n"))


def native_example(tree: Path, workdir: Path) -> str:
    """Build example.c with zlib's sources with the host's gcc (bench code only) and return what it prints."""
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        raise SystemExit("bench: the zlib example's expected output comes from a native build, and neither gcc nor "
                         "cc is on PATH\n  next step: install gcc (Debian: apt-get install gcc)")
    binary = workdir / "example-native"
    sources = sorted(str(p) for p in tree.glob("*.c"))
    subprocess.run([compiler, "-O2", *(f"-D{d}" for d in DEFINES), f"-I{tree}", *sources,
                    str(tree / "test/example.c"), "-o", str(binary)], check=True)
    rundir = Path(tempfile.mkdtemp(prefix="native-", dir=workdir))
    result = subprocess.run([str(binary)], cwd=rundir, capture_output=True, text=True, check=False)
    if result.returncode != 0 or result.stderr:
        raise SystemExit(f"bench: the native zlib example failed ({result.returncode}): {result.stderr}")
    return result.stdout


# -- minigzip ------------------------------------------------------------------------------------------------------
def mixed_text(size: int, seed: int = 12) -> bytes:
    """``size`` bytes of deterministic mixed text: prose-like lines, CSV rows of numbers and less compressible
    base-32 lines, so that deflate meets long matches, literals and everything between."""
    rng = random.Random(seed)
    vocabulary = ["".join(rng.choice("etaoinshrdlucmfwypvbgkqjxz") for _ in range(rng.randint(1, 11)))
                  for _ in range(2000)]
    lines: list[str] = []
    length = 0
    while length < size:
        kind = rng.random()
        if kind < 0.6:
            line = " ".join(rng.choice(vocabulary) for _ in range(rng.randint(4, 16))).capitalize() + "."
        elif kind < 0.85:
            line = ",".join(str(rng.randint(0, 10 ** rng.randint(1, 9))) for _ in range(rng.randint(3, 10)))
        else:
            line = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(rng.randint(20, 76)))
        lines.append(line)
        length += len(line) + 1
    return ("\n".join(lines) + "\n").encode()[:size]


@dataclass(frozen=True)
class Expected:
    """What the programs' output is checked against."""

    example_stdout: str  # the native build's
    text: Path  # minigzip's input
    text_gz: Path  # the same, compressed by Python's gzip


@dataclass(frozen=True)
class Run:
    code: int
    stdout: Path
    stderr: Path


@dataclass(frozen=True)
class Step:
    """One module run of a workload."""

    argv: list[str]
    stdin: Path | None = None
    preopen_rundir: bool = False  # preopen the run's directory as `.`


def workload_steps(program: str, expected: Expected) -> dict[str, Step]:
    """example once, in a directory preopened as `.` (it writes foo.gz there); minigzip compressing the text
    through stdin/stdout, then `minigzip -d` of Python's gzip of it."""
    if program == "example":
        return {"example": Step(["example"], preopen_rundir=True)}
    return {"compress": Step(["minigzip"], stdin=expected.text),
            "decompress": Step(["minigzip", "-d"], stdin=expected.text_gz)}


def run_workload(program: str, module: Path, workdir: Path, expected: Expected) -> dict[str, Run]:
    """The module's workload through run_module (as WasiRun runs it), in a fresh directory under ``workdir``."""
    rundir = Path(tempfile.mkdtemp(prefix=f"{program}-", dir=workdir))
    runs = {}
    for name, step in workload_steps(program, expected).items():
        out, err = rundir / f"{name}.stdout", rundir / f"{name}.stderr"
        code = run_module(module, step.argv, stdin=step.stdin, stdout=out, stderr=err,
                          dirs={str(rundir): "."} if step.preopen_rundir else None)
        runs[name] = Run(code, out, err)
    return runs


def execution_seconds(program: str, module: Path, workdir: Path, expected: Expected) -> float:
    """CPU seconds the workload's runs spend in the module's `_start` alone: the module is compiled beforehand, with
    run_module's engine configuration, and outside the timing (run_module compiles it again on every run).

    CPU time of this process, not wall time: `_start` runs on this thread alone, so time spent waiting for a core
    that other work holds is left out (a 20 ms run's wall time moved by half between sessions on a shared machine;
    CPU time still moves by a quarter, which the alternating pairs are for)."""
    import time

    import wasmtime

    from wasi_toolchain.targets.run import _engine_config  # run_module's one engine configuration, not a copy

    engine = wasmtime.Engine(_engine_config(wasmtime))
    compiled = wasmtime.Module(engine, module.read_bytes())
    rundir = Path(tempfile.mkdtemp(prefix=f"{program}-timed-", dir=workdir))
    total = 0.0
    for name, step in workload_steps(program, expected).items():
        config = wasmtime.WasiConfig()
        config.argv = step.argv
        if step.stdin is not None:
            config.stdin_file = str(step.stdin)
        config.stdout_file, config.stderr_file = str(rundir / f"{name}.stdout"), str(rundir / f"{name}.stderr")
        if step.preopen_rundir:
            config.preopen_dir(str(rundir), ".")
        store = wasmtime.Store(engine)
        store.set_wasi(config)
        store.set_epoch_deadline(1)  # as run_module: nothing bumps the epoch here
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
        start = linker.instantiate(store, compiled).exports(store)["_start"]
        started = time.process_time()
        try:
            start(store)
        except wasmtime.ExitTrap as e:
            if e.code != 0:
                raise SystemExit(f"bench: {program} {name} exited {e.code} in a timed run") from None
        total += time.process_time() - started
    return total


def problems(program: str, runs: dict[str, Run], expected: Expected) -> list[str]:
    """What is wrong with a workload's output; empty when it is exactly as expected."""
    found = [f"{name}: exited {run.code}, stderr {run.stderr.read_text(errors='replace')!r}"
             for name, run in runs.items() if run.code != 0 or run.stderr.read_bytes()]
    if program == "example":
        return found + example_differences(expected.example_stdout, runs["example"].stdout.read_text())
    try:
        if gzip.decompress(runs["compress"].stdout.read_bytes()) != expected.text.read_bytes():
            found.append("Python's gzip decompresses `minigzip < in` to something other than the input")
    except (OSError, EOFError) as e:
        found.append(f"Python's gzip cannot read the output of `minigzip < in`: {e}")
    if runs["decompress"].stdout.read_bytes() != expected.text.read_bytes():
        found.append("`minigzip -d` of Python's gzip of the input does not give the input back")
    return found


def prepare_expected(tree: Path, workdir: Path, text_size: int) -> Expected:
    text = workdir / "mixed.txt"
    text.write_bytes(mixed_text(text_size))
    text_gz = workdir / "mixed.txt.gz"
    text_gz.write_bytes(gzip.compress(text.read_bytes(), mtime=0))
    return Expected(native_example(tree, workdir), text, text_gz)
