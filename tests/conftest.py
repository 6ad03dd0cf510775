"""Shared fixtures: the core on sys.path, a loopback HTTP server, and the one real toolchain build per session."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "site_scons"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

from support.helpers import LoopbackServer, run_scons  # noqa: E402
from support.nginx import Nginx, nginx_binary  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: fetches the real pins through the machine's registries (network)")
    config.addinivalue_line("markers", "slow: takes minutes (builds under an emulator); -m 'not slow' leaves it out")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The naming rule: end-to-end tests live in tests/test_e2e_*.py (or test_e2e.py) and nowhere else, so a file
    name says whether it needs the network and the real pins."""
    for item in items:
        name = item.path.name
        if item.get_closest_marker("e2e") and not name.startswith("test_e2e"):
            raise pytest.UsageError(f"{item.nodeid} is marked e2e but lives in {name}; move it to a test_e2e_*.py file")


GUARD_DIR = Path(__file__).resolve().parent / "support" / "offline_guard"
_guard_spec = importlib.util.spec_from_file_location("offline_guard", GUARD_DIR / "sitecustomize.py")
assert _guard_spec is not None and _guard_spec.loader is not None
_guard = importlib.util.module_from_spec(_guard_spec)
_guard_spec.loader.exec_module(_guard)
_loopback_notes: list[Path] = []  # the current offline test's notes file; empty during e2e tests


def _in_process_loopback_guard(event: str, args: tuple[object, ...]) -> None:
    what = _guard.refused_loopback_only(event, args) if _loopback_notes else None
    if what is not None:
        with open(_loopback_notes[0], "a", encoding="utf-8") as notes:
            notes.write(what + "\n")
        raise RuntimeError(f"test guard: refused {what}")


sys.addaudithook(_in_process_loopback_guard)


@pytest.fixture(autouse=True)
def loopback_only(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Offline tests reach nothing but loopback, in this process and in every Python process they start (scons,
    pip: tests/support/offline_guard is put on PYTHONPATH). A test that tried is failed, even if the code under test caught
    the refusal."""
    if request.node.get_closest_marker("e2e"):
        yield
        return
    notes = tmp_path_factory.mktemp("loopback-guard") / "refused.log"
    notes.touch()
    monkeypatch.setenv("WASI_TEST_LOOPBACK_ONLY", str(notes))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(GUARD_DIR), os.environ.get("PYTHONPATH")])))
    _loopback_notes.append(notes)
    try:
        yield
    finally:
        _loopback_notes.clear()
    refused = notes.read_text()
    assert refused == "", f"an offline test tried to reach beyond loopback:\n{refused}"


@pytest.fixture
def server() -> LoopbackServer:
    srv = LoopbackServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[Nginx]:
    """A real nginx WebDAV server on a free loopback port, for the remote-cache tests; stopped after the test."""
    binary = nginx_binary()
    if binary is None:
        pytest.skip("nginx is not installed (Debian: apt-get install nginx-light; .ci/run installs it as root)")
    server = Nginx(binary, tmp_path / "nginx")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def repo() -> Path:
    return REPO


class RealProject:
    def __init__(self, root: Path, cache: Path) -> None:
        self.root = root
        self.cache = cache
        self.env = {"WASI_CACHE_DIR": str(cache)}

    def scons(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_scons(self.root, *args, env=self.env)


@pytest.fixture(scope="session")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[RealProject, subprocess.CompletedProcess[str], float]:
    """A copy of this repository's SConstruct, lock and samples, built cold with `scons run-first`.

    This is the session's one real toolchain build: every e2e test uses ``project.cache`` as its store (or a copy
    of it) instead of building another."""
    repo = Path(__file__).resolve().parent.parent
    root = tmp_path_factory.mktemp("checkout")
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(repo / name, root / name)
    shutil.copytree(repo / "samples", root / "samples")
    cache = tmp_path_factory.mktemp("empty-cache")
    assert list(cache.iterdir()) == []
    project = RealProject(root, cache)
    started = time.monotonic()
    result = project.scons("run-first")
    return project, result, time.monotonic() - started


@dataclass
class SourceFlavourBuild:
    """What the session's one source-flavour build saw (see the ``source_flavour`` fixture)."""

    root: Path
    cache: Path
    killed_returncode: int
    entries_after_kill: list[Path]
    leftovers_after_kill: list[Path]
    rebuild: subprocess.CompletedProcess[str]
    entries_after_rebuild: list[Path]
    leftovers_after_rebuild: list[Path]


@pytest.fixture(scope="session")
def source_flavour(real: tuple[RealProject, subprocess.CompletedProcess[str], float],
                   tmp_path_factory: pytest.TempPathFactory) -> SourceFlavourBuild:
    """The session's one WASI_LIBC=source entry (a wasi-libc make, about 25 s): a checkout of the repository's
    SConstruct and samples, and a store with the session's downloads, where `scons wasi-toolchain` is killed -9 (the
    whole process group, as a CI timeout does) while make runs, then run again to the end. tests/test_e2e.py checks
    what each step left; tests/test_e2e_size_libc.py builds the -Oz libc on a copy of the store."""
    import os
    import signal

    from support.helpers import REPO, store_leftovers

    project, _, _ = real
    root = tmp_path_factory.mktemp("source-checkout")
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(project.root / name, root / name)
    shutil.copytree(project.root / "samples", root / "samples")
    cache = tmp_path_factory.mktemp("source-store")
    shutil.copy2(project.cache / ".wasi-store", cache / ".wasi-store")  # a copy of the tool's store, marked as one
    shutil.copytree(project.cache / "downloads", cache / "downloads")
    env = {**os.environ, "WASI_CACHE_DIR": str(cache), "WASI_LIBC": "source"}
    proc = subprocess.Popen([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q",
                             "wasi-toolchain"], cwd=root, env=env, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while len(list(cache.glob("sysroots/.tmp-*/build/obj/**/*.o"))) < 100:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate()
    entries_after_kill = [p for p in (cache / "sysroots").iterdir() if not p.name.startswith(".")]
    leftovers_after_kill = store_leftovers(cache)
    rebuild = run_scons(root, "-Q", "wasi-toolchain", env={"WASI_CACHE_DIR": str(cache), "WASI_LIBC": "source"})
    return SourceFlavourBuild(root, cache, proc.returncode, entries_after_kill, leftovers_after_kill, rebuild,
                              list((cache / "sysroots").iterdir()), store_leftovers(cache))
