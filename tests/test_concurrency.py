"""Parallel cold starts sharing one store: one build, one download of each file, everyone succeeds."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, sha256, store_leftovers
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import StoreLockTimeout
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.store.store import Store


def test_four_concurrent_cold_starts_build_the_sysroot_once(tmp_path: Path, server: LoopbackServer) -> None:
    # The stand-in make pauses long enough that all four have started (SCons start-up takes a second or more on a
    # loaded 2-core machine, and 4 s were once not enough beside a full build) while the first still holds the lock,
    # so the other three really wait for it.
    rig = ColdRig.create(tmp_path, server, pause=10.0)
    procs = [rig.start("wasi-toolchain", project=n) for n in range(4)]
    results = [proc.communicate(timeout=300) for proc in procs]
    for proc, (_, err) in zip(procs, results):
        assert proc.returncode == 0, err
    stderr = [err for _, err in results]
    assert rig.standin.builds() == 1
    assert sum("wasi: preparing toolchain" in err for err in stderr) == 1
    assert sum("wasi: toolchain " in err and " ready in " in err for err in stderr) == 1
    # The three others said what they were waiting for, then found the entry complete.
    assert sum("wasi: waiting for pid " in err and "while building the sysroot" in err for err in stderr) == 3
    assert set(Counter(server.paths_requested()).values()) == {1}
    assert len(server.requests) == 4  # builtins, wasi-libc, libc++ and the wheel, once each
    rig.assert_complete_and_clean()
    for n in range(4):
        stamp = next((rig.project(n) / ".wasi").glob("toolchain-*.stamp"))
        assert stamp.read_text().strip() == rig.entries()[0].name


def test_threads_fetching_one_file_download_it_once(tmp_path: Path, server: LoopbackServer) -> None:
    data = os.urandom(300_000)
    server.files["/m/pool/x/f.deb"] = data
    s = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_DEBIAN_MIRROR": server.url("/m")})
    art = Artifact("f.deb", sha256(data), len(data), ("debian:pool/x/f.deb",), "test")
    paths: list[Path] = []
    threads = [threading.Thread(target=lambda: paths.append(fetch(art, Store(s.cache_dir), s, log=lambda m: None)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(paths) == 4 and len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert server.paths_requested() == ["/m/pool/x/f.deb"]
    assert store_leftovers(tmp_path / "cache") == []


def test_a_lock_timeout_says_what_is_held_by_whom_and_where(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    key = rig.run("wasi-cache-key").stdout.strip()
    with Store(rig.cache).locked(f"sysroot-{key}", "holding it for a test"):
        result = rig.run(WASI_LOCK_TIMEOUT="0.5")
    assert result.returncode == 2
    lock_file = rig.cache / "locks" / f"sysroot-{key}.lock"
    assert (f"scons: *** [.wasi/toolchain-{key}.stamp] timed out after 0.5 s waiting for the store lock {lock_file}: "
            f"it guards the toolchain entry {key}, and it is held by pid {os.getpid()} on ") in result.stderr
    assert "while holding it for a test\n  next step: wait for the other build to finish, or raise " \
           "WASI_LOCK_TIMEOUT" in result.stderr
    assert "Traceback" not in result.stderr
    assert rig.standin.builds() == 0


def test_a_held_lock_times_out_in_process_too(tmp_path: Path) -> None:
    store = Store(tmp_path, lock_timeout=0.2)
    with store.locked("download-" + "0" * 64, "testing"):
        with pytest.raises(StoreLockTimeout, match="it guards the download with sha256 0{64}, and it is held by pid"):
            with store.locked("download-" + "0" * 64, "never"):
                pass
