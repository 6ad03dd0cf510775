"""Shared helpers for the benchmarks: timing, medians, alternating A/B runs, recorded commands, markdown output.

Benchmarks are measurements, not tests: they print numbers from this machine and assert nothing about them.
"""

from __future__ import annotations

import os
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "site_scons"))

from wasi_toolchain.pins.toolchain_lock import Artifact  # noqa: E402 - after the path is set

# Python writes and reuses __pycache__ for the tool, as on a user's machine. Sessions on the machine these figures
# come from set PYTHONDONTWRITEBYTECODE=1, which would make every scons run compile the tool from source; the
# warm-overhead bench measures that case separately.
_BYTECODE_VARIABLE = "PYTHONDONTWRITEBYTECODE"


def base_environ(*, bytecode: bool = True) -> dict[str, str]:
    env = dict(os.environ)
    env.pop(_BYTECODE_VARIABLE, None)
    if not bytecode:
        env[_BYTECODE_VARIABLE] = "1"
    return env


# The tool to measure: this checkout's site_scons, or WASI_BENCH_SITE_DIR (another version's, to compare).
SITE_DIR = Path(os.environ.get("WASI_BENCH_SITE_DIR") or REPO / "site_scons").resolve()


def scons_command(*args: str, site_dir: Path | None = None) -> list[str]:
    """scons with this checkout's tool (SITE_DIR), or with ``site_dir``'s (another version's, to compare)."""
    return [sys.executable, "-m", "SCons", f"--site-dir={site_dir or SITE_DIR}", *args]


def run(command: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True,
        bytecode: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), cwd=cwd, env={**base_environ(bytecode=bytecode), **(env or {})},
                            capture_output=True, text=True)
    if check and result.returncode != 0:
        raise SystemExit(f"bench: {' '.join(command)} failed with {result.returncode}:\n{result.stdout}\n"
                         f"{result.stderr}")
    return result


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@dataclass
class Comparison:
    name: str
    a_label: str
    b_label: str
    a: list[float]
    b: list[float]

    @property
    def ratio(self) -> float:
        """Median of the per-pair ratios: each pair ran back to back, so drift affects both sides alike."""
        return statistics.median(x / y for x, y in zip(self.a, self.b))

    @property
    def difference(self) -> float:
        """Median of the per-pair differences A - B, in seconds."""
        return statistics.median(x - y for x, y in zip(self.a, self.b))


def alternate(name: str, a_label: str, a: Callable[[], float], b_label: str, b: Callable[[], float], *,
              runs: int, prepare: Callable[[], None] | None = None) -> Comparison:
    """Run A and B alternately ``runs`` times each (AB, BA, AB, …, so neither always goes first)."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(runs):
        order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
        for label, fn in order:
            if prepare:
                prepare()
            (xs if label == "a" else ys).append(fn())
    return Comparison(name, a_label, b_label, xs, ys)


@dataclass
class Rotation:
    """Several sides timed in rounds: each round runs every side once, in an order rotated from the last round's."""

    name: str
    times: dict[str, list[float]]

    def median(self, label: str) -> float:
        return statistics.median(self.times[label])

    def ratio(self, label: str, reference: str) -> float:
        """Median of the per-round ratios ``label`` / ``reference``."""
        return statistics.median(x / y for x, y in zip(self.times[label], self.times[reference]))

    def difference(self, label: str, reference: str) -> float:
        """Median of the per-round differences ``label`` - ``reference``, in seconds."""
        return statistics.median(x - y for x, y in zip(self.times[label], self.times[reference]))


def rotate(name: str, sides: Mapping[str, Callable[[], float]], *, runs: int,
           prepare: Callable[[], None] | None = None) -> Rotation:
    """Run every side once per round, ``runs`` rounds, starting each round one side later (A B C, B C A, …)."""
    labels = list(sides)
    times: dict[str, list[float]] = {label: [] for label in labels}
    for i in range(runs):
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            if prepare:
                prepare()
            times[label].append(sides[label]())
    return Rotation(name, times)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if abs(value) < 1 else f"{value:.2f} s"


def fmt_ms(value: float) -> str:
    return f"{value * 1000:+.0f} ms"


