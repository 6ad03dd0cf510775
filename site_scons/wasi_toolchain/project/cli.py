"""The `scons-wasi` command (installed with the package; also ``python -m wasi_toolchain.project``).

    scons-wasi init [DIR] [--force]     make DIR (default: the current directory) a scons-wasi project

Errors are one message and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import WasiError
from .init import init_project


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scons-wasi", description="Start a SCons project that builds C and C++ "
                                     "into WebAssembly/WASI modules with scons-wasi's pinned toolchain.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    init = commands.add_parser("init", help="write toolchain.lock, a starter SConstruct, src/hello.c and "
                               "site_scons/site_tools/wasi.py (files that exist are kept without --force)",
                               description="Make DIR a scons-wasi project: toolchain.lock (the pins), a starter "
                               "SConstruct, src/hello.c, and site_scons/site_tools/wasi.py, through which SCons "
                               "finds the installed tool for tools=['wasi']. A file that exists with other content "
                               "is kept (and src/hello.c is left out beside a SConstruct of your own). Then run "
                               "`scons run-hello` there.")
    init.add_argument("directory", nargs="?", default=".", metavar="DIR", help="the project (default: .)")
    init.add_argument("--force", action="store_true", help="replace the files that exist with other content")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    directory = Path(args.directory)
    try:
        written = init_project(directory, force=args.force)
    except WasiError as e:
        print(f"scons-wasi: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"scons-wasi: error: cannot write the project in {directory}: {e.strerror} ({e.filename})\n"
              f"  next step: check that the directory is writable", file=sys.stderr)
        return 2
    for item in written:
        note = " (it exists with other content; --force replaces it)" if item.action == "kept" else ""
        print(f"scons-wasi: {item.action} {os.path.relpath(item.path)}{note}")
    where = "" if directory.resolve() == Path.cwd().resolve() else f"cd {args.directory} && "
    if any(item.action == "kept" and item.path.name == "SConstruct" for item in written):
        print(f"next: {where}scons   (your SConstruct loads the tool with Environment(tools=['wasi']))")
    else:
        print(f"next: {where}scons run-hello   (then edit SConstruct; `scons --help` lists the targets)")
    return 0

