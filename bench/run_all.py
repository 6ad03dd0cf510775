"""Every benchmark in one go, one after the other, printing their markdown tables (the body of docs/benchmarks.md).

    WASI_CACHE_DIR=<a store> python bench/run_all.py [--runs 5] [--cold-runs 5] [--max-load 0.5] [--profile]

The warm, full-build and size benchmarks reuse WASI_CACHE_DIR (a fresh store if unset; the toolchain is built
once, untimed); the cold start builds its own stores from nothing. Before each benchmark the script waits (up to
10 minutes) for the 1-minute load average to drop below --max-load, so other work on the machine does not land in
the figures; the load at the start of each table is printed in its heading.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from common import wait_for_quiet

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=11, help="pairs for the warm and full-build benchmarks")
    parser.add_argument("--cold-runs", type=int, default=5, help="pairs for the cold start (about a minute each)")
    parser.add_argument("--max-load", type=float, default=0.5)
    parser.add_argument("--profile", action="store_true", help="add where the tool's warm start-up time goes")
    parser.add_argument("--skip-cold", action="store_true")
    args = parser.parse_args()
    env = dict(os.environ)
    env.setdefault("WASI_CACHE_DIR", tempfile.mkdtemp(prefix="bench-cache-"))
    steps = [["warm_overhead.py", "--runs", str(args.runs), *(["--profile"] if args.profile else [])],
             ["full_build.py", "--runs", str(max(5, args.runs // 2))],
             ["sizes.py"]]
    if not args.skip_cold:
        steps.append(["cold_start.py", "--runs", str(args.cold_runs)])
    for step in steps:
        wait_for_quiet(args.max_load, timeout=600)
        result = subprocess.run([sys.executable, str(HERE / step[0]), *step[1:]], cwd=HERE, env=env,
                                stdout=subprocess.PIPE, text=True)
        print(result.stdout, flush=True)
        if result.returncode != 0:
            raise SystemExit(f"bench: {step[0]} failed with {result.returncode}")


if __name__ == "__main__":
    main()
