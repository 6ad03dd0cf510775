"""Run a WASI command module or command component in wasmtime, in-process, bounded in time and memory, and
stoppable.

Which of the two a file is comes from its header (``is_component``): a core module (WASI preview 1) is linked with
the preview-1 linker and its ``_start`` called; a component (WASI preview 2, WASI_TARGET='wasm32-wasip2') is
linked with the preview-2 linker (``wasmtime.component.Linker.add_wasip2``) and the ``run`` function of its
``wasi:cli/run`` export called. Both get the same WasiConfig (args, env, preopened dirs, stdin, stdout, stderr),
memory cap and watcher. One difference: over preview 2 a component's exit code is only success or failure when it
ends through ``wasi:cli/exit.exit`` (which takes a ``result``), as the pinned wasip2 libc's exit(3) or ``return 3``
from main does: the run ends with code 1. A component that calls ``exit-with-code`` (which add_wasip2 links in
wasmtime-py 50) ends the run with its code, like a core module's proc_exit.

The module runs in a thread of its own while the calling thread watches it. A module that never ends is stopped
through wasmtime's epoch interruption: the watcher bumps the engine's epoch, and the module traps at its next loop
back-edge or function entry. That happens when ``timeout`` seconds have passed, when ``should_stop()`` says so (the
SCons glue passes SCons's own interrupted flag), or on SIGINT, SIGTERM or SIGHUP when the caller is the main thread
(the handlers in place are chained, so SCons still sees the signal). Its linear memory is capped at
``max_memory_mb``: past that, ``memory.grow`` fails, as ``malloc`` returning NULL.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..errors import RunError
from .stack import DEFAULT_MAX_WASM_STACK_KB, check_max_wasm_stack_kb, stack_hint

DEFAULT_TIMEOUT = 300.0  # seconds; WasiRun(timeout=...) changes it
MAX_TIMEOUT = 7 * 24 * 3600.0
DEFAULT_MAX_MEMORY_MB = 1024  # WasiRun(max_memory_mb=...) changes it
MAX_MEMORY_MB = 4096  # wasm32's whole address space
_POLL = 0.05  # seconds between the watcher's looks
_STOP_GRACE = 5.0  # seconds a stopped module may take to reach its next epoch check (it may be in a host call)
_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))


# The first 8 bytes of a component: "\0asm", version 0x0d 0x00, layer 0x01 0x00 (a core module: version 1, layer 0).
COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"
RUN_INTERFACE = "wasi:cli/run@0.2."  # the command world's export, any 0.2.x


def is_component(header: bytes) -> bool:
    """Whether a wasm binary starting with ``header`` is a component rather than a core module."""
    return header[:8] == COMPONENT_HEADER


def _read_header(wasm: Path) -> bytes:
    try:
        with open(wasm, "rb") as f:
            return f.read(8)
    except OSError as e:
        raise RunError(f"cannot read {wasm}: {e.strerror}", hint="rebuild it with scons") from None


class RunInterrupted(RunError):
    """The run was stopped by a signal (Ctrl-C, SIGTERM) or because the build is being interrupted."""


def _engine_config(wasmtime: Any, max_wasm_stack_kb: int = DEFAULT_MAX_WASM_STACK_KB) -> Any:
    """The wasmtime engine's configuration, in one place."""
    config = wasmtime.Config()
    # -- the call stack of compiled code (stack.py): checked first, since a value over wasmtime-py's limit aborts the
    # process instead of raising.
    config.max_wasm_stack = check_max_wasm_stack_kb(max_wasm_stack_kb) << 10
    # -- epoch interruption: how a timeout, Ctrl-C or SIGTERM stops a running module (see the module docstring).
    config.epoch_interruption = True
    # -- Wasm exceptions: setjmp/longjmp is compiled to the exception-handling proposal (buildvars.SETJMP_*), and a
    # module that calls setjmp does not even load without it (`exceptions proposal not enabled`). The command-line
    # equivalent is `wasmtime run -W exceptions=y`.
    config.wasm_exceptions = True
    return config


