"""Drive cold `scons wasi-toolchain` runs against the stand-in pins, and check what they leave in the store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .helpers import REPO, LoopbackServer, store_leftovers, unverified_downloads
from .standin_cold import Standin, make_standin, scons_environment, serve_debian, simple_index, write_project
from wasi_toolchain.store.store import STAMP, check_manifest


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


@dataclass
class ColdRig:
    root: Path
    server: LoopbackServer
    standin: Standin
    pip: bool = False
    extra_env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(cls, root: Path, server: LoopbackServer, *, pip: bool = False, pause: float = 0.3,
               libc: str = "source") -> ColdRig:
        """``libc``: the flavour the runs build. 'source' (make of the stand-in Makefile, which counts its builds
        and marks its midpoint) is what the kill and concurrency tests need; 'debian' is the default flavour."""
        locator = "pypi:ziglang==0.17.1" if pip else server.url("/wheels/{name}")
        standin = make_standin(root / "pins", llvm_locator=locator, pause=pause)
        serve_debian(server.files, standin)
        for name, body in standin.files.items():
            server.files[f"/wheels/{name}"] = body
        rig = cls(root, server, standin, pip)
        rig.extra_env["WASI_LIBC"] = libc
        if pip:
            rig.extra_env["WASI_PYPI_INDEX"] = simple_index(root / "index", standin)
        rig.project(0)
        return rig

    @property
    def cache(self) -> Path:
        return self.root / "cache"

    def project(self, n: int) -> Path:
        path = self.root / f"project{n}"
        if not path.exists():
            write_project(path, self.standin)
        return path

    def env(self, kill_at: str | None = None, **extra: str) -> dict[str, str]:
        env = scons_environment(self.cache, **{"WASI_DEBIAN_MIRROR": self.server.url("/debian"),
                                               "WASI_LOCK_TIMEOUT": "120", **self.extra_env, **extra})
        env.pop("WASI_TEST_KILL_AT", None)
        if kill_at:
            env["WASI_TEST_KILL_AT"] = kill_at
        return env

    def start(self, *targets: str, kill_at: str | None = None, project: int = 0, **extra: str) -> subprocess.Popen[str]:
        # A session of its own: a kill point takes down scons and everything it started (make), as a CI timeout
        # killing the job's process group does, and nothing else.
        return subprocess.Popen([sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q", *targets],
                                cwd=self.project(project), env=self.env(kill_at, **extra), text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)

    def run(self, *targets: str, kill_at: str | None = None, timeout: float = 120, **extra: str) -> Finished:
        proc = self.start(*targets or ("wasi-toolchain",), kill_at=kill_at, **extra)
        out, err = proc.communicate(timeout=timeout)
        return Finished(proc.returncode, out, err)

    def run_killed_mid_make(self, timeout: float = 60) -> Finished:
        """Start a cold build and SIGKILL its process group once make is half-way (the stand-in's marker)."""
        proc = self.start("wasi-toolchain")
        deadline = time.monotonic() + timeout
        while not list(self.cache.glob("sysroots/.tmp-*/build/obj/.make-midway")):
            if proc.poll() is not None or time.monotonic() > deadline:
                out, err = proc.communicate()
                raise AssertionError(f"make never reached its midway mark (exit {proc.returncode}):\n{err}")
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate(timeout=timeout)
        return Finished(proc.returncode, out, err)

    # -- what the store holds ------------------------------------------------------------------------------------
    def entries(self) -> list[Path]:
        sysroots = self.cache / "sysroots"
        return [p for p in sysroots.iterdir() if not p.name.startswith(".")] if sysroots.is_dir() else []

    def assert_nothing_half_done(self) -> None:
        """What a kill may leave: temp paths and partial downloads, which nothing trusts. Every visible download
        is verified and every visible entry is complete and matches its manifest."""
        assert unverified_downloads(self.cache) == []
        for entry in self.entries():
            assert (entry / STAMP).is_file(), f"{entry} is visible but has no stamp"
            assert check_manifest(entry) == [], entry
            assert json.loads((entry / STAMP).read_text())["key"] == entry.name

    def assert_complete_and_clean(self) -> None:
        self.assert_nothing_half_done()
        assert len(self.entries()) == 1
        assert store_leftovers(self.cache) == []
        assert sorted(p.name for p in (self.cache / "locks").glob("*.owner")) == []
