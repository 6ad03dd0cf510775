"""A user's own project: `scons-wasi init` (the CLI, run from this checkout's site_scons/), the site_scons/ file it
writes that hands tools=['wasi'] to the installed tool, and the message for a project without its lock.

The installed path itself (a wheel in a fresh venv) is tests/test_install_e2e.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from support.helpers import REPO, run_scons
from support.standin import calls, fake_entry

STARTER = ("toolchain.lock", "SConstruct", "src/hello.c", "site_scons/site_tools/wasi.py")


def init(directory: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """`scons-wasi init` as a user runs it, through the module the console script calls."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "site_scons"),
                                                                        os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-c", "import sys; from wasi_toolchain.project.cli import main; "
                             "sys.exit(main())", "init", str(directory), *args],
                            cwd=cwd or directory.parent, env=env, capture_output=True, text=True, timeout=60)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def files_in(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


def test_init_writes_the_lock_a_starter_sconstruct_and_the_tool_s_site_scons_file(tmp_path: Path) -> None:
    project = tmp_path / "hello"
    result = init(project)
    assert result.returncode == 0, result.stderr
    assert files_in(project) == sorted(STARTER)
    assert (project / "toolchain.lock").read_bytes() == (REPO / "toolchain.lock").read_bytes()
    sconstruct = (project / "SConstruct").read_text()
    assert "Environment(tools=[\"wasi\"])" in sconstruct and "run-hello" in sconstruct
    assert "VariantDir(\"build/obj\", \"src\"" in sconstruct  # objects under build/obj, not beside the source
    assert "from scons_wasi import exists, generate" in (project / "site_scons/site_tools/wasi.py").read_text()
    for name in STARTER:
        assert f"wrote hello/{name}" in result.stdout
    assert "next: cd " in result.stdout and "scons run-hello" in result.stdout


def test_init_twice_changes_nothing_and_never_overwrites_without_force(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert init(project).returncode == 0
    again = init(project)
    assert again.returncode == 0
    assert all(f"unchanged p/{name}" in again.stdout for name in STARTER)

    (project / "SConstruct").write_text("# my own build\n")
    (project / "toolchain.lock").write_text("# an older lock\n")
    kept = init(project)
    assert kept.returncode == 0
    assert (project / "SConstruct").read_text() == "# my own build\n"
    assert (project / "toolchain.lock").read_text() == "# an older lock\n"
    assert "kept p/SConstruct (it exists with other content; --force replaces it)" in kept.stdout
    assert "kept p/toolchain.lock (it exists with other content; --force replaces it)" in kept.stdout

    forced = init(project, "--force")
    assert forced.returncode == 0
    assert "overwrote p/SConstruct" in forced.stdout and "overwrote p/toolchain.lock" in forced.stdout
    assert (project / "toolchain.lock").read_bytes() == (REPO / "toolchain.lock").read_bytes()


def test_init_beside_a_sconstruct_of_your_own_adds_the_lock_and_the_tool_only(tmp_path: Path) -> None:
    project = tmp_path / "mine"
    project.mkdir()
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    result = init(project)
    assert result.returncode == 0
    assert files_in(project) == ["SConstruct", "site_scons/site_tools/wasi.py", "toolchain.lock"]
    assert (project / "SConstruct").read_text() == "env = Environment(tools=['wasi'])\n"
    assert "scons run-hello" not in result.stdout


def test_init_where_a_file_would_go_is_a_directory_is_an_error_that_writes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "SConstruct").mkdir(parents=True)
    result = init(project)
    assert result.returncode == 2
    assert result.stderr.startswith(f"scons-wasi: error: {project / 'SConstruct'} is a directory")
    assert "next step:" in result.stderr
    assert files_in(project) == []


def with_installed_tool(tmp_path: Path) -> dict[str, str]:
    """PYTHONPATH as a pip install would make it: the glue importable as `scons_wasi`, the core as
    `wasi_toolchain`. No --site-dir: SCons finds the tool only through the project's site_scons/."""
    installed = tmp_path / "site-packages"
    installed.mkdir()
    (installed / "scons_wasi").symlink_to(REPO / "site_scons/site_tools/wasi")
    (installed / "wasi_toolchain").symlink_to(REPO / "site_scons/wasi_toolchain")
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(installed),
                                                                        os.environ.get("PYTHONPATH")]))}


def scons_here(project: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([sys.executable, "-m", "SCons", "-Q", *args], cwd=project, env=env, capture_output=True,
                            text=True, timeout=300)
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


def test_the_starter_project_builds_through_the_installed_tool(tmp_path: Path) -> None:
    project = tmp_path / "p"
    assert init(project).returncode == 0
    cache = tmp_path / "cache"
    _, log = fake_entry(project, cache)
    env = {**with_installed_tool(tmp_path), "WASI_CACHE_DIR": str(cache)}
    result = scons_here(project, env)
    assert result.returncode == 0, result.stderr
    assert [c["argv"][-1] for c in calls(log) if "-c" in c["argv"]] == ["src/hello.c"]
    assert (project / "build/obj/hello.wasi.o").is_file() and (project / "build/hello.wasm").is_file()
    assert files_in(project / "src") == ["hello.c"]  # the object went under build/obj
    help_text = scons_here(project, env, "--help").stdout
    assert "run-hello" in help_text and "wasi-toolchain" in help_text


def test_the_site_scons_file_says_when_the_tool_is_not_installed(tmp_path: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("scons_wasi") is not None:
        pytest.skip("scons-wasi is installed into this Python")
    project = tmp_path / "p"
    assert init(project).returncode == 0
    result = scons_here(project, {**os.environ, "WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert "scons: *** the wasi tool is not installed for the Python that runs scons" in result.stderr
    assert "next step: install scons-wasi into that Python" in result.stderr


def test_a_project_without_its_lock_is_told_how_to_get_one_at_its_sconstruct(tmp_path: Path) -> None:
    project = tmp_path / "p"
    project.mkdir()
    (project / "SConstruct").write_text("DefaultEnvironment(tools=[])\n\nenv = Environment(tools=['wasi'])\n")
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert (f"scons: *** SConstruct:3: no toolchain lock at {project / 'toolchain.lock'} "
            f"(WASI_LOCK='#toolchain.lock')") in result.stderr
    assert f"next step: run `scons-wasi init` in {project}" in result.stderr
    assert "copy toolchain.lock from the scons-wasi checkout" in result.stderr
    assert "regenerate" not in result.stderr
    # One error, one line of ours (its next step follows it): no "File …, line …" of the tool's code after it.
    assert 'File "' not in result.stderr


def test_a_wasi_lock_that_names_a_missing_file_says_which_setting(tmp_path: Path) -> None:
    setting = "'#locks/missing.lock'"
    project = tmp_path / "p"
    project.mkdir()
    (project / "SConstruct").write_text(f"env = Environment(tools=['wasi'], WASI_LOCK={setting})\n")
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"no toolchain lock at {project / 'locks/missing.lock'} (WASI_LOCK={setting})" in result.stderr


def test_requirements_txt_pins_the_package_s_runtime_dependencies() -> None:
    """requirements.txt (what .ci/run installs) and pyproject.toml name the same runtime pins, and its test pins are
    the `tests` extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    lines = [line.split("#")[0].strip() for line in (REPO / "requirements.txt").read_text().splitlines()]
    pins = [line for line in lines if line]
    assert sorted(project["dependencies"] + project["optional-dependencies"]["tests"]) == sorted(pins)
