"""What a batch saves per file, without SCons: the 200 compiles of bench/full_build.py's project run one after the
other, as 200 one-file commands, as driver batches (WASI_BATCH_SIZE files of one directory per clang driver run, made
by wasi_toolchain.targets.batch.plan from the same one-file commands), and as the tool runs a batch: the driver's
`-###` and then one clang -cc1 for the batch (wasi_toolchain.targets.frontend_batch). Every object is compared
with the one-file command's. CPU time of
the compiler processes (user + system, from the kernel's accounting of children) is reported beside wall time: it
moves less than wall time on a loaded machine.

    python bench/batch_cpu.py [--runs 3] [--size 16]
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import fmt_seconds, machine_line, markdown_table, median, record_commands, run, scons_command
from full_build import _SOURCE_SUFFIXES, generate

from wasi_toolchain.targets import batch, frontend_batch
from wasi_toolchain.toolchain.launch import direct_command
from wasi_toolchain.toolchain.llvm import ZiglangProvider


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size", type=int, default=16)
    args = parser.parse_args()
    env = {"WASI_CACHE_DIR": os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-")}
    root = Path(tempfile.mkdtemp(prefix="bench-batch-cpu-"))
    generate(root)
    run(scons_command("-Q", "wasi-toolchain"), cwd=root, env=env)
    compiles = [c for c in record_commands(root, {**env, "WASI_BATCH_SIZE": "1"})
                if c.inputs[0].endswith(_SOURCE_SUFFIXES)]
    groups: dict[str, list] = {}
    for c in compiles:
        groups.setdefault(os.path.dirname(c.target), []).append(c)

    def one_file() -> None:
        for c in compiles:
            subprocess.run(shlex.split(c.line), cwd=root, check=True)

    def batches() -> Iterator[tuple[list, str, batch.BatchPlan]]:
        """Each batch of up to --size files of one directory: its members, a work dir, the driver batch's plan."""
        for directory, members in groups.items():
            for i in range(0, len(members), args.size):
                part = members[i:i + args.size]
                work = tempfile.mkdtemp(dir=root / directory)
                plan = batch.plan(shlex.split(part[0].line), part[0].target, [c.inputs[0] for c in part],
                                  top=str(root), work_dir=work)
                assert plan is not None and not plan.alone
                yield part, work, plan
                shutil.rmtree(work)

    def batched() -> None:
        for part, work, plan in batches():
            subprocess.run(plan.argv, cwd=root, check=True)
            for index, name in plan.batched:
                os.replace(os.path.join(work, name), root / part[index].target)

    wrapper = shlex.split(compiles[0].line)[0]
    spec = ZiglangProvider().frontend_spec()
    assert spec is not None
    start, start_env = direct_command(spec, wrapper, os.environ)

    def frontend() -> None:
        for part, work, plan in batches():
            printed = subprocess.run([*plan.argv, "-###"], cwd=root, check=True, capture_output=True, text=True)
            overlay = os.path.join(work, "overlay.json")
            made = frontend_batch.command(frontend_batch.jobs(printed.stderr) or [], plan.inputs, top=str(root),
                                          work_dir=work, overlay_path=overlay)
            assert made is not None, "no -cc1 batch for these commands"
            Path(overlay).write_text(made.overlay)
            for d in made.directories:
                os.makedirs(os.path.join(work, d), exist_ok=True)
            subprocess.run([*start, *made.argv[1:]], env=start_env, check=True)
            for (index, _), name in zip(plan.batched, made.objects):
                os.replace(os.path.join(work, name), root / part[index].target)

    def objects() -> dict[str, bytes]:
        return {c.target: (root / c.target).read_bytes() for c in compiles}

    one_file()
    reference = objects()
    for action in (batched, frontend):
        action()
        if objects() != reference:
            raise SystemExit(f"bench: {action.__name__} gave other objects than the one-file commands")

    sides = {"one-file commands": one_file, "driver batches": batched, "one -cc1 per batch (the tool)": frontend}
    results: dict[str, tuple[list[float], list[float]]] = {label: ([], []) for label in sides}
    for i in range(args.runs):
        order = list(sides.items())
        order = order[i % len(order):] + order[:i % len(order)]
        for label, action in order:
            wall, cpu = time.perf_counter(), children_cpu()
            action()
            results[label][0].append(time.perf_counter() - wall)
            results[label][1].append(children_cpu() - cpu)
    print(f"# 200 compiles, one after the other ({machine_line()}, {args.runs} runs each, alternating; "
          f"batches of up to {args.size})\n")
    one_cpu = median(results["one-file commands"][1])
    print(markdown_table(["compiles", "wall (median)", "CPU of the compilers (median)", "CPU per file",
                          "CPU vs one-file"],
                         [[label, fmt_seconds(median(wall)), fmt_seconds(median(cpu)),
                           f"{median(cpu) / len(compiles) * 1000:.1f} ms", f"{median(cpu) / one_cpu:.2f}"]
                          for label, (wall, cpu) in results.items()]))


if __name__ == "__main__":
    main()
