"""`scons --remote-cache` against a real nginx WebDAV server, started per test on a free loopback port.

The builds use the stand-in toolchain of tests/test_builders.py (tools that record every command they run, and
write outputs that are a digest of their inputs), so "0 compiler processes" is read from the recorder's log, and
the server's side from nginx's own access log and data directory. Offline: nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.helpers import run_scons
from support.nginx import PASSWORD, TOKEN, USER, Nginx
from support.standin import RECORDER, calls, fake_entry
from test_builders import EVERY_OUTPUT, EVERY_TARGET, outputs_in, write_project
from wasi_toolchain.remote_cache.envelope import entry_key

REPORT = "remote cache "


class Machine:
    """A checkout at its own path, with its own WASI_CACHE_DIR store and stand-in toolchain."""

    def __init__(self, root: Path, repo: Path, store: Path) -> None:
        self.root = write_project(root, repo)
        self.store = store
        _, self.log = fake_entry(self.root, store)

    def scons(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # One clang run per object (WASI_BATCH_SIZE=1), as in test_builders.py: these tests follow each object's
        # own command and lookup. A batch and a CacheDir: tests/test_e2e_batch.py.
        result = run_scons(self.root, "-Q", *args,
                           env={"WASI_CACHE_DIR": str(self.store), "WASI_BATCH_SIZE": "1", **(env or {})}, timeout=300)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    def outputs(self) -> dict[str, bytes]:
        return {name: (self.root / name).read_bytes() for name in EVERY_TARGET}


@pytest.fixture
def machines(tmp_path: Path, repo: Path) -> tuple[Machine, Machine]:
    return (Machine(tmp_path / "laptop" / "src" / "proj", repo, tmp_path / "laptop-store"),
            Machine(tmp_path / "ci-runner" / "checkout", repo, tmp_path / "runner" / "store"))


def report_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(REPORT)]


def warning_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("scons: warning: remote cache")]


def retrieved(result: subprocess.CompletedProcess[str]) -> list[str]:
    return sorted(line.split("`")[1].split("'")[0] for line in result.stdout.splitlines()
                  if line.startswith("Retrieved `"))


def test_two_machines_share_only_the_server_and_the_second_runs_no_compiler(
        nginx: Nginx, machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    laptop, runner = machines
    first = laptop.scons(f"--remote-cache={nginx.url()}", f"--cache-dir={tmp_path / 'laptop-cachedir'}", ".")
    assert first.returncode == 0, first.stderr
    assert outputs_in(laptop.log) == EVERY_OUTPUT
    # One lookup per build step, which misses; one upload per target (a program and its .names are two).
    assert report_lines(first) == [f"remote cache {nginx.url()}: 0 hits, 8 misses, 10 uploads, 0 B down, "
                                   f"{first_line_bytes(nginx)} up, 0 errors"]
    assert sorted(m for m, _, code in nginx.access_log() if code == 201) == ["PUT"] * len(EVERY_TARGET)
    assert len(nginx.entries()) == len(EVERY_TARGET)

    # Another path, another store, another local cache dir (the default one in its store), two jobs.
    before = len(nginx.access_log())
    second = runner.scons("-j2", ".", env={"WASI_REMOTE_CACHE": nginx.url()})
    assert second.returncode == 0, second.stderr
    assert calls(runner.log) == []  # not one compiler, archiver or linker process
    assert retrieved(second) == EVERY_TARGET
    assert runner.outputs() == laptop.outputs()
    assert (runner.store / "scons-cachedir").is_dir()  # the remote hits were written to the local level too
    # A hit fetches every target of its step.
    assert [(m, code) for m, _, code in nginx.access_log()[before:]] == [("GET", 200)] * len(EVERY_TARGET)
    assert report_lines(second)[0].startswith(f"remote cache {nginx.url()}: 10 hits, 0 misses, 0 uploads, ")
    assert warning_lines(second) == []

    # A rebuild on the runner after a clean is served by its local level: the server is not asked again.
    assert runner.scons("-c", ".").returncode == 0
    before = len(nginx.access_log())
    third = runner.scons(".", env={"WASI_REMOTE_CACHE": nginx.url()})
    assert retrieved(third) == EVERY_TARGET and calls(runner.log) == []
    assert nginx.access_log()[before:] == []


def first_line_bytes(nginx: Nginx) -> str:
    """What the uploads sent, from the server's own files (the figure the report line must show)."""
    from wasi_toolchain.remote_cache.client import human_bytes

    return human_bytes(sum(len(body) for body in nginx.entries().values()))


