"""Distributed compilation with real distcc workers on loopback and the real toolchain.

Two workers, each started with the real `scons wasi-distcc-worker` and a store of its own (hard links to the
session's entry), lose their sysroot and resource dir once started: plain mode needs only the compiler there. The
client's compiler refuses -c (test mode, support/distcc.py), and the build is strict (no local fallback), so every
object must come from a worker.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.distcc import (Worker, children, distcc_installed, free_port, guard_compiler, link_store, listening,
                            shared_dir, start_worker, toolchain_entries)
from support.helpers import REPO, make_project, run_scons

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not distcc_installed(), reason="distcc is not installed (apt-get install distcc)")]

# C and C++, a library, and a debug variant of one object (-g, whose debug info must not name the worker's temp
# dir). No macros in function bodies: a worker compiles preprocessed text, and where a macro expands, -g's line
# table columns can differ from a compile of the source (docs/distributed.md).
SOURCES = {
    "SConstruct": """
env = Environment(tools=['wasi'])
lib = env.WasiLibrary('build/util', ['lib/twice.c', 'lib/square.c'])
env.WasiProgram('build/app', ['src/main.c', 'src/sum.c'], LIBS=['util'], LIBPATH=['build'], CPPPATH=['lib'])
env.WasiProgram('build/cxx', ['src/words.cpp', 'src/count.cc'])
debug = env.Clone(WASI_CCFLAGS=['-O0', '-g'], WASI_OBJSUFFIX='.debug.o')
debug.WasiProgram('build/app-debug', ['src/main.c', 'src/sum.c'], LIBS=['util'], LIBPATH=['build'], CPPPATH=['lib'])
""",
    "lib/util.h": "int twice(int x);\nint square(int x);\n",
    "lib/twice.c": "int twice(int x) { return 2 * x; }\n",
    "lib/square.c": "int square(int x) { return x * x; }\n",
    "src/sum.c": "int sum(int n) { int s = 0; for (int i = 1; i <= n; i++) s += i; return s; }\n",
    "src/main.c": '#include "util.h"\nint sum(int n);\nint main(int argc, char **argv) {\n'
                  "    (void)argv;\n    return twice(argc) + square(3) + sum(4) == 25 ? 0 : 1;\n}\n",
    "src/words.cpp": "#include <string>\nint count(const std::string &s);\n"
                     'int main() { return count("a bb ccc") == 3 ? 0 : 1; }\n',
    "src/count.cc": "#include <sstream>\n#include <string>\nint count(const std::string &s) {\n"
                    "    std::istringstream in(s);\n    std::string w;\n    int n = 0;\n"
                    "    while (in >> w) n++;\n    return n;\n}\n",
}
COMPILES = 8  # 6 sources, and the debug program's two again


def outputs(root: Path) -> dict[str, str]:
    """sha256 of every object, library, module and names file of the checkout (objects sit beside sources)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name.endswith((".o", ".a", ".wasm", ".names"))}


@dataclass
class Rig:
    base: Path
    real_store: Path
    client_store: Path
    guard_log: Path
    workers: list[Worker]
    local: Path  # the project built here, with the session's store

    @property
    def hosts(self) -> str:
        return " ".join(f"{w.host}/2" for w in self.workers)

    def checkout(self, name: str) -> Path:
        return make_project(self.base / name, SOURCES)

    def scons(self, root: Path, *args: str, hosts: str | None = None, store: Path | None = None,
              **env: str) -> subprocess.CompletedProcess[str]:
        state = self.base / f"distcc-dir-{len(list(self.base.glob('distcc-dir-*')))}"  # no back-off from before
        full = {"WASI_CACHE_DIR": str(store or self.client_store), "DISTCC_DIR": str(state),
                "WASI_DISTCC_HOSTS": self.hosts if hosts is None else hosts, "WASI_DISTCC_STRICT": "1", **env}
        result = run_scons(root, "-Q", *args, env=full)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result


