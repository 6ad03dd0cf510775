"""Output size of the samples at -O2 -s (the defaults), built with the current lock.

    python bench/sizes.py
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from common import copy_project, machine_line, markdown_table, run, scons_command


def main() -> None:
    cache = os.environ.get("WASI_CACHE_DIR") or tempfile.mkdtemp(prefix="bench-cache-")
    project = copy_project(Path(tempfile.mkdtemp(prefix="bench-sizes-")) / "p")
    run(scons_command("-Q"), cwd=project, env={"WASI_CACHE_DIR": cache})
    rows = []
    for name in ("first", "builtins"):
        data = (project / "build" / f"{name}.wasm").read_bytes()
        rows.append([f"samples/{name}.c", f"{len(data):,} B", hashlib.sha256(data).hexdigest()[:16]])
    print(f"# Output size at -O2 -s ({machine_line()})\n")
    print(markdown_table(["sample", "size", "sha256 (first 16)"], rows))


if __name__ == "__main__":
    main()
