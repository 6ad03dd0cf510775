"""A stand-in toolchain entry for offline tests of the SCons glue: tools that record their argv and write outputs.

The stand-in is only for checking the exact commands each builder runs and when it runs them; the e2e tests run
the real toolchain. Each output's content is a digest of the input files named on the command line, so a changed
source changes its object, then the archive and the programs, as with a real compiler. A `.wasm` output is a
minimal module holding that digest in a custom section, and, unless the command has -s, a `name` section naming
function 0 after the tool (wasm-opt keeps it only with -g), so the names file and the stripping can be checked.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from wasi_toolchain.toolchain import sysroot, wasm_opt
from wasi_toolchain.settings import Settings
from wasi_toolchain.toolchain.llvm import BUILTINS_PATHS
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.store.store import MANIFEST, STAMP, Store

RECORDER = """#!{python}
import hashlib, json, os, sys
tool, args = os.path.basename(sys.argv[0]), sys.argv[1:]
with open({log!r}, "a") as f:
    f.write(json.dumps({{"tool": tool, "argv": args, "cwd": os.getcwd()}}) + "\\n")
if os.path.exists({log!r} + ".fail"):  # see fail_when()
    with open({log!r} + ".fail") as f:
        failure = json.load(f)
    if any(failure["when"] in arg for arg in args):
        sys.stderr.write(failure["stderr"])
        if failure["code"]:
            sys.exit(failure["code"])  # with 0 (a warning), the output is written as usual
out = args[args.index("-o") + 1] if "-o" in args else args[1] if tool == "llvm-ar" else None
if out is not None:
    digest = hashlib.sha256(tool.encode())
    for arg in args:
        if arg != out and os.path.isfile(arg):
            with open(arg, "rb") as src:
                digest.update(src.read())
    if out.endswith(".wasm"):  # a module: the digest in a custom section, and a name section unless stripped
        def section(name, payload):
            body = bytes([len(name)]) + name + payload
            return b"\\0" + bytes([len(body)]) + body
        module = b"\\0asm\\1\\0\\0\\0" + section(b"standin", digest.hexdigest().encode())
        if "-s" not in args and (tool != "wasm-opt" or "-g" in args):
            function = b"standin_" + tool.replace("-", "_").encode()
            module += section(b"name", b"\\1" + bytes([len(function) + 3, 1, 0, len(function)]) + function)
        with open(out, "wb") as f:
            f.write(module)
    else:
        with open(out, "w") as f:
            f.write(digest.hexdigest() + "\\n")
"""

TOOLS = ("clang", "llvm-ar", "wasm-ld")


def fake_entry(project: Path, cache: Path, *, lock: Path | None = None,
               libc: str | None = None) -> tuple[sysroot.Toolchain, Path]:
    """A complete-looking store entry, for the key of ``lock`` (default: the project's) and ``libc`` flavour
    (default: the default's), whose tools record their arguments to <cache>/calls.jsonl."""
    toolchain = sysroot.plan(load_lock(lock or project / "toolchain.lock"),
                             Settings.from_environ({"WASI_CACHE_DIR": str(cache)}), libc=libc)
    Store(cache).claim()  # a store the tool made carries its marker
    log = cache / "calls.jsonl"
    toolchain.bin_dir.mkdir(parents=True)
    for tool in TOOLS:
        script = toolchain.bin_dir / tool
        script.write_text(RECORDER.format(python=sys.executable, log=str(log)))
        script.chmod(0o755)
    builtins = toolchain.resource_dir / BUILTINS_PATHS[0]
    builtins.parent.mkdir(parents=True)
    builtins.write_bytes(b"!<arch>\n")
    (toolchain.root / STAMP).write_text("{}")
    (toolchain.root / MANIFEST).write_text("{}")
    return toolchain, log


def fake_size_libc(project: Path, cache: Path, base: sysroot.Toolchain) -> sysroot.Toolchain:
    """A complete-looking entry of the -Oz libc (WASI_OPTIMIZE='size', source flavour) on ``base``'s tools."""
    entry = sysroot.plan_size_libc(base, load_lock(project / "toolchain.lock"),
                                   Settings.from_environ({"WASI_CACHE_DIR": str(cache)}))
    libc = entry.sysroot / "lib/wasm32-wasi/libc.a"
    libc.parent.mkdir(parents=True)
    libc.write_bytes(b"!<arch>\n")
    (entry.root / STAMP).write_text("{}")
    (entry.root / MANIFEST).write_text("{}")
    return entry


def fail_when(log: Path, when: str, stderr: str, code: int = 1) -> None:
    """Make the stand-in's tools fail from now on, printing ``stderr`` and exiting with ``code``, when one of their
    arguments contains ``when`` (after recording the call)."""
    Path(f"{log}.fail").write_text(json.dumps({"when": when, "stderr": stderr, "code": code}))


def calls(log: Path) -> list[dict[str, object]]:
    """The recorded calls, in order; none if the tools never ran."""
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines()]


def output_of(call: dict[str, object]) -> str:
    argv = call["argv"]
    assert isinstance(argv, list)
    return argv[argv.index("-o") + 1] if "-o" in argv else argv[1]


def by_output(log: Path) -> dict[str, list[str]]:
    """argv of the last call that wrote each output."""
    return {output_of(c): c["argv"] for c in calls(log)}  # type: ignore[misc]


def fake_wasm_opt(project: Path, cache: Path) -> wasm_opt.WasmOpt:
    """A complete-looking wasm-opt entry whose loader is a script that drops `--library-path DIR` and runs the
    rest, and whose wasm-opt records its argv like the stand-in LLVM tools."""
    tool = wasm_opt.plan(load_lock(project / "toolchain.lock"), Settings.from_environ({"WASI_CACHE_DIR": str(cache)}))
    tool.library_dir.mkdir(parents=True)
    tool.loader.write_text('#!/bin/sh\nshift 2\nexec "$@"\n')
    binary = tool.root / "usr/bin/wasm-opt"
    binary.parent.mkdir(parents=True)
    binary.write_text(RECORDER.format(python=sys.executable, log=str(cache / "calls.jsonl")))
    for path in (tool.loader, binary):
        path.chmod(0o755)
    (tool.root / STAMP).write_text("{}")
    return tool
