"""WasiRun: run a module in wasmtime as an always-built alias."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import SCons.Action
import SCons.Errors

from wasi_toolchain.errors import WasiError


def _run_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.run import run_module

    program = Path(str(source[0]))
    argv = [program.name, *[env.subst(str(a)) for a in env["WASI_RUN_ARGS"]]]
    expected = int(env["WASI_RUN_EXPECT_EXIT"])
    try:
        code = run_module(program, argv, env=env["WASI_RUN_ENV"], dirs=env["WASI_RUN_DIRS"],
                          stdin=env["WASI_RUN_STDIN"])
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=1) from None
    if code != expected:
        print(f"wasi: {program} exited with {code}, expected {expected}", file=sys.stderr, flush=True)
        # SCons turns every BuildError into exit status 2; a SystemExit from an action becomes its ExplicitExit,
        # whose status is kept, so the program's exit code becomes scons's.
        raise SystemExit(code or 1)
    return 0


# One action for every WasiRun: creating a Python-function action computes the function's contents (its
# signature), which costs about a millisecond each time.
_RUN_ACTION = SCons.Action.Action(_run_action, "$WASI_RUNCOMSTR")


def WasiRun(build_env: Any, alias: str, program: Any, /, *, args: Sequence[str] = (),
            env: Mapping[str, str] | None = None, dirs: Mapping[str, str] | None = None, stdin: str | None = None,
            expect_exit: int = 0, **overrides: Any) -> Any:
    """``env.WasiRun(alias, program, args=[…], env={…}, dirs={host: guest}, stdin=file, expect_exit=0)``.

    An always-built alias that runs ``program`` in wasmtime with WASI arguments ``args`` (argv[0] is the module's
    file name), environment ``env``, host directories preopened at guest paths ``dirs``, and ``stdin`` as standard
    input; the build fails if the exit code is not ``expect_exit`` (scons exits with the program's code). Relative
    paths are relative to the calling SConscript, like every SCons path.
    """
    stdin_node = build_env.File(stdin) if stdin else None
    run = build_env.Alias(
        alias, [program, *([stdin_node] if stdin_node else [])],
        _RUN_ACTION,
        WASI_RUN_ARGS=list(args), WASI_RUN_ENV=dict(env or {}),
        WASI_RUN_DIRS={build_env.Dir(host).abspath: guest for host, guest in (dirs or {}).items()},
        WASI_RUN_STDIN=stdin_node.abspath if stdin_node else None, WASI_RUN_EXPECT_EXIT=int(expect_exit),
        **overrides)
    build_env.AlwaysBuild(run)
    return run

