"""The builders with the real toolchain: this repository's samples built in several checkouts, with several stores.

Uses the session's one real toolchain build (the `real` fixture in conftest.py). Other stores are copies of its
entry (hard links), which is what "an equal sysroot in another WASI_CACHE_DIR" means: the same key, elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import shlex
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime

from support.helpers import run_scons
from support.wasm_sections import sections
from wasi_toolchain.errors import RunError
from wasi_toolchain.targets.run import run_module

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
# The SConstruct's compiles: 14 sources, first.c again for wasm32-wasi, the two C++ sources again for debug.
COMPILES = 17
TRIPWIRE = """#!/bin/sh
echo "$0 $*" >> {log}
exit 97
"""


@dataclass
class Checkout:
    root: Path
    store: Path

    def scons(self, *args: str) -> subprocess.CompletedProcess[str]:
        result = run_scons(self.root, "-Q", *args, env={"WASI_CACHE_DIR": str(self.store)})
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    def outputs(self) -> dict[str, str]:
        """sha256 of every file under build/, by path relative to the checkout."""
        return {str(p.relative_to(self.root)): hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((self.root / "build").rglob("*")) if p.is_file()}


def checkout(root: Path, store: Path) -> Checkout:
    """A copy of this repository's build at ``root`` (the tool itself comes from the repository's site_scons)."""
    root.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "samples", root / "samples")
    return Checkout(root, store)


def tripwire_tools(store: Path, log: Path) -> None:
    """Make the compiler, linker and archiver of every toolchain entry in ``store`` tripwires: any run of them
    writes to ``log`` and fails. Entries of other kinds (wasm-opt, component tools) have none and are left alone."""
    for entry in (store / "sysroots").iterdir():
        for tool in ("clang", "wasm-ld", "llvm-ar"):
            path = entry / "bin" / tool
            if not path.exists():
                continue
            path.unlink()
            path.write_text(TRIPWIRE.format(log=shlex.quote(str(log))))
            path.chmod(0o755)


def copy_store(store: Path, to: Path) -> Path:
    """Another WASI_CACHE_DIR holding the same entries (hard-linked: nothing writes into a published entry)."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(store / "sysroots", to / "sysroots", symlinks=True, copy_function=link)
    return to


@dataclass
class Built:
    a: Checkout
    cachedir: Path
    result: subprocess.CompletedProcess[str]


@pytest.fixture(scope="module")
def built(real, tmp_path_factory: pytest.TempPathFactory) -> Built:  # type: ignore[no-untyped-def]
    """Checkout A: every sample built with --cache-dir, with the session's store."""
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    cachedir = tmp_path_factory.mktemp("scons-cachedir")
    a = checkout(tmp_path_factory.mktemp("a") / "project", project.cache)
    result = a.scons(f"--cache-dir={cachedir}")
    assert result.returncode == 0, result.stdout + result.stderr
    return Built(a, cachedir, result)


# -- 1. CacheDir across checkouts ----------------------------------------------------------------------------------
def test_another_checkout_and_store_get_every_target_from_the_cachedir(built: Built, tmp_path: Path) -> None:
    store = copy_store(built.a.store, tmp_path / "store-b")
    # The compiler, linker and archiver of store B are tripwires: any run of them fails the build.
    log = tmp_path / "tripwire.log"
    tripwire_tools(store, log)
    b = checkout(tmp_path / "somewhere" / "else" / "b", store)
    result = b.scons(f"--cache-dir={built.cachedir}")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not log.exists()
    expected = built.a.outputs()
    retrieved = re.findall(r"^Retrieved `(.+)' from cache$", result.stdout, flags=re.M)
    assert sorted(retrieved) == sorted(expected)
    assert b.outputs() == expected


# -- 8. the same bytes from any checkout path and any store --------------------------------------------------------
def test_another_checkout_path_and_store_build_the_same_bytes(built: Built, tmp_path: Path) -> None:
    store = copy_store(built.a.store, tmp_path / "store-c")
    c = checkout(tmp_path / "a path with spaces" / "c", store)
    result = c.scons("-j2")  # no CacheDir: everything is compiled again, two jobs at a time
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("wasi: compiling ") == COMPILES
    assert c.outputs() == built.a.outputs()
    for path in (c.root / "build").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert str(c.root).encode() not in data and str(store).encode() not in data, path