@pytest.fixture(scope="module")
def rig(real) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    base = shared_dir("wasi-distcc-e2e-")
    workers: list[Worker] = []
    try:
        client_store = link_store(project.cache, base / "client-store")
        guard_log = base / "guard.log"
        guard_compiler(client_store, guard_log)
        for name in ("w1", "w2"):
            store = link_store(project.cache, base / f"{name}-store")
            workers.append(start_worker(base, name, store))
            for entry in toolchain_entries(store):  # plain mode: the compiler is all a worker needs
                shutil.rmtree(entry / "sysroot")
                shutil.rmtree(entry / "resource")
        local = make_project(base / "local", SOURCES)
        built = run_scons(local, "-Q", env={"WASI_CACHE_DIR": str(project.cache)})
        assert built.returncode == 0, built.stdout + built.stderr
        yield Rig(base, project.cache, client_store, guard_log, workers, local)
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_every_object_comes_from_a_worker_with_the_bytes_of_a_local_build(rig: Rig) -> None:
    root = rig.checkout("distributed")
    before = [len(w.compiled()) for w in rig.workers]
    result = rig.scons(root, "-j4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not rig.guard_log.exists(), rig.guard_log.read_text()
    assert result.stdout.count("wasi: compiling ") == COMPILES
    jobs = [len(w.compiled()) - b for w, b in zip(rig.workers, before)]
    assert sum(jobs) == COMPILES and all(jobs), jobs  # every compile, and both workers
    assert outputs(root) == outputs(rig.local)
    for path in root.rglob("*.debug.o"):
        assert b"distccd_" not in path.read_bytes(), path  # the worker's temp dir


def test_switching_between_local_and_distributed_rebuilds_nothing(rig: Rig) -> None:
    root = rig.checkout("switch")
    assert rig.scons(root).returncode == 0
    # Local now, with the client's compiler, which refuses -c: up to date, or the guard would fail the build.
    local = rig.scons(root, hosts="")
    assert local.returncode == 0, local.stdout + local.stderr
    assert "wasi: compiling" not in local.stdout and "is up to date" in local.stdout, local.stdout
    assert not rig.guard_log.exists()
    # And back.
    before = sum(len(w.compiled()) for w in rig.workers)
    again = rig.scons(root)
    assert again.returncode == 0 and "wasi: compiling" not in again.stdout, again.stdout + again.stderr
    assert sum(len(w.compiled()) for w in rig.workers) == before


def test_cachedir_entries_serve_local_and_distributed_builds_alike(rig: Rig) -> None:
    cachedir = rig.base / "cachedir-1"
    first = rig.checkout("cache-a")
    assert rig.scons(first, f"--cache-dir={cachedir}").returncode == 0
    # A local build elsewhere, whose compiler refuses -c, gets every target from the entries a distributed build
    # pushed...
    local = rig.checkout("cache-b")
    result = rig.scons(local, f"--cache-dir={cachedir}", hosts="")
    assert result.returncode == 0, result.stdout + result.stderr
    retrieved = re.findall(r"^Retrieved `(.+)' from cache$", result.stdout, flags=re.M)
    assert sorted(retrieved) == sorted(outputs(first)) and outputs(local) == outputs(first)
    # ...and a distributed build gets hers from the entries of a local one: no job reaches a worker.
    cachedir = rig.base / "cachedir-2"
    filled = run_scons(rig.checkout("cache-c"), "-Q", f"--cache-dir={cachedir}",
                       env={"WASI_CACHE_DIR": str(rig.real_store)})
    assert filled.returncode == 0, filled.stdout + filled.stderr
    before = sum(len(w.compiled()) for w in rig.workers)
    distributed = rig.scons(rig.checkout("cache-d"), f"--cache-dir={cachedir}")
    assert distributed.returncode == 0 and "wasi: compiling" not in distributed.stdout, distributed.stdout
    assert sum(len(w.compiled()) for w in rig.workers) == before


def test_a_worker_with_another_locks_toolchain_is_reported_and_refused(rig: Rig) -> None:
    # A worker whose store holds the same compiler under another key, as a worker of another lock does: its list
    # of allowed compilers names that key, not this lock's.
    store = link_store(rig.real_store, rig.base / "foreign-store")
    (entry,) = toolchain_entries(store, "ziglang")
    entry.rename(entry.with_name(entry.name[:-8] + "00000000"))
    foreign = _foreign_worker(rig.base, store)
    closed = f"127.0.0.1:{free_port()}"
    try:
        hosts = f"{rig.workers[0].host}/2 {foreign.host}/2 {closed}"
        check = rig.scons(rig.local, "wasi-distcc-check", hosts=hosts, store=rig.real_store)  # it compiles here
        assert check.returncode != 0
        lines = {line.split()[0]: line for line in check.stdout.splitlines() if line.startswith("  ")}
        assert re.search(r"ok, \d+ ms round trip$", lines[rig.workers[0].host]), check.stdout
        assert "has no toolchain for this lock" in lines[foreign.host], check.stdout
        assert "scons wasi-distcc-worker --wasi-listen=" in lines[foreign.host]
        assert lines[closed].split(None, 1)[1].startswith("unreachable: refused the connection"), check.stdout
        assert "2 of 3 distcc hosts cannot compile for this lock" in check.stderr
        # A build sent only to it fails with our one line, and the worker's log says why it refused.
        refused = rig.scons(rig.checkout("refused"), hosts=f"{foreign.host}/2")
        assert refused.returncode != 0
        assert re.search(rf"scons: \*\*\* \[\S+\] distcc could not compile \S+ on any host, and WASI_DISTCC_STRICT=1 "
                         rf"forbids compiling it here: {re.escape(foreign.host)} answered nothing",
                         refused.stderr), refused.stderr
        assert "in DISTCC_CMDLIST failed" in foreign.log.read_text()
        assert "distcc[" not in refused.stderr  # distcc's own lines are ours now
    finally:
        foreign.stop()


def _foreign_worker(base: Path, store: Path) -> Worker:
    """distccd serving ``store``'s entry, started the way the worker command starts it (its key is not this
    lock's, so the worker command cannot be used: it would fetch this lock's toolchain)."""
    from wasi_toolchain.distributed import worker
    from wasi_toolchain.distributed.client import find_program

    (entry,) = toolchain_entries(store, "ziglang")
    cmdlist = worker.cmdlist_path(store)
    worker.add_compilers(cmdlist, [entry / "bin" / "clang"])
    port = free_port()
    options = worker.worker_options(f"127.0.0.1:{port}", ["127.0.0.1"], "2", None, base=base)
    log = base / "foreign.log"
    with open(log, "w") as out:
        process = subprocess.Popen(worker.distccd_command(find_program("distccd", os.environ), options),
                                   env=worker.distccd_environment(cmdlist, os.environ), stderr=out,
                                   start_new_session=True, text=True)
    deadline = time.monotonic() + 30
    while not listening(port):
        assert process.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.05)
    return Worker(port, store, log, process, log)


