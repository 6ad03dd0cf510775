"""Cold `scons run-first` with the default flavour, from an empty WASI_CACHE_DIR, against its floor: what a hand
recipe cannot avoid here, `pip download` of the LLVM wheel and extracting `zig` and clang's headers from it.

    python bench/cold_floor.py [--runs 3]

Both sides fetch the wheel through pip with a warm HTTP cache (one untimed download first), as a second machine
behind the same proxy would; the Debian files come from the mirror (the floor leaves them out: they are small). The
tool's phases are those its stamp records (fetch, unpack, sysroot build, libc++ install, manifest); "the rest" is
the wall clock minus them: Python and SCons start-up, reading the SConstruct, compiling, linking and running.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import (REPO, alternate, base_environ, copy_project, fmt_seconds, machine_line, markdown_table, median,
                    timed, scons_command)

from wasi_toolchain.host import detect_host
from wasi_toolchain.pins.toolchain_lock import Artifact, load_lock
from wasi_toolchain.store.store import STAMP

PHASES = ("fetch", "unpack", "sysroot build", "libc++ install", "manifest")
phases: list[dict[str, float]] = []
floor_phases: list[dict[str, float]] = []


def tool(work: Path) -> float:
    project = copy_project(work / "project")
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    result: list[subprocess.CompletedProcess[str]] = []
    seconds = timed(lambda: result.append(subprocess.run(
        scons_command("-Q", "run-first"), cwd=project, capture_output=True, text=True,
        env={**base_environ(), "WASI_CACHE_DIR": str(cache)})))
    if result[0].returncode != 0:
        raise SystemExit(f"bench: scons run-first failed:\n{result[0].stdout}\n{result[0].stderr}")
    stamp = json.loads(next(cache.glob(f"sysroots/*/{STAMP}")).read_text())
    row = {name: stamp["timings"].get(name, 0.0) for name in PHASES}
    row["the rest"] = seconds - sum(row.values())
    phases.append(row)
    return seconds


def pip_download(wheel: Artifact, into: Path) -> Path:
    version = wheel.name.split("-")[1]
    requirement = into / "req.txt"
    requirement.write_text(f"ziglang=={version} --hash=sha256:{wheel.sha256}\n")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                    "--require-hashes", "--disable-pip-version-check", "-r", str(requirement), "-d", str(into)],
                   check=True)
    return into / wheel.name


def floor(work: Path, wheel: Artifact) -> float:
    root = work / "floor"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    row: dict[str, float] = {}
    path: list[Path] = []
    row["fetch"] = timed(lambda: path.append(pip_download(wheel, root)))

    def unpack() -> None:
        with zipfile.ZipFile(path[0]) as zf:
            zf.extractall(root, [n for n in zf.namelist()
                                 if n == "ziglang/zig" or n.startswith("ziglang/lib/include/")])
    row["unpack"] = timed(unpack)
    floor_phases.append(row)
    return sum(row.values())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-floor-"))
    wheel = load_lock(REPO / "toolchain.lock").llvm_files(detect_host(), "ziglang")[0]
    warm_up = work / "pip-warm-up"
    warm_up.mkdir()
    pip_download(wheel, warm_up)  # pip's HTTP cache, for both sides
    shutil.rmtree(warm_up)
    comparison = alternate("cold `scons run-first`", "scons run-first", lambda: tool(work),
                           "floor", lambda: floor(work, wheel), runs=args.runs)
    print(f"# Cold start against its floor ({machine_line()}, {args.runs} runs each, alternating)\n")
    rows = [[name, fmt_seconds(median([p[name] for p in phases])),
             fmt_seconds(median([p[name] for p in floor_phases])) if name in floor_phases[0] else "–"]
            for name in (*PHASES, "the rest")]
    rows.append(["**total**", fmt_seconds(median(comparison.a)), fmt_seconds(median(comparison.b))])
    print(markdown_table(["phase", "scons run-first (median)", "floor: pip download + extract (median)"], rows))
    print(f"\nratio scons/floor (median of pairs): {comparison.ratio:.2f}; "
          f"difference (median of pairs): {comparison.difference:+.2f} s")


if __name__ == "__main__":
    main()
