"""kill -9 a cold `scons wasi-toolchain` at many points; the store never holds a half-done entry, and the next run
succeeds and leaves nothing behind.

The points are chosen with test-only kill points (WASI_TEST_KILL_AT, see wasi_toolchain/killpoints.py), plus one
kill from outside while make runs. The pins are the stand-in toolchain from tests/support/standin_cold.py served over loopback,
so every run is offline and takes a second or two.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.coldrun import ColdRig
from support.helpers import LoopbackServer, store_leftovers

# (kill point, what the store must show right after the kill). The LLVM wheel is fetched in a lane of its own
# (store/background.py) while the small pins are fetched, so the counts run over both lanes: the stand-in's builtins,
# wasi-libc source and libc++ downloads are one network chunk each and the wheel ~39, so chunk #10 is in the wheel's
# body whatever the order, and of the four downloads the wheel, by far the longest, is (all but always) the last
# verified.
KILL_POINTS = [
    "sysroot.locked",          # sysroot lock taken, nothing fetched yet
    "fetch.locked",            # the first download's lock taken (either lane's), no byte written
    "fetch.chunk#10",          # in the middle of the LLVM wheel's body
    "fetch.verified#4",        # the last download (the wheel) verified and fsynced, not yet moved into place
    "fetch.published#1",       # the first download moved in (a small pin), its lock still held; the wheel under way
    "archive.member#30",       # half-way through unpacking LLVM into the temp entry
    "sysroot.llvm-installed",  # LLVM and the resource dir laid out in the temp entry
    "make",                    # killed from outside while make runs (with its children)
    "sysroot.built",           # wasi-libc built, no manifest or stamp yet
    "sysroot.stamped",         # manifest and stamp written, the temp entry not yet moved into place
    "sysroot.published",       # the entry moved into place, its lock still held, the SCons stamp not written
]


def kill(rig: ColdRig, point: str) -> None:
    killed = rig.run_killed_mid_make() if point == "make" else rig.run(kill_at=point)
    assert killed.returncode == -9, f"{point} was never reached:\n{killed.stderr}"
    rig.assert_nothing_half_done()


@pytest.mark.parametrize("point", KILL_POINTS)
def test_a_cold_build_killed_at_any_point_is_finished_by_the_next_run(tmp_path: Path, server: LoopbackServer,
                                                                      point: str) -> None:
    rig = ColdRig.create(tmp_path, server)
    kill(rig, point)
    if point == "fetch.chunk#10":
        wheel = rig.standin.host_wheel
        partial = rig.cache / "downloads" / rig.standin.sha(wheel) / f".partial-{wheel}"
        assert 0 < partial.stat().st_size < len(rig.standin.files[rig.standin.host_wheel])
    server.requests.clear()

    rerun = rig.run()
    assert rerun.returncode == 0, rerun.stderr
    if point == "sysroot.published":
        # The entry was complete, so the re-run is warm and takes no lock; the dead holder's note stays until
        # the next cold run of that key or `scons wasi-verify` clears it.
        assert rig.run("wasi-verify").returncode == 0
    rig.assert_complete_and_clean()
    assert rig.standin.builds() == (2 if point in ("sysroot.built", "sysroot.stamped") else 1)
    if point in ("fetch.chunk#10",):
        # The interrupted download was resumed, not restarted.
        ranges = server.ranges_requested(f"/wheels/{rig.standin.host_wheel}")
        assert len(ranges) == 1 and ranges[0] is not None and ranges[0].startswith("bytes=")
    if point not in ("sysroot.locked",) and not point.startswith("fetch."):
        assert server.requests == []  # everything was fetched and verified before the kill: nothing again
    if point != "sysroot.published":
        assert "wasi: an earlier run was interrupted while it held" in rerun.stderr
    # And a third run is warm: no lock, no fetch, no build.
    warm = rig.run()
    assert warm.returncode == 0 and "wasi:" not in warm.stderr


def test_pip_killed_after_its_download_leaves_a_temp_dir_the_next_run_sweeps(tmp_path: Path,
                                                                           server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, pip=True)
    kill(rig, "fetch.pip-downloaded")
    assert any(".tmp-ziglang" in p for p in store_leftovers(rig.cache))
    rerun = rig.run()
    assert rerun.returncode == 0, rerun.stderr
    rig.assert_complete_and_clean()


def test_one_store_survives_a_string_of_kills(tmp_path: Path, server: LoopbackServer) -> None:
    """Kill after kill on the same store, each run getting a little further, then one clean run."""
    rig = ColdRig.create(tmp_path, server)
    # Each point is reached whatever order the two fetch lanes run in: run 1 reads 3 of the ~42 chunks, run 2 8
    # more (the wheel, resumed, is still far from complete), so run 3 still has the wheel to publish.
    for point in ["fetch.chunk#3", "fetch.chunk#8", "fetch.published#1", "archive.member#10", "make",
                  "sysroot.stamped"]:
        kill(rig, point)
    final = rig.run()
    assert final.returncode == 0, final.stderr
    rig.assert_complete_and_clean()
    assert rig.standin.builds() == 2  # the make killed half-way never counted; the stamped one and this one did
