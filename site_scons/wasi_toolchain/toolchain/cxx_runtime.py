"""The C++ runtime with exceptions (WASI_CXX_EXCEPTIONS): libc++, libc++abi and libunwind built from LLVM's sources
by the toolchain's own clang with Wasm exception handling, as a store entry of its own.

The sources are those the pinned ziglang wheel carries (LLVM 22.1.8's lib/libcxx, lib/libcxxabi, lib/libunwind):
that wheel is already pinned and, for the default provider, already in the store; Debian's llvm-toolchain-22 source
package would be a new pin of the whole llvm-project source for the same 1,400 files. The Debian provider fetches the wheel
too (pip, once), and its clang, also 22.1.8, builds the same bytes (the producers section, which names the clang's
vendor, is dropped from every object). The headers are the base sysroot's libc++ headers (Debian's, those C++ code
compiles against without the switch) with the __config_site of cxx_runtime_recipe.CONFIG_SITE.

An entry holds ``include/c++/v1`` (the headers), ``lib/`` (libc++.a, libc++abi.a, libc++experimental.a,
libunwind.a), the manifest and the stamp. Its clang and sysroot are its base entry's, which it names. ``plan()`` is
pure; ``ensure()`` builds it once per key behind the store's lock, like every entry (Store.building_entry).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from ..errors import BuildError, ToolchainError, WasiError
from ..killpoints import kill_point
from ..pins.toolchain_lock import Artifact, Lock
from ..settings import Settings
from ..log import Log, log_to_stderr
from ..store.store import MANIFEST, STAMP, Store
from ..wasm_binary import sections
from . import cxx_runtime_recipe as recipe
from .entry import Timings, Toolchain

LIBRARIES = ("libc++.a", "libc++abi.a", "libc++experimental.a", "libunwind.a")
INCLUDE_DIR = "include/c++/v1"
# Where the entry's own paths are mapped to in what the compiler records (__FILE__ in a libc++ assertion).
SOURCE_PREFIX = "/wasi-cxx-runtime"


@dataclass(frozen=True)
class CxxRuntime:
    key: str
    root: Path
    base: Toolchain
    source: Artifact  # the wheel the sources come from

    @property
    def include_dir(self) -> Path:
        return self.root / INCLUDE_DIR

    @property
    def lib_dir(self) -> Path:
        return self.root / "lib"

    def is_complete(self) -> bool:
        return ((self.root / STAMP).is_file() and (self.root / MANIFEST).is_file()
                and (self.lib_dir / LIBRARIES[-1]).is_file() and self.base.is_complete())


def source_artifact(lock: Lock, host: str) -> Artifact:
    """The ziglang wheel of ``host``: the sources of every provider's runtime on that host."""
    try:
        files = lock.llvm_files(host, "ziglang")
    except WasiError as e:
        raise ToolchainError(f"the C++ runtime with exceptions is built from the LLVM sources in the ziglang wheel, "
                             f"and the lock pins no ziglang wheel for {host}: {e}",
                             hint="WASI_CXX_EXCEPTIONS needs llvm.hosts.<host>.providers.ziglang in toolchain.lock"
                             ) from None
    wheels = [a for a in files if a.name.endswith(".whl")]
    if len(wheels) != 1:
        raise ToolchainError(f"expected one ziglang wheel for {host} in toolchain.lock, got {len(wheels)}",
                             hint="llvm.hosts.<host>.providers.ziglang.files must name exactly one .whl")
    return wheels[0]


def key_inputs(base: Toolchain, source: Artifact) -> dict[str, object]:
    """Everything that shapes the runtime: its base entry (whose key covers LLVM, the sysroot and libc++'s
    headers), the source wheel, and the whole recipe."""
    return {
        "recipe": recipe.RECIPE_VERSION,
        "base": base.key,
        "source": {"name": source.name, "sha256": source.sha256},
        "sources": {"libunwind": list(recipe.LIBUNWIND_SOURCES), "libc++abi": list(recipe.LIBCXXABI_SOURCES),
                    "libc++": list(recipe.LIBCXX_SOURCES), "libc++experimental":
                    list(recipe.LIBCXX_EXPERIMENTAL_SOURCES)},
        "flags": {"common": list(recipe.COMMON_FLAGS), "c++": list(recipe.CXX_FLAGS),
                  "libunwind": list(recipe.LIBUNWIND_FLAGS), "libc++abi": list(recipe.LIBCXXABI_FLAGS),
                  "libc++": list(recipe.LIBCXX_FLAGS)},
        "config-site": recipe.CONFIG_SITE,
        "own-sources": hashlib.sha256((recipe.TAG_SOURCE + recipe.MAIN_WRAPPER_SOURCE).encode()).hexdigest(),
    }


