"""Distributed compilation, offline: the host list (checked against distcc's own parser), the worker's options and
its refusal without --wasi-allow, the allowed-compiler list, distcc's failures in our words (from real distcc runs
on loopback), and where the launcher goes in the commands (with the stand-in toolchain)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from support.distcc import distcc_installed, free_port, listening
from support.helpers import make_project, run_scons
from support.standin import fake_entry
from wasi_toolchain.distributed import worker
from wasi_toolchain.distributed.client import configure, reason, run_compile
from wasi_toolchain.distributed.hosts import parse_hosts
from wasi_toolchain.errors import ConfigError, DistributedError

needs_distcc = pytest.mark.skipif(not distcc_installed(), reason="distcc is not installed (apt-get install distcc)")

GOOD = ["127.0.0.1:3700/2 hostA/4,lzo @hostB/4",
        "localhost/2 @bigman/16:/opt/bin/distccd oldmachine:4200/1 # cartman is down\ndistant/3,lzo",
        "[::1]:4000/3", "u@h/3:/x/distccd,lzo", "--randomize h --localslots=2", "h,auth=name", "h/3:4000"]
BAD = ["127.0.0.1:abc", "a:1/x", "h/0", "@", "h,zip", "--randomize", "# only a comment"]


# -- the host list --------------------------------------------------------------------------------------------------
def test_hosts_are_parsed_as_distcc_documents_them() -> None:
    hosts = parse_hosts("127.0.0.1:3700/2 hostA/4,lzo @hostB/4 localhost")
    assert [(h.kind, h.address, h.port, h.limit, h.label) for h in hosts] == [
        ("tcp", "127.0.0.1", 3700, 2, "127.0.0.1:3700"), ("tcp", "hostA", None, 4, "hostA:3632"),
        ("ssh", "hostB", None, 4, "@hostB/4"), ("local", "localhost", None, None, "localhost")]
    assert [h.remote for h in hosts] == [True, True, True, False]
    old_style = parse_hosts("h/3:4000")[0]
    assert (old_style.port, old_style.limit) == (4000, 3)


@pytest.mark.parametrize("text", BAD)
def test_a_list_distcc_cannot_use_is_our_error(text: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_hosts(text)
    assert str(error.value).startswith("WASI_DISTCC_HOSTS: ")
    assert "next step: " in str(error.value)


@needs_distcc
@pytest.mark.parametrize("text", GOOD + BAD)
def test_the_parse_agrees_with_distcc(text: str) -> None:
    shown = subprocess.run(["distcc", "--show-hosts"], env={**os.environ, "DISTCC_HOSTS": text},
                           capture_output=True, text=True)
    distcc_accepts = "Failed to get host list" not in shown.stderr
    try:
        parse_hosts(text)
        ours = True
    except ConfigError:
        ours = False
    assert ours == distcc_accepts, shown.stderr


@needs_distcc
@pytest.mark.parametrize("text, why", [("h:0", "the port must be 1 to 65535"),
                                      ("h:99999", "the port must be 1 to 65535"),
                                      ("h,cpp,lzo", "distcc/issues/454")])
def test_stricter_than_distcc_where_distcc_would_go_wrong(text: str, why: str) -> None:
    shown = subprocess.run(["distcc", "--show-hosts"], env={**os.environ, "DISTCC_HOSTS": text},
                           capture_output=True, text=True)
    assert "Failed to get host list" not in shown.stderr  # distcc takes it
    with pytest.raises(ConfigError, match=why):
        parse_hosts(text)


# -- the client ------------------------------------------------------------------------------------------------------
def test_no_hosts_means_compile_here() -> None:
    assert configure(None, None, {}) is None
    assert configure("  ", None, {"WASI_DISTCC_HOSTS": "h"}) is None  # the construction variable wins


def test_distcc_missing_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(DistributedError) as error:
        configure("h/2", None, {"PATH": str(tmp_path)})
    assert "distcc is not installed" in str(error.value)
    assert "install the Debian package distcc (apt-get install distcc)" in str(error.value)


@needs_distcc
def test_the_compile_environment(tmp_path: Path) -> None:
    client = configure(None, None, {"WASI_DISTCC_HOSTS": "h/2", "DISTCC_DIR": str(tmp_path / "state"),
                                    "PATH": os.environ["PATH"], "WASI_DISTCC_STRICT": "yes"})
    assert client is not None and client.strict and os.path.isabs(client.distcc)
    env = client.command_environment()
    assert (tmp_path / "state").is_dir()  # distcc needs it to exist
    assert env["DISTCC_HOSTS"] == "h/2" and env["DISTCC_FALLBACK"] == "0"
    assert env["DISTCC_DIR"] == str(tmp_path / "state")
    lenient = configure("h/2", None, {"DISTCC_DIR": str(tmp_path / "state"), "PATH": os.environ["PATH"]})
    assert lenient is not None and lenient.command_environment()["DISTCC_FALLBACK"] == "1"
    # ssh hosts: ssh finds its keys and agent through the user's environment, which SCons does not pass on.
    user = {"DISTCC_DIR": str(tmp_path / "state"), "PATH": os.environ["PATH"], "HOME": "/home/u",
            "SSH_AUTH_SOCK": "/run/agent", "DISTCC_SSH": "ssh -q", "TERM": "xterm"}
    over_ssh = configure("@w1/4 w2/4", None, user)
    assert over_ssh is not None
    assert {k: v for k, v in over_ssh.command_environment().items() if not k.startswith("DISTCC_")} == {
        "HOME": "/home/u", "SSH_AUTH_SOCK": "/run/agent"}
    assert over_ssh.command_environment()["DISTCC_SSH"] == "ssh -q"
    tcp_only = configure("w1/4", None, user)
    assert tcp_only is not None and "HOME" not in tcp_only.command_environment()


@needs_distcc
def test_a_refused_connection_in_our_words(tmp_path: Path) -> None:
    """distcc's real output, on loopback, for a host where nothing listens and no fallback."""
    (tmp_path / "cc").write_text("#!/bin/sh\necho 'int x;'\n")  # preprocesses (distcc runs it with -E)
    (tmp_path / "cc").chmod(0o755)
    (tmp_path / "a.c").write_text("int x;\n")
    host = f"127.0.0.1:{free_port()}"
    client = configure(f"{host}/2", "1", {"DISTCC_DIR": str(tmp_path / "state"), "PATH": os.environ["PATH"]})
    assert client is not None
    env = {**os.environ, **client.command_environment()}
    outcome = run_compile([client.distcc, str(tmp_path / "cc"), "-c", "-o", str(tmp_path / "a.o"),
                           str(tmp_path / "a.c")], env)
    assert outcome.returncode != 0 and outcome.fell_back is None
    assert outcome.failure == f"{host} refused the connection: no worker is listening there"
    assert "distcc[" not in outcome.stderr  # distcc's own lines are taken out
    # Without strict, distcc compiles here and says why: counted for the end-of-build warning.
    (tmp_path / "s2").mkdir()
    lenient = run_compile([client.distcc, str(tmp_path / "cc"), "-c", "-o", str(tmp_path / "a.o"),
                           str(tmp_path / "a.c")], {**env, "DISTCC_FALLBACK": "1", "DISTCC_DIR": str(tmp_path / "s2")})
    assert lenient.returncode == 0 and lenient.failure is None
    assert lenient.fell_back == f"{host} refused the connection: no worker is listening there"