def test_read_only_mode_downloads_but_never_puts(nginx: Nginx, machines: tuple[Machine, Machine]) -> None:
    laptop, runner = machines
    result = laptop.scons(f"--remote-cache={nginx.url()}", "--remote-cache-mode=read-only", ".")
    assert result.returncode == 0, result.stderr
    assert outputs_in(laptop.log) == EVERY_OUTPUT
    methods = [m for m, _, _ in nginx.access_log()]
    assert methods == ["GET"] * 8  # it looked, and wrote nothing
    assert nginx.entries() == {}
    assert report_lines(result)[0].endswith("(read-only)")

    # The environment variable does the same; and what a trusted build uploaded, a read-only build downloads.
    assert runner.scons(f"--remote-cache={nginx.url()}", ".").returncode == 0
    pr = Machine(laptop.root.parent / "pr-checkout", Path(__file__).resolve().parent.parent,
                 laptop.store.parent / "pr-store")
    before = len(nginx.access_log())
    result = pr.scons(".", env={"WASI_REMOTE_CACHE": nginx.url(), "WASI_REMOTE_CACHE_MODE": "read-only"})
    assert calls(pr.log) == [] and pr.outputs() == runner.outputs()
    assert {m for m, _, _ in nginx.access_log()[before:]} == {"GET"}


def test_nginx_stopped_before_the_build(nginx: Nginx, machines: tuple[Machine, Machine]) -> None:
    laptop, _ = machines
    nginx.stop()
    result = laptop.scons(f"--remote-cache={nginx.url()}", "-j2", ".")
    assert result.returncode == 0, result.stderr
    assert outputs_in(laptop.log) == EVERY_OUTPUT
    assert warning_lines(result) == [
        f"scons: warning: remote cache {nginx.url()}: GET failed: connection refused; targets are built here, and "
        f"after 3 errors the remote cache is turned off for this build (the count is in the report at the end)"]
    (line,) = report_lines(result)
    # With two jobs, the request in flight when the third error turned the cache off may fail too.
    assert " 0 hits, " in line and re.search(r" [34] errors; turned off: after [34] errors$", line), line


def kill_nginx_when_compiling(machine: Machine, nginx: Nginx, source: str) -> None:
    """Make the stand-in clang stop nginx (and wait until it is gone) when it compiles ``source``."""
    clang = next(machine.store.glob("sysroots/*/bin/clang"))
    recorder = RECORDER.format(python=sys.executable, log=str(machine.log))
    shebang, body = recorder.split("\n", 1)
    killer = (f"import os, signal, socket, time\n"
              f"if {source!r} in sys.argv:\n"
              f"    os.kill(int(open({str(nginx.directory / 'nginx.pid')!r}).read()), signal.SIGTERM)\n"
              f"    for _ in range(200):\n"
              f"        try:\n"
              f"            socket.create_connection(('127.0.0.1', {nginx.port}), timeout=0.2).close()\n"
              f"            time.sleep(0.05)\n"
              f"        except OSError:\n"
              f"            break\n")
    clang.write_text(f"{shebang}\nimport sys\n{killer}{body}")


