"""`scons wasi-distcc-check`: one probe compile on each host of WASI_DISTCC_HOSTS, with no local fallback.

Each remote host gets the probe alone (DISTCC_HOSTS set to that host) with a fresh DISTCC_DIR, so an earlier
failure's back-off mark cannot hide the host. The object must be byte for byte what the local compiler makes of
the same probe: a worker that answers with other bytes would poison every cache it feeds. Per host, one line:

    127.0.0.1:3700   ok, 41 ms round trip
    10.0.0.9:3632    unreachable: refused the connection (no worker listening there)
    10.0.0.7:3632    has no toolchain for this lock (ziglang-linux-x86_64-…); on it, run: scons wasi-distcc-worker …
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import DistributedError
from .client import describe_failure
from .hosts import DistccHost

Verdict = Literal["ok", "unreachable", "no-toolchain", "wrong-bytes", "failed", "local", "not-probed"]
PROBE_SOURCE = "int wasi_distcc_probe(int x) { return x * 7 + 1; }\n"
PROBE_TIMEOUT = 60.0  # seconds for one probe: distcc's own connect timeout is shorter


@dataclass(frozen=True)
class HostReport:
    host: DistccHost
    verdict: Verdict
    detail: str

    @property
    def ok(self) -> bool:
        return self.verdict in ("ok", "local", "not-probed")

    def line(self, width: int) -> str:
        return f"  {self.host.label:<{width}}  {self.detail}"


def check_hosts(hosts: Sequence[DistccHost], distcc: str, compiler: str, compile_flags: Sequence[str],
                env: Mapping[str, str], *, key: str) -> list[HostReport]:
    """Probe every host. ``compiler`` is the entry's bin/clang and ``compile_flags`` what a compile passes before
    ``-c`` (target, sysroot); ``env`` the compile commands' environment."""
    with tempfile.TemporaryDirectory(prefix="wasi-distcc-check-") as temp:
        work = Path(temp)
        (work / "probe.c").write_text(PROBE_SOURCE, encoding="utf-8")
        local = subprocess.run([compiler, *compile_flags, "-c", "-o", "local.o", "probe.c"], cwd=work,
                               env=dict(env), capture_output=True, text=True)
        if local.returncode != 0:
            raise DistributedError(f"the probe does not compile here ({compiler} exited with {local.returncode}): "
                                   f"{local.stderr.strip()[-500:]}", hint="run `scons wasi-toolchain` first")
        expected = (work / "local.o").read_bytes()
        return [_probe(host, index, work, expected, distcc, compiler, compile_flags, env, key)
                for index, host in enumerate(hosts)]


def _probe(host: DistccHost, index: int, work: Path, expected: bytes, distcc: str, compiler: str,
           compile_flags: Sequence[str], env: Mapping[str, str], key: str) -> HostReport:
    if host.kind == "local":
        return HostReport(host, "local", "localhost: compiles on this machine (not a worker)")
    if host.kind == "zeroconf":
        return HostReport(host, "not-probed", "found by zeroconf at build time: not probed")
    state = work / f"state-{index}"
    state.mkdir()
    output = f"remote-{index}.o"
    probe_env = {**env, "DISTCC_HOSTS": host.spec, "DISTCC_DIR": str(state), "DISTCC_FALLBACK": "0",
                 "DISTCC_SKIP_LOCAL_RETRY": "1"}
    started = time.monotonic()
    try:
        result = subprocess.run([distcc, compiler, *compile_flags, "-c", "-o", output, "probe.c"], cwd=work,
                                env=probe_env, capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return HostReport(host, "unreachable", f"unreachable: no answer within {PROBE_TIMEOUT:g} s")
    elapsed = time.monotonic() - started
    if result.returncode == 0:
        if (work / output).read_bytes() != expected:
            return HostReport(host, "wrong-bytes", "compiled the probe to other bytes than this machine's compiler: "
                                                   "its store entry is not the same toolchain; rebuild it there")
        return HostReport(host, "ok", f"ok, {elapsed * 1000:.0f} ms round trip")
    lines = result.stderr.splitlines()
    text = result.stderr
    if "server provided no answer" in text:
        # distccd reads its compiler list when its processes start: a running worker must be started again.
        return HostReport(host, "no-toolchain", f"has no toolchain for this lock ({key}); on {host.address}, in a "
                                                f"checkout of this lock, (re)start the worker: "
                                                f"{worker_command_hint(host)}")
    if any(word in text for word in ("Connection refused", "failed to resolve host", "timed out", "No route to host",
                                      "Network is unreachable", "Connection reset by peer", "ssh:")):
        return HostReport(host, "unreachable", f"unreachable: {describe_failure(lines)}")
    return HostReport(host, "failed", f"failed: {describe_failure(lines)}")


def worker_command_hint(host: DistccHost) -> str:
    listen = f"{host.address}:{host.port or 3632}" if host.kind == "tcp" else "ADDR:PORT"
    return f"scons wasi-distcc-worker --wasi-listen={listen} --wasi-allow=<this machine's address>/32"


def report_lines(reports: Sequence[HostReport]) -> list[str]:
    width = max((len(r.host.label) for r in reports), default=0)
    return [r.line(width) for r in reports]
