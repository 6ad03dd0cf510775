"""The client side of distributed compilation: which hosts, how distcc is started, and what its output means.

With WASI_DISTCC_HOSTS set, every compile command starts with the distcc client, inside ``$( … $)`` so that no
signature changes: switching between local and distributed builds rebuilds nothing, and CacheDir and the remote
cache hit with the same keys. distcc runs in plain mode: this machine preprocesses, a worker compiles the
preprocessed text with the compiler of the same store entry (matched by its last three path words,
``<key>/bin/clang``, through the worker's DISTCC_CMDLIST), and sends the object back.

distcc's own messages are taken out of the compiler's stderr here: a compile that fell back to this machine is
counted for one warning at the end of the build, and a compile that no host took, with fallback off
(WASI_DISTCC_STRICT=1), becomes one line of our own instead of distcc's five.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError, DistributedError
from ..settings import boolean_word
from .hosts import DistccHost, parse_hosts

HOSTS_VARIABLE = "WASI_DISTCC_HOSTS"
STRICT_VARIABLE = "WASI_DISTCC_STRICT"
DEBIAN_PACKAGE = "distcc"
# distcc writes its own lines as "distcc[PID] …"; anything else on its stderr is the compiler's.
_OWN_LINE = re.compile(r"^distcc\[\d+\] ")
_FELL_BACK = ("running locally instead", "retrying locally")
_NOT_DISTRIBUTED = "failed to distribute and fallbacks are disabled"
_NO_HOST_LEFT = "no host was left to try (each had failed just before, and distcc backs off from a failed host)"
_SSH_ENVIRONMENT = ("HOME", "USER", "LOGNAME", "SSH_AUTH_SOCK", "DISTCC_SSH")
# DISTCC_VERBOSE's line before each try: "exec on HOST[/LIMIT][,OPTIONS]: COMMAND".
_EXEC_ON = re.compile(r"\bexec on (\S+):\s")


@dataclass(frozen=True)
class DistccClient:
    hosts_text: str  # as the user wrote it: what distcc gets as DISTCC_HOSTS
    hosts: tuple[DistccHost, ...]
    strict: bool  # no local fallback: a compile no host takes fails the build
    distcc: str  # the distcc client, an absolute path
    state_dir: str  # DISTCC_DIR: distcc's host locks and back-off marks
    passed_on: tuple[tuple[str, str], ...] = ()  # for ssh hosts: what ssh needs from the user's environment

    def command_environment(self) -> dict[str, str]:
        """What the compile commands' environment (SCons's env['ENV']) needs: SCons does not pass os.environ on.
        Creates DISTCC_DIR, which distcc needs to exist. DISTCC_SKIP_LOCAL_RETRY: a compile error on a worker is
        the same error here (the same pinned compiler), so distcc need not compile it again to show it.
        DISTCC_VERBOSE: its lines name the host each compile went to, for our messages; run_compile takes all of
        distcc's lines out of what the user sees."""
        try:
            os.makedirs(self.state_dir, exist_ok=True)
        except OSError as e:
            raise DistributedError(f"cannot create DISTCC_DIR {self.state_dir}: {e.strerror}",
                                   hint="set DISTCC_DIR to a writable directory") from None
        return {**dict(self.passed_on), "DISTCC_HOSTS": self.hosts_text, "DISTCC_DIR": self.state_dir,
                "DISTCC_FALLBACK": "0" if self.strict else "1", "DISTCC_SKIP_LOCAL_RETRY": "1",
                "DISTCC_VERBOSE": "1"}


def configure(hosts_value: object, strict_value: object, environ: Mapping[str, str]) -> DistccClient | None:
    """The client for these settings, or None when WASI_DISTCC_HOSTS is unset or empty (compile here).
    ``hosts_value`` and ``strict_value`` are the construction variables (None: not set), which win over the
    environment variables of the same names. DISTCC_FALLBACK=0 in the environment also means strict."""
    text = environ.get(HOSTS_VARIABLE, "") if hosts_value is None else hosts_value
    if not isinstance(text, str):
        raise ConfigError(f"{HOSTS_VARIABLE}: expected a distcc host list (a string), got {text!r}",
                          hint=f"e.g. {HOSTS_VARIABLE}='worker1:3632/4 worker2:3632/4'")
    if not text.strip():
        return None
    hosts = parse_hosts(text)
    strict = _flag(environ.get(STRICT_VARIABLE, "") if strict_value is None else strict_value)
    strict = strict or environ.get("DISTCC_FALLBACK", "").strip() == "0"  # distcc's own word for it
    state_dir = environ.get("DISTCC_DIR") or os.path.join(os.path.expanduser("~"), ".distcc")
    # ssh finds its configuration, keys and agent through these; DISTCC_SSH is distcc's choice of ssh command.
    passed_on = tuple((name, environ[name]) for name in _SSH_ENVIRONMENT
                      if name in environ and any(h.kind == "ssh" for h in hosts))
    return DistccClient(text, hosts, strict, find_program("distcc", environ), os.path.abspath(state_dir), passed_on)