@pytest.mark.parametrize("jobs", ["-j1", "-j2"])
def test_nginx_stopped_mid_build(nginx: Nginx, machines: tuple[Machine, Machine], jobs: str) -> None:
    laptop, runner = machines
    reference = runner.scons(".")  # the same project without any remote cache
    assert reference.returncode == 0
    kill_nginx_when_compiling(laptop, nginx, "app/one.c")
    result = laptop.scons(f"--remote-cache={nginx.url()}", jobs, ".")
    assert result.returncode == 0, result.stderr
    assert nginx.process is not None and nginx.process.poll() is not None  # it really died during the build
    assert outputs_in(laptop.log) == EVERY_OUTPUT
    assert laptop.outputs() == runner.outputs()
    assert nginx.access_log()  # the server was in use before it went away
    assert len(warning_lines(result)) == 1
    (line,) = report_lines(result)
    assert " 0 errors" not in line


def test_a_corrupted_entry_on_the_servers_disk_is_rebuilt_and_replaced(
        nginx: Nginx, machines: tuple[Machine, Machine], tmp_path: Path, repo: Path) -> None:
    laptop, runner = machines
    assert laptop.scons(f"--remote-cache={nginx.url()}", ".").returncode == 0
    # Flip one byte of the payload of one entry, on nginx's disk. Which entry is the linked program's is not
    # known from outside (keys hash signatures), so corrupt every entry whose payload is that module's bytes.
    module = (laptop.root / "out/one.wasm").read_bytes()
    corrupted = [path for path in (nginx.data / "cache" / "ac").iterdir() if path.read_bytes().endswith(module)]
    assert len(corrupted) == 1
    data = bytearray(corrupted[0].read_bytes())
    data[-2] ^= 0xFF
    corrupted[0].write_bytes(bytes(data))

    result = runner.scons(f"--remote-cache={nginx.url()}", ".")
    assert result.returncode == 0, result.stderr
    assert outputs_in(runner.log) == ["out/one.wasm"]  # the one bad entry was built here, nothing else
    assert runner.outputs() == laptop.outputs()
    (warning,) = warning_lines(result)
    assert f"entry ac/{corrupted[0].name} is not a valid entry (expected sha256 " in warning
    assert "1 corrupt entry ignored" in report_lines(result)[0]
    # The rebuilt module was uploaded over the bad entry: a third machine gets everything, compiling nothing.
    assert corrupted[0].read_bytes().endswith(module)
    third = Machine(tmp_path / "third", repo, tmp_path / "third-store")
    assert third.scons(f"--remote-cache={nginx.url()}", ".").returncode == 0
    assert calls(third.log) == [] and third.outputs() == laptop.outputs()


def test_a_401_without_credentials_and_success_with_a_token(nginx: Nginx, machines: tuple[Machine, Machine],
                                                            tmp_path: Path, repo: Path) -> None:
    laptop, runner = machines
    url = nginx.url("token")
    refused = laptop.scons(f"--remote-cache={url}", ".")
    assert refused.returncode == 0, refused.stderr
    assert outputs_in(laptop.log) == EVERY_OUTPUT
    (warning,) = warning_lines(refused)
    assert "GET failed: HTTP 401 (not authorized)" in warning and "WASI_REMOTE_CACHE_TOKEN" in warning
    assert [(m, code) for m, _, code in nginx.access_log()] == [("GET", 401)]  # then it stopped asking

    # The refused build filled the laptop's local level, and local hits are not uploaded: start a fresh one.
    with_token = {"WASI_REMOTE_CACHE": url, "WASI_REMOTE_CACHE_TOKEN": TOKEN}
    fresh_local = f"--cache-dir={tmp_path / 'fresh-local-level'}"
    assert laptop.scons("-c", ".").returncode == 0
    disabled = laptop.scons(".", fresh_local, "--cache-disable", env=with_token)
    assert disabled.returncode == 0 and nginx.entries("token") == {}  # --cache-disable turns the remote off too
    assert laptop.scons("-c", ".").returncode == 0
    filled = laptop.scons(".", fresh_local, env=with_token)
    assert len(nginx.entries("token")) == len(EVERY_TARGET) and warning_lines(filled) == []

    served = runner.scons(".", env=with_token)
    assert calls(runner.log) == [] and runner.outputs() == laptop.outputs()
    for result in (refused, filled, served):
        assert TOKEN not in result.stdout + result.stderr


