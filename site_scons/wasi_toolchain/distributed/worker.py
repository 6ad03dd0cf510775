"""The worker side: `scons wasi-distcc-worker` runs distccd for the toolchain of the lock in the current checkout.

    scons wasi-distcc-worker --wasi-listen=ADDR:PORT --wasi-allow=CIDR [--wasi-jobs=N] [--wasi-log=FILE]

The glue first fetches the lock's toolchain into this machine's store (the same fetch as any build), then this
module adds the entry's compiler to distcc's allowed-compiler list, ``<store>/distcc/cmdlist``, and runs distccd
in the foreground until SIGTERM or Ctrl-C. distccd reads that list on every job with
``DISTCC_CMDLIST_NUMWORDS=3``: a client's ``<its store>/sysroots/<key>/bin/clang`` runs here as
``<this store>/sysroots/<key>/bin/clang``, so the stores may live anywhere, the key must match, and a client of a
lock whose toolchain is not on the list is refused (distccd logs ``lookup of … in DISTCC_CMDLIST failed``). Each
run adds its lock's entry and keeps the others': one worker serves several locks, and a running distccd serves an
entry added by a later run at once.

distcc has no authentication: anyone the --allow list admits can run the listed compilers here. So there is no
default for --wasi-allow, and ssh hosts are the answer for untrusted networks: ``--wasi-ssh`` prepares the store
and writes ``<store>/distcc/distccd-ssh``, distccd with the list, which a client names as
``@worker/4:<that path>`` in WASI_DISTCC_HOSTS; ssh starts it per connection and no daemon listens.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import stat
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import DistributedError
from ..settings import MAX_JOBS

CMDLIST = Path("distcc") / "cmdlist"  # under the store root
CMDLIST_NUMWORDS = 3  # <key>/bin/clang
SSH_LAUNCHER = Path("distcc") / "distccd-ssh"  # under the store root
_USAGE = ("scons wasi-distcc-worker --wasi-listen=ADDR:PORT --wasi-allow=CIDR [--wasi-jobs=N] [--wasi-log=FILE], or "
          "scons wasi-distcc-worker --wasi-ssh")


@dataclass(frozen=True)
class WorkerOptions:
    address: str  # the IP address distccd listens on ("" with ssh_only)
    port: int
    allow: tuple[str, ...]  # networks distccd accepts clients from, as given (validated)
    jobs: int | None  # None: distccd's default (the CPUs + 2)
    log: Path | None  # distccd's log; None: this process's stderr
    ssh_only: bool = False  # --wasi-ssh: prepare the store for ssh clients, run no daemon

    @property
    def listen(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def worker_options(listen: str | None, allow: Sequence[str], jobs: str | None, log: str | None,
                   *, base: Path, ssh_only: bool = False) -> WorkerOptions:
    """The worker's options, checked; DistributedError for a missing or bad one (paths relative to ``base``)."""
    if ssh_only:
        if listen or allow or jobs or log:
            raise DistributedError("--wasi-ssh runs no daemon, so --wasi-listen, --wasi-allow, --wasi-jobs and "
                                   "--wasi-log do not apply to it", hint="give either --wasi-ssh or those options")
        return WorkerOptions("", 0, (), None, None, ssh_only=True)
    if not allow:
        raise DistributedError(
            "wasi-distcc-worker refuses to start without --wasi-allow: distcc has no authentication, so every "
            "address a worker admits can run its compilers",
            hint="allow only your build machines, e.g. --wasi-allow=192.168.1.0/24 (repeatable); on an untrusted "
                 "network, use ssh hosts instead: `scons wasi-distcc-worker --wasi-ssh` prepares this machine for "
                 "them (@worker in WASI_DISTCC_HOSTS: no daemon, ssh's own authentication)")
    networks = []
    for value in allow:
        try:
            networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise DistributedError(f"--wasi-allow: expected an address or network such as 192.168.1.0/24, got "
                                   f"{value!r}", hint=_USAGE) from None
    if not listen:
        raise DistributedError("wasi-distcc-worker needs --wasi-listen=ADDR:PORT, the address of this machine that "
                               "clients connect to (e.g. --wasi-listen=192.168.1.5:3632)", hint=_USAGE)
    address, _, port_text = listen.strip().rpartition(":")
    address = address.removeprefix("[").removesuffix("]")
    try:
        ipaddress.ip_address(address)
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise DistributedError(f"--wasi-listen: expected an IP address and a port, ADDR:PORT (e.g. 192.168.1.5:3632 "
                               f"or [::1]:3632), got {listen!r}", hint=_USAGE) from None
    job_limit = None
    if jobs is not None and jobs.strip():
        try:
            job_limit = int(jobs)
        except ValueError:
            job_limit = 0
        if not 1 <= job_limit <= MAX_JOBS:
            raise DistributedError(f"--wasi-jobs: expected a whole number from 1 to {MAX_JOBS}, got {jobs!r}",
                                   hint=_USAGE)
    log_path = (base / log).absolute() if log else None
    return WorkerOptions(address, port, tuple(networks), job_limit, log_path)


# -- the allowed-compiler list -------------------------------------------------------------------------------------
def cmdlist_path(store_root: Path) -> Path:
    return store_root / CMDLIST


