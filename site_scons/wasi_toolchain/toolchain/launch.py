"""Starting a pinned binary: the wrapper scripts in an entry's bin/ and the same command started directly, and the
Debian binaries that run through the pinned glibc's own loader (the debian LLVM provider, wasm-opt, wasm-tools).

The wrappers are the one place where a tool's environment is controlled: they ``exec`` the real tool under
``env -i`` with PATH set to bin/ only, so neither a host clang nor a host ``wasm-opt`` can be picked up (clang
runs any wasm-opt it finds on PATH when optimising; only clang 20 and later have --no-wasm-opt). They locate the
entry from their own path, so an entry can be built in a temp dir and moved into place.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..errors import HostNotSupported, ToolchainError

# Exported to the compiler unless the caller sets it: __DATE__/__TIME__ follow it, so output does not depend on
# the day of the build.
DEFAULT_SOURCE_DATE_EPOCH = "0"

_WRAPPER_HEAD = """\
#!/bin/sh
# Written by scons-wasi. Runs a pinned LLVM tool with a controlled environment.
case "$0" in */*) bin=${0%/*} ;; *) bin=. ;; esac
case "$bin" in /*) ;; *) bin="$PWD/$bin" ;; esac
top="$bin/.."
"""


# A tool as data: the words of its command ("{top}" stands for the entry root as the wrapper finds it, <bin>/..)
# and the environment variables it gets besides PATH and SOURCE_DATE_EPOCH. Both the wrapper scripts and
# direct_command() are made from it, so what a wrapper runs and what the SCons tool runs without the wrapper cannot
# drift apart. None: a tool the provider does not ship.
ToolSpec = tuple[tuple[str, ...], tuple[tuple[str, str], ...]]
TOP = "{top}"  # in a ToolSpec word: the entry root, as the wrapper finds it


def _sh(word: str) -> str:
    """A word of a ToolSpec in sh: "{top}" becomes "$top", in "…" (the entry's path may hold anything: sh does not
    expand what a variable holds); any other word quoted as sh needs it, which leaves the usual ones (clang,
    -resource-dir) as they are."""
    return f'"{word.replace(TOP, "$top")}"' if TOP in word else shlex.quote(word)


def wrapper_script(spec: ToolSpec) -> str:
    """A wrapper that execs the tool with only PATH (its own bin/), SOURCE_DATE_EPOCH and the spec's variables."""
    words, extra_env = spec
    env_words = " ".join(["PATH=\"$bin\"", 'SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-%s}"' % DEFAULT_SOURCE_DATE_EPOCH,
                          *(f"{name}={_sh(value)}" for name, value in extra_env)])
    return f'{_WRAPPER_HEAD}exec /usr/bin/env -i {env_words} {" ".join(map(_sh, words))} "$@"\n'


def direct_command(spec: ToolSpec, wrapper: str, caller_env: Mapping[str, str]) -> tuple[list[str], dict[str, str]]:
    """What the wrapper script at the absolute path ``wrapper`` execs when started with ``caller_env``: the words
    before the caller's arguments, and the whole environment. Starting that directly saves the two processes a
    wrapper costs (sh and env, about 2 ms of CPU per command) and gives the tool the same arguments and
    environment."""
    words, extra_env = spec
    bin_dir = wrapper.rpartition("/")[0]
    top = f"{bin_dir}/.."
    env = {"PATH": bin_dir, "SOURCE_DATE_EPOCH": caller_env.get("SOURCE_DATE_EPOCH") or DEFAULT_SOURCE_DATE_EPOCH}
    env.update((name, value.replace(TOP, top)) for name, value in extra_env)
    return [word.replace(TOP, top) for word in words], env


def emulated(spec: ToolSpec, emulator: str | None) -> ToolSpec:
    """``spec`` started through ``emulator`` (WASI_HOST_EMULATOR, an absolute path), when there is one."""
    return spec if emulator is None else ((emulator, *spec[0]), spec[1])


def missing_tool_script(tool: str, provider: str) -> str:
    return (f"#!/bin/sh\necho '{tool}: not available with the {provider} LLVM provider "
            f"(it ships no {tool})' >&2\nexit 1\n")


# -- running Debian trixie binaries on any glibc Linux, through the pinned glibc's own loader ----------------------
# Shared by the debian LLVM provider and the component tools (component_tools.py): both unpack trixie packages
# plus their pinned runtime (libc6, libgcc-s1, …) under one directory of a store entry and start each binary as
# ``<dir>/usr/lib/<multiarch>/ld-linux-….so --library-path <lib dirs> <binary>``.
GLIBC_MULTIARCH = {"linux-x86_64": "x86_64-linux-gnu", "linux-aarch64": "aarch64-linux-gnu"}
GLIBC_LOADER = {"linux-x86_64": "ld-linux-x86-64.so.2", "linux-aarch64": "ld-linux-aarch64.so.1"}


def glibc_multiarch(host: str) -> str:
    try:
        return GLIBC_MULTIARCH[host]
    except KeyError:
        raise HostNotSupported(f"no Debian binaries are pinned for {host}; they are for "
                               f"{', '.join(GLIBC_MULTIARCH)}") from None


def glibc_loader(host: str, unpacked: str) -> str:
    """The pinned glibc's loader, relative to the entry root, for packages unpacked into ``<entry>/<unpacked>``."""
    return f"{unpacked}/usr/lib/{glibc_multiarch(host)}/{GLIBC_LOADER[host]}"


def loader_tool_spec(host: str, unpacked: str, binary: str, library_dirs: Sequence[str] = (), *args: str) -> ToolSpec:
    """A ToolSpec that starts ``<entry>/<unpacked>/<binary>`` through the pinned loader, with the pinned glibc's
    library dir, then ``library_dirs`` (relative to ``<unpacked>``), as its only library path."""
    paths = [f"usr/lib/{glibc_multiarch(host)}", *library_dirs]
    return (f"{TOP}/{glibc_loader(host, unpacked)}", "--library-path",
            ":".join(f"{TOP}/{unpacked}/{path}" for path in paths), f"{TOP}/{unpacked}/{binary}", *args), ()


def check_starts(tool: Path, what: str, *, hint: str) -> None:
    """Raise ToolchainError if ``tool --version`` fails: a pinned binary that needs a library no pinned package
    provides says so here, not at its first real use."""
    result = subprocess.run([str(tool), "--version"], stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        missing = sorted(set(re.findall(r"error while loading shared libraries: ([^:]+):", result.stderr)))
        problem = (f"needs {', '.join(missing)}, which no pinned package provides" if missing else
                   f"exited with {result.returncode}: {result.stderr.strip()[-500:]}")
        raise ToolchainError(f"{what} from the pinned packages does not start through their own loader: it {problem}",
                             hint=hint)


