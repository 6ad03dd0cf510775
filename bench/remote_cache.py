"""The 200-file project of bench/full_build.py, shared through a remote cache: a real nginx WebDAV server on a
loopback port (the one tests/support/nginx.py starts).

Five builds of a fresh copy of the checkout, each at a new path with an empty local cache level, `scons -j2`:

- full build: no cache at all (the baseline);
- full build with an empty local `--cache-dir` only: what SCons's own pushes cost;
- full build on an empty server: every lookup misses and every target is uploaded (what the first machine pays);
- a second "machine" served from the remote: the server was filled once by another checkout;
- for scale, the same served from a local `--cache-dir` filled the same way (no HTTP).

They run in rotation (ABCDE, BCDEA, …), so drift affects all alike. The toolchain store (WASI_CACHE_DIR) is shared and
warm on both "machines", as a CI cache or a developer's earlier build makes it; what differs is the checkout, its
path, and the local cache level. Loopback has no network latency: over a real network each hit also pays a round
trip (with -j2, two run at once).

    WASI_CACHE_DIR=<a store> python bench/remote_cache.py [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import REPO, fmt_seconds, machine_line, markdown_table, median, run, scons_command, timed
from full_build import count_runs, generate

sys.path.insert(0, str(REPO / "tests"))
from support.nginx import Nginx, nginx_binary  # noqa: E402  (the tests' nginx: a generated config on a free port)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = nginx_binary()
    if binary is None:
        raise SystemExit("bench: nginx is not installed (apt-get install nginx-light)")
    cache = Path(os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-"))
    env = {"WASI_CACHE_DIR": str(cache)}
    work = Path(tempfile.mkdtemp(prefix="bench-remote-"))
    template = work / "template"
    generate(template)
    run(scons_command("-Q", "wasi-toolchain"), cwd=template, env=env)

    server = Nginx(binary, work / "nginx")
    server.start()
    try:
        url = server.url()
        counter = itertools.count()

        def fresh_checkout() -> Path:
            root = work / f"machine-{next(counter)}" / "checkout"
            shutil.copytree(template, root, ignore=shutil.ignore_patterns(".sconsign.dblite", ".wasi", "out"))
            return root

        def empty_server() -> None:
            shutil.rmtree(server.data / "cache" / "ac", ignore_errors=True)

        # Fill the server and a local CacheDir once, from one checkout (untimed).
        filler = fresh_checkout()
        shared_local = work / "shared-cachedir"
        run(scons_command("-Q", "-j2", f"--remote-cache={url}", f"--cache-dir={shared_local}"), cwd=filler, env=env)
        filled = {p.name: p.read_bytes() for p in (server.data / "cache" / "ac").iterdir()}
        reference = {p.name: p.read_bytes() for p in (filler / "out").glob("*.wasm")}

        def refill() -> None:
            (server.data / "cache" / "ac").mkdir(parents=True, exist_ok=True)
            for name, body in filled.items():
                (server.data / "cache" / "ac" / name).write_bytes(body)

        outputs: dict[str, list[str]] = {}

        def build(name: str, *options: str, before: Callable[[], None] | None = None,
                  local: Path | None = None) -> Callable[[], float]:
            def once() -> float:
                if before:
                    before()
                root = fresh_checkout()
                # By default an empty local level: this machine has never built the project.
                level = local or root.parent / "local-level"
                result: list[str] = []
                seconds = timed(lambda: result.append(run(scons_command("-j2", *options, f"--cache-dir={level}"),
                                                          cwd=root, env=env).stdout))
                outputs.setdefault(name, []).append(result[0])
                for module, data in reference.items():
                    if (root / "out" / module).read_bytes() != data:
                        raise SystemExit(f"bench: {name}: {module} differs from the first checkout's")
                return seconds
            return once

        variants = {
            "full build, no cache": build("full", "--cache-disable"),
            "full build, empty local --cache-dir only (every target pushed to it)": build("push"),
            "full build, empty remote (every lookup misses, every target uploaded)":
                build("upload", f"--remote-cache={url}", before=empty_server),
            "fresh checkout on a second machine, served from the remote":
                build("remote", f"--remote-cache={url}", before=refill),
            "for scale: fresh checkout served from a local --cache-dir": build("local", local=shared_local),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        names = list(variants)
        for i in range(args.runs):
            for name in names[i % len(names):] + names[:i % len(names)]:
                times[name].append(variants[name]())
    finally:
        server.stop()

    full = median(times["full build, no cache"])
    print(f"# 200-file project through a remote cache ({machine_line()}, {args.runs} runs each, rotating)\n")
    rows = []
    for name, key in zip(names, ("full", "push", "upload", "remote", "local")):
        ran, retrieved = max(count_runs(o)[0] for o in outputs[key]), min(count_runs(o)[1] for o in outputs[key])
        rows.append([name, fmt_seconds(median(times[name])), str(ran), str(retrieved),
                     f"{median(times[name]) / full:.2f}"])
    print(markdown_table(["build (scons -j2)", "median", "compiler/archiver/linker runs", "retrieved from a cache",
                          "vs. full build"], rows))
    remote_reports = [line for o in outputs["remote"] for line in o.splitlines() if line.startswith("remote cache")]
    print(f"\nreport line of the last served build: `{remote_reports[-1]}`")


if __name__ == "__main__":
    main()
