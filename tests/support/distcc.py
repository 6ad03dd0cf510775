"""distcc workers on loopback for the tests and the bench: started with the real `scons wasi-distcc-worker`, each
with a store of its own, and a client compiler that refuses to compile (test mode).

When the tests run as root, distccd runs its jobs as an unprivileged user (distccd, distcc or nobody). pytest's
temp dirs are private to root, so the workers' stores and logs live in a directory that others can read.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from .nginx import free_port  # noqa: F401 - one free-port helper for the support package

REPO = Path(__file__).resolve().parents[2]
WORKER_SCONSTRUCT = "Environment(tools=['wasi'])\n"
# The client's compiler in test mode: it preprocesses (distcc runs it with -E) and links, but refuses -c, so
# every object must come from a worker.
GUARD = """#!/bin/sh
for arg in "$@"; do
  if [ "$arg" = -c ]; then echo "$0 $*" >> {log}; echo "guard: no compiling on the client" >&2; exit 97; fi
done
exec "$0.real" "$@"
"""


def distcc_installed() -> bool:
    return shutil.which("distcc") is not None and shutil.which("distccd") is not None


def shared_dir(prefix: str) -> Path:
    """A temp dir that distccd's unprivileged user can traverse (the caller removes it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def link_store(store: Path, to: Path, *, keep: tuple[str, ...] = ()) -> Path:
    """Another WASI_CACHE_DIR holding ``store``'s entries, hard-linked (nothing writes into a published entry)."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    (to / "sysroots").mkdir(parents=True)
    for entry in toolchain_entries(store):
        shutil.copytree(entry, to / "sysroots" / entry.name, symlinks=True, copy_function=link)
    return to


def toolchain_entries(store: Path, provider: str = "") -> list[Path]:
    """The LLVM toolchain entries of ``store`` (bin/clang and a sysroot), of ``provider`` if given: not the other
    entries that earlier e2e tests may have added to the session's store (component tools, the C++ runtime,
    wasm-opt), which a distcc worker has no use for."""
    return [entry for entry in sorted((store / "sysroots").iterdir())
            if (entry / "bin" / "clang").exists() and (entry / "sysroot").is_dir()
            and entry.name.startswith(f"{provider}-" if provider else "")]


def guard_compiler(store: Path, log: Path) -> None:
    """Make bin/clang of every toolchain entry in ``store`` a guard: it runs the real wrapper (kept beside it as
    clang.real) except with -c, which it refuses, writing the command to ``log``."""
    for entry in (store / "sysroots").iterdir():
        clang = entry / "bin" / "clang"
        if not clang.exists():
            continue
        real = clang.with_name("clang.real")
        shutil.copy2(clang, real)  # a copy: clang is a hard link into another store
        clang.unlink()
        clang.write_text(GUARD.format(log=log))
        clang.chmod(0o755)


def listening(port: int) -> bool:
    """Whether something listens on 127.0.0.1:port, from /proc/net/tcp: connecting to distccd to find out would
    leave an error in its log."""
    wanted = f"0100007F:{port:04X}"
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return False
    return any(line.split()[1] == wanted and line.split()[3] == "0A" for line in lines)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


@dataclass
class Worker:
    port: int
    store: Path
    log: Path
    process: subprocess.Popen[str]
    output: Path
    stopped: bool = field(default=False)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def compiled(self) -> list[str]:
        """The COMPILE_OK lines of its log: one per job it compiled."""
        return [line for line in self.log.read_text().splitlines() if "COMPILE_OK" in line] if self.log.exists() else []

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop it: SIGTERM to the scons process (which passes it on to distccd), or another signal to the whole
        process group (SIGKILL: a worker dying)."""
        if self.stopped:
            return
        self.stopped = True
        if sig == signal.SIGTERM:
            self.process.send_signal(sig)
        else:  # distccd leads a process group of its own (its preforked children)
            for pid in [self.process.pid, *children(self.process.pid)]:
                try:
                    os.killpg(os.getpgid(pid), sig)
                except ProcessLookupError:
                    pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.stopped = False
            self.stop(signal.SIGKILL)
        deadline = time.monotonic() + 10
        while listening(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def start_worker(base: Path, name: str, store: Path, *, jobs: int = 2, extra_env: dict[str, str] | None = None,
                 allow: str | None = "127.0.0.1") -> Worker:
    """`scons wasi-distcc-worker` in a checkout of this repository's lock under ``base``, serving ``store``."""
    checkout = base / f"{name}-checkout"
    checkout.mkdir()
    (checkout / "SConstruct").write_text(WORKER_SCONSTRUCT)
    shutil.copy(REPO / "toolchain.lock", checkout / "toolchain.lock")
    port = free_port()
    log = base / f"{name}.log"
    output = base / f"{name}.out"
    args = [sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", "wasi-distcc-worker",
            f"--wasi-listen=127.0.0.1:{port}", f"--wasi-jobs={jobs}", f"--wasi-log={log}"]
    if allow is not None:
        args.append(f"--wasi-allow={allow}")
    env = {**os.environ, "WASI_CACHE_DIR": str(store), **(extra_env or {})}
    with open(output, "w") as out:
        process = subprocess.Popen(args, cwd=checkout, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
                                   start_new_session=True)
    worker = Worker(port, store, log, process, output)
    deadline = time.monotonic() + 120
    while not listening(port):
        if process.poll() is not None or time.monotonic() > deadline:
            worker.stop(signal.SIGKILL)
            raise AssertionError(f"worker {name} did not start:\n{output.read_text()}")
        time.sleep(0.05)
    return worker
