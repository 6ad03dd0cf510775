"""The LLVM files fetched in a lane of their own (store/background.py) while the small pins are fetched beside them:
a failure on either side is a clear error naming its file, nothing half-written lands in the store, the other
download is stopped (pip killed, the connection shut) rather than left running, and progress lines stay whole.

Offline: every file is made here and served from loopback (pip reads a loopback index)."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import filelock
import pytest

from support.coldrun import ColdRig
from support.helpers import (LoopbackServer, make_deb, make_zip, sha256, status, store_leftovers, trickle,
                             unverified_downloads)
from support.standin_cold import LIBC_DEB_NAME, LIBC_DEB_POOL
from wasi_toolchain.errors import FetchError
from wasi_toolchain.log import one_line_at_a_time
from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.settings import Settings
from wasi_toolchain.store.background import BackgroundFetch
from wasi_toolchain.store.lane import FetchCancelled, Lane
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.store.store import STAMP, Store

BIG = os.urandom(3_000_000)  # the "wheel": long enough to be mid-download when the other side fails
SMALL = os.urandom(50_000)
BIG_PATH, SMALL_PATH = "pool/main/b/big/big_1.0_all.deb", "pool/main/s/small/small_1.0_all.deb"
HEAD = f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(BIG)}\r\n\r\n".encode()


def pin(name: str, data: bytes, locator: str) -> Artifact:
    return Artifact(name=name, sha256=sha256(data), size=len(data), locators=(locator,), where="test")


BIG_PIN = pin("big_1.0_all.deb", BIG, f"debian:{BIG_PATH}")
SMALL_PIN = pin("small_1.0_all.deb", SMALL, f"debian:{SMALL_PATH}")


def settings(tmp_path: Path, server: LoopbackServer, **env: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_DEBIAN_MIRROR": server.url("/d"),
                                  "WASI_FETCH_RETRIES": "0", **env})


def lane_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "wasi-fetch-lane"]


def downloads(tmp_path: Path) -> list[str]:
    """Every file under downloads/, partial and temp files included."""
    root = tmp_path / "cache" / "downloads"
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []


def processes_mentioning(text: str) -> list[str]:
    """Command lines of the live processes that name ``text`` (a pip started for this test names its temp dir)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in cmdline:
                found.append(cmdline)
    return found



def index_with_a_wheel(server: LoopbackServer, filler: bytes) -> tuple[str, bytes, bytes]:
    """A package index on ``server`` listing one wheel carrying ``filler``: the wheel's name, its bytes, and the
    response head a test serves its body after (trickled, cut off, …)."""
    name = "wasitestpkg-1.0-py3-none-any.whl"
    wheel = make_zip([("wasitestpkg/__init__.py", b""), ("wasitestpkg/filler.bin", filler),
                      ("wasitestpkg-1.0.dist-info/METADATA", b"Metadata-Version: 2.1\nName: wasitestpkg\n"
                                                             b"Version: 1.0\n"),
                      ("wasitestpkg-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
                                                          b"Tag: py3-none-any\n"),
                      ("wasitestpkg-1.0.dist-info/RECORD", b"")])
    server.faults["/simple/wasitestpkg/"] = status(200, headers={"Content-Type": "text/html"}, body=(
        f'<html><body><a href="/files/{name}#sha256={sha256(wheel)}">{name}</a></body></html>').encode())
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(wheel)}\r\n\r\n"
            ).encode()
    return name, wheel, head

def test_both_sides_deliver_verified_files(tmp_path: Path, server: LoopbackServer) -> None:
    server.files[f"/d/{BIG_PATH}"] = BIG
    server.files[f"/d/{SMALL_PATH}"] = SMALL
    s = settings(tmp_path, server)
    store = Store(s.cache_dir)
    with BackgroundFetch([BIG_PIN], store, s, log=lambda line: None) as lane:
        small = fetch(SMALL_PIN, store, s, log=lambda line: None)
        big, = lane.result()
    assert big.read_bytes() == BIG and small.read_bytes() == SMALL
    assert downloads(tmp_path) == sorted([f"{BIG_PIN.sha256}/{BIG_PIN.name}", f"{SMALL_PIN.sha256}/{SMALL_PIN.name}"])
    assert lane_threads() == []
    assert lane.seconds > 0


