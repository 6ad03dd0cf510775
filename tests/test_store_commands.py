"""`scons wasi-fetch-all DIR`, an air-gapped build from it, WASI_OFFLINE through SCons, and `scons wasi-verify`."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from support.coldrun import ColdRig
from support.helpers import REPO, LoopbackServer, store_leftovers
from support.standin_cold import BUILTINS_NAME, LIBC_DEB_NAME, LIBC_DEB_POOL, LIBC_NAME, LIBCXX_NAME, WHEEL_TAGS, wheel_name
from wasi_toolchain.store.store import MANIFEST, Store

GUARD = REPO / "tests" / "support" / "offline_guard"


def offline_env(rig: ColdRig, tmp_path: Path, **extra: str) -> dict[str, str]:
    """WASI_OFFLINE=1 plus the audit-hook guard (tests/support/offline_guard) that refuses sockets and pip."""
    notes = tmp_path / "offline-guard.log"
    notes.touch()
    return {"WASI_OFFLINE": "1", "PYTHONPATH": str(GUARD), "WASI_TEST_OFFLINE_GUARD": str(notes), **extra}


def test_fetch_all_fills_a_directory_for_every_host_then_an_offline_build_uses_it(tmp_path: Path,
                                                                                  server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, pip=True)  # wheels through pip, so --platform picks other hosts' files
    dist = tmp_path / "dist"
    filled = rig.run("wasi-fetch-all", str(dist))
    assert filled.returncode == 0, filled.stderr
    # Both libc flavours' files: the offline machine may build either.
    expected = sorted([BUILTINS_NAME, LIBC_DEB_NAME, LIBC_NAME, LIBCXX_NAME, *(wheel_name(h) for h in WHEEL_TAGS)])
    assert sorted(p.name for p in dist.iterdir()) == expected
    for name in expected:
        assert hashlib.sha256((dist / name).read_bytes()).hexdigest() == rig.standin.sha(name)
        assert f"wasi-fetch-all: {name}: fetched" in filled.stdout
    assert f"wasi-fetch-all: 8 pinned files in {dist}; copy it to the offline machine" in filled.stdout
    assert not (rig.cache / "sysroots").exists()  # it fetches; it does not build

    again = rig.run("wasi-fetch-all", str(dist))
    assert again.returncode == 0 and again.stdout.count(": already there") == 8

    # The air-gapped machine: a fresh store, WASI_OFFLINE=1, the directory as WASI_DISTDIR, no socket, no pip.
    server.requests.clear()
    guard = offline_env(rig, tmp_path, WASI_DISTDIR=str(dist), WASI_CACHE_DIR=str(tmp_path / "airgapped"))
    built = rig.run(**guard)
    assert built.returncode == 0, built.stderr
    assert "with pip" not in built.stderr and "wasi: copying " in built.stderr
    assert server.requests == []
    assert (tmp_path / "offline-guard.log").read_text() == ""
    assert rig.standin.builds() == 1


def test_fetch_all_reuses_what_the_store_has(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    assert rig.run().returncode == 0
    server.requests.clear()
    filled = rig.run("wasi-fetch-all", "dist")
    assert filled.returncode == 0, filled.stderr
    # The four files the (source-flavour) build fetched; the other flavour's libc and the other hosts' wheels fetched.
    assert filled.stdout.count(": copied from the store") == 4
    assert filled.stdout.count(": fetched") == 4
    assert sorted(p for p in server.paths_requested()) == sorted(
        [f"/debian/{LIBC_DEB_POOL}", *(f"/wheels/{wheel_name(h)}" for h in WHEEL_TAGS if h != rig.standin.host)])
    assert len(list((rig.project(0) / "dist").iterdir())) == 8


def test_fetch_all_without_a_directory_says_how_to_call_it(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    result = rig.run("wasi-fetch-all")
    assert result.returncode == 2
    assert "scons: *** wasi-fetch-all needs the directory to fill: scons wasi-fetch-all DIR" in result.stderr


def test_offline_cold_start_through_scons_is_our_error_and_touches_nothing(tmp_path: Path,
                                                                          server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    result = rig.run(**offline_env(rig, tmp_path))
    assert result.returncode == 2
    assert "scons: *** [.wasi/toolchain-" in result.stderr
    assert f"could not fetch {BUILTINS_NAME} (sha256 {rig.standin.sha(BUILTINS_NAME)}):" in result.stderr
    assert "next step: WASI_OFFLINE=1 is set, so nothing is downloaded: run `scons wasi-toolchain` once while " \
           "online" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []
    assert (tmp_path / "offline-guard.log").read_text() == ""
    assert store_leftovers(rig.cache) == []


def test_the_offline_guard_does_catch_a_socket(tmp_path: Path, server: LoopbackServer) -> None:
    """Without WASI_OFFLINE the same guard trips: so its silence in the tests above means something."""
    rig = ColdRig.create(tmp_path, server)
    guard = offline_env(rig, tmp_path)
    del guard["WASI_OFFLINE"]
    assert rig.run(**guard).returncode != 0
    assert (tmp_path / "offline-guard.log").read_text().startswith("socket.connect ('127.0.0.1', ")


def test_offline_warm_build_after_an_online_one(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    assert rig.run().returncode == 0
    shutil.rmtree(rig.cache / "sysroots")  # keep the downloads, rebuild the entry from them offline
    server.requests.clear()
    result = rig.run(**offline_env(rig, tmp_path))
    assert result.returncode == 0, result.stderr
    assert server.requests == [] and (tmp_path / "offline-guard.log").read_text() == ""


def test_verify_reports_and_removes_bad_entries_then_the_next_build_repairs_them(tmp_path: Path,
                                                                                 server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    assert rig.run().returncode == 0
    clean = rig.run("wasi-verify")
    assert clean.returncode == 0
    assert "wasi-verify: 5 verified, 0 removed, 0 busy" in clean.stdout

    # Damage: a flipped byte in a download, a stray temp file, a partial download, an edited sysroot header.
    libc = rig.cache / "downloads" / rig.standin.sha(LIBC_NAME) / LIBC_NAME
    data = bytearray(libc.read_bytes())
    data[100] ^= 1
    libc.write_bytes(bytes(data))
    wheel = rig.standin.host_wheel
    (rig.cache / "downloads" / rig.standin.sha(wheel) / f".tmp-{wheel}-1-abcd").write_bytes(b"x")
    (rig.cache / "downloads" / rig.standin.sha(wheel) / f".partial-{wheel}").write_bytes(b"x")
    entry = rig.entries()[0]
    (entry / "sysroot" / "include" / "stdio.h").write_text("/* edited */\n")

    result = rig.run("wasi-verify")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    libc_rel = f"downloads/{rig.standin.sha(LIBC_NAME)}/{LIBC_NAME}"
    assert (f"wasi-verify: {libc_rel}: sha256 mismatch: expected {rig.standin.sha(LIBC_NAME)}, got "
            f"{hashlib.sha256(bytes(data)).hexdigest()}; removed") in out
    assert f".tmp-{wheel}-1-abcd: left by an interrupted run; removed" in out
    assert f".partial-{wheel}: the unverified part of an interrupted download; removed" in out
    assert (f"wasi-verify: sysroots/{entry.name}: changed since it was built: sysroot/include/stdio.h: expected "
            f"sha256:") in out
    assert "wasi-verify: 3 verified, 4 removed, 0 busy" in out
    assert not libc.exists() and not entry.exists()
    assert store_leftovers(rig.cache) == []

    server.requests.clear()
    repaired = rig.run()
    assert repaired.returncode == 0, repaired.stderr
    assert server.paths_requested() == [f"/debian/pool/main/w/wasi-libc/{LIBC_NAME}"]
    assert "wasi-verify: 5 verified, 0 removed, 0 busy" in rig.run("wasi-verify").stdout


def test_verify_leaves_what_another_process_is_working_on(tmp_path: Path, server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server)
    assert rig.run().returncode == 0
    entry = rig.entries()[0]
    (entry / MANIFEST).write_text("{}")  # would be "changed" if it were checked
    with Store(rig.cache).locked(f"sysroot-{entry.name}", "a test holding it"):
        result = rig.run("wasi-verify")
    assert result.returncode == 0
    assert f"wasi-verify: sysroots/{entry.name}: busy (another process holds sysroot-{entry.name}); not checked" \
        in result.stdout
    assert entry.exists()