# -- 3. a reactor --------------------------------------------------------------------------------------------------
def instantiate(path: Path) -> tuple[wasmtime.Store, dict[str, object], set[str]]:
    engine = wasmtime.Engine()
    module = wasmtime.Module.from_file(engine, str(path))
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    store = wasmtime.Store(engine)
    store.set_wasi(wasmtime.WasiConfig())
    exports = linker.instantiate(store, module).exports(store)
    return store, exports, {e.name for e in module.exports}


def as_i64(value: int) -> int:
    value %= 1 << 64
    return value - (1 << 64) if value >= 1 << 63 else value


def test_a_reactors_exports_are_called_through_wasmtime(built: Built) -> None:
    module = built.a.root / "build/counter.wasm"
    store, exports, names = instantiate(module)
    assert names == {"memory", "_initialize", "counter_add", "counter_calls", "fib"}  # no _start, no main
    exports["_initialize"](store)
    assert [exports["counter_add"](store, n) for n in (5, -2, 40)] == [5, 3, 43]
    assert exports["counter_calls"](store) == 3
    fib = [0, 1]
    while len(fib) <= 100:
        fib.append(fib[-1] + fib[-2])
    assert [exports["fib"](store, n) for n in (0, 1, 10, 90, 100)] == [as_i64(fib[n]) for n in (0, 1, 10, 90, 100)]

    # _initialize is what runs the module's constructors: without it, counter_add traps.
    store, exports, _ = instantiate(module)
    with pytest.raises(wasmtime.Trap):
        exports["counter_add"](store, 1)


# -- 4. C++ ----------------------------------------------------------------------------------------------------------
def expected_wordfreq(text: str, top: int) -> str:
    words = re.findall(r"[a-z]+", text.lower())
    counts = Counter(words)
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]
    return (f"word frequencies: {len(words)} words, {len(counts)} distinct\n"
            + "".join(f"{count} {word}\n" for word, count in ranked))


def test_the_cxx_sample_prints_the_word_frequencies(built: Built, tmp_path: Path) -> None:
    words = built.a.root / "samples/cxx/words.txt"
    out = tmp_path / "stdout"
    assert run_module(built.a.root / "build/wordfreq.wasm", ["wordfreq", "4"], stdin=words, stdout=out) == 0
    assert out.read_text() == expected_wordfreq(words.read_text(), 4)

    # The unstripped debug build behaves the same; its debug info names libc++'s headers under the mapped prefix.
    debug = built.a.root / "build/wordfreq-debug.wasm"
    assert run_module(debug, ["wordfreq", "4"], stdin=words, stdout=out) == 0
    assert out.read_text() == expected_wordfreq(words.read_text(), 4)
    assert {(0, "name"), (0, ".debug_info"), (0, ".debug_line")} <= set(sections(debug))
    assert b"/wasi-toolchain/sysroot/include/c++/v1" in debug.read_bytes()

    # And through WasiRun, which feeds it the same file on stdin (SConstruct: args=['3'], stdin=words.txt).
    result = built.a.scons("run-wordfreq")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("wasi: running build/wordfreq.wasm\n", 1)[1] == expected_wordfreq(
        words.read_text(), 3)


# -- 5. one library, two programs ----------------------------------------------------------------------------------
def primes_below(limit: int) -> list[int]:
    return [n for n in range(2, limit) if all(n % d for d in range(2, math.isqrt(n) + 1))]


def test_one_library_serves_two_programs(built: Built, tmp_path: Path) -> None:
    root = built.a.root
    assert (root / "build/lib/libmathlib.a").read_bytes().startswith(b"!<arch>\n")
    out = tmp_path / "gcd"
    numbers = [462, 1071, 6006]
    assert run_module(root / "build/gcd.wasm", ["gcd", *map(str, numbers)], stdout=out) == 0
    assert out.read_text() == f"gcd = {math.gcd(*numbers)}\nlcm = {math.lcm(*numbers)}\n"
    for limit in (30, 1000):
        out = tmp_path / f"primes-{limit}"
        assert run_module(root / "build/primes.wasm", ["primes", str(limit)], stdout=out) == 0
        primes = primes_below(limit)
        shown = "".join(f" {p}" for p in primes[:20]) + (" ..." if len(primes) > 20 else "")
        assert out.read_text() == f"primes below {limit}:{shown}\ncount = {len(primes)}\n"


