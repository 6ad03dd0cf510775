"""The remote cache with the real toolchain: this repository's samples, two checkouts, two stores, one nginx.

The offline suite (tests/test_remote_cache_nginx.py) proves the same with the stand-in toolchain; this is the one
run with real modules: checkout B's compiler, linker and archiver are tripwires, and its modules must be
byte-identical to checkout A's.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from support.nginx import Nginx
from test_e2e_builders import checkout, copy_store, tripwire_tools

pytestmark = pytest.mark.e2e


def test_a_second_machine_builds_the_samples_from_nginx_without_a_compiler(real, nginx: Nginx,  # type: ignore[no-untyped-def]
                                                                          tmp_path: Path) -> None:
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    a = checkout(tmp_path / "laptop" / "project", project.cache)
    first = a.scons(f"--remote-cache={nginx.url()}", f"--cache-dir={tmp_path / 'laptop-cachedir'}")
    assert first.returncode == 0, first.stdout + first.stderr
    expected = a.outputs()
    uploads = [path for method, path, code in nginx.access_log() if method == "PUT" and code == 201]
    assert len(uploads) == len(nginx.entries()) > len([p for p in expected if p.endswith(".wasm")])

    store = copy_store(project.cache, tmp_path / "runner-store")
    log = tmp_path / "tripwire.log"
    tripwire_tools(store, log)
    b = checkout(tmp_path / "runner" / "elsewhere" / "b", store)
    second = b.scons("-j2", f"--remote-cache={nginx.url()}")  # its local level: scons-cachedir/ in its own store
    assert second.returncode == 0, second.stdout + second.stderr
    assert not log.exists()
    assert sorted(re.findall(r"^Retrieved `(.+)' from cache$", second.stdout, flags=re.M)) == sorted(expected)
    assert b.outputs() == expected
    assert re.search(rf"^remote cache {re.escape(nginx.url())}: {len(expected)} hits, 0 misses, 0 uploads, .* "
                     rf"0 errors$", second.stdout, flags=re.M), second.stdout