def test_reasons_name_each_host_tried() -> None:
    lines = ["distcc[1] exec on 10.0.0.1:3632/2: /s/k/bin/clang -c a.c",
             "distcc[1] (dcc_r_result_header) ERROR: server provided no answer. Is the server configured to allow "
             "access from your IP address?",
             "distcc[1] exec on 10.0.0.2:3632,lzo: /s/k/bin/clang -c a.c",
             "distcc[1] ERROR: nonblocking connect to 10.0.0.2:3632 failed: Connection refused",
             "distcc[1] (dcc_build_somewhere) ERROR: failed to distribute and fallbacks are disabled"]
    assert reason(lines) == ("10.0.0.1:3632 answered nothing, which is what a worker does that has no toolchain for "
                             "this lock (or whose --wasi-allow leaves this machine out); 10.0.0.2:3632 refused the "
                             "connection: no worker is listening there")
    assert reason(lines[-1:]).startswith("no host was left to try")


# -- the worker -------------------------------------------------------------------------------------------------------
def test_worker_options(tmp_path: Path) -> None:
    options = worker.worker_options("127.0.0.1:3700", ["10.1.2.3/16", "127.0.0.1"], "3", "w.log", base=tmp_path)
    assert options.allow == ("10.1.0.0/16", "127.0.0.1/32") and options.jobs == 3 and options.log == tmp_path / "w.log"
    assert worker.distccd_command("/usr/bin/distccd", options) == [
        "/usr/bin/distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", "3700", "--log-stderr",
        "--log-level=notice", "--allow", "10.1.0.0/16", "--allow", "127.0.0.1/32", "--jobs", "3"]
    assert worker.worker_options("[::1]:3632", ["::1"], None, None, base=tmp_path).listen == "[::1]:3632"
    for listen, allow, jobs, message in [
            ("127.0.0.1:3700", [], None, "refuses to start without --wasi-allow: distcc has no authentication"),
            ("127.0.0.1:3700", ["10.0.0.300"], None, "--wasi-allow: expected an address or network"),
            (None, ["10.0.0.0/8"], None, "needs --wasi-listen=ADDR:PORT"),
            ("worker1:3700", ["10.0.0.0/8"], None, "--wasi-listen: expected an IP address and a port"),
            ("127.0.0.1:70000", ["10.0.0.0/8"], None, "--wasi-listen: expected an IP address and a port"),
            ("127.0.0.1:3700", ["10.0.0.0/8"], "0", "--wasi-jobs: expected a whole number from 1")]:
        with pytest.raises(DistributedError, match=message.replace("(", r"\(")):
            worker.worker_options(listen, allow, jobs, None, base=tmp_path)


