"""WASI preview 2 with the real toolchain: components built by WasiProgram (WASI_TARGET='wasm32-wasip2') with the
real wasm-tools and adapter, and run by WasiRun.

Uses the session's real toolchain store (the `real` fixture); the component tools are fetched into it once.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
import wasmtime
from wasmtime import component as wasmtime_component

from support.helpers import run_scons
from wasi_toolchain.errors import RunError
from wasi_toolchain.host import detect_host, detect_libc
from wasi_toolchain.targets.run import run_module

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(not detect_host().startswith("linux-") or detect_libc() == "musl",
                                 reason="wasm-tools is pinned for glibc Linux hosts")]

REPO = Path(__file__).resolve().parent.parent
CORE_HEADER = b"\0asm\x01\x00\x00\x00"
COMPONENT_HEADER = b"\0asm\x0d\x00\x01\x00"

# A program that exercises what WasiRun gives a run: args, env, a preopened dir (read and written), stdin, exit.
PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    char line[128] = "";
    if (!fgets(line, sizeof line, stdin)) strcpy(line, "(no stdin)\n");
    printf("args:");
    for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
    printf("\nGREETING=%s\nstdin: %s", getenv("GREETING") ? getenv("GREETING") : "(unset)", line);
    FILE *in = fopen("/data/in.txt", "r");
    char word[64] = "(unreadable)";
    if (in) { fscanf(in, "%63s", word); fclose(in); }
    printf("read from /data: %s\n", word);
    FILE *out = fopen("/data/out.txt", "w");
    if (out) { fprintf(out, "written by the component\n"); fclose(out); }
    fflush(stdout);
    return argc > 1 && strcmp(argv[1], "fail") == 0 ? 3 : 0;
}
"""
SPIN = "int main(void) { volatile unsigned long n = 0; for (;;) n++; }\n"


