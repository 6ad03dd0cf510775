"""200 generated source files: a full `scons -j2` build, with batched compiles (WASI_BATCH_SIZE=16, the default) and
without (WASI_BATCH_SIZE=1), against a generated Makefile run with `make -j2` and a generated build.ninja run with
`ninja -j2`, both running the tool's own one-file commands (each recipe is a command the tool prints in a dry run
with WASI_BATCH_SIZE=1); plain SCons running those commands, for scale; the null build; an edit of one file; and a
rebuild from CacheDir in a fresh checkout at another path. `--cxx` adds the same project in C++.

    python bench/full_build.py [--runs 5] [--cxx] [--cxx-runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import (REPO, Command, Rotation, fmt_seconds, library_inputs, machine_line, markdown_table,
                    median, plain_scons_lines, record_commands, rotate, run, scons_command, timed)

PROGRAMS = 20
FILES_PER_PROGRAM = 9  # main + 8 helpers
LIBRARY_FILES = 20  # 20 * 9 + 20 = 200 source files
NINJA = shutil.which("ninja") or "/usr/bin/ninja"
BATCHED = "16"  # the batch size of the batched side, the tool's default (1, no batches, is the other scons side)
_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
_SOURCE_SUFFIXES = (".c", ".cpp")


def generate(root: Path, *, quiet_default_environment: bool = True, cxx: bool = False) -> None:
    """Write the sources and an SConstruct: 20 programs of 9 files each, all linking one 20-file library.

    ``quiet_default_environment`` starts the SConstruct with `DefaultEnvironment(tools=[])`, SCons's own advice
    for a build that needs no host tools: SCons creates its default environment in every build (it asks it for
    the CacheDir), and with the default tools that probes the host's compilers (`gcc --version`, …).
    ``cxx``: the same project in C++, each helper using <string>, <vector> and <algorithm> (libc++'s headers make a
    compile far more expensive than the C helpers' <string.h>)."""
    ext = "cpp" if cxx else "c"
    (root / "lib").mkdir(parents=True)
    for i in range(LIBRARY_FILES):
        (root / "lib" / f"lib{i:02d}.{ext}").write_text(
            f"int lib{i:02d}(int x) {{ int s = 0; for (int k = 0; k < x; k++) s += k * {i + 1} ^ (s >> 3); "
            f"return s; }}\n")
    (root / "lib" / "lib.h").write_text("".join(f"int lib{i:02d}(int x);\n" for i in range(LIBRARY_FILES)))
    for p in range(PROGRAMS):
        d = root / f"prog{p:02d}"
        d.mkdir()
        calls = " + ".join(f"f{p:02d}_{h}(argc)" for h in range(FILES_PER_PROGRAM - 1))
        (d / f"main.{ext}").write_text(
            '#include <stdio.h>\n#include "lib.h"\n'
            + "".join(f"int f{p:02d}_{h}(int);\n" for h in range(FILES_PER_PROGRAM - 1))
            + f'int main(int argc, char **argv) {{ (void)argv; printf("%d\\n", {calls} + lib{p % LIBRARY_FILES:02d}'
              f'(argc)); return 0; }}\n')
        for h in range(FILES_PER_PROGRAM - 1):
            if cxx:
                body = (f"#include <algorithm>\n#include <string>\n#include <vector>\nint f{p:02d}_{h}(int x) {{ "
                        f"std::vector<std::string> v; for (int k = 0; k < x + 8; k++) v.push_back(std::to_string("
                        f"k * {h + 1})); std::sort(v.begin(), v.end()); return (int)v[0].size(); }}\n")
            else:
                body = (f'#include <string.h>\nint f{p:02d}_{h}(int x) {{ char b[32]; memset(b, x, sizeof b); '
                        f"int s = 0; for (unsigned k = 0; k < sizeof b; k++) s += b[k] * {h + 1}; return s; }}\n")
            (d / f"h{h}.{ext}").write_text(body)
    (root / "SConstruct").write_text(
        ("DefaultEnvironment(tools=[])\n" if quiet_default_environment else "")
        # WASI_NAMES=False: each link is then the one command make and ninja run (with names, the tool's link also
        # splits the names off in Python, which they have no equivalent of).
        + "env = Environment(tools=['wasi'], CPPPATH=['#lib'], WASI_NAMES=False)\n"
        f"lib = env.WasiLibrary('out/bench', env.Glob('lib/*.{ext}'))\n"
        f"for p in range({PROGRAMS}):\n"
        f"    env.WasiProgram(f'out/prog{{p:02d}}', env.Glob(f'prog{{p:02d}}/*.{ext}'), LIBS=['bench'], "
        "LIBPATH=['out'])\n")
    shutil.copy(REPO / "toolchain.lock", root / "toolchain.lock")


def header_inputs(root: Path, command: Command) -> list[str]:
    """The project's headers a compile reads (quoted #includes, found beside the source or through -I)."""
    words = shlex.split(command.line)
    dirs = [w[2:] for w in words if w.startswith("-I")]
    found: list[str] = []
    for source in (i for i in command.inputs if i.endswith(_SOURCE_SUFFIXES)):
        for name in _INCLUDE.findall((root / source).read_text()):
            for directory in [os.path.dirname(source), *dirs]:
                candidate = os.path.normpath(os.path.join(directory, name))
                if (root / candidate).is_file():
                    found.append(candidate)
                    break
    return found


def makefile(root: Path, commands: list[Command]) -> str:
    """One rule per command the tool would run, its recipe that command verbatim."""
    targets = {c.target for c in commands}
    used = {i for c in commands for i in (*c.inputs, *library_inputs(c, targets))}
    finals = [c.target for c in commands if c.target not in used]
    lines = ["# Generated by bench/full_build.py from `scons -n`: the tool's own commands.", "",
             f"all: {' '.join(finals)}", ".PHONY: all", ""]
    made_dirs = sorted({os.path.dirname(c.target) for c in commands} - {""})
    for c in commands:
        deps = [*c.inputs, *library_inputs(c, targets), *header_inputs(root, c)]
        directory = os.path.dirname(c.target)
        order_only = f" | {directory}" if directory in made_dirs and not (root / directory).is_dir() else ""
        lines += [f"{c.target}: {' '.join(deps)}{order_only}", f"\t{c.line.replace('$', '$$')}", ""]
    for directory in made_dirs:
        if not (root / directory).is_dir():
            lines += [f"{directory}:", "\tmkdir -p $@", ""]
    return "\n".join(lines)


def ninja_file(root: Path, commands: list[Command]) -> str:
    """The same graph for ninja: one build statement per command, the command verbatim, headers as implicit
    dependencies (ninja makes the output directories itself)."""
    def escape(path: str) -> str:
        return path.replace("$", "$$").replace(" ", "$ ").replace(":", "$:")

    targets = {c.target for c in commands}
    lines = ["# Generated by bench/full_build.py from `scons -n`: the tool's own commands.", "",
             "rule run", "  command = $line", "  description = $out", ""]
    for c in commands:
        inputs = " ".join(escape(i) for i in (*c.inputs, *library_inputs(c, targets)))
        headers = " ".join(escape(h) for h in header_inputs(root, c))
        lines += [f"build {escape(c.target)}: run {inputs}" + (f" | {headers}" if headers else ""),
                  f"  line = {c.line.replace('$', '$$')}"]
    return "\n".join(lines) + "\n"


PLAIN_HEAD = """\
# Generated by bench/full_build.py: the same targets, built by the exact commands the wasi tool runs (recorded
# from `scons -n`), with plain SCons and no wasi tool.
DefaultEnvironment(tools=[])
import SCons.Scanner.C

env = Environment(tools=[])
scan = SCons.Scanner.C.CScanner()


def command(target, sources, line, cpppath):
    return env.Command(target, sources, line, source_scanner=scan, CPPPATH=cpppath)


"""


def plain_sconstruct(commands: list[Command]) -> str:
    lines, finals = plain_scons_lines(commands)
    return "".join([PLAIN_HEAD, *lines, f"Default({finals!r})\n"])


def clean(root: Path) -> None:
    for pattern in ("**/*.wasi.o", "out/*"):
        for path in root.glob(pattern):
            path.unlink()
    for name in (".sconsign.dblite", ".ninja_log", ".ninja_deps"):
        (root / name).unlink(missing_ok=True)


def count_runs(output: str) -> tuple[int, int]:
    """(compiled files, archives and links; targets retrieved from the CacheDir) in a scons output."""
    lines = output.splitlines()
    ran = sum(1 for line in lines if line.startswith(("wasi: compiling", "wasi: linking", "wasi: archiving")))
    retrieved = sum(1 for line in lines if line.startswith("Retrieved `"))
    return ran, retrieved


class Trees:
    """One project, generated into a tree per side, and how to build each side."""

    def __init__(self, work: Path, env: dict[str, str], *, cxx: bool) -> None:
        self.env = env
        name = "cxx" if cxx else "c"
        self.scons, self.make, self.ninja, self.plain = (work / f"{name}-{side}" for side in
                                                        ("scons", "make", "ninja", "plain"))
        for tree in (self.scons, self.make, self.ninja, self.plain):
            generate(tree, cxx=cxx)
        run(scons_command("-Q", "wasi-toolchain"), cwd=self.scons, env=env)
        # The one-file commands, as make and ninja would run them.
        self.commands = record_commands(self.make, {**env, "WASI_BATCH_SIZE": "1"})
        compiles = sum(1 for c in self.commands if any(i.endswith(_SOURCE_SUFFIXES) for i in c.inputs))
        if compiles != PROGRAMS * FILES_PER_PROGRAM + LIBRARY_FILES:
            raise SystemExit(f"bench: expected {PROGRAMS * FILES_PER_PROGRAM + LIBRARY_FILES} compiles, recorded "
                             f"{compiles}")
        (self.make / "Makefile").write_text(makefile(self.make, self.commands))
        (self.ninja / "build.ninja").write_text(ninja_file(self.ninja, self.commands))
        (self.plain / "SConstruct").write_text(plain_sconstruct(self.commands))

    def scons_build(self, batch_size: str = BATCHED, tree: Path | None = None) -> float:
        env = {**self.env, "WASI_BATCH_SIZE": batch_size}
        return timed(lambda: run(scons_command("-Q", "-j2"), cwd=tree or self.scons, env=env))

    def make_build(self) -> float:
        return timed(lambda: run(["make", "-s", "-j2"], cwd=self.make))

    def ninja_build(self) -> float:
        return timed(lambda: run([NINJA, "-j2"], cwd=self.ninja))

    def sides(self, *, plain: bool) -> dict[str, Callable[[], float]]:
        sides: dict[str, Callable[[], float]] = {
            f"scons (WASI_BATCH_SIZE={BATCHED}, the default)": self.scons_build,
            "scons, WASI_BATCH_SIZE=1": lambda: self.scons_build("1"),
            "make": self.make_build, "ninja": self.ninja_build}
        if plain:
            sides["plain SCons, same commands"] = lambda: self.scons_build(tree=self.plain)
        return sides

    def clean_all(self) -> None:
        for tree in (self.scons, self.make, self.ninja, self.plain):
            clean(tree)

    def check_same_bytes(self, *, every_side: bool = True) -> None:
        """One untimed build of each first: the same modules from all (the same commands), and warm caches.
        ``every_side`` False: only scons (batched) against make, for a project whose builds take minutes."""
        self.clean_all()
        self.scons_build()
        self.make_build()
        trees = [self.scons]
        if every_side:
            self.ninja_build()
            self.scons_build(tree=self.plain)
            trees += [self.ninja, self.plain]
        for wasm in sorted((self.make / "out").glob("*.wasm")):
            for tree in trees:
                if (tree / "out" / wasm.name).read_bytes() != wasm.read_bytes():
                    raise SystemExit(f"bench: {wasm.name} differs between {tree.name} and make")
        if not every_side:
            return
        self.scons_build("1")  # and again without batches (the objects are compared by tests/test_e2e_batch.py)
        for wasm in sorted((self.make / "out").glob("*.wasm")):
            if (self.scons / "out" / wasm.name).read_bytes() != wasm.read_bytes():
                raise SystemExit(f"bench: {wasm.name} differs between scons with WASI_BATCH_SIZE=1 and make")


def edit_loop(trees: Trees, runs: int) -> Rotation:
    """One helper edited (a new function, so its object and the program change), then `scons -j2` with batching;
    the same edit in the plain-SCons tree (SCons's own share); and that file's compile plus its program's link, run
    directly (the recorded one-file commands)."""
    source, program = "prog07/h3.c", "out/prog07.wasm"
    compile_line = next(c.line for c in trees.commands if source in c.inputs)
    link_line = next(c.line for c in trees.commands if c.target == program)
    trees.clean_all()
    trees.scons_build()
    trees.scons_build(tree=trees.plain)
    original = (trees.scons / source).read_text()
    counter = iter(range(10 ** 6))

    def edit(tree: Path) -> None:
        (tree / source).write_text(original + f"int edited_{next(counter)}(void) {{ return 1; }}\n")

    def scons_side() -> float:
        edit(trees.scons)
        output: list[str] = []
        seconds = timed(lambda: output.append(run(scons_command("-Q", "-j2"), cwd=trees.scons,
                                                  env={**trees.env, "WASI_BATCH_SIZE": BATCHED}).stdout))
        compiled = [line for line in output[0].splitlines() if line.startswith("wasi: compiling")]
        if compiled != [f"wasi: compiling {source}"]:
            raise SystemExit(f"bench: the edit of {source} compiled {compiled}")
        return seconds

    def plain_side() -> float:
        edit(trees.plain)
        return timed(lambda: run(scons_command("-Q", "-j2"), cwd=trees.plain, env=trees.env))

    def raw_side() -> float:
        edit(trees.scons)
        started = time.perf_counter()
        for line in (compile_line, link_line):
            run(["sh", "-c", line], cwd=trees.scons)
        return time.perf_counter() - started

    result = rotate("edit one file", {"scons -j2 (batching on)": scons_side, "plain SCons -j2, same commands":
                                      plain_side, "compile + link, run directly": raw_side}, runs=runs)
    run(scons_command("-Q", "-j2"), cwd=trees.scons, env=trees.env)  # leave the tree consistent with its sconsign
    return result


def table(rotation: Rotation, reference_labels: tuple[str, ...] = ("make", "ninja")) -> str:
    rows = [[label, fmt_seconds(rotation.median(label)),
             *(f"{rotation.ratio(label, ref):.2f}" for ref in reference_labels)] for label in rotation.times]
    return markdown_table(["side", "median", *(f"/ {ref} (median of rounds)" for ref in reference_labels)], rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cxx", action="store_true", help="also the C++ variant")
    parser.add_argument("--cxx-runs", type=int, default=3)
    args = parser.parse_args()
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    work = Path(tempfile.mkdtemp(prefix="bench-full-"))
    # Each table is printed as soon as it is measured: a long run that is stopped keeps what it measured.
    print(f"# 200-file build ({machine_line()}, {args.runs} rounds each, sides in rotated order)\n", flush=True)
    c = Trees(work, env, cxx=False)
    c.check_same_bytes()
    full = rotate("full build, 200 C files, -j2", c.sides(plain=True), runs=args.runs, prepare=c.clean_all)
    print(f"## {full.name}\n\n{table(full)}\n", flush=True)
    # A null build: every tree complete.
    for build in c.sides(plain=False).values():
        build()
    null = rotate("null build", {k: v for k, v in c.sides(plain=False).items() if not k.endswith("=1")},
                  runs=args.runs)
    print(f"## {null.name} ({machine_line()})\n\n{table(null)}\n", flush=True)
    edit = edit_loop(c, args.runs)
    raw = edit.times["compile + link, run directly"]
    print(f"## edit prog07/h3.c, then build (1 compile, 1 link; {machine_line()})\n")
    print(markdown_table(["side", "median", "over compile + link (median of rounds)"], [
        [label, fmt_seconds(edit.median(label)), fmt_seconds(median([t - r for t, r in zip(times, raw)]))]
        for label, times in edit.times.items()]), flush=True)
    print()

    # CacheDir: fill it from one checkout, then build fresh copies of the checkout at other paths from it.
    cache_dir = work / "cachedir"
    clean(c.scons)
    run(scons_command("-Q", "-j2", f"--cache-dir={cache_dir}"), cwd=c.scons, env=env)
    retrievals: list[float] = []
    counts: list[tuple[int, int]] = []
    for i in range(args.runs):
        fresh = work / f"elsewhere-{i}" / "checkout"
        shutil.copytree(c.scons, fresh, ignore=shutil.ignore_patterns("*.wasi.o", "out", ".sconsign.dblite",
                                                                       ".wasi"))
        output: list[str] = []
        retrievals.append(timed(lambda: output.append(
            run(scons_command("-j2", f"--cache-dir={cache_dir}"), cwd=fresh, env=env).stdout)))
        counts.append(count_runs(output[0]))
    print(markdown_table(["figure", "median", "compiled files, archives and links", "retrieved from CacheDir",
                          "vs. full scons build"],
                         [["rebuild from CacheDir in a fresh checkout at another path",
                           fmt_seconds(median(retrievals)), str(max(n[0] for n in counts)),
                           f"{min(n[1] for n in counts)} of {len(c.commands)}",
                           f"{median(retrievals) / full.median(f'scons (WASI_BATCH_SIZE={BATCHED}, the default)'):.2f}"]]),
          flush=True)
    print()

    if args.cxx:
        x = Trees(work, env, cxx=True)
        x.check_same_bytes(every_side=False)
        cxx = rotate("full build, 200 C++ files, -j2", x.sides(plain=False), runs=args.cxx_runs, prepare=x.clean_all)
        print(f"## {cxx.name} ({args.cxx_runs} rounds; {machine_line()})\n\n{table(cxx)}\n", flush=True)


if __name__ == "__main__":
    main()