def run_module(wasm: Path, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
               dirs: Mapping[str, str] | None = None, stdin: Path | None = None,
               stdout: Path | None = None, stderr: Path | None = None, timeout: float = DEFAULT_TIMEOUT,
               max_memory_mb: int = DEFAULT_MAX_MEMORY_MB, max_wasm_stack_kb: int = DEFAULT_MAX_WASM_STACK_KB,
               should_stop: Callable[[], bool] | None = None) -> int:
    """Run ``wasm``'s ``_start`` and return its exit code.

    ``argv`` includes argv[0]. ``dirs`` maps host directories to guest paths. stdout/stderr go to the given files,
    or to this process's own streams. A trap, a module that cannot be loaded, a missing preopened directory, or a
    run past ``timeout`` raises RunError; a run stopped by a signal or ``should_stop`` raises RunInterrupted.
    """
    import wasmtime  # lazy: only runs need it

    if not (math.isfinite(timeout) and 0 < timeout <= MAX_TIMEOUT):
        raise RunError(f"timeout: expected seconds above 0 and at most {MAX_TIMEOUT:g}, got {timeout!r}")
    if not (isinstance(max_memory_mb, int) and 1 <= max_memory_mb <= MAX_MEMORY_MB):
        raise RunError(f"max_memory_mb: expected a whole number from 1 to {MAX_MEMORY_MB}, got {max_memory_mb!r}")
    for host, guest in (dirs or {}).items():
        if not os.path.isdir(host):
            raise RunError(f"cannot preopen {host} as {guest} for {wasm}: "
                           f"{'no such directory' if not os.path.exists(host) else 'not a directory'}",
                           hint="create the directory before the run, or fix the dirs= of the WasiRun call")
    engine = wasmtime.Engine(_engine_config(wasmtime, max_wasm_stack_kb))
    component = is_component(_read_header(wasm))
    try:
        if component:
            from wasmtime import component as wasmtime_component

            module = wasmtime_component.Component.from_file(engine, str(wasm))
        else:
            module = wasmtime.Module.from_file(engine, str(wasm))
    except (wasmtime.WasmtimeError, OSError) as e:
        raise RunError(f"cannot load {wasm} as a WebAssembly {'component' if component else 'module'}: {e}",
                       hint=_load_hint(str(e))) from None
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
    store.set_limits(memory_size=max_memory_mb << 20)
    store.set_epoch_deadline(1)  # only this function bumps the epoch, and only to stop the module
    if component:
        run_interface = _run_interface(module, engine, wasm)
        linker = wasmtime_component.Linker(engine)
        linker.add_wasip2()
    else:
        linker = wasmtime.Linker(engine)
        linker.define_wasi()
    # The module writes straight to file descriptors 1 and 2; flush what Python has buffered first.
    sys.stdout.flush()
    sys.stderr.flush()

    outcome: list[BaseException | int] = []

    def start_module() -> None:
        try:
            instance = linker.instantiate(store, module)
            if component:
                interface = instance.get_export_index(store, run_interface)
                run = instance.get_func(store, instance.get_export_index(store, "run", interface))
                # run: func() -> result; main's non-zero return arrives as err (or as an ExitTrap, below).
                result = run(store)
                outcome.append(1 if getattr(result, "tag", "ok") == "err" else 0)
                return
            start = instance.exports(store).get("_start")
            if not isinstance(start, wasmtime.Func):
                raise RunError(f"{wasm} has no _start export: it is not a WASI command module",
                               hint="link it with the default WASI_EXECMODEL='command'")
            start(store)
            outcome.append(0)
        except BaseException as e:  # noqa: BLE001 - handed to the watching thread
            outcome.append(e)

    stop_reason = _watch(threading.Thread(target=start_module, name=f"wasi-run {wasm.name}", daemon=True),
                         engine, timeout, should_stop)
    if stop_reason is not None and not outcome:
        outcome.append(RunError("it did not stop"))  # still in a host call after the grace period
    result = outcome[0]
    if isinstance(result, int):
        return result
    if isinstance(result, wasmtime.ExitTrap):
        return result.code
    if stop_reason == "timeout":
        raise RunError(f"{wasm} did not finish within {timeout:g} s, so it was stopped (WasiRun timeout={timeout:g})",
                       hint="if it needs longer, raise timeout= in the WasiRun call; a module waiting for "
                            "something that never comes runs for ever") from None
    if stop_reason is not None:
        raise RunInterrupted(f"{wasm} was stopped: {stop_reason}") from None
    if isinstance(result, RunError):
        raise result
    if isinstance(result, wasmtime.Trap):
        from .symbolize import symbolize_for  # names from <module>.wasm.names, when the link kept them

        raise RunError(f"{wasm} trapped: {symbolize_for(Path(wasm), result.message)}",
                       hint=_trap_hint(wasm, result.message, max_wasm_stack_kb)) from None
    if isinstance(result, wasmtime.WasmtimeError):
        if "exceeds memory limits" in str(result):  # its memory at start (the C stack among it) is past the cap
            raise RunError(f"{wasm} could not be instantiated: {result} (WasiRun max_memory_mb={max_memory_mb})",
                           hint="raise max_memory_mb= in the WasiRun call, or link it with a smaller "
                                "WASI_STACK_SIZE (the C stack is part of the memory a module starts with)") from None
        raise RunError(f"{wasm} could not be instantiated: {result}",
                       hint=f"it imports something other than WASI preview {2 if component else 1}") from None
    raise result