def plan(base: Toolchain, lock: Lock, settings: Settings) -> CxxRuntime:
    """Key and paths of the runtime for ``base``. Pure and cheap, like sysroot.plan()."""
    if base.libc != "debian" or base.base is not None:
        raise ToolchainError(f"WASI_CXX_EXCEPTIONS: the C++ runtime with exceptions is built on the 'debian' libc "
                             f"flavour; this environment's toolchain {base.key} has the {base.libc!r} one",
                             hint="use the default WASI_LIBC='debian' for C++ with exceptions (the 2022 wasi-libc "
                                  "source has no setjmp and predates what libc++ 22 needs)")
    source = source_artifact(lock, base.host)
    digest = hashlib.sha256(json.dumps(key_inputs(base, source), sort_keys=True).encode()).hexdigest()
    key = f"{base.provider}-cxx-eh-{base.host}-{digest[:24]}"
    return CxxRuntime(key=key, root=Store(settings.cache_dir).entry_path(key), base=base, source=source)


def ensure(runtime: CxxRuntime, lock: Lock, settings: Settings, *, log: Log = log_to_stderr) -> CxxRuntime:
    """Make sure the runtime's entry exists and is complete; build it (and its base first) if not."""
    if runtime.is_complete():
        return runtime
    from ..store.fetch import fetch
    from . import sysroot

    sysroot.ensure(runtime.base, lock, settings, log=log)
    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.building_entry(runtime.key, f"building the C++ runtime {runtime.key}", complete=runtime.is_complete,
                              log=log, kill_points="cxx-runtime") as build:
        if build is None:
            return runtime
        started = time.monotonic()
        timings = Timings()
        log(f"wasi: preparing the C++ runtime with exceptions {runtime.key} for WASI_CXX_EXCEPTIONS (first use; it "
            f"is cached in {settings.cache_dir})")
        with timings.phase("fetch"):
            wheel = fetch(runtime.source, store, settings, log=log)
        staged = CxxRuntime(runtime.key, build.temp, runtime.base, runtime.source)
        _build(staged, wheel, settings.jobs, log, timings)
        kill_point("cxx-runtime.built")
        build.publish(lambda: {"key": runtime.key, **key_inputs(runtime.base, runtime.source),
                               "timings": timings.rounded()}, timed=timings.phase)
        log(f"wasi: C++ runtime {runtime.key} ready in {time.monotonic() - started:.1f} s")
    return runtime


def _build(staged: CxxRuntime, wheel: Path, jobs: int, log: Log, timings: Timings) -> None:
    from ..store.archive import unpack

    scratch = staged.root / "build"
    with timings.phase("unpack"):
        unpack(wheel, scratch, include=lambda name: name.startswith(
            tuple(f"{recipe.SOURCE_ROOT}/{d}/" for d in recipe.SOURCE_DIRS)))
    sources = scratch / recipe.SOURCE_ROOT
    missing = [s for s in _all_sources() if not (sources / s).is_file()]
    if missing:
        raise ToolchainError(f"{wheel.name} has no {', '.join(missing[:3])}{' …' if len(missing) > 3 else ''} under "
                             f"{recipe.SOURCE_ROOT}/", hint="the runtime recipe (cxx_runtime_recipe.py) names files "
                             "of LLVM 22's runtimes; a new ziglang pin may have moved them: update its lists")
    _install_headers(staged)
    own = scratch / "own"
    own.mkdir()
    (own / "cpp_exception_tag.c").write_text(recipe.TAG_SOURCE, encoding="utf-8")
    (own / "main_wrapper.cpp").write_text(recipe.MAIN_WRAPPER_SOURCE, encoding="utf-8")
    jobs_list = _compile_jobs(staged, sources, own)
    log(f"wasi: building the C++ runtime (libc++, libc++abi, libunwind) from {len(jobs_list)} sources with the pinned "
        f"clang ({jobs} jobs)")
    with timings.phase("runtime build"):
        objects = _compile_all(jobs_list, sources, jobs, log)
    with timings.phase("archive"):
        staged.lib_dir.mkdir()
        for library in LIBRARIES:
            members = sorted(objects.get(library, []))
            for member in members:
                drop_producers(member)
            _run([str(staged.base.llvm_ar), "rcsD", str(staged.lib_dir / library), *map(str, members)],
                 f"archiving {library}", cwd=scratch)
    shutil.rmtree(scratch)


def _all_sources() -> list[str]:
    return [*recipe.LIBUNWIND_SOURCES, *recipe.LIBCXXABI_SOURCES, *recipe.LIBCXX_SOURCES,
            *recipe.LIBCXX_EXPERIMENTAL_SOURCES]


