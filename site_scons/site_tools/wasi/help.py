"""What `scons --help` says about the tool: its own targets, then the project's WasiRun aliases as they are defined.

Appended to SCons's help text (``Help(…, append=True)``), so the options, the tool's among them ("Local Options"),
are still listed above; a SConstruct's own ``Help(text)`` afterwards adds to it. Everything goes through SCons's
HelpFunction, which, unlike the ``Help`` global, creates no default environment (which would probe the host's
compilers)."""

from __future__ import annotations

from typing import Any

import SCons.Script

TARGETS = (
    ("wasi-toolchain", "fetch and build the pinned toolchain and sysroot only"),
    ("wasi-cache-key", "print the sysroot key: a CI cache key for the store (with -Q)"),
    ("wasi-timings", "where the toolchain's cold start went, phase by phase (its stamp)"),
    ("wasi-verify", "re-hash the store against the lock; report and remove bad entries"),
    ("wasi-prune", "remove store entries and downloads this SConstruct does not use"),
    ("wasi-fetch-all DIR", "download every pinned file for every host into DIR"),
    ("wasi-symbolize MODULE [TRAP_FILE]", "name the functions in a trap's backtrace"),
)
_WIDTH = 24
_added: set[str] = set()


def _line(name: str, text: str) -> str:
    return f"  {name:<{_WIDTH}} {text}\n" if len(name) <= _WIDTH else f"  {name}\n  {'':<{_WIDTH}} {text}\n"


def _shown() -> bool:
    """Whether this run prints the help (`scons -h`). The text is added only then: SCons formats every option's help
    into it the first time anything is appended, about a millisecond that no other run needs."""
    return bool(SCons.Script.GetOption("help"))


def add_tool_help() -> None:
    """The tool's targets, once per scons run."""
    if "tool" in _added or not _shown():
        return
    _added.add("tool")
    SCons.Script.HelpFunction("\nTargets of the wasi tool:\n" + "".join(_line(n, t) for n, t in TARGETS),
                              append=True)


def add_run_help(alias: str, program: Any) -> None:
    """One line per WasiRun alias: ``run-hello   run build/hello.wasm in wasmtime``."""
    if f"run {alias}" in _added or not _shown():
        return
    if not any(name.startswith("run ") for name in _added):
        SCons.Script.HelpFunction("\nWasiRun aliases of this project:\n", append=True)
    _added.add(f"run {alias}")
    # A WasiProgram's targets are the module and its .names file: the module is the first.
    try:
        module = program if isinstance(program, str) else program[0]
    except (TypeError, IndexError):  # a node, or an empty list
        module = program
    SCons.Script.HelpFunction(_line(alias, f"run {module} in wasmtime"), append=True)