def _flag(value: object) -> bool:
    word = value if isinstance(value, bool) else boolean_word(value) if isinstance(value, str) else None
    if word is None:
        raise ConfigError(f"{STRICT_VARIABLE}: expected 1 or 0 (or yes/no, true/false, on/off), got {value!r}",
                          hint=f"set {STRICT_VARIABLE}=1 to fail when no host can compile, or unset it")
    return word


def find_program(name: str, environ: Mapping[str, str]) -> str:
    """The absolute path of distcc or distccd on PATH; DistributedError naming the Debian package if missing."""
    path = shutil.which(name, path=environ.get("PATH") or os.defpath)
    if path is None:
        raise DistributedError(f"{name} is not installed (not found on PATH), and {HOSTS_VARIABLE} or a "
                               f"wasi-distcc command needs it",
                               hint=f"install the Debian package {DEBIAN_PACKAGE} (apt-get install {DEBIAN_PACKAGE}), "
                                    f"or unset {HOSTS_VARIABLE} to compile here")
    return os.path.abspath(path)


# -- running one compile -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CompileOutcome:
    returncode: int
    stderr: str  # the compiler's own diagnostics, without distcc's lines
    fell_back: str | None = None  # why distcc compiled it on this machine, in our words
    failure: str | None = None  # strict: why no host compiled it, in our words (returncode is distcc's)


def run_compile(argv: Sequence[str], env: Mapping[str, str]) -> CompileOutcome:
    """Run a distcc compile command. distcc itself tries the next host when one fails (and backs off from the
    failed one for a minute), so a worker killed in the middle of a build costs its jobs a second send."""
    try:
        process = subprocess.run(list(argv), env=dict(env), stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                 close_fds=True)
    except OSError as e:
        return CompileOutcome(127, f"scons: {argv[0]}: {e.strerror}\n")
    text = process.stderr.decode("utf-8", errors="replace")
    own = [line for line in text.splitlines() if _OWN_LINE.match(line)]
    compiler = "".join(line for line in text.splitlines(keepends=True) if not _OWN_LINE.match(line))
    fell_back = failure = None
    if any(marker in line for line in own for marker in _FELL_BACK):
        fell_back = reason(own)
    elif process.returncode != 0 and any(_NOT_DISTRIBUTED in line for line in own):
        failure = reason(own)
    return CompileOutcome(process.returncode, compiler, fell_back, failure)


def reason(lines: Sequence[str]) -> str:
    """What distcc's lines about one compile mean for a user: which host it tried and why that failed, for each."""
    phrases: list[str] = []
    where, segment = "a host", []
    for line in [*lines, ""]:
        tried = _EXEC_ON.search(line)
        if tried is None and line:
            segment.append(line)
            continue
        if (phrase := _phrase(segment)) is not None:
            phrases.append(f"{where} {phrase}")
        where, segment = (tried.group(1).split("/")[0].split(",")[0], []) if tried else (where, [])
    if phrases:
        return "; ".join(dict.fromkeys(phrases))
    if any(_NOT_DISTRIBUTED in line for line in lines):
        return _NO_HOST_LEFT
    return "distcc failed without saying why"


def describe_failure(lines: Sequence[str]) -> str:
    """Why a try on one host failed (for `scons wasi-distcc-check`, which sends each host its own probe)."""
    return _phrase(lines) or "failed without saying why"


def _phrase(lines: Sequence[str]) -> str | None:
    """Why one try failed, from distcc's lines about it, starting with a verb ("refused the connection: …");
    None if they report no failure."""
    text = "\n".join(line for line in lines if "ERROR" in line or "Warning" in line)  # not DISTCC_VERBOSE's notes
    if "server provided no answer" in text:
        return ("answered nothing, which is what a worker does that has no toolchain for this lock (or whose "
                "--wasi-allow leaves this machine out)")
    if "Connection refused" in text:
        return "refused the connection: no worker is listening there"
    if "Connection reset by peer" in text or "Broken pipe" in text:
        return "closed the connection: its --wasi-allow may leave this machine out, or it stopped"
    if "failed to resolve host" in text:
        return "is not a known host name"
    if "timed out" in text:
        return "timed out"
    errors = [line.split("ERROR: ", 1)[1] for line in lines if "ERROR: " in line and _NOT_DISTRIBUTED not in line]
    if errors:
        return f"failed: distcc says {errors[-1]}"
    return None


@dataclass
class FallbackReport:
    """The compiles distcc ran on this machine after a remote failure, for one warning at the end of the build."""

    count: int = 0
    first_reason: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, why: str) -> None:
        with self._lock:
            self.count += 1
            self.first_reason = self.first_reason or why

    def warning(self) -> str | None:
        if not self.count:
            return None
        compiles = "1 compile" if self.count == 1 else f"{self.count} compiles"
        return (f"wasi: warning: distcc ran {compiles} on this machine after a remote failure ({self.first_reason}); "
                f"`scons wasi-distcc-check` tests each host, and {STRICT_VARIABLE}=1 makes this an error")