def add_compilers(cmdlist: Path, compilers: Sequence[Path]) -> list[str]:
    """Add ``compilers`` (absolute paths) to the list at ``cmdlist``, keep what earlier runs added whose compiler
    still exists (an entry pruned since is dropped), and return the list. Written to a temp file and renamed: a
    running distccd reads it on every job and must never see half of it. The caller holds the store's lock."""
    try:
        current = cmdlist.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        current = []
    except OSError as e:
        raise DistributedError(f"cannot read distcc's compiler list {cmdlist}: {e.strerror}") from None
    kept = [line for line in current if line.strip() and os.path.isfile(line.strip())]
    lines = list(dict.fromkeys([*kept, *(str(c) for c in compilers)]))
    temp = cmdlist.with_name(f".tmp-{cmdlist.name}-{os.getpid()}")
    try:
        cmdlist.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        temp.chmod(0o644)
        os.replace(temp, cmdlist)
    except OSError as e:
        raise DistributedError(f"cannot write distcc's compiler list {cmdlist}: {e.strerror}") from None
    finally:
        temp.unlink(missing_ok=True)
    return lines


def write_ssh_launcher(store_root: Path, distccd: str) -> Path:
    """``<store>/distcc/distccd-ssh``: distccd with this store's compiler list, for ssh hosts. A client's
    ``@worker/4:<this path>`` makes distcc start it over ssh (``--inetd --enable-tcp-insecure``) instead of a bare
    distccd, which would run the client's compiler path as it is (a store at the same path, and no key check)."""
    import shlex

    launcher = store_root / SSH_LAUNCHER
    text = (f"#!/bin/sh\n# Written by scons-wasi (scons wasi-distcc-worker): distccd with this store's compiler "
            f"list, for ssh hosts.\nDISTCC_CMDLIST={shlex.quote(str(cmdlist_path(store_root)))} "
            f"DISTCC_CMDLIST_NUMWORDS={CMDLIST_NUMWORDS} exec {shlex.quote(distccd)} \"$@\"\n")
    temp = launcher.with_name(f".tmp-{launcher.name}-{os.getpid()}")
    try:
        launcher.parent.mkdir(parents=True, exist_ok=True)
        temp.write_text(text, encoding="utf-8")
        temp.chmod(0o755)
        os.replace(temp, launcher)
    except OSError as e:
        raise DistributedError(f"cannot write the ssh launcher {launcher}: {e.strerror}") from None
    finally:
        temp.unlink(missing_ok=True)
    return launcher


def check_readable_by_others(path: Path) -> None:
    """distccd started as root runs its jobs as an unprivileged user (distccd, distcc or nobody): the compiler and
    every directory above it must be open to others. DistributedError naming the first that is not."""
    current = path
    for part in [path, *path.parents]:
        current = part
        try:
            mode = os.stat(current).st_mode
        except OSError:
            continue
        needed = stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH | stat.S_IXOTH
        if mode & needed != needed:
            raise DistributedError(
                f"distccd, started as root, compiles as an unprivileged user, who cannot reach {path}: {current} "
                f"is mode {stat.S_IMODE(mode):o}",
                hint="run the worker as an ordinary user, or point WASI_CACHE_DIR at a directory others can read")


# -- distccd -------------------------------------------------------------------------------------------------------
def distccd_command(distccd: str, options: WorkerOptions) -> list[str]:
    """distccd in the foreground (--no-detach), its log on stderr (which the caller points at --wasi-log: a file
    we open ourselves, so distccd needs no write access to it after dropping root), one notice line per job."""
    command = [distccd, "--daemon", "--no-detach", "--listen", options.address, "--port", str(options.port),
               "--log-stderr", "--log-level=notice"]
    for network in options.allow:
        command += ["--allow", network]
    if options.jobs is not None:
        command += ["--jobs", str(options.jobs)]
    return command


def distccd_environment(cmdlist: Path, environ: Mapping[str, str]) -> dict[str, str]:
    return {**environ, "DISTCC_CMDLIST": str(cmdlist), "DISTCC_CMDLIST_NUMWORDS": str(CMDLIST_NUMWORDS)}


def run_distccd(command: Sequence[str], env: Mapping[str, str], log: Path | None) -> int:
    """Run distccd until it exits, or until this process gets SIGTERM, SIGINT or SIGHUP, which are passed on to
    it (and the exit code 0 returned). Signal handlers can be set only in the main thread; elsewhere a terminal's
    Ctrl-C still reaches distccd, which is in the same process group."""
    log_file = None
    try:
        if log is not None:
            log.parent.mkdir(parents=True, exist_ok=True)
            log_file = open(log, "ab")
        process = subprocess.Popen(list(command), env=dict(env), stdin=subprocess.DEVNULL, stderr=log_file)
    except OSError as e:
        if log_file is not None:
            log_file.close()
        raise DistributedError(f"cannot start {command[0]}: {e.strerror}") from None
    stopping: list[int] = []

    def stop(signum: int, frame: object) -> None:
        stopping.append(signum)
        process.terminate()

    previous: dict[int, object] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            previous[signum] = signal.signal(signum, stop)
    try:
        returncode = process.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        if process.poll() is None:
            process.terminate()
            process.wait()
        if log_file is not None:
            log_file.close()
    return 0 if stopping else returncode