def _install_headers(staged: CxxRuntime) -> None:
    """The base sysroot's libc++ headers with our __config_site."""
    from .libcxx import INCLUDE_DIR as SYSROOT_INCLUDE_DIR

    shutil.copytree(staged.base.sysroot / SYSROOT_INCLUDE_DIR, staged.include_dir, symlinks=True)
    config = staged.include_dir / "__config_site"
    text = recipe.config_site(config.read_text(encoding="utf-8"))
    if text is None:
        raise ToolchainError(f"the libc++ headers' __config_site ({config}) lacks a line this recipe changes: "
                             f"{', '.join(f'#define {name} …' for name in recipe.CONFIG_SITE)}",
                             hint="the pinned libc++ headers changed; update CONFIG_SITE in cxx_runtime_recipe.py")
    config.write_text(text, encoding="utf-8")


# One compile: (archive it goes into, source relative to the sources' root or absolute, object, command).
_Job = tuple[str, str, Path, list[str]]


def _compile_jobs(staged: CxxRuntime, sources: Path, own: Path) -> list[_Job]:
    base = staged.base
    common = [str(base.clang), *recipe.COMMON_FLAGS, f"--sysroot={base.sysroot}",
              f"-ffile-prefix-map={staged.root}={SOURCE_PREFIX}", f"-ffile-prefix-map={base.root}=/wasi-toolchain"]
    cxx = ["-nostdinc++", "-isystem", str(staged.include_dir), *recipe.CXX_FLAGS]
    objects = staged.root / "build" / "obj"
    groups: list[tuple[str, tuple[str, ...], list[str]]] = [
        ("libunwind.a", recipe.LIBUNWIND_SOURCES, list(recipe.LIBUNWIND_FLAGS)),
        ("libc++abi.a", recipe.LIBCXXABI_SOURCES, cxx + list(recipe.LIBCXXABI_FLAGS)),
        ("libc++.a", recipe.LIBCXX_SOURCES, cxx + list(recipe.LIBCXX_FLAGS)),
        ("libc++experimental.a", recipe.LIBCXX_EXPERIMENTAL_SOURCES, cxx + list(recipe.LIBCXX_FLAGS)),
    ]
    jobs: list[_Job] = []
    for library, names, flags in groups:
        for name in names:
            obj = objects / library / (name.split("/", 1)[1].replace("/", "_") + ".o")
            jobs.append((library, name, obj, [*common, *flags, "-c", name, "-o", str(obj)]))
    # Ours: the tag beside the unwinder, the main wrapper beside std::terminate.
    for library, source, flags in (("libunwind.a", own / "cpp_exception_tag.c", []),
                                   ("libc++abi.a", own / "main_wrapper.cpp", cxx)):
        obj = objects / library / (source.stem + ".o")
        jobs.append((library, str(source), obj, [*common, *flags, "-c", str(source), "-o", str(obj)]))
    return jobs


def _compile_all(jobs: list[_Job], cwd: Path, workers: int, log: Log) -> dict[str, list[Path]]:
    """Compile in ``workers`` threads, each running one clang; a line of progress at each quarter. The first
    failure stops the rest (those not started) and is raised."""
    for _, _, obj, _ in jobs:
        obj.parent.mkdir(parents=True, exist_ok=True)
    objects: dict[str, list[Path]] = {}
    done = 0
    started = time.monotonic()
    quarters = {len(jobs) * q // 4 for q in (1, 2, 3)}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures: dict[Future[None], _Job] = {pool.submit(_run, job[3], f"compiling {job[1]}", cwd=cwd): job
                                             for job in jobs}
        pending = set(futures)
        try:
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    future.result()  # raises the compile's BuildError
                    library, _, obj, _ = futures[future]
                    objects.setdefault(library, []).append(obj)
                    done += 1
                    kill_point("cxx-runtime.compiled")
                    if done in quarters:
                        log(f"wasi: C++ runtime: {done}/{len(jobs)} sources compiled "
                            f"({time.monotonic() - started:.0f} s)")
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return objects


def _run(command: list[str], what: str, *, cwd: Path) -> None:
    # The wrappers give clang a controlled environment (env -i); nothing of the caller's reaches it.
    result = subprocess.run(command, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    if result.returncode != 0:
        raise BuildError(what, command, result.returncode, (result.stderr + result.stdout)[-3000:])


def drop_producers(path: Path) -> bool:
    """Remove the ``producers`` custom section from a Wasm object file, in place; True if it had one.

    clang names itself there ("clang 22.1.8" for zig's, "Debian clang 22.1.8 (1~deb13u5)" for Debian's), and it is
    the only difference between the two providers' objects. Nothing refers to a custom section by index after the
    code and data sections that relocations name, and clang writes producers after those, so removing it moves
    nothing that is referred to."""
    data = path.read_bytes()
    try:
        found = sections(data)
    except ValueError as e:
        raise ToolchainError(f"{path} is not a WebAssembly object file ({e})") from None
    for section_id, name, start, end in found:
        if section_id == 0 and name == "producers":
            path.write_bytes(data[:start] + data[end:])
            return True
    return False