@dataclass
class P2Project:
    root: Path
    store: Path

    def scons(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = run_scons(self.root, "-Q", *args, env={"WASI_CACHE_DIR": str(self.store), **env})
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result


def _project(root: Path, store: Path) -> P2Project:
    root.mkdir(parents=True)
    for name in ("SConstruct", "toolchain.lock"):
        shutil.copy(REPO / name, root / name)
    shutil.copytree(REPO / "samples", root / "samples")
    (root / "probe").mkdir()
    (root / "probe" / "probe.c").write_text(PROBE)
    (root / "probe" / "spin.c").write_text(SPIN)
    (root / "data").mkdir()
    (root / "data" / "in.txt").write_text("pebble\n")
    (root / "stdin.txt").write_text("a line on stdin\n")
    with open(root / "SConstruct", "a", encoding="utf-8") as f:
        f.write("""
probe_env = env.Clone(WASI_TARGET="wasm32-wasip2")
probe = probe_env.WasiProgram("build/probe-p2", ["probe/probe.c"])
spin = probe_env.WasiProgram("build/spin-p2", ["probe/spin.c"])
env.WasiRun("run-probe-p2", probe, args=["one", "two words"], env={"GREETING": "hi"}, dirs={"data": "/data"},
            stdin="stdin.txt")
env.WasiRun("run-probe-p2-fails", probe, args=["fail"], dirs={"data": "/data"}, expect_exit=1)
env.WasiRun("run-spin-p2", spin, timeout=1)
""")
    return P2Project(root, store)


def _linked_copy(store: Path, to: Path) -> Path:
    """Another store with the session store's entries and downloads, hard-linked (nothing writes into either), so
    the component tools fetched here do not appear in the session's store, which other e2e tests list."""
    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    for part in ("sysroots", "downloads"):
        if (store / part).is_dir():
            shutil.copytree(store / part, to / part, symlinks=True, copy_function=link,
                            ignore=shutil.ignore_patterns(".tmp-*"))
    return to


@pytest.fixture(scope="module")
def p2(real, tmp_path_factory: pytest.TempPathFactory) -> P2Project:  # type: ignore[no-untyped-def]
    project, cold, _ = real
    assert cold.returncode == 0, cold.stdout + cold.stderr
    store = _linked_copy(project.cache, tmp_path_factory.mktemp("p2-store") / "store")
    built = _project(tmp_path_factory.mktemp("p2") / "project", store)
    result = built.scons("p2", "build/first.wasm", "build/probe-p2.wasm", "build/spin-p2.wasm")
    assert result.returncode == 0, result.stdout + result.stderr
    return built


def _run(wasm: Path, argv: list[str], tmp_path: Path, **kwargs) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    out = tmp_path / f"{wasm.stem}.out"
    code = run_module(wasm, argv, stdout=out, **kwargs)
    return code, out.read_text()


def test_first_p2_is_a_component_and_prints_what_the_preview_1_build_prints(p2: P2Project, tmp_path: Path) -> None:
    component, core = p2.root / "build/first-p2.wasm", p2.root / "build/first.wasm"
    assert component.read_bytes()[:8] == COMPONENT_HEADER
    assert core.read_bytes()[:8] == CORE_HEADER
    argv = ["first.wasm", "from", "a test"]
    assert _run(component, argv, tmp_path) == _run(core, argv, tmp_path)
    code, text = _run(component, argv, tmp_path)
    assert code == 0 and text.startswith("Hello, WebAssembly! I got 2 arguments.\n") and "argv[2] = a test\n" in text
    # And through SCons: the same lines for both aliases, but argv[0].
    outputs = {}
    for alias in ("run-first", "run-first-p2"):
        result = p2.scons(alias)
        assert result.returncode == 0, result.stdout + result.stderr
        outputs[alias] = [line.replace("first-p2.wasm", "first.wasm") for line in result.stdout.splitlines()
                          if not line.startswith("wasi: ")]
    assert outputs["run-first"] == outputs["run-first-p2"]
    assert "argv[1] = from" in outputs["run-first"]


def test_the_random_sample_uses_preview_2_interfaces_and_prints_its_known_output(p2: P2Project,
                                                                                 tmp_path: Path) -> None:
    wasm = p2.root / "build/random-p2.wasm"
    engine = wasmtime.Engine()
    imports = set(wasmtime_component.Component.from_file(engine, str(wasm)).type.imports(engine))
    assert any(name.startswith("wasi:random/random@0.2.") for name in imports), imports
    assert any(name.startswith("wasi:clocks/monotonic-clock@0.2.") for name in imports), imports
    for _ in range(3):
        assert _run(wasm, ["random-p2.wasm"], tmp_path) == (0, "wasi:random gave 16 bytes, not all zero\n"
                                                               "two random u64 draws differ\n"
                                                               "the monotonic clock does not go back\n")
    result = p2.scons("run-random-p2")
    assert result.returncode == 0 and "two random u64 draws differ" in result.stdout, result.stdout + result.stderr


def test_wasirun_gives_a_component_args_env_dirs_stdin_and_its_exit(p2: P2Project) -> None:
    out = p2.root / "data" / "out.txt"
    out.unlink(missing_ok=True)
    result = p2.scons("run-probe-p2")
    assert result.returncode == 0, result.stdout + result.stderr
    assert ("args: one two words\nGREETING=hi\nstdin: a line on stdin\nread from /data: pebble\n"
            in result.stdout), result.stdout
    assert out.read_text() == "written by the component\n"
    # main returns 3: over preview 2 the exit status is only success or failure, so the run ends with 1.
    result = p2.scons("run-probe-p2-fails")
    assert result.returncode == 0, result.stdout + result.stderr
    assert p2.root.joinpath("build/probe-p2.wasm").read_bytes()[:8] == COMPONENT_HEADER


def test_a_component_exit_code_is_success_or_failure(p2: P2Project, tmp_path: Path) -> None:
    wasm = p2.root / "build/probe-p2.wasm"
    dirs = {str(p2.root / "data"): "/data"}
    assert _run(wasm, ["probe", "fine"], tmp_path, dirs=dirs)[0] == 0
    assert _run(wasm, ["probe", "fail"], tmp_path, dirs=dirs)[0] == 1


def test_a_component_that_never_ends_is_stopped_at_its_timeout(p2: P2Project) -> None:
    result = p2.scons("run-spin-p2")
    assert result.returncode == 2
    assert "did not finish within 1 s, so it was stopped (WasiRun timeout=1)" in result.stderr, result.stderr
    with pytest.raises(RunError, match="did not finish within 0.5 s"):
        run_module(p2.root / "build/spin-p2.wasm", ["spin"], timeout=0.5)


def _digests(root: Path) -> dict[str, str]:
    return {name: hashlib.sha256((root / "build" / name).read_bytes()).hexdigest()
            for name in ("first-p2.wasm", "random-p2.wasm", "probe-p2.wasm")}


def test_components_are_the_same_bytes_from_another_path_and_another_store(p2: P2Project, tmp_path: Path) -> None:
    store = tmp_path / "another store"
    shutil.copytree(p2.store / "sysroots", store / "sysroots", symlinks=True)
    other = _project(tmp_path / "a path with spaces" / "checkout", store)
    result = other.scons("p2", "build/probe-p2.wasm")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _digests(other.root) == _digests(p2.root)


def test_components_are_the_same_bytes_with_the_debian_provider(p2: P2Project, tmp_path: Path) -> None:
    """Debian's clang and lld (their own entry, downloaded into the session's store) link the same core modules,
    so the components are the same bytes too."""
    other = _project(tmp_path / "debian", p2.store)
    result = other.scons("p2", "build/probe-p2.wasm", WASI_LLVM_PROVIDER="debian")
    assert result.returncode == 0, result.stdout + result.stderr
    assert _digests(other.root) == _digests(p2.root)
