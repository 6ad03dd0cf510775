"""WasiRun: run a module in wasmtime as an always-built alias."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SCons.Action
import SCons.Errors

from wasi_toolchain.errors import RunError, WasiError

from .help import add_run_help
from .nodes import caller, checked


def _scons_was_interrupted() -> bool:
    """Whether SCons has been told to stop (Ctrl-C, SIGTERM, SIGHUP).

    SCons's handler for those signals (SCons/Taskmaster/Job.py, Jobs._setup_sig_handler) only sets a flag that is
    checked before each new task, so a Python action that runs long must look at the flag itself, or a module that
    never ends keeps scons alive until SIGKILL. The handler carries its Jobs object as a default argument, and
    Jobs.were_interrupted() is public. In the main thread (-j1) run_module also sees the signal directly.
    """
    handler = signal.getsignal(signal.SIGINT)
    for value in getattr(handler, "__defaults__", None) or ():
        were_interrupted = getattr(value, "were_interrupted", None)
        if callable(were_interrupted):
            return bool(were_interrupted())
    return False


def _run_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.targets.run import run_module

    program = Path(str(source[0]))
    argv = [program.name, *[env.subst(str(a)) for a in env["WASI_RUN_ARGS"]]]
    expected = env["WASI_RUN_EXPECT_EXIT"]
    try:
        dirs = _existing_dirs(env["WASI_RUN_DIRS"], env["WASI_RUN_CALLER"], str(target[0]))
        code = run_module(program, argv, env=env["WASI_RUN_ENV"], dirs=dirs,
                          stdin=env["WASI_RUN_STDIN"], timeout=env["WASI_RUN_TIMEOUT"],
                          max_memory_mb=env["WASI_RUN_MAX_MEMORY_MB"],
                          max_wasm_stack_kb=env["WASI_RUN_MAX_WASM_STACK_KB"], should_stop=_scons_was_interrupted)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=1) from None
    if code != expected:
        print(f"wasi: {program} exited with {code}, expected {expected}", file=sys.stderr, flush=True)
        # SCons turns every BuildError into exit status 2; a SystemExit from an action becomes its ExplicitExit,
        # whose status is kept, so the program's exit code becomes scons's.
        raise SystemExit(code or 1)
    return 0


# One action for every WasiRun, made by the first: creating a Python-function action computes the function's
# contents (its signature), which costs a few hundred microseconds, and a project without WasiRun needs none.
_run_actions: list[Any] = []


def _the_run_action() -> Any:
    if not _run_actions:
        _run_actions.append(SCons.Action.Action(_run_action, "$WASI_RUNCOMSTR"))
    return _run_actions[0]


# A preopened directory: its absolute host path, its guest path, and the host path as the SConstruct wrote it.
PreopenDir = tuple[str, str, str]


def _host_dirs(build_env: Any, dirs: Mapping[str, str]) -> list[PreopenDir]:
    """Each host directory as SCons resolves it (relative to the calling SConscript). Whether it exists is known
    only when the alias runs: the build, or a script before `scons run-…`, may make it (_existing_dirs checks it
    then). Only a path the SConstruct itself declares as a file (a target or source of the build) is refused now."""
    resolved = []
    for host, guest in dirs.items():
        try:
            path = build_env.Dir(host).abspath
        except TypeError:  # SCons knows it as a file: declared as one, or a file on disk now
            node = build_env.File(host)
            if node.has_builder():
                raise RunError(f"WasiRun dirs: {host!r} ({node.abspath}, to preopen as {guest}): a file the build "
                               f"makes, not a directory",
                               hint="name a directory in dirs=, e.g. the one the file is built in") from None
            path = node.abspath  # a file on disk now; the run may find a directory there, else says so
        resolved.append((path, guest, host))
    return resolved


def _existing_dirs(dirs: Sequence[PreopenDir], where: str, alias: str) -> dict[str, str]:
    """The preopens as run_module takes them, once each host directory is there; RunError naming the WasiRun line
    (``where``, recorded when the SConstruct declared it) for one that is not."""
    for path, guest, host in dirs:
        if not os.path.isdir(path):
            what = "a file, not a directory" if os.path.exists(path) else "no such directory"
            raise RunError(f"{where}: WasiRun dirs: {host!r} ({path}, to preopen as {guest}): {what}",
                           hint=f"create it before the run (the build may put a target in it, or a step before "
                                f"`scons {alias}` make it), or fix dirs= in that WasiRun call")
    return {path: guest for path, guest, _ in dirs}


def WasiRun(build_env: Any, alias: str, program: Any, /, *, args: Sequence[str] = (),
            env: Mapping[str, str] | None = None, dirs: Mapping[str, str] | None = None, stdin: str | None = None,
            expect_exit: int = 0, timeout: float | None = None, max_memory_mb: int | None = None,
            max_wasm_stack_kb: int | None = None, **overrides: Any) -> Any:
    """``env.WasiRun(alias, program, args=[…], env={…}, dirs={host: guest}, stdin=file, expect_exit=0,
    timeout=300, max_memory_mb=1024, max_wasm_stack_kb=512)``.

    An always-built alias that runs ``program`` (a core module, or a component built for wasm32-wasip2: told apart
    by its header) in wasmtime with WASI arguments ``args`` (argv[0] is the module's
    file name), environment ``env``, host directories preopened at guest paths ``dirs``, and ``stdin`` as standard
    input; the build fails if the exit code is not ``expect_exit`` (scons exits with the program's code), if the
    run takes longer than ``timeout`` seconds, and a module's memory cannot grow past ``max_memory_mb`` MiB.
    ``max_wasm_stack_kb`` is wasmtime's call-stack limit (its default 512 KiB; at most 2048, wasmtime-py's limit).
    Relative paths are relative to the calling SConscript, like every SCons path. A bad argument stops the build
    with the calling file and line.
    """
    # Imported by the first call: a project without WasiRun never needs them.
    from wasi_toolchain.targets.run import (check_dirs, check_environment, check_expect_exit, check_max_memory_mb,
                                            check_timeout)
    from wasi_toolchain.targets.stack import check_max_wasm_stack_kb

    expected = checked(check_expect_exit, expect_exit)
    variables = checked(check_environment, env)
    run_dirs = checked(_host_dirs, build_env, checked(check_dirs, dirs))
    seconds = checked(check_timeout, timeout)
    memory = checked(check_max_memory_mb, max_memory_mb)
    wasm_stack = checked(check_max_wasm_stack_kb, max_wasm_stack_kb)
    stdin_node = build_env.File(stdin) if stdin else None
    run = build_env.Alias(
        alias, [program, *([stdin_node] if stdin_node else [])],
        _the_run_action(),
        WASI_RUN_ARGS=list(args), WASI_RUN_ENV=variables, WASI_RUN_DIRS=run_dirs, WASI_RUN_CALLER=caller(),
        WASI_RUN_STDIN=stdin_node.abspath if stdin_node else None, WASI_RUN_EXPECT_EXIT=expected,
        WASI_RUN_TIMEOUT=seconds, WASI_RUN_MAX_MEMORY_MB=memory, WASI_RUN_MAX_WASM_STACK_KB=wasm_stack,
        **overrides)
    build_env.AlwaysBuild(run)
    add_run_help(alias, program)
    return run