# -- 6. compile_commands.json ----------------------------------------------------------------------------------------
def test_each_compile_commands_entry_reruns_and_rebuilds_the_same_object(built: Built) -> None:
    root = built.a.root
    result = built.a.scons("compile_commands.json")
    assert result.returncode == 0, result.stderr
    entries = json.loads((root / "compile_commands.json").read_text())
    assert len(entries) == COMPILES
    assert {e["file"] for e in entries} >= {"samples/cxx/wordfreq.cpp", "samples/cxx/table.cc", "samples/first.c"}
    for entry in entries:
        assert entry["directory"] == str(root)
        output = root / entry["output"]
        before = output.read_bytes()
        output.unlink()
        ran = subprocess.run(shlex.split(entry["command"]), cwd=entry["directory"], capture_output=True, text=True)
        assert ran.returncode == 0, (entry["command"], ran.stderr)
        assert output.read_bytes() == before, entry["output"]


# -- 7. __FILE__ ---------------------------------------------------------------------------------------------------
def test_file_names_in_the_module_are_relative(built: Built, tmp_path: Path) -> None:
    where = built.a.root / "build/where.wasm"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    assert run_module(where, ["where"], stdout=out) == 0
    assert out.read_text() == "source: samples/where/where.c\nheader: samples/where/include/where.h\n"
    with pytest.raises(RunError, match="trapped"):
        run_module(where, ["where", "assert"], stdout=out, stderr=err)
    assert err.read_text() == "Assertion failed: argc == 1 (samples/where/where.c: main: 13)\n"


EXTRA_SCONSTRUCT = """\
env = Environment(tools=['wasi'])
# An include directory given as an absolute path in a flag: only -ffile-prefix-map keeps it out of __FILE__.
env.WasiProgram('build/where-abs', ['samples/where/where.c'],
                WASI_CCFLAGS=['-O2', '-I' + Dir('#samples/where/include').abspath])
io = env.WasiProgram('build/io', ['io.c'])
env.WasiRun('run-io', io, args=['hello', '4'], env={'GREETING': 'hi'}, dirs={'data': '/data'}, stdin='in.txt',
            expect_exit=4)
env.WasiRun('run-io-expecting-0', io, args=['hello', '4'], dirs={'data': '/data'}, stdin='in.txt')
"""

IO_C = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void read_line(FILE *f, char *buf, size_t size) {
    if (f == NULL || fgets(buf, (int)size, f) == NULL) {
        strcpy(buf, "(none)\n");
    }
}

int main(int argc, char **argv) {
    char line[64], note[64];
    read_line(stdin, line, sizeof line);
    FILE *f = fopen("/data/note.txt", "r");
    read_line(f, note, sizeof note);
    const char *greeting = getenv("GREETING");
    printf("argv[0]=%s arg=%s env=%s\nstdin=%snote=%s", argv[0], argc > 1 ? argv[1] : "", greeting ? greeting : "",
           line, note);
    return argc > 2 ? atoi(argv[2]) : 0;
}
"""


@pytest.fixture(scope="module")
def extra(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    root = tmp_path_factory.mktemp("extra") / "project"
    shutil.copytree(REPO / "samples/where", root / "samples/where")
    shutil.copy(REPO / "toolchain.lock", root / "toolchain.lock")
    (root / "SConstruct").write_text(EXTRA_SCONSTRUCT)
    (root / "io.c").write_text(IO_C)
    (root / "in.txt").write_text("a line on stdin\n")
    (root / "data").mkdir()
    (root / "data/note.txt").write_text("a note in a preopened directory\n")
    project = Checkout(root, built.a.store)
    result = project.scons("build/where-abs.wasm", "build/io.wasm")
    assert result.returncode == 0, result.stdout + result.stderr
    return project


def test_an_absolute_include_path_is_mapped_to_the_top_directory(extra: Checkout, tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    assert run_module(extra.root / "build/where-abs.wasm", ["where"], stdout=out) == 0
    assert out.read_text() == "source: samples/where/where.c\nheader: samples/where/include/where.h\n"
    assert str(extra.root).encode() not in (extra.root / "build/where-abs.wasm").read_bytes()


# -- WasiRun -------------------------------------------------------------------------------------------------------
def test_wasirun_passes_args_env_dirs_and_stdin_and_checks_the_exit_code(extra: Checkout) -> None:
    result = extra.scons("run-io")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("wasi: running build/io.wasm\n", 1)[1] == (
        "argv[0]=io.wasm arg=hello env=hi\nstdin=a line on stdin\nnote=a note in a preopened directory\n")
    result = extra.scons("run-io-expecting-0")
    assert result.returncode == 4
    assert "wasi: build/io.wasm exited with 4, expected 0" in result.stderr
    assert "env=\n" in result.stdout  # no environment unless given
