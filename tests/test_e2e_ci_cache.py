"""The CI recipe's cache for real: the session's real toolchain entry, restored alone into another store, builds and
runs the samples offline in another checkout, byte for byte as the store it came from (test_ci_cache.py proves the
same offline with the stand-in toolchain)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from support.helpers import REPO, run_scons
from test_ci_cache import built_files, guarded_offline, restore_entry_only


pytestmark = pytest.mark.e2e
RUNS = ("run-first", "run-builtins", "run-gcd", "run-primes", "run-wordfreq")


def real_checkout(root: Path) -> Path:
    root.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "samples", root / "samples")
    return root


def program_output(stdout: str) -> list[str]:
    """What the runs printed, without scons's own lines."""
    return [line for line in stdout.splitlines() if not line.startswith(("wasi: compiling", "wasi: linking",
                                                                          "wasi: archiving", "scons: "))]


def test_real_entry_restored_elsewhere_builds_and_runs_the_samples_offline(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    key = project.scons("-Q", "wasi-cache-key").stdout.strip()  # other e2e tests may add entries of other kinds
    assert (project.cache / "sysroots" / key).is_dir()
    reference = real_checkout(tmp_path / "job-1" / "checkout")
    first = run_scons(reference, "-Q", ".", *RUNS, env={"WASI_CACHE_DIR": str(project.cache)})
    assert first.returncode == 0, first.stderr

    store = restore_entry_only(project.cache, key, tmp_path / "elsewhere" / "restored-store")
    second_checkout = real_checkout(tmp_path / "job-2" / "another" / "checkout")
    notes = tmp_path / "offline-guard.log"
    second = run_scons(second_checkout, "-Q", ".", *RUNS,
                       env={"WASI_CACHE_DIR": str(store), **guarded_offline(notes)})
    assert second.returncode == 0, second.stderr
    assert notes.read_text() == ""
    assert "preparing toolchain" not in second.stderr and "fetching" not in second.stderr
    assert len(re.findall(r"^wasi: compiling ", second.stdout, flags=re.M)) == \
        len(re.findall(r"^wasi: compiling ", first.stdout, flags=re.M)) > 0
    assert program_output(second.stdout) == program_output(first.stdout)
    assert "Hello, WebAssembly! I got 2 arguments." in second.stdout
    assert built_files(second_checkout, "build") == built_files(reference, "build")
    assert sorted(p.name for p in (store / "sysroots").iterdir()) == [key]
