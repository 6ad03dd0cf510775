"""Shared helpers for the benchmarks: timing, medians, alternating A/B runs, markdown output.

Benchmarks are measurements, not tests: they print numbers from this machine and assert nothing.
"""

from __future__ import annotations

import os
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


def scons_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", *args]


def run(command: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
        check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(command), cwd=cwd, env={**os.environ, **(env or {})}, capture_output=True,
                            text=True)
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


def alternate(name: str, a_label: str, a: Callable[[], float], b_label: str, b: Callable[[], float], *,
              runs: int, prepare: Callable[[], None] | None = None) -> Comparison:
    """Run A and B alternately ``runs`` times each (ABBA order, so neither always goes first)."""
    xs: list[float] = []
    ys: list[float] = []
    for i in range(runs):
        order = [("a", a), ("b", b)] if i % 2 == 0 else [("b", b), ("a", a)]
        for label, fn in order:
            if prepare:
                prepare()
            (xs if label == "a" else ys).append(fn())
    return Comparison(name, a_label, b_label, xs, ys)


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def fmt_seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s"


def copy_project(destination: Path) -> Path:
    """A checkout-like copy of this repository's SConstruct, lock and samples (the tool comes via --site-dir)."""
    if destination.exists():
        shutil.rmtree(destination)
    destination.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, destination / name)
    shutil.copytree(REPO / "samples", destination / "samples")
    return destination


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def machine_line() -> str:
    import platform

    return (f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}")