def test_the_compiler_list_keeps_every_lock_and_drops_pruned_entries(tmp_path: Path) -> None:
    compilers = []
    for key in ("k1", "k2", "k3"):
        clang = tmp_path / "sysroots" / key / "bin" / "clang"
        clang.parent.mkdir(parents=True)
        clang.write_text("")
        compilers.append(clang)
    cmdlist = worker.cmdlist_path(tmp_path)
    assert worker.add_compilers(cmdlist, compilers[:2]) == [str(c) for c in compilers[:2]]
    shutil.rmtree(tmp_path / "sysroots" / "k1")  # pruned since
    assert worker.add_compilers(cmdlist, [compilers[2], compilers[1]]) == [str(compilers[1]), str(compilers[2])]
    assert cmdlist.read_text() == f"{compilers[1]}\n{compilers[2]}\n"
    assert oct(cmdlist.stat().st_mode & 0o777) == "0o644" and os.listdir(cmdlist.parent) == ["cmdlist"]


WORKER_PROJECT = {"SConstruct": "Environment(tools=['wasi'])\n"}


def test_a_worker_without_allow_refuses_before_fetching_anything(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", WORKER_PROJECT)
    port = free_port()
    store = tmp_path / "store"
    result = run_scons(project, "-Q", "wasi-distcc-worker", f"--wasi-listen=127.0.0.1:{port}",
                       env={"WASI_CACHE_DIR": str(store)}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.startswith("\nscons: *** wasi-distcc-worker refuses to start without --wasi-allow: distcc "
                                    "has no authentication") or "scons: *** wasi-distcc-worker refuses" in result.stderr
    assert "@worker in WASI_DISTCC_HOSTS" in result.stderr and "Traceback" not in result.stderr
    assert not store.exists() and not listening(port)


def test_a_bad_host_list_is_one_line_of_ours(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", WORKER_PROJECT)
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "store"),
                                           "WASI_DISTCC_HOSTS": "127.0.0.1:abc"}, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "scons: *** WASI_DISTCC_HOSTS: cannot use the host '127.0.0.1:abc': the port must be a whole number, " \
           "got 'abc'" in result.stderr


def test_no_distcc_on_path_is_one_line_of_ours(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", WORKER_PROJECT)
    empty = tmp_path / "empty-path"
    empty.mkdir()
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "store"), "WASI_DISTCC_HOSTS": "h/2",
                                           "PATH": str(empty)}, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "scons: *** distcc is not installed" in result.stderr and "apt-get install distcc" in result.stderr