def test_a_file_the_lane_cannot_fetch_is_an_error_naming_it_and_leaves_nothing(tmp_path: Path,
                                                                               server: LoopbackServer) -> None:
    server.files[f"/d/{SMALL_PATH}"] = SMALL  # the big file is not served: 404
    s = settings(tmp_path, server)
    store = Store(s.cache_dir)
    with pytest.raises(FetchError) as info:
        with BackgroundFetch([BIG_PIN], store, s, log=lambda line: None) as lane:
            fetch(SMALL_PIN, store, s, log=lambda line: None)
            lane.result()
    assert f"could not fetch big_1.0_all.deb (sha256 {BIG_PIN.sha256})" in str(info.value)
    assert info.value.attempts == [(server.url(f"/d/{BIG_PATH}"), "HTTP 404 Not Found")]
    assert downloads(tmp_path) == [f"{SMALL_PIN.sha256}/{SMALL_PIN.name}"]  # the good one is kept, verified
    assert store_leftovers(s.cache_dir) == [] and lane_threads() == []


def test_a_lane_that_failed_is_reported_by_check_before_the_caller_waits(tmp_path: Path,
                                                                         server: LoopbackServer) -> None:
    s = settings(tmp_path, server)
    with BackgroundFetch([BIG_PIN], Store(s.cache_dir), s, log=lambda line: None) as lane:
        deadline = time.monotonic() + 10
        while lane_threads() and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(FetchError, match="could not fetch big_1.0_all.deb"):
            lane.check()


def test_a_failure_beside_the_lane_stops_its_http_download_and_removes_its_bytes(tmp_path: Path,
                                                                                server: LoopbackServer) -> None:
    sent: list[int] = []
    # 3 MB at 16 kB every 20 ms: about 4 s, far longer than the test waits once the other side failed.
    server.faults[f"/d/{BIG_PATH}"] = trickle(HEAD, BIG, interval=0.02, piece=16384, sent=sent, give_up_after=60)
    server.files[f"/d/{SMALL_PATH}"] = SMALL[:-1] + bytes([SMALL[-1] ^ 1])  # one byte changed: refused
    s = settings(tmp_path, server)
    store = Store(s.cache_dir)
    with pytest.raises(FetchError) as info:
        with BackgroundFetch([BIG_PIN], store, s, log=lambda line: None):
            while sum(sent) < 200_000:  # the big download is under way
                time.sleep(0.01)
            fetch(SMALL_PIN, store, s, log=lambda line: None)
    stopped_at = time.monotonic()
    assert "could not fetch small_1.0_all.deb" in str(info.value) and "sha256 mismatch" in str(info.value)
    assert lane_threads() == []  # leaving the block waited for the lane to stop
    delivered = sum(sent)
    time.sleep(0.3)
    assert sum(sent) <= delivered + 16384 * 2, "the server kept sending: the connection was left open"
    assert delivered < len(BIG)
    assert downloads(tmp_path) == []  # neither the refused file nor the big one's partial bytes
    assert store_leftovers(s.cache_dir) == []
    assert time.monotonic() - stopped_at < 1