def _trap_hint(wasm: Path, message: str, max_wasm_stack_kb: int) -> str | None:
    """"stack overflow: raise WASI_STACK_SIZE …" (or raise max_wasm_stack_kb) for a trap that is one, else None."""
    try:
        module = wasm.read_bytes()
    except OSError:
        module = b""
    return stack_hint(module, message, max_wasm_stack_kb)


def _load_hint(error: str) -> str:
    """The next step after a module failed to load. Exception handling gets its own: this engine runs the standard
    (exnref) encoding that C++ exceptions (WASI_CXX_EXCEPTIONS) and setjmp compile to, but not the legacy one."""
    if "exception" in error and "legacy" in error:
        return ("it uses the legacy encoding of Wasm exceptions (`try`/`catch`), which wasmtime does not run; "
                "rebuild it with this tool, whose flags give the standard encoding (-wasm-use-legacy-eh=false)")
    if "exception" in error:  # wasmtime 50: "exception refs not supported without the exception handling feature"
        return ("it uses Wasm exceptions (C++ exceptions or setjmp/longjmp), and this wasmtime has them off; "
                "use the wasmtime-py of requirements.txt (Config.wasm_exceptions), or `wasmtime run -W exceptions=y`")
    return "rebuild it with scons; was it built for a WASI target?"


def _run_interface(component: Any, engine: Any, wasm: Path) -> str:
    """The name of the component's ``wasi:cli/run@0.2.x`` export: only a command component has one."""
    names = sorted(name for name in component.type.exports(engine) if name.startswith(RUN_INTERFACE))
    if not names:
        raise RunError(f"{wasm} is a component with no wasi:cli/run export: it is not a WASI command component",
                       hint="link it with the default WASI_EXECMODEL='command'")
    return names[-1]


def _watch(worker: threading.Thread, engine: Any, timeout: float,
           should_stop: Callable[[], bool] | None) -> str | None:
    """Run ``worker`` and wait for it, stopping the module when needed. Returns why it was stopped, or None."""
    signalled: list[int] = []
    with _chained_signal_handlers(signalled):
        worker.start()
        deadline = time.monotonic() + timeout
        reason: str | None = None
        try:
            while worker.is_alive():
                worker.join(_POLL)
                if reason is not None:
                    continue
                if signalled:
                    reason = f"interrupted by {signal.Signals(signalled[0]).name}"
                elif should_stop is not None and should_stop():
                    reason = "the build was interrupted"
                elif time.monotonic() > deadline:
                    reason = "timeout"
                if reason is not None:
                    engine.increment_epoch()
                    worker.join(_STOP_GRACE)
                    break
        except BaseException:  # e.g. KeyboardInterrupt from a handler we chained to: stop the module, then go on
            engine.increment_epoch()
            worker.join(_STOP_GRACE)
            raise
    return reason


