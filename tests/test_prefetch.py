"""`scons wasi-toolchain` (what a CI job runs to fill the store before going offline) depends on every store entry
the SConstruct's targets use, however they asked for it: a Clone or a builder call in size mode (wasm-opt, and the
-Oz libc of the source flavour), a wasm32-wasip2 program (the component tools), not only the environment's own
entry (issue 23). Checked with a dry run (-n), which fetches nothing."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from support.helpers import REPO, run_scons
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.settings import Settings
from wasi_toolchain.toolchain import component_tools, sysroot, wasm_opt

SCONSTRUCT = """\
env = Environment(tools=['wasi'])
small = env.Clone(WASI_OPTIMIZE='size')
small.WasiProgram('build/small', ['app.c'])
if env['WASI_LIBC_FLAVOUR'] == 'debian':  # the source flavour has no wasm32-wasip2 libc
    env.WasiProgram('build/component', ['app.c'], WASI_TARGET='wasm32-wasip2', WASI_OBJSUFFIX='.p2.o')
env.WasiProgram('build/also-small', ['app.c'], WASI_OPTIMIZE='size', WASI_OBJSUFFIX='.small.o')
"""


def prefetch_tree(root: Path, **env: str) -> str:
    (root / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (root / "app.c").write_text("int main(void) { return 0; }\n")
    (root / "SConstruct").write_text(SCONSTRUCT)
    result: subprocess.CompletedProcess[str] = run_scons(root, "-Q", "-n", "--tree=prune", "wasi-toolchain",
                                                         env={"WASI_CACHE_DIR": str(root / "cache"), **env})
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("libc", ["debian", "source"])
def test_wasi_toolchain_builds_every_entry_the_targets_use(tmp_path: Path, libc: str) -> None:
    tree = prefetch_tree(tmp_path, WASI_LIBC=libc)
    lock = load_lock(tmp_path / "toolchain.lock")
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_LIBC": libc})
    toolchain = sysroot.plan(lock, settings)
    expected = {f"toolchain-{toolchain.key}", wasm_opt.plan(lock, settings).key}
    if libc == "source":
        expected.add(f"toolchain-{sysroot.plan_size_libc(toolchain, lock, settings).key}")
    else:
        expected.add(component_tools.plan(lock, settings).key)
    alias = tree[tree.index("+-wasi-toolchain"):]
    stamps = {line.strip().removeprefix("+-.wasi/").removesuffix(".stamp") for line in alias.splitlines()[1:]
              if ".stamp" in line}
    assert stamps == expected, alias
