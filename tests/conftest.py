"""Shared fixtures: the core on sys.path, a loopback HTTP server, and the one real toolchain build per session."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "site_scons"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

from helpers import LoopbackServer, run_scons  # noqa: E402
from nginx import Nginx, nginx_binary  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: fetches the real pins through the machine's registries (network)")


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