def copy_project(destination: Path) -> Path:
    """A checkout-like copy of this repository's SConstruct, lock and samples (the tool comes via --site-dir)."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, destination / name)
    shutil.copytree(REPO / "samples", destination / "samples")
    return destination


# -- the exact commands the tool runs ------------------------------------------------------------------------------
# Prepended to a copy of an SConstruct: every Environment() it creates prints each command in full instead of the
# one-line "wasi: compiling …" (values given to Environment() win over the tool's defaults, and Clone keeps them).
_SHOW_COMMANDS = '''\
_bench_Environment = Environment
def Environment(*args, **kw):
    kw.update(WASI_CCCOMSTR="", WASI_CXXCOMSTR="", WASI_LINKCOMSTR="", WASI_ARCOMSTR="")
    return _bench_Environment(*args, **kw)
'''


@dataclass(frozen=True)
class Command:
    line: str  # the shell command exactly as SCons runs it
    target: str  # relative to the project
    inputs: tuple[str, ...]  # files on the command line that the command reads (sources, objects, libraries)


def record_commands(project: Path, env: Mapping[str, str], *targets: str) -> list[Command]:
    """The commands `scons` would run to build ``targets`` in ``project`` (all defaults if none), from a dry run
    (-n) of a copy of its SConstruct that prints commands in full. Nothing is built; the project is left as it
    was. This is how the make and plain-SCons sides get exactly the tool's flags, whatever they are today."""
    sconstruct = project / "SConstruct"
    original = sconstruct.read_text()
    sconsign = project / ".sconsign.dblite"
    had_sconsign = sconsign.exists()
    try:
        sconstruct.write_text(_SHOW_COMMANDS + original)
        output = run(scons_command("-n", "-Q", *targets), cwd=project, env=env).stdout
    finally:
        sconstruct.write_text(original)
        if not had_sconsign:
            sconsign.unlink(missing_ok=True)
    commands = []
    for line in output.splitlines():
        words = shlex.split(line)
        if not words or not words[0].startswith("/") or len(words) < 3:
            continue  # scons's own messages
        if "-o" in words:
            target = words[words.index("-o") + 1]
            candidates = words[words.index("-o") + 2:]
        elif os.path.basename(words[0]) == "llvm-ar":  # llvm-ar rcsD LIB MEMBERS…
            target, candidates = words[2], words[3:]
        else:
            raise SystemExit(f"bench: cannot tell the target of: {line}")
        inputs = [w for w in candidates if not w.startswith("-") and not os.path.isabs(w)]
        commands.append(Command(line, target, tuple(inputs)))
    if not commands:
        raise SystemExit(f"bench: `scons -n` in {project} printed no commands:\n{output}")
    return commands


def library_inputs(command: Command, targets: set[str]) -> list[str]:
    """The libraries a link finds through -L/-l among the recorded targets (for make and plain-SCons deps)."""
    words = shlex.split(command.line)
    dirs = [w[2:] for w in words if w.startswith("-L")]
    found = []
    for name in (w[2:] for w in words if w.startswith("-l")):
        for directory in dirs:
            candidate = os.path.normpath(os.path.join(directory, f"lib{name}.a"))
            if candidate in targets:
                found.append(candidate)
                break
    return found


def plain_scons_lines(commands: Sequence[Command]) -> tuple[list[str], list[str]]:
    """SConstruct lines building every recorded command with plain SCons: `command(target, sources, line, cpppath)`
    calls (the SConstruct defines `command`, an env.Command with SCons's C scanner), and the final targets."""
    targets = {c.target for c in commands}
    lines = []
    for c in commands:
        cpppath = [w[2:] for w in shlex.split(c.line) if w.startswith("-I")]
        sources = list(c.inputs) + library_inputs(c, targets)
        lines.append(f"command({c.target!r}, {sources!r}, {c.line.replace('$', '$$')!r}, {cpppath!r})\n")
    used = {i for c in commands for i in (*c.inputs, *library_inputs(c, targets))}
    return lines, [c.target for c in commands if c.target not in used or c.target.endswith(".a")]


# -- the floor's download ------------------------------------------------------------------------------------------
def pip_download(wheel: Artifact, into: Path) -> Path:
    """`pip download` of the pinned LLVM wheel into ``into``, as a person would type it: the version from the
    wheel's own file name (the lock's, whatever it pins), the pin's sha256 required. Returns the wheel's path."""
    requirement = into / "req.txt"
    requirement.write_text(f"ziglang=={wheel.name.split('-')[1]} --hash=sha256:{wheel.sha256}\n")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--require-hashes", "--disable-pip-version-check", "-r", str(requirement), "-d", str(into)],
                   check=True)
    return into / wheel.name


# -- reporting -----------------------------------------------------------------------------------------------------
def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    import platform

    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}, load average {load}")


def wait_for_quiet(max_load: float, timeout: float) -> None:
    """Wait (up to ``timeout`` seconds) until the 1-minute load average is below ``max_load``."""
    deadline = time.monotonic() + timeout
    while os.getloadavg()[0] >= max_load and time.monotonic() < deadline:
        time.sleep(10)
    if os.getloadavg()[0] >= max_load:
        print(f"bench: load average still {os.getloadavg()[0]:.2f} after {timeout:g} s; measuring anyway",
              file=sys.stderr)
