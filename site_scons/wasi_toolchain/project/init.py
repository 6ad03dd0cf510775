"""`scons-wasi init`: the files that make an empty directory a scons-wasi project.

    toolchain.lock                    the pins, copied from the ones this package was built with
    SConstruct                        a starter build: one program, its run alias, objects under build/obj
    src/hello.c                       the program it builds
    site_scons/site_tools/wasi.py     how SCons finds the installed tool for tools=['wasi'] (a two-line import)

Nothing is overwritten without ``force``: a file that exists with other content is kept and reported (so `init`
beside a SConstruct of your own adds the lock and the site_scons/ file, and leaves the SConstruct alone).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

LOCK_NAME = "toolchain.lock"
# The package's own copy of the lock: setup.py copies the checkout's toolchain.lock here when it builds the wheel.
PACKAGED_LOCK = Path(__file__).with_name(LOCK_NAME)
# Run from a checkout (site_scons/ on sys.path, or an editable install), the lock is the checkout's own.
CHECKOUT_LOCK = Path(__file__).resolve().parents[3] / LOCK_NAME

SHIM_PATH = "site_scons/site_tools/wasi.py"
SHIM = '''\
"""SCons loads this file for tools=['wasi']: it hands over to scons-wasi's tool as installed with pip (the
`scons_wasi` package). Written by `scons-wasi init`; a project that vendors site_scons/ from the scons-wasi
checkout has site_scons/site_tools/wasi/ instead, and no need for this file."""

try:
    from scons_wasi import exists, generate  # noqa: F401
except ModuleNotFoundError as error:
    import sys

    import SCons.Errors

    raise SCons.Errors.UserError(
        f"the wasi tool is not installed for the Python that runs scons ({sys.executable}): {error}\\n"
        f"  next step: install scons-wasi into that Python (python -m pip install scons-wasi), or run the scons "
        f"of the environment where it is installed") from None
'''

SCONSTRUCT = '''\
# Built with scons-wasi: `scons` builds build/hello.wasm, `scons run-hello` runs it in wasmtime,
# `scons --help` lists the targets. toolchain.lock pins the toolchain: commit it.
DefaultEnvironment(tools=[])           # this build has nothing for the host: do not probe its compilers
env = Environment(tools=["wasi"])

# Objects under build/obj, sources stay in src/ (SCons's VariantDir; without it, objects go beside the sources).
env.VariantDir("build/obj", "src", duplicate=False)

hello = env.WasiProgram("build/hello", ["build/obj/hello.c"])   # -> build/hello.wasm
env.WasiRun("run-hello", hello, args=["world"])
Default(hello)
'''

HELLO_C = '''\
#include <stdio.h>

int main(int argc, char **argv) {
    printf("Hello, %s!\\n", argc > 1 ? argv[1] : "WebAssembly");
    return 0;
}
'''


@dataclass(frozen=True)
class Written:
    path: Path
    action: str  # "wrote", "overwrote", "unchanged", "kept" (exists with other content; --force replaces it)


def packaged_lock() -> Path:
    """The lock this package carries (a built package), else the checkout's (run from site_scons/)."""
    for path in (PACKAGED_LOCK, CHECKOUT_LOCK):
        if path.is_file():
            return path
    raise ConfigError(f"this scons-wasi has no {LOCK_NAME} (looked at {PACKAGED_LOCK} and {CHECKOUT_LOCK})",
                      hint="reinstall scons-wasi from a wheel or a checkout that has toolchain.lock, or copy "
                           "toolchain.lock from the scons-wasi checkout by hand")


def starter_files() -> dict[str, bytes]:
    """Path (relative to the project) -> content, in the order they are written."""
    return {LOCK_NAME: packaged_lock().read_bytes(), "SConstruct": SCONSTRUCT.encode(),
            "src/hello.c": HELLO_C.encode(), SHIM_PATH: SHIM.encode()}


def init_project(directory: Path, *, force: bool = False) -> list[Written]:
    """Write the starter files into ``directory`` (created if missing). A file that exists with other content is
    kept, unless ``force``; src/hello.c is written only with the starter SConstruct (a SConstruct of the user's
    own does not build it). Raises ConfigError (before writing anything) where a file would go is a directory."""
    files = starter_files()
    if directory.exists() and not directory.is_dir():
        raise ConfigError(f"{directory} is not a directory", hint="name a directory for the project")
    results: list[Written] = []
    plan: list[tuple[Path, bytes]] = []
    for name, content in files.items():
        path = directory / name
        if path.is_dir():
            raise ConfigError(f"{path} is a directory; expected to write the file {name} there",
                              hint="move it away, or run scons-wasi init in another directory")
        try:
            existing: bytes | None = path.read_bytes()
        except FileNotFoundError:
            existing = None
        if name == "src/hello.c" and any(w.action == "kept" for w in results if w.path.name == "SConstruct"):
            continue
        if existing == content:
            results.append(Written(path, "unchanged"))
        elif existing is not None and not force:
            results.append(Written(path, "kept"))
        else:
            results.append(Written(path, "wrote" if existing is None else "overwrote"))
            plan.append((path, content))
    for path, content in plan:
        _write_atomically(path, content)
    return results


def _write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temp.write_bytes(content)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
