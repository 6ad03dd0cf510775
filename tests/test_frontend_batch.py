"""A batch as one clang -cc1 (wasi_toolchain.targets.frontend_batch), the plain-Python half: reading the jobs of
``clang -###`` and making the one -cc1 command from them. The builds: tests/test_e2e_batch.py."""

from __future__ import annotations

import json

from wasi_toolchain.targets import frontend_batch

TOP = "/work/proj"
WORK = f"{TOP}/src/.wasi-batch-x"
ZIG = "/store/llvm/ziglang/zig"


def job(source: str, *extra: str) -> list[str]:
    name = source.rsplit("/", 1)[-1]
    return [ZIG, "-cc1", "-triple", "wasm32-unknown-wasip1", "-O2", "-emit-obj", "-disable-free",
            "-main-file-name", name,
            *extra, f"-fmacro-prefix-map={TOP}/=", "-o", name[:-2] + ".o", "-x", "c", source]


def test_jobs_are_read_as_clang_quotes_them() -> None:
    text = ('clang version 22.1.8\nTarget: wasm32-unknown-wasip1\nThread model: posix\nInstalledDir: /store\n'
            ' "/store/zig" "-cc1" "-D" "Q=\\"a b\\"" "-D" "D=\\$x\\\\" "-o" "a.o" "-x" "c" "/p/a.c"\n'
            ' "/store/zig" "-cc1" "-o" "b.o" "-x" "c" "/p/b.c"\n')
    assert frontend_batch.jobs(text) == [
        ["/store/zig", "-cc1", "-D", 'Q="a b"', "-D", "D=$x\\", "-o", "a.o", "-x", "c", "/p/a.c"],
        ["/store/zig", "-cc1", "-o", "b.o", "-x", "c", "/p/b.c"],
    ]
    assert frontend_batch.jobs(' "/store/zig" "-cc1" "unterminated\n') is None


def test_one_cc1_compiles_every_source_spelled_under_the_overlaid_tree() -> None:
    sources = [f"{TOP}/src/a.c", f"{TOP}/lib/b.c", f"{TOP}/src/c.tar.c"]
    found = frontend_batch.command([job(s) for s in sources], sources, top=TOP, work_dir=WORK,
                                   overlay_path=f"{WORK}/overlay.json")
    assert found is not None
    tree = f"{WORK}/tree"
    # The job's words but the per-source ones, and -disable-free (a batch frees each source's memory).
    assert found.argv == [ZIG, "-cc1", "-triple", "wasm32-unknown-wasip1", "-O2", "-emit-obj",
                          f"-fmacro-prefix-map={TOP}/=", "-x", "c", "-ivfsoverlay", f"{WORK}/overlay.json",
                          f"-fmacro-prefix-map={tree}/=", f"-fcoverage-prefix-map={tree}/=",
                          f"{tree}/src/a.c", f"{tree}/lib/b.c", f"{tree}/src/c.tar.c"]
    # Each object where -cc1 writes it without -o (the source's path, last suffix replaced), and its directory.
    assert found.objects == ["tree/src/a.o", "tree/lib/b.o", "tree/src/c.tar.o"]
    assert found.directories == ["tree/lib", "tree/src"]
    overlay = json.loads(found.overlay)
    assert overlay["roots"] == [{"type": "directory-remap", "name": tree, "external-contents": TOP,
                                 "use-external-name": False}]


def test_jobs_that_differ_in_more_than_their_source_are_not_one_cc1() -> None:
    sources = [f"{TOP}/src/a.c", f"{TOP}/src/b.c"]
    assert frontend_batch.command([job(sources[0]), job(sources[1], "-DONLY_B")], sources, top=TOP,
                                  work_dir=WORK, overlay_path="o") is None


def test_debug_info_and_files_named_after_the_main_file_are_left_to_the_driver() -> None:
    sources = [f"{TOP}/src/a.c", f"{TOP}/src/b.c"]
    for extra in (["-debug-info-kind=constructor"], ["-dependency-file", "x.d"], ["-ftime-trace=x.json"]):
        jobs = [job(s, *extra) for s in sources]
        assert frontend_batch.command(jobs, sources, top=TOP, work_dir=WORK, overlay_path="o") is None, extra
    assert frontend_batch.command([job(s) for s in sources], sources, top=TOP, work_dir=WORK,
                                  overlay_path="o") is not None


def test_what_is_not_a_batch_of_cc1_jobs_is_left_to_the_driver() -> None:
    a, b = f"{TOP}/src/a.c", f"{TOP}/src/b.c"

    def made(jobs: list[list[str]], sources: list[str]) -> bool:
        return frontend_batch.command(jobs, sources, top=TOP, work_dir=WORK, overlay_path="o") is not None

    assert not made([job(a)], [a])  # one source: the driver runs its -cc1 in-process anyway
    assert not made([job(a)], [a, b])  # fewer jobs than sources
    assert not made([job(a), job(b)], [b, a])  # not in the order of the sources
    assert not made([job(a), [ZIG, "-cc1as", *job(b)[2:]]], [a, b])  # an assembler job
    no_main_file_name = [w for w in job(b) if w not in ("-main-file-name", "b.c")]
    assert not made([job(a), no_main_file_name], [a, b])
    outside = "/elsewhere/c.c"
    assert not made([job(a), job(outside)], [a, outside])
    assert not made([job(a), job(f"{TOP}/lib/a.c")], [a, f"{TOP}/src/a.c"])
