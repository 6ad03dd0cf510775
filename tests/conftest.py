"""Shared fixtures: the core on sys.path, a loopback HTTP server, archive builders, and a scons runner."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "site_scons"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import pytest  # noqa: E402

from helpers import LoopbackServer  # noqa: E402


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
def repo() -> Path:
    return REPO