# -- the launcher in the commands (stand-in toolchain) ---------------------------------------------------------------
@needs_distcc
def test_compiles_start_with_distcc_links_and_the_compilation_database_do_not(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {
        "SConstruct": "env = Environment(tools=['wasi', 'compilation_db'], WASI_CCCOMSTR='', WASI_CXXCOMSTR='', "
                      "WASI_LINKCOMSTR='')\nenv.CompilationDatabase()\n"
                      "env.WasiProgram('build/app', ['a.c', 'b.cpp'])\n",
        "a.c": "int a(void) { return 1; }\n", "b.cpp": "int main() { return 0; }\n"})
    cache = tmp_path / "store"
    toolchain, _ = fake_entry(project, cache)
    env = {"WASI_CACHE_DIR": str(cache), "WASI_DISTCC_HOSTS": "127.0.0.1:1/2", "DISTCC_DIR": str(tmp_path / "d")}
    dry = run_scons(project, "-Q", "-n", "build/app.wasm", env=env, timeout=60)
    assert dry.returncode == 0, dry.stderr
    commands = [line.split() for line in dry.stdout.splitlines() if "/bin/clang" in line]
    distcc = shutil.which("distcc")
    assert [(c[0], c[1]) for c in commands[:2]] == [(distcc, f"{toolchain.bin_dir}/clang")] * 2, dry.stdout
    assert commands[2][0] == f"{toolchain.bin_dir}/clang" and "-c" not in commands[2]  # the link stays here
    built = run_scons(project, "-Q", "compile_commands.json", env=env, timeout=60)
    assert built.returncode == 0, built.stderr
    entries = json.loads((project / "compile_commands.json").read_text())
    assert len(entries) == 2 and all(e["command"].startswith(f"{toolchain.bin_dir}/clang ") for e in entries), entries


@needs_distcc
def test_a_clone_can_compile_here_but_not_change_the_host_list(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {
        "SConstruct": "env = Environment(tools=['wasi'], WASI_CCCOMSTR='', WASI_LINKCOMSTR='')\n"
                      "env.Clone(WASI_DISTCC_HOSTS='').WasiObject('here.o', 'a.c')\n"
                      "env.Clone(WASI_DISTCC_HOSTS='127.0.0.1:2/2').WasiObject('other.o', 'a.c')\n",
        "a.c": "int a(void) { return 1; }\n"})
    cache = tmp_path / "store"
    toolchain, _ = fake_entry(project, cache)
    env = {"WASI_CACHE_DIR": str(cache), "WASI_DISTCC_HOSTS": "127.0.0.1:1/2", "DISTCC_DIR": str(tmp_path / "d")}
    here = run_scons(project, "-Q", "-n", "here.o", env=env, timeout=60)
    assert here.returncode == 0 and here.stdout.startswith(f"{toolchain.bin_dir}/clang "), here.stdout + here.stderr
    other = run_scons(project, "-Q", "-n", "other.o", env=env, timeout=60)
    assert other.returncode == 2 and "Traceback" not in other.stderr
    assert ("scons: *** [other.o] WASI_DISTCC_HOSTS was changed after the tool was loaded ('127.0.0.1:1/2', now "
            "'127.0.0.1:2/2'); one build uses one host list") in other.stderr


def test_the_check_without_hosts_says_so(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", WORKER_PROJECT)
    cache = tmp_path / "store"
    fake_entry(project, cache)
    result = run_scons(project, "-Q", "wasi-distcc-check", env={"WASI_CACHE_DIR": str(cache)}, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert ("scons: *** [wasi-distcc-check] wasi-distcc-check: WASI_DISTCC_HOSTS is not set, so there is no host to "
            "check") in result.stderr