def test_a_build_completes_on_the_other_worker_when_one_dies(rig: Rig) -> None:
    workers = [start_worker(rig.base, f"k{i}", link_store(rig.real_store, rig.base / f"k{i}-store"), jobs=1)
               for i in (1, 2)]
    try:
        root = rig.checkout("kill")
        for i in range(24):  # enough compiles that the build is still going when a worker dies
            (root / "src" / f"extra{i}.c").write_text(f"int extra{i}(int x) {{ return x * {i + 3}; }}\n")
        (root / "SConstruct").write_text(SOURCES["SConstruct"] +
                                         "env.WasiLibrary('build/extra', Glob('src/extra*.c'))\n")
        hosts = " ".join(f"{w.host}/1" for w in workers)
        state = rig.base / "kill-distcc-dir"
        env = {**os.environ, "WASI_CACHE_DIR": str(rig.client_store), "DISTCC_DIR": str(state),
               "WASI_DISTCC_HOSTS": hosts, "WASI_DISTCC_STRICT": "1"}
        build = subprocess.Popen([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", "-j2"],
                                 cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 300
        while not workers[1].compiled():
            assert build.poll() is None and time.monotonic() < deadline, build.communicate()
            time.sleep(0.05)
        workers[1].stop(signal.SIGKILL)
        stdout, stderr = build.communicate(timeout=600)
        assert build.returncode == 0, stdout + stderr
        assert not rig.guard_log.exists()
        total = stdout.count("wasi: compiling ")
        assert len(workers[0].compiled()) + len(workers[1].compiled()) >= total  # all on workers
        assert len(workers[0].compiled()) > len(workers[1].compiled())
        assert {k: v for k, v in outputs(root).items() if "extra" not in k} == outputs(rig.local)
        # SIGTERM stops the other one cleanly: the worker command passes it on to distccd and exits with 0.
        survivor = workers[0].process.pid
        daemons = children(survivor)
        workers[0].stop()
        assert workers[0].process.returncode == 0 and not listening(workers[0].port)
        assert daemons and not any(Path(f"/proc/{pid}").exists() for pid in daemons)
    finally:
        for worker in workers:
            worker.stop()


# ssh hosts, with ssh played by a script that runs the command here (DISTCC_SSH): distcc starts the worker's
# launcher as it would over ssh, `<launcher> --inetd --enable-tcp-insecure`, one per connection.
FAKE_SSH = """#!/bin/sh
echo "$*" >> {log}
while [ $# -gt 0 ]; do case "$1" in -l|-p|-o) shift 2 ;; -*) shift ;; *) break ;; esac; done
shift
exec "$@"
"""


def test_ssh_hosts_use_the_launcher_the_worker_command_writes(rig: Rig) -> None:
    store = link_store(rig.real_store, rig.base / "ssh-store")
    worker_checkout = make_project(rig.base / "ssh-worker", {"SConstruct": "Environment(tools=['wasi'])\n"})
    prepared = run_scons(worker_checkout, "-Q", "wasi-distcc-worker", "--wasi-ssh", env={"WASI_CACHE_DIR": str(store)})
    assert prepared.returncode == 0, prepared.stdout + prepared.stderr
    launcher = store / "distcc" / "distccd-ssh"
    assert f"@HOST/LIMIT:{launcher}" in prepared.stdout and os.access(launcher, os.X_OK)
    for entry in toolchain_entries(store):
        shutil.rmtree(entry / "sysroot")
        shutil.rmtree(entry / "resource")
    ssh_log = rig.base / "ssh.log"
    fake_ssh = rig.base / "fake-ssh"
    fake_ssh.write_text(FAKE_SSH.format(log=ssh_log))
    fake_ssh.chmod(0o755)
    root = rig.checkout("over-ssh")
    result = rig.scons(root, "-j2", hosts=f"@127.0.0.1/2:{launcher}", DISTCC_SSH=str(fake_ssh))
    assert result.returncode == 0, result.stdout + result.stderr
    assert not rig.guard_log.exists()
    assert len(ssh_log.read_text().splitlines()) == COMPILES
    assert all(line.endswith(f"{launcher} --inetd --enable-tcp-insecure") for line in ssh_log.read_text().splitlines())
    assert outputs(root) == outputs(rig.local)
    # Without --wasi-ssh's options, the worker command still refuses to mix them.
    mixed = run_scons(worker_checkout, "-Q", "wasi-distcc-worker", "--wasi-ssh", "--wasi-allow=127.0.0.1",
                      env={"WASI_CACHE_DIR": str(store)})
    assert mixed.returncode == 2 and "--wasi-ssh runs no daemon" in mixed.stderr


# -- the Debian provider: clang started through the pinned glibc loader by bin/clang, one executable for distcc ------
def _debian_runs_here() -> bool:
    from wasi_toolchain.host import detect_host, detect_libc

    try:
        return detect_host() in ("linux-x86_64", "linux-aarch64") and detect_libc() == "glibc"
    except Exception:
        return False


@pytest.mark.skipif(not _debian_runs_here(), reason="Debian's LLVM runs on glibc Linux only")
def test_the_debian_provider_end_to_end(rig: Rig) -> None:
    debian = {"WASI_LLVM_PROVIDER": "debian"}
    store = rig.base / "debian-store"
    link_store(rig.real_store, store)  # the entries, whose downloads it shares...
    shutil.copytree(rig.real_store / "downloads", store / "downloads", copy_function=os.link)  # ...and those
    local = rig.checkout("debian-local")
    built = run_scons(local, "-Q", env={"WASI_CACHE_DIR": str(store), **debian})
    assert built.returncode == 0, built.stdout + built.stderr
    client_store = link_store(store, rig.base / "debian-client-store")
    guard_compiler(client_store, rig.guard_log)
    worker = start_worker(rig.base, "debian-worker", link_store(store, rig.base / "debian-worker-store"),
                          extra_env=debian)
    try:
        for entry in toolchain_entries(worker.store):
            if entry.name.startswith("debian-"):
                shutil.rmtree(entry / "sysroot")
                shutil.rmtree(entry / "resource")
        root = rig.checkout("debian-distributed")
        result = rig.scons(root, "-j2", hosts=f"{worker.host}/2", store=client_store, **debian)
        assert result.returncode == 0, result.stdout + result.stderr
        assert not rig.guard_log.exists()
        assert len(worker.compiled()) == COMPILES
        assert all("/sysroots/debian-" in line for line in worker.compiled())
        assert outputs(root) == outputs(local)
        # The ziglang lock's clients are refused there: another key.
        check = rig.scons(rig.local, "wasi-distcc-check", hosts=f"{worker.host}/2", store=rig.real_store)
        assert check.returncode != 0 and "has no toolchain for this lock (ziglang-" in check.stdout, check.stdout
    finally:
        worker.stop()
