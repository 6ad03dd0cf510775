"""The install path as a user takes it: a wheel built from this checkout, installed with its dependencies into a fresh
venv (no system site-packages), then, in an empty directory, the README's "your own project" commands, which build
and run a module with the installed tool alone (no --site-dir, no copy of site_scons/).

Marked e2e: pip fetches the build backend and the dependencies from the user's configured index. The toolchain
store is the session's one real build (the `real` fixture), so nothing of the toolchain is fetched again."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from support.helpers import REPO

pytestmark = pytest.mark.e2e

# What a wheel is built from: the files setup.py and pyproject.toml read (an sdist holds the same).
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "toolchain.lock", "site_scons")
PLACEHOLDER = "/path/to/scons-wasi"


def readme_commands() -> list[str]:
    """The shell lines of the README's install block: the indented lines from `python -m pip install` on."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Using it in your project"):]
    match = re.search(r"^    (python -m pip install .*)\n((?:    .*\n)*)", section, re.M)
    assert match, "README: no install block under 'Using it in your project'"
    lines = [match.group(1), *match.group(2).splitlines()]
    return [re.sub(r"\s+#.*$", "", line.strip()) for line in lines if line.strip()]


def copy_sources(root: Path) -> Path:
    root.mkdir()
    for name in SOURCES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(REPO / name, root / name)
    return root


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, cwd=cwd, env=env or dict(os.environ), capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"{argv}\n{result.stdout}\n{result.stderr}"
    return result


def test_a_built_wheel_in_a_fresh_venv_follows_the_readme_from_an_empty_directory(  # type: ignore[no-untyped-def]
        real, tmp_path: Path) -> None:
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    source = copy_sources(tmp_path / "source")
    wheels = tmp_path / "wheels"
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(wheels), str(source)], tmp_path)
    [wheel] = list(wheels.glob("scons_wasi-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        assert archive.read("wasi_toolchain/project/toolchain.lock") == (REPO / "toolchain.lock").read_bytes()
    assert {"wasi_toolchain/targets/hints.toml", "scons_wasi/__init__.py", "scons_wasi/commands.py"} <= names
    assert not any(name.startswith(("tests/", "site_tools/", "site_scons/")) for name in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}", "VIRTUAL_ENV": str(venv),
           "WASI_CACHE_DIR": str(project.cache)}
    env.pop("PYTHONPATH", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    commands = readme_commands()
    assert any(PLACEHOLDER in line for line in commands) and any("scons-wasi init" in line for line in commands)
    script = "set -e\n" + "\n".join(line.replace(PLACEHOLDER, str(wheel)) for line in commands) + "\n"
    result = run(["bash", "-c", script], empty, env)
    assert "Hello, world!" in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    hello = next(empty.rglob("build/hello.wasm")).parent.parent
    assert (hello / "build/obj/hello.wasi.o").is_file()  # the starter's objects are under build/obj
    assert sorted(p.name for p in (hello / "src").iterdir()) == ["hello.c"]
    # The tool that ran is the installed one: the venv's scons, and no site_scons/ of this checkout.
    assert Path(shutil.which("scons-wasi", path=env["PATH"]) or "").parent == venv / "bin"
    shown = run([str(venv / "bin/scons"), "-Q", "--help"], hello, env).stdout
    assert "run-hello" in shown and "wasi-toolchain" in shown



def test_an_editable_install_reads_the_checkout_s_lock(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`pip install -e` builds no package copy of the lock (setup.py skips it); init then takes the checkout's."""
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    source = copy_sources(tmp_path / "checkout")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    run([str(venv / "bin/python"), "-m", "pip", "install", "-e", str(source)], tmp_path)
    assert not (source / "site_scons/wasi_toolchain/project/toolchain.lock").exists()
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
           "WASI_CACHE_DIR": str(project.cache)}
    env.pop("PYTHONPATH", None)
    hello = tmp_path / "hello"
    run([str(venv / "bin/scons-wasi"), "init", str(hello)], tmp_path, env)
    assert (hello / "toolchain.lock").read_bytes() == (source / "toolchain.lock").read_bytes()
    result = run([str(venv / "bin/scons"), "-Q", "run-hello"], hello, env)
    assert "Hello, world!" in result.stdout