def test_a_failure_beside_the_lane_kills_its_pip(tmp_path: Path, server: LoopbackServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    name, wheel, head = index_with_a_wheel(server, BIG)
    sent: list[int] = []
    server.faults[f"/files/{name}"] = trickle(head, wheel, interval=0.02, piece=16384, sent=sent, give_up_after=60)
    server.files[f"/d/{SMALL_PATH}"] = SMALL
    s = settings(tmp_path, server, WASI_PYPI_INDEX=server.url("/simple/"))
    wheel_pin = Artifact(name=name, sha256=sha256(wheel), size=len(wheel), locators=("pypi:wasitestpkg==1.0",),
                         where="test")
    wrong_small = Artifact(name=SMALL_PIN.name, sha256="0" * 64, size=len(SMALL), locators=SMALL_PIN.locators,
                           where="test")
    store = Store(s.cache_dir)
    with pytest.raises(FetchError, match="could not fetch small_1.0_all.deb"):
        with BackgroundFetch([wheel_pin], store, s, log=lambda line: None):
            deadline = time.monotonic() + 60
            while sum(sent) < 100_000 and time.monotonic() < deadline:  # pip is downloading the wheel
                time.sleep(0.01)
            assert processes_mentioning(str(tmp_path / "cache")), "pip is not running"
            fetch(wrong_small, store, s, log=lambda line: None)
    assert processes_mentioning(str(tmp_path / "cache")) == []  # pip was killed and waited for
    assert sum(sent) < len(wheel)
    assert downloads(tmp_path) == [] and store_leftovers(s.cache_dir) == [] and lane_threads() == []


def test_a_lane_waiting_for_another_process_s_download_stops_waiting_when_cancelled(tmp_path: Path,
                                                                                    server: LoopbackServer) -> None:
    s = settings(tmp_path, server, WASI_LOCK_TIMEOUT="20")  # a regression fails after 20 s rather than hangs
    store = Store(s.cache_dir, lock_timeout=s.lock_timeout)
    store.claim()
    store.lock_path(f"download-{BIG_PIN.sha256}").parent.mkdir(parents=True, exist_ok=True)
    # The lock another build would hold while it downloads the same file (flock: held per open file, so the
    # lane's own FileLock waits for it as another process's would).
    holder = filelock.FileLock(str(store.lock_path(f"download-{BIG_PIN.sha256}")), thread_local=False)
    holder.acquire()
    try:
        lines: list[str] = []
        started = time.monotonic()
        with pytest.raises(RuntimeError, match="the build failed here"):
            with BackgroundFetch([BIG_PIN], store, s, log=lines.append):
                deadline = time.monotonic() + 10
                while not any("waiting for" in line for line in lines) and time.monotonic() < deadline:
                    time.sleep(0.01)
                raise RuntimeError("the build failed here")
        assert time.monotonic() - started < 5  # not WASI_LOCK_TIMEOUT
        assert any(line.startswith("wasi: waiting for") for line in lines)
        assert lane_threads() == [] and server.requests == []
    finally:
        holder.release()


def test_lines_from_two_threads_are_never_interleaved() -> None:
    written: list[str] = []

    def two_writes(message: str) -> None:  # as print() does: the text, then the newline
        written.append(message)
        time.sleep(0)
        written.append("\n")

    log = one_line_at_a_time(two_writes)
    lines = {name: [f"wasi: {name} line {i}" for i in range(300)] for name in ("lane", "caller")}
    threads = [threading.Thread(target=lambda name=name: [log(line) for line in lines[name]]) for name in lines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out = "".join(written).splitlines()
    assert sorted(out) == sorted(lines["lane"] + lines["caller"])


# -- a cold `scons wasi-toolchain` (the stand-in pins): the LLVM wheel is downloading when the other side fails ----
def slow_wheel(rig: ColdRig, sent: list[int]) -> None:
    """The stand-in wheel, trickled: ~2.5 MB at 16 kB every 20 ms, about 3 s, far longer than a failure takes."""
    body = rig.standin.files[rig.standin.host_wheel]
    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
    rig.server.faults[f"/wheels/{rig.standin.host_wheel}"] = trickle(head, body, interval=0.02, piece=16384,
                                                                     sent=sent, give_up_after=60)


def repin(rig: ColdRig, name: str, data: bytes) -> None:
    """Serve ``data`` as the stand-in file ``name`` and pin it in every project's lock (sha256 and size)."""
    old = rig.standin.files[name]
    rig.standin.lock = rig.standin.lock.replace(sha256(old), sha256(data)).replace(
        f'name = "{name}", size = {len(old)}', f'name = "{name}", size = {len(data)}')
    rig.standin.files[name] = data
    for path, body in list(rig.server.files.items()):
        if body == old:
            rig.server.files[path] = data
    (rig.project(0) / "toolchain.lock").write_text(rig.standin.lock)


def test_a_bad_libc_download_fails_the_cold_build_at_once_and_stops_the_wheel(tmp_path: Path,
                                                                               server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="debian")
    sent: list[int] = []
    slow_wheel(rig, sent)
    libc = rig.standin.files[LIBC_DEB_NAME]
    server.files[f"/debian/{LIBC_DEB_POOL}"] = libc[:-1] + bytes([libc[-1] ^ 1])  # not the pinned bytes
    started = time.monotonic()
    failed = rig.run()
    took = time.monotonic() - started
    assert failed.returncode == 2, failed.stderr
    assert f".stamp] could not fetch {LIBC_DEB_NAME} (sha256 {rig.standin.sha(LIBC_DEB_NAME)}):" in failed.stderr
    assert all(line.startswith(("wasi: ", "scons: *** ", "  ")) for line in failed.stderr.splitlines())
    assert "sha256 mismatch" in failed.stderr and "Traceback" not in failed.stderr
    assert 0 < sum(sent) < len(rig.standin.files[rig.standin.host_wheel])  # the wheel was cut off mid-way
    assert took < 3 + 2.5, took  # scons's start-up, not the wheel's remaining seconds
    assert store_leftovers(rig.cache) == [] and rig.entries() == []
    assert unverified_downloads(rig.cache) == []


def test_a_libc_package_without_its_files_fails_the_cold_build_before_the_wheel_is_in(tmp_path: Path,
                                                                                      server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="debian")
    sent: list[int] = []
    slow_wheel(rig, sent)
    # Pinned as it is served, so it downloads fine; it is unpacked beside the wheel's download and lacks libc.a.
    repin(rig, LIBC_DEB_NAME, make_deb([("./usr/include/wasm32-wasi/stdio.h", b"/* stand-in */\n")]))
    failed = rig.run()
    assert failed.returncode == 2, failed.stderr
    assert f".stamp] {LIBC_DEB_NAME} (sha256 {rig.standin.sha(LIBC_DEB_NAME)}) did not provide" in failed.stderr
    assert "lib/wasm32-wasi/libc.a" in failed.stderr
    assert sum(sent) < len(rig.standin.files[rig.standin.host_wheel])  # reported before the wheel was in
    assert store_leftovers(rig.cache) == [] and rig.entries() == []


def test_a_cold_build_says_where_its_time_went_and_wasi_timings_says_it_again(tmp_path: Path,
                                                                             server: LoopbackServer) -> None:
    rig = ColdRig.create(tmp_path, server, libc="debian")
    built = rig.run()
    assert built.returncode == 0, built.stderr
    ready, = [line for line in built.stderr.splitlines() if " ready in " in line]
    assert "(fetch " in ready and ", unpack " in ready and ", manifest " in ready
    assert "; alongside: LLVM fetch " in ready and ", libc and libc++ " in ready
    stamp = json.loads((rig.entries()[0] / STAMP).read_text())
    assert set(stamp["timings"]) >= {"fetch", "unpack", "manifest"}
    assert set(stamp["timings-alongside"]) == {"LLVM fetch", "libc and libc++"}
    assert 0 < sum(stamp["timings"].values()) <= stamp["timings-total"]
    again = rig.run("wasi-timings")
    assert again.returncode == 0 and again.stderr == ""  # warm: nothing built, nothing fetched
    line, = again.stdout.splitlines()
    key = rig.entries()[0].name
    # The same phases, in the order the build ran them (the stamp's JSON sorts its keys).
    assert line.startswith(f"wasi: toolchain {key} was built in {stamp['timings-total']:.1f} s (fetch ")
    assert line.endswith(ready[ready.index(" s (fetch ") + 2:])


def test_pip_in_a_lane_draws_no_bar_and_says_how_far_it_got_in_plain_lines(tmp_path: Path, server: LoopbackServer,
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import wasi_toolchain.store.pip_download as pip_download

    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setattr(pip_download, "PROGRESS_EVERY", 0.5)
    # As on a terminal, where pip alone would draw its bar on our standard error.
    monkeypatch.setattr(pip_download.sys.stderr, "isatty", lambda: True)
    runs: list[tuple[list[str], bool]] = []
    run_pip = pip_download._run_pip

    def recorded(command, temp_dir, settings, interactive, *rest):  # type: ignore[no-untyped-def]
        runs.append((command, interactive))
        return run_pip(command, temp_dir, settings, interactive, *rest)

    monkeypatch.setattr(pip_download, "_run_pip", recorded)
    name, wheel, head = index_with_a_wheel(server, SMALL * 20)
    # 1 MB in 64 kB pieces every 0.1 s: about 1.6 s, long enough for a few progress lines.
    server.faults[f"/files/{name}"] = trickle(head, wheel, interval=0.1, piece=65536, give_up_after=60)
    s = settings(tmp_path, server, WASI_PYPI_INDEX=server.url("/simple/"))
    wheel_pin = Artifact(name=name, sha256=sha256(wheel), size=len(wheel), locators=("pypi:wasitestpkg==1.0",),
                         where="test")
    lines: list[str] = []
    with BackgroundFetch([wheel_pin], Store(s.cache_dir), s, log=lines.append) as lane:
        path, = lane.result()
    assert path.read_bytes() == wheel
    progress = [line for line in lines if line.startswith("wasi: pip has ")]
    assert progress, lines
    for line in progress:
        assert line.endswith(" s") and f" of {name} (1.0 MB) after " in line, line
    assert lines[0] == f"wasi: fetching {name} (1.0 MB) with pip"
    (command, interactive), = runs
    assert not interactive and command[command.index("--progress-bar") + 1] == "off"  # pip's output is captured


def test_a_retry_s_wait_in_a_lane_ends_when_the_lane_is_cancelled() -> None:
    lane = Lane()
    slept: list[float] = []
    lane.sleep(0.6, slept.append)  # not cancelled: the whole wait, in slices
    assert slept == [0.25, 0.25, pytest.approx(0.1)]

    slept.clear()

    def cancel_after_first(seconds: float) -> None:
        slept.append(seconds)
        lane.cancelled.set()

    with pytest.raises(FetchCancelled):
        lane.sleep(30, cancel_after_first)  # a Retry-After of 30 s, cut short
    assert slept == [0.25]
