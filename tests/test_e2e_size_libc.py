"""A libc built for size, with the real toolchain: WASI_LIBC='source' in size mode links with wasi-libc built at -Oz.

Shares the session's source-flavour entry (the `source_flavour` fixture in conftest.py): a hard-linked copy of its
store gets the -Oz libc, the one extra wasi-libc build this test costs."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.helpers import run_scons
from test_e2e_size import build, checkout, run_output
from wasi_toolchain.toolchain.entry import LIB_DIR

pytestmark = pytest.mark.e2e

# 'o2libc': size mode (clang -Oz, wasm-opt -Oz) linked with the -O2 libc, what size mode gave the source flavour
# before the -Oz libc: the link's --sysroot is put back to the environment's own ($WASI_SYSROOT).
# test_e2e_size.py's samples but recover.c: the 2022 source libc has no setjmp.
NAMES = ("first", "builtins", "primes", "wordfreq", "threadlocal")
SCONSTRUCT = f"""\
SConscript('samples/modes.SConscript', exports={{
    'MODES': {{'speed': {{}}, 'size': {{'WASI_OPTIMIZE': 'size'}},
              'o2libc': {{'WASI_OPTIMIZE': 'size', '_WASI_LINKSYSROOT': '--sysroot=$WASI_SYSROOT'}}}},
    'LIBC': 'source', 'SAMPLES': {list(NAMES)!r}}})
"""


def linked_copy(store: Path, to: Path) -> Path:
    shutil.copytree(store, to, symlinks=True, copy_function=os.link, ignore=shutil.ignore_patterns("locks"))
    return to


def tree_digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_size_mode_links_the_source_flavour_with_a_smaller_oz_libc(source_flavour, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                                   repo: Path) -> None:
    assert source_flavour.rebuild.returncode == 0, source_flavour.rebuild.stderr
    [speed_entry] = source_flavour.entries_after_rebuild
    store = linked_copy(source_flavour.cache, tmp_path / "store")
    a = checkout(tmp_path / "a" / "project", repo, SCONSTRUCT)
    result = build(a, store)
    assert "(make -j" in result.stderr and ", -Oz)" in result.stderr  # the one extra wasi-libc build
    [size_entry] = [p for p in (store / "sysroots").iterdir() if "-source-size-" in p.name]

    # The -Oz libc is smaller than the -O2 one it replaces.
    speed_libc = (speed_entry / "sysroot" / LIB_DIR / "libc.a").stat().st_size
    size_libc = (size_entry / "sysroot" / LIB_DIR / "libc.a").stat().st_size
    assert size_libc < speed_libc, (size_libc, speed_libc)

    # The headers of both builds are the same, so compiles keep the default sysroot: an object compiled against
    # either sysroot is the same bytes.
    assert tree_digests(size_entry / "sysroot/include") == tree_digests(speed_entry / "sysroot/include")
    clang = str(speed_entry / "bin/clang")
    for source in ("samples/first.c", "samples/cxx/wordfreq.cpp"):
        objects = []
        for entry in (speed_entry, size_entry):
            obj = tmp_path / f"{entry.name}-{Path(source).stem}.o"
            subprocess.run([clang, "--target=wasm32-wasip1", f"--sysroot={entry / 'sysroot'}", "-Oz", "-c", source,
                            "-o", str(obj)], cwd=a, check=True)
            objects.append(obj.read_bytes())
        assert objects[0] == objects[1], source

    sizes = {mode: {n: (a / "build" / mode / f"{n}.wasm").stat().st_size for n in NAMES}
             for mode in ("speed", "size", "o2libc")}
    print("module bytes:", sizes, "libc.a:", speed_libc, size_libc)
    # Same program output in every mode.
    for name in NAMES:
        expected = run_output(a, "speed", name, tmp_path)
        assert run_output(a, "size", name, tmp_path) == expected, name
        assert run_output(a, "o2libc", name, tmp_path) == expected, name
    # In total, the -Oz libc makes size mode's modules smaller than the same build linked with the -O2 libc.
    assert sum(sizes["size"].values()) < sum(sizes["o2libc"].values()), sizes
    assert sum(sizes["size"].values()) < sum(sizes["speed"].values()), sizes

    # wasi-verify checks the new entry and keeps it; so does wasi-prune.
    verify = run_scons(a, "-Q", "wasi-verify", env={"WASI_CACHE_DIR": str(store)})
    assert verify.returncode == 0 and " 0 removed" in verify.stdout, verify.stdout + verify.stderr
    assert f"sysroots/{size_entry.name}: ok" in verify.stdout
    prune = run_scons(a, "-Q", "wasi-prune", env={"WASI_CACHE_DIR": str(store)})
    assert prune.returncode == 0, prune.stderr
    assert f"sysroots/{size_entry.name}: kept (the -Oz libc" in prune.stdout and size_entry.is_dir()

    # Another checkout path and another store (its path has a space): the same bytes.
    b = checkout(tmp_path / "b" / "elsewhere", repo, SCONSTRUCT)
    build(b, linked_copy(store, tmp_path / "store b"))
    for mode in ("speed", "size"):
        for name in NAMES:
            assert (a / "build" / mode / f"{name}.wasm").read_bytes() == \
                (b / "build" / mode / f"{name}.wasm").read_bytes(), (mode, name)
