"""Glue for distributed compilation on distcc (the work is in wasi_toolchain.distributed): the launcher in the
compile commands, the compile commands' environment, the spawn that reads distcc's output, and the commands
`scons wasi-distcc-worker` and `scons wasi-distcc-check`."""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import SCons.Action
import SCons.Errors
import SCons.Script

from wasi_toolchain.errors import WasiError

from .command_line import worker_options
from .nodes import toolchain_node

if TYPE_CHECKING:
    from wasi_toolchain.distributed.client import DistccClient, FallbackReport

# wasi_toolchain.distributed.client (three dataclasses, the host list's regexes) is imported only by a build that
# uses distcc or runs one of its commands: every other start-up would pay ~4 ms for it. Hence its HOSTS_VARIABLE
# spelled here too (tests/test_distcc.py sets it, as a construction and an environment variable, and expects the
# client's own checks).
HOSTS_VARIABLE = "WASI_DISTCC_HOSTS"
WORKER_ALIAS = "wasi-distcc-worker"
CHECK_ALIAS = "wasi-distcc-check"
_fallbacks: list[FallbackReport] = []  # the one report, made with the first client
_defined: set[str] = set()


def use_distcc(env: Any) -> None:
    """With WASI_DISTCC_HOSTS (the construction variable, else the environment variable): every compile goes
    through distcc. Raises WasiError (distcc missing, a host list distcc cannot use)."""
    hosts = env.get(HOSTS_VARIABLE)
    text = os.environ.get(HOSTS_VARIABLE, "") if hosts is None else hosts
    if isinstance(text, str) and not text.strip():
        env["WASI_DISTCC_CLIENT"] = None  # unset or empty: compile here, as client.configure decides too
        return
    from wasi_toolchain.distributed.client import FallbackReport, configure

    client = configure(hosts, env.get("WASI_DISTCC_STRICT"), os.environ)
    env["WASI_DISTCC_CLIENT"] = client
    if client is None:
        return
    if not _fallbacks:
        _fallbacks.append(FallbackReport())
        atexit.register(_warn_fallbacks)
    env["ENV"].update(client.command_environment())  # SCons does not pass os.environ to commands
    env["WASI_DISTCC"] = client.distcc
    if not getattr(env["SPAWN"], "wasi_distcc", False):
        env["SPAWN"] = _distributed_spawn(env["SPAWN"], client)


def distributing(env: Any) -> bool:
    """True when this environment's compiles go through distcc (batching.py then keeps them one file each: distcc
    sends one source per job, and runs a command with several sources here)."""
    client: DistccClient | None = env.get("WASI_DISTCC_CLIENT")
    if client is None:
        return False
    hosts = env.get(HOSTS_VARIABLE)
    return hosts is None or (str(hosts).strip() != "" and hosts == client.hosts_text)


