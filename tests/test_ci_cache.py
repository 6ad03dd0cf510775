"""A CI-sized cache: only sysroots/<key>/, restored into an empty WASI_CACHE_DIR at another absolute path, builds
(and with the real toolchain, runs) the same bytes offline: no socket opened, pip never run (the audit-hook guard in
tests/support/offline_guard), no toolchain work. And `scons -Q wasi-cache-key` prints only the key, even on a cold store.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from support.coldrun import ColdRig
from support.helpers import REPO, LoopbackServer, run_scons
from wasi_toolchain.toolchain import sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.pins.toolchain_lock import load_lock

GUARD = REPO / "tests" / "support" / "offline_guard"


def guarded_offline(notes: Path) -> dict[str, str]:
    notes.touch()
    return {"WASI_OFFLINE": "1", "PYTHONPATH": str(GUARD), "WASI_TEST_OFFLINE_GUARD": str(notes)}


def restore_entry_only(store: Path, key: str, into: Path) -> Path:
    """What a CI cache restores: sysroots/<key>/ and nothing else, into an empty WASI_CACHE_DIR."""
    assert not into.exists()
    shutil.copytree(store / "sysroots" / key, into / "sysroots" / key, symlinks=True)
    return into


def built_files(checkout: Path, *directories: str) -> dict[str, str]:
    return {str(p.relative_to(checkout)): hashlib.sha256(p.read_bytes()).hexdigest()
            for directory in directories for p in sorted((checkout / directory).rglob("*"))
            if p.is_file() and p.suffix in (".o", ".a", ".wasm")}


def without_wasi_variables() -> dict[str, str]:
    return {name: value for name, value in os.environ.items() if not name.startswith("WASI_")}


# -- `scons -Q wasi-cache-key` ----------------------------------------------------------------------------------------
def test_cache_key_prints_only_the_key_on_a_cold_store_and_leaves_it_untouched(tmp_path: Path) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, checkout / name)
    shutil.copytree(REPO / "samples", checkout / "samples")
    store = tmp_path / "never-created"
    expected = sysroot.plan(load_lock(checkout / "toolchain.lock"),
                            Settings.from_environ({"WASI_CACHE_DIR": str(store)})).key
    env = {**without_wasi_variables(), "WASI_CACHE_DIR": str(store)}
    result = subprocess.run([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", "wasi-cache-key"],
                            cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert result.stdout == expected + "\n"
    assert not store.exists()
    assert not (checkout / "build").exists()


# -- the stand-in toolchain, offline ---------------------------------------------------------------------------------
SCONSTRUCT = """\
env = Environment(tools=['wasi'])
util = env.WasiLibrary('build/lib/util', ['src/util.c'])
env.WasiProgram('build/hello', ['src/hello.c'], LIBS=['util'], LIBPATH=['build/lib'])
"""


def standin_checkout(root: Path, lock: str) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "SConstruct").write_text(SCONSTRUCT)
    (root / "toolchain.lock").write_text(lock)
    (root / "src" / "util.c").write_text("int util(void) { return 1; }\n")
    (root / "src" / "hello.c").write_text("int util(void);\nint main(void) { return util() - 1; }\n")
    return root


def test_only_the_entry_restored_elsewhere_builds_the_same_bytes_offline(tmp_path: Path,
                                                                         server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path / "rig", server, pip=True)  # the wheel through pip: so "pip never ran" means it
    first = standin_checkout(tmp_path / "job-1" / "checkout", rig.standin.lock)
    cold = run_scons(first, "-Q", env=rig.env())
    assert cold.returncode == 0, cold.stderr
    assert "with pip" in cold.stderr and "wasi: preparing toolchain" in cold.stderr
    (entry,) = rig.entries()
    expected = built_files(first, "build", "src")
    assert sorted(expected) == ["build/hello.wasm", "build/lib/libutil.a", "src/hello.wasi.o", "src/util.wasi.o"]

    store = restore_entry_only(rig.cache, entry.name, tmp_path / "elsewhere" / "restored-store")
    second = standin_checkout(tmp_path / "job-2" / "another" / "checkout", rig.standin.lock)
    server.requests.clear()
    notes = tmp_path / "offline-guard.log"
    offline = run_scons(second, "-Q", env={**rig.env(), "WASI_CACHE_DIR": str(store), **guarded_offline(notes)})
    assert offline.returncode == 0, offline.stderr
    assert notes.read_text() == ""
    assert server.requests == []
    assert "preparing toolchain" not in offline.stderr and "fetching" not in offline.stderr
    assert rig.standin.builds() == 1
    assert offline.stdout.count("wasi: compiling ") == 2  # the project's own compiles, with the restored entry
    assert built_files(second, "build", "src") == expected
    assert sorted(p.name for p in (store / "sysroots").iterdir()) == [entry.name]
