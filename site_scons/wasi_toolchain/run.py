"""Run a WASI command module in wasmtime, in-process."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import RunError

if TYPE_CHECKING:
    import wasmtime


def engine_config() -> wasmtime.Config:
    """The engine settings every run uses.

    Wasm exceptions: setjmp/longjmp is compiled to the exception-handling proposal (see buildvars.SETJMP_*), and a
    module that calls setjmp does not even load without it (`exceptions proposal not enabled`). The command-line
    equivalent is `wasmtime run -W exceptions=y`.
    """
    import wasmtime

    config = wasmtime.Config()
    config.wasm_exceptions = True
    return config


def run_module(wasm: Path, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
               dirs: Mapping[str, str] | None = None, stdin: Path | None = None,
               stdout: Path | None = None, stderr: Path | None = None) -> int:
    """Run ``wasm``'s ``_start`` and return its exit code.

    ``argv`` includes argv[0]. ``dirs`` maps host directories to guest paths. stdout/stderr go to the given files,
    or to this process's own streams. A trap or a module that cannot be loaded raises RunError.
    """
    import wasmtime  # lazy: only runs need it

    engine = wasmtime.Engine(engine_config())
    try:
        module = wasmtime.Module.from_file(engine, str(wasm))
    except (wasmtime.WasmtimeError, OSError) as e:
        raise RunError(f"cannot load {wasm} as a WebAssembly module: {e}",
                       hint="rebuild it with scons; was it built for wasm32-wasip1?") from None
    config = wasmtime.WasiConfig()
    config.argv = list(argv)
    if env:
        config.env = list(env.items())
    for host, guest in (dirs or {}).items():
        config.preopen_dir(str(host), guest)
    if stdin is not None:
        config.stdin_file = str(stdin)
    if stdout is not None:
        config.stdout_file = str(stdout)
    else:
        config.inherit_stdout()
    if stderr is not None:
        config.stderr_file = str(stderr)
    else:
        config.inherit_stderr()
    store = wasmtime.Store(engine)
    store.set_wasi(config)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    # The module writes straight to file descriptors 1 and 2; flush what Python has buffered first.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        instance = linker.instantiate(store, module)
        start = instance.exports(store).get("_start")
        if not isinstance(start, wasmtime.Func):
            raise RunError(f"{wasm} has no _start export: it is not a WASI command module",
                           hint="link it with the default WASI_EXECMODEL='command'")
        start(store)
    except wasmtime.ExitTrap as e:
        return e.code
    except wasmtime.Trap as e:
        raise RunError(f"{wasm} trapped: {e.message}") from None
    except wasmtime.WasmtimeError as e:
        raise RunError(f"{wasm} could not be instantiated: {e}",
                       hint="it imports something other than WASI preview 1") from None
    return 0