def distcc_launcher(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
    """The distcc client before the compiler, or nothing. Only used inside $( $): never in a signature, so the
    same targets are up to date whichever way they were built. A Clone or builder call with
    WASI_DISTCC_HOSTS='' compiles here."""
    if for_signature:
        return ""
    client: DistccClient | None = env.get("WASI_DISTCC_CLIENT")
    hosts = env.get(HOSTS_VARIABLE)
    loaded = client.hosts_text if client is not None else ""
    if hosts is not None and hosts != loaded:
        if not str(hosts).strip():
            return ""
        raise SCons.Errors.UserError(
            f"{HOSTS_VARIABLE} was changed after the tool was loaded ({loaded!r}, now {hosts!r}); one build uses one "
            f"host list\n  next step: set it in Environment(..., {HOSTS_VARIABLE}=…) or in the environment, or set "
            f"it to '' on a Clone to compile those targets here")
    return "" if client is None else "$WASI_DISTCC"


def _distributed_spawn(spawn: Any, client: DistccClient) -> Any:
    """``spawn``, except for distcc's commands: those run with distcc's own stderr lines taken out, a fallback to
    this machine counted for one warning at exit, and (WASI_DISTCC_STRICT=1) a compile no host took reported as
    one error of ours."""
    from wasi_toolchain.distributed.client import run_compile

    from .spawn import _unquoted

    def spawn_distributed(shell: str, escape: Any, command: str, args: list[str], env: dict[str, str]) -> Any:
        if not args or args[0] != client.distcc:
            return spawn(shell, escape, command, args, env)
        words = _unquoted(args)
        argv = words if words is not None else [shell, "-c", " ".join(args)]
        if words is not None and sys.stderr.isatty():  # as spawn.py does: the pipe would lose clang's colours
            argv = [*argv, "-fcolor-diagnostics"]
        outcome = run_compile(argv, env)
        if outcome.stderr:
            sys.stderr.write(outcome.stderr)
        if outcome.fell_back is not None:
            _fallbacks[0].add(outcome.fell_back)
        if outcome.failure is not None:
            source = next((w for w in reversed(words or []) if not w.startswith("-")), "a source")
            raise SCons.Errors.BuildError(
                errstr=f"distcc could not compile {source} on any host, and WASI_DISTCC_STRICT=1 forbids compiling "
                       f"it here: {outcome.failure}\n  next step: `scons {CHECK_ALIAS}` tests each host",
                exitstatus=outcome.returncode)
        if outcome.returncode != 0 and outcome.stderr:
            from wasi_toolchain.targets.hints import hint_for

            if (hint := hint_for(outcome.stderr)) is not None:
                sys.stderr.write(hint + "\n")
        sys.stderr.flush()
        return outcome.returncode

    spawn_distributed.wasi_distcc = True  # type: ignore[attr-defined]
    return spawn_distributed


def _warn_fallbacks() -> None:
    if (warning := _fallbacks[0].warning()) is not None:
        print(warning, file=sys.stderr, flush=True)


# -- `scons wasi-distcc-worker`, `scons wasi-distcc-check` ---------------------------------------------------------
def define_distcc_aliases(env: Any) -> None:
    """The two commands, for the first environment of the build (one lock, one store). The worker's options are
    checked while the SConstruct is read, so a worker without --wasi-allow refuses before fetching anything."""
    targets = SCons.Script.COMMAND_LINE_TARGETS
    quiet = lambda *args, **kw: None  # noqa: E731 - the actions print their own report
    if WORKER_ALIAS in targets and WORKER_ALIAS not in _defined:
        _defined.add(WORKER_ALIAS)
        from wasi_toolchain.distributed.worker import worker_options as checked_options

        listen, allow, jobs, log, ssh_only = worker_options()
        try:
            options = checked_options(listen, allow, jobs, log, base=Path(SCons.Script.GetLaunchDir()),
                                      ssh_only=ssh_only)
        except WasiError as e:
            raise SCons.Errors.UserError(str(e)) from None
        SCons.Script.SetOption("num_jobs", 1)  # the worker runs in the main thread, which alone gets signals
        worker = env.Alias(WORKER_ALIAS, [toolchain_node(env)], SCons.Action.Action(_worker_action, strfunction=quiet),
                           WASI_WORKER_OPTIONS=options)
        env.AlwaysBuild(worker)
    if CHECK_ALIAS in targets and CHECK_ALIAS not in _defined:
        _defined.add(CHECK_ALIAS)
        env.AlwaysBuild(env.Alias(CHECK_ALIAS, [toolchain_node(env)],
                                  SCons.Action.Action(_check_action, strfunction=quiet)))


def _worker_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.distributed import worker
    from wasi_toolchain.distributed.client import find_program
    from wasi_toolchain.store.store import Store

    options: worker.WorkerOptions = env["WASI_WORKER_OPTIONS"]
    toolchain = env["WASI_TOOLCHAIN"]
    settings = env["WASI_SETTINGS"]
    try:
        distccd = find_program("distccd", os.environ)
        if os.geteuid() == 0:
            worker.check_readable_by_others(toolchain.clang)
        store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
        cmdlist = worker.cmdlist_path(store.root)
        with store.locked("distcc-cmdlist", "adding a toolchain to distcc's compiler list"):
            compilers = worker.add_compilers(cmdlist, [toolchain.clang])
            launcher = worker.write_ssh_launcher(store.root, distccd)
        if options.ssh_only:
            print(f"wasi: {toolchain.key} is ready for ssh clients ({len(compilers)} toolchain(s) in {cmdlist}); "
                  f"they name this machine as @HOST/LIMIT:{launcher} in WASI_DISTCC_HOSTS", flush=True)
            return 0
        print(f"wasi: distcc worker for {toolchain.key} on {options.listen}, admitting {', '.join(options.allow)}; "
              f"{len(compilers)} toolchain(s) in {cmdlist}; SIGTERM or Ctrl-C stops it", flush=True)
        returncode = worker.run_distccd(worker.distccd_command(distccd, options),
                                        worker.distccd_environment(cmdlist, os.environ), options.log)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    if returncode != 0:
        said = ""
        if options.log is not None:  # otherwise its lines are just above, on stderr
            errors = [line for line in options.log.read_text(errors="replace").splitlines() if "ERROR" in line]
            said = f": {errors[-1].split('ERROR: ', 1)[-1]} (its log: {options.log})" if errors else ""
        raise SCons.Errors.BuildError(node=target[0], errstr=f"distccd exited with {returncode}{said}",
                                      exitstatus=2)
    return 0


def _check_action(target: Sequence[Any], source: Sequence[Any], env: Any) -> int:
    from wasi_toolchain.distributed.check import check_hosts, report_lines
    from wasi_toolchain.targets import buildvars

    client: DistccClient | None = env.get("WASI_DISTCC_CLIENT")
    if client is None:
        raise SCons.Errors.BuildError(node=target[0], errstr=f"{CHECK_ALIAS}: {HOSTS_VARIABLE} is not set, so there is "
                                                             f"no host to check", exitstatus=2)
    toolchain = env["WASI_TOOLCHAIN"]
    flags = [f"--target={buildvars.clang_target(env.subst('$WASI_TARGET'))}", f"--sysroot={toolchain.sysroot}",
             "-O2", "-fdebug-compilation-dir=."]
    try:
        reports = check_hosts(client.hosts, client.distcc, str(toolchain.clang), flags, env["ENV"],
                              key=toolchain.key)
    except WasiError as e:
        raise SCons.Errors.BuildError(node=target[0], errstr=str(e), exitstatus=2) from None
    print(f"wasi: distcc hosts for {toolchain.key}:", flush=True)
    for line in report_lines(reports):
        print(line, flush=True)
    failed = [r for r in reports if not r.ok]
    if failed:
        raise SCons.Errors.BuildError(node=target[0], errstr=f"{len(failed)} of {len(reports)} distcc hosts cannot "
                                                             f"compile for this lock", exitstatus=1)
    return 0
