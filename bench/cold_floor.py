"""Cold `scons run-first` with the default flavour, from an empty WASI_CACHE_DIR, against its floor: what a hand
recipe cannot avoid here, `pip download` of the LLVM wheel and extracting `zig` and clang's headers from it.

    python bench/cold_floor.py [--runs 3] [--before [LABEL=]SITE_DIR]…

Each round runs every side once, in an order rotated from the last round's: this checkout's tool, the floor, and
with each ``--before`` another version's tool (its site_scons directory, e.g. one exported with `git archive`), so a
change is measured against the old code and the floor in the same run.

Both sides fetch the wheel through pip with a warm HTTP cache (one untimed download first), as a second machine
behind the same proxy would; the Debian files come from the mirror (the floor leaves them out: they are small). The
tool's phases are those its stamp records (fetch, unpack, sysroot build, libc++ install, manifest), which add up to
the entry's build on its own path; "LLVM fetch (alongside)" is the wheel's download, which since issue 22 runs
beside the fetch and unpacking of the small pins and is not part of that sum. "the rest" is the wall clock minus
the phases: Python and SCons start-up, reading the SConstruct, compiling, linking and running. The CPU row adds up
the user and system time of every process a side ran (the floor's unzip runs in this process and is counted too):
on a shared machine, where the wall clock of work done in parallel depends on what else runs, it says whether a
change saved work or only moved it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from common import (REPO, SITE_DIR, base_environ, copy_project, fmt_seconds, machine_line, markdown_table, median,
                    pip_download, rotate, timed)

from wasi_toolchain.host import detect_host
from wasi_toolchain.pins.toolchain_lock import Artifact, load_lock
from wasi_toolchain.store.store import STAMP

PHASES = ("fetch", "unpack", "sysroot build", "libc++ install", "manifest")
ALONGSIDE = "LLVM fetch"
FLOOR = "floor: pip download + extract"
CPU = "CPU, user + system"  # of every process the side ran: on a loaded machine, what the wall clock cannot show


def _children_cpu(before: os.times_result) -> float:
    after = os.times()
    return after.children_user + after.children_system - before.children_user - before.children_system


def tool(work: Path, site_dir: Path, rows: list[dict[str, float]]) -> float:
    project = copy_project(work / "project")
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    result: list[subprocess.CompletedProcess[str]] = []
    command = [sys.executable, "-m", "SCons", f"--site-dir={site_dir}", "-Q", "run-first"]
    before = os.times()
    seconds = timed(lambda: result.append(subprocess.run(
        command, cwd=project, capture_output=True, text=True, env={**base_environ(), "WASI_CACHE_DIR": str(cache)})))
    cpu = _children_cpu(before)
    if result[0].returncode != 0:
        raise SystemExit(f"bench: scons run-first failed:\n{result[0].stdout}\n{result[0].stderr}")
    stamp = json.loads(next(cache.glob(f"sysroots/*/{STAMP}")).read_text())
    row = {name: stamp["timings"].get(name, 0.0) for name in PHASES}
    row["the rest"] = seconds - sum(row.values())
    row[CPU] = cpu
    alongside = stamp.get("timings-alongside", {})
    if ALONGSIDE in alongside:
        row[ALONGSIDE] = alongside[ALONGSIDE]
    rows.append(row)
    return seconds


def floor(work: Path, wheel: Artifact, rows: list[dict[str, float]]) -> float:
    root = work / "floor"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    row: dict[str, float] = {}
    path: list[Path] = []
    before = os.times()
    row["fetch"] = timed(lambda: path.append(pip_download(wheel, root)))

    def unpack() -> None:
        with zipfile.ZipFile(path[0]) as zf:
            zf.extractall(root, [n for n in zf.namelist()
                                 if n == "ziglang/zig" or n.startswith("ziglang/lib/include/")])
    row["unpack"] = timed(unpack)
    row[CPU] = _children_cpu(before) + (os.times().user + os.times().system - before.user - before.system)
    rows.append(row)
    return row["fetch"] + row["unpack"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--before", action="append", default=[], metavar="[LABEL=]SITE_DIR",
                        help="also time the tool from this site_scons directory (another version), in the same "
                             "rounds; repeatable (label each: before=DIR, other=DIR)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-cold-floor-"))
    wheel = load_lock(REPO / "toolchain.lock").llvm_files(detect_host(), "ziglang")[0]
    warm_up = work / "pip-warm-up"
    warm_up.mkdir()
    pip_download(wheel, warm_up)  # pip's HTTP cache, for both sides
    shutil.rmtree(warm_up)

    rows: dict[str, list[dict[str, float]]] = {"scons run-first": []}
    sides = {"scons run-first": lambda: tool(work / "now", SITE_DIR, rows["scons run-first"])}
    for number, value in enumerate(args.before):
        label, _, directory = value.rpartition("=")
        label = label or ("before" if number == 0 else f"before {number + 1}")
        rows[label] = []
        site = Path(directory).resolve()
        sides[label] = lambda label=label, site=site: tool(work / f"other-{label}", site, rows[label])
    rows[FLOOR] = []
    sides[FLOOR] = lambda: floor(work, wheel, rows[FLOOR])
    rotation = rotate("cold start", sides, runs=args.runs)
    shutil.rmtree(work, ignore_errors=True)

    print(f"# Cold start against its floor ({machine_line()}, {args.runs} rounds, sides rotated)\n")
    labels = list(sides)
    table = []
    for name in (*PHASES, "the rest", ALONGSIDE, CPU):
        cells = []
        for label in labels:
            values = [row[name] for row in rows[label] if name in row]
            cells.append(fmt_seconds(median(values)) if values else "–")
        if any(cell != "–" for cell in cells):
            table.append([f"{name} (alongside)" if name == ALONGSIDE else name, *cells])
    table.append(["**total**", *(f"**{fmt_seconds(rotation.median(label))}**" for label in labels)])
    table.append(["ratio to the floor (median of rounds)",
                  *(f"{rotation.ratio(label, FLOOR):.2f}" for label in labels[:-1]), "1"])
    print(markdown_table(["phase (median)", *labels], table))
    print("\nper round (s): " + "; ".join(f"{label} " + " ".join(f"{t:.2f}" for t in rotation.times[label])
                                          for label in labels))


if __name__ == "__main__":
    main()
