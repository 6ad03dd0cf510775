"""Link-error and missing-header hints with the real toolchain: wasm-ld's and clang's own words, then the hint.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import make_project, run_scons
from wasi_toolchain.targets.hints import PREFIX

SCONSTRUCT = """\
env = Environment(tools=['wasi'])
env.WasiProgram('build/pid', ['pid.c'])
env.WasiProgram('build/pid-emulated', ['pid.c'], WASI_EMULATE=['getpid'], WASI_OBJSUFFIX='.emulated.o')
env.WasiObject('wait.c')
"""
# Declared by hand: wasi-libc's unistd.h declares getpid only with its emulation's define.
PID_C = "int getpid(void);\nint main(void) { return getpid() > 0 ? 0 : 1; }\n"
WAIT_C = "#include <sys/wait.h>\nint main(void) { return 0; }\n"


@pytest.mark.e2e
def test_undefined_getpid_ends_with_the_emulation_hint(real, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    root = make_project(tmp_path / "project", {"SConstruct": SCONSTRUCT, "pid.c": PID_C, "wait.c": WAIT_C})
    env = {"WASI_CACHE_DIR": str(project.cache)}

    failed = run_scons(root, "-Q", "build/pid.wasm", env=env)
    assert failed.returncode != 0
    lines = [line for line in failed.stderr.splitlines() if not line.startswith("scons: ***")]
    assert "undefined symbol: getpid" in failed.stderr
    assert lines[-1].startswith(f"{PREFIX}getpid → WASI_EMULATE=['getpid']"), failed.stderr
    assert lines[-2].startswith("clang: error: linker command failed"), failed.stderr

    # The advice is right: with it, the same source links.
    assert run_scons(root, "-Q", "build/pid-emulated.wasm", env=env).returncode == 0

    header = run_scons(root, "-Q", "wait.wasi.o", env=env)
    assert header.returncode != 0
    assert "'sys/wait.h' file not found" in header.stderr
    assert f"{PREFIX}sys/wait.h → " in header.stderr