def test_basic_auth_from_the_url_and_from_netrc_never_shows_the_password(
        nginx: Nginx, machines: tuple[Machine, Machine], tmp_path: Path) -> None:
    laptop, runner = machines
    base = nginx.url("basic")
    with_password = base.replace("http://", f"http://{USER}:{PASSWORD}@")
    filled = laptop.scons(f"--remote-cache={with_password}", ".")
    assert filled.returncode == 0 and warning_lines(filled) == []
    assert len(nginx.entries("basic")) == len(EVERY_TARGET)
    assert report_lines(filled)[0].startswith(f"remote cache {base}: ")  # shown without the user info

    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine 127.0.0.1 login {USER} password {PASSWORD}\n")
    netrc.chmod(0o600)
    served = runner.scons(".", env={"WASI_REMOTE_CACHE": base, "NETRC": str(netrc)})
    assert calls(runner.log) == [] and runner.outputs() == laptop.outputs()

    assert runner.scons("-c", ".").returncode == 0
    wrong_password = base.replace("http://", f"http://{USER}:wrong-{PASSWORD}@")
    wrong = runner.scons(".", f"--cache-dir={tmp_path / 'empty-local-level'}", env={"WASI_REMOTE_CACHE": wrong_password})
    assert wrong.returncode == 0 and "HTTP 401" in warning_lines(wrong)[0]
    helped = runner.scons("--help", f"--remote-cache={with_password}", env={"WASI_REMOTE_CACHE": with_password})
    for result in (filled, served, wrong, helped):
        assert PASSWORD not in result.stdout + result.stderr


def test_help_lists_the_options_and_bad_values_stop_the_build_cleanly(machines: tuple[Machine, Machine]) -> None:
    laptop, _ = machines
    local = laptop.scons("--help").stdout.split("Local Options:")[1]
    assert "--remote-cache=URL" in local and "--remote-cache-mode=MODE" in local
    bad_mode = laptop.scons("--remote-cache=http://127.0.0.1:9/c", "--remote-cache-mode=sometimes", ".")
    assert bad_mode.returncode == 2
    assert ("scons: *** --remote-cache-mode: expected 'read-write' or 'read-only', got 'sometimes'"
            in bad_mode.stderr)
    bad_url = laptop.scons(".", env={"WASI_REMOTE_CACHE": "ftp://me:hunter2@cache/x"})
    assert "scons: *** WASI_REMOTE_CACHE: expected an http:// or https:// URL of the cache, got " \
           "'ftp://***@cache/x'" in bad_url.stderr
    assert "hunter2" not in bad_url.stdout + bad_url.stderr
    assert calls(laptop.log) == []


def test_offline_builds_never_ask_the_remote(nginx: Nginx, machines: tuple[Machine, Machine]) -> None:
    laptop, _ = machines
    result = laptop.scons(f"--remote-cache={nginx.url()}", "--wasi-offline", ".")
    assert result.returncode == 0 and outputs_in(laptop.log) == EVERY_OUTPUT
    assert nginx.access_log() == [] and report_lines(result) == []


def test_entries_are_stored_at_bazel_remotes_action_cache_paths(nginx: Nginx,
                                                                 machines: tuple[Machine, Machine]) -> None:
    laptop, _ = machines
    assert laptop.scons(f"--remote-cache={nginx.url()}", ".").returncode == 0
    paths = sorted(nginx.entries())
    assert len(paths) == len(EVERY_TARGET)
    for path in paths:
        directory, key = path.split("/")
        assert directory == "ac" and len(key) == 64 and int(key, 16) >= 0
    # Each key is a target's SCons cache signature, hashed: the same names a local CacheDir files them under.
    local_signatures = [p.name for p in (laptop.store / "scons-cachedir").glob("??/*")]
    assert sorted(entry_key(sig) for sig in local_signatures) == sorted(p.split("/")[1] for p in paths)