@contextmanager
def _chained_signal_handlers(signalled: list[int]) -> Iterator[None]:
    """In the main thread, note SIGINT/SIGTERM/SIGHUP in ``signalled`` and pass each on to the handler that was in
    place (SCons's, which stops the build; Python's, which raises KeyboardInterrupt). Elsewhere, nothing: only the
    main thread may set handlers, and the caller's ``should_stop`` covers that case."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: dict[int, Any] = {}

    def handler(signum: int, frame: Any) -> None:
        before = previous.get(signum)
        if before == signal.SIG_IGN:
            return
        signalled.append(signum)
        if callable(before):
            before(signum, frame)

    for signum in _SIGNALS:
        previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, before in previous.items():
            signal.signal(signum, before if before is not None else signal.SIG_DFL)
        for signum in signalled:
            if previous.get(signum) == signal.SIG_DFL:
                signal.raise_signal(signum)  # the default action (terminate), now that the module is stopped
                break


# -- checking WasiRun's arguments (the SCons glue reports a failure with the caller's file and line) -------------
def check_expect_exit(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 255:
        raise RunError(f"WasiRun expect_exit: expected a whole number from 0 to 255, got {value!r}",
                       hint="pass the exit code the program should end with, e.g. expect_exit=0")
    return value


def check_environment(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RunError(f"WasiRun env: expected a dict of strings, got {type(value).__name__} {value!r}",
                       hint="pass env={'NAME': 'value'}")
    for name, text in value.items():
        if not isinstance(name, str) or not name or "=" in name or "\0" in name:
            raise RunError(f"WasiRun env: expected variable names as non-empty strings without '=', got {name!r}",
                           hint="pass env={'NAME': 'value'}")
        if not isinstance(text, str) or "\0" in text:
            raise RunError(f"WasiRun env: the value of {name} must be a string, got {type(text).__name__} {text!r}",
                           hint=f"pass env={{{name!r}: str(...)}}")
    return dict(value)


def check_dirs(value: object) -> dict[str, str]:
    """Types only; whether each host directory exists is checked by the caller, which knows what the build makes."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RunError(f"WasiRun dirs: expected a dict of host directory to guest path, got {value!r}",
                       hint="pass dirs={'data': '/data'}")
    for host, guest in value.items():
        if not isinstance(host, str) or not host or not isinstance(guest, str) or not guest:
            raise RunError(f"WasiRun dirs: expected a non-empty host directory and guest path as strings, got "
                           f"{host!r}: {guest!r}", hint="pass dirs={'data': '/data'}")
    return dict(value)


def check_timeout(value: object) -> float:
    if value is None:
        return DEFAULT_TIMEOUT
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
            math.isfinite(value) and 0 < value <= MAX_TIMEOUT):
        raise RunError(f"WasiRun timeout: expected seconds above 0 and at most {MAX_TIMEOUT:g}, got {value!r}",
                       hint=f"leave it out for the default ({DEFAULT_TIMEOUT:g} s) or give a number of seconds")
    return float(value)


def check_max_memory_mb(value: object) -> int:
    if value is None:
        return DEFAULT_MAX_MEMORY_MB
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MEMORY_MB:
        raise RunError(f"WasiRun max_memory_mb: expected a whole number of MiB from 1 to {MAX_MEMORY_MB}, got "
                       f"{value!r}", hint=f"leave it out for the default ({DEFAULT_MAX_MEMORY_MB} MiB)")
    return value
