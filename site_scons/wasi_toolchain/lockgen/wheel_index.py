"""Pin a wheel for one host through pip, for the lock generator. Nothing here talks HTTP to the package index.

1. ``pip install --dry-run --report`` resolves the requirement for the host's platform tags and reports the wheel
   pip would use, with the sha256 the index publishes for it;
2. the file itself is needed for its size: one already in the store (``downloads/<sha256>/<name>``) is re-hashed,
   otherwise ``pip download --require-hashes`` fetches it with that sha256 and we hash it again. The verified file
   is kept in the store, where a later build finds it.

pip runs with the user's own configuration (index, proxy, certificates); WASI_PYPI_INDEX becomes ``--index-url``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UpstreamIndexError
from ..log import Log
from ..store.digest import sha256_file
from ..store.store import Store



@dataclass(frozen=True)
class WheelPin:
    name: str
    sha256: str
    size: int


def _pip(args: Sequence[str], what: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *args, "--disable-pip-version-check", "--no-input"]
    result = subprocess.run(command, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if result.returncode != 0:
        tail = "\n    ".join((result.stderr + result.stdout).strip().splitlines()[-8:])
        raise UpstreamIndexError(f"{what}: pip exited with {result.returncode}:\n    {tail}",
                                 hint="check the requirement and platform tags in toolchain.in.toml, and pip's "
                                      "index configuration (WASI_PYPI_INDEX)")
    return result


def _platform_args(platforms: Sequence[str], index_url: str | None) -> list[str]:
    args = ["--no-deps", "--only-binary=:all:"]
    for tag in platforms:
        args += ["--platform", tag]
    if index_url:
        args += ["--index-url", index_url]
    return args


def resolve(requirement: str, platforms: Sequence[str], index_url: str | None) -> tuple[str, str]:
    """(file name, sha256) of the wheel pip picks for ``requirement`` on ``platforms``."""
    what = f"resolving {requirement} for {' '.join(platforms)}"
    with tempfile.TemporaryDirectory(prefix="wasi-pip-report-") as temp:
        report = Path(temp) / "report.json"
        _pip(["install", "--dry-run", "--ignore-installed", "--quiet", "--target", str(Path(temp) / "target"),
              "--report", str(report), *_platform_args(platforms, index_url), requirement], what)
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
            installs = data["install"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise UpstreamIndexError(f"{what}: pip wrote no usable report ({e})") from None
    if len(installs) != 1:
        raise UpstreamIndexError(f"{what}: expected pip to pick one wheel, it picked {len(installs)}")
    info = installs[0].get("download_info", {})
    url = info.get("url", "")
    name = urllib.parse.unquote(urllib.parse.urlparse(url).path.rsplit("/", 1)[-1])
    hashes = info.get("archive_info", {}).get("hashes") or {}
    sha256 = hashes.get("sha256")
    if not sha256:
        legacy = info.get("archive_info", {}).get("hash", "")
        sha256 = legacy.partition("=")[2] if legacy.startswith("sha256=") else None
    if not name.endswith(".whl"):
        raise UpstreamIndexError(f"{what}: pip picked {name or 'no file'}, not a wheel")
    if not sha256:
        raise UpstreamIndexError(f"{what}: the index publishes no sha256 for {name}",
                                 hint="use an index that lists file hashes (PEP 503 #sha256= or PEP 691)")
    return name, sha256.lower()


def pin_wheel(requirement: str, platforms: Sequence[str], *, index_url: str | None, store: Store,
              log: Log) -> WheelPin:
    name, sha256 = resolve(requirement, platforms, index_url)
    final = store.root / "downloads" / sha256 / name  # the layout Store.download_path uses
    with store.locked(f"download-{sha256}", f"downloading {name}"):
        if final.is_file():
            actual, size = sha256_file(final)
            if actual == sha256:
                log(f"lockgen: {name}: sha256 from the index via pip; size from the store copy")
                return WheelPin(name, sha256, size)
            final.unlink()
        log(f"lockgen: {name}: sha256 from the index via pip; downloading it with pip for its size")
        final.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".tmp-lockgen-", dir=final.parent) as temp:
            requirements = Path(temp) / "requirements.txt"
            requirements.write_text(f"{requirement} --hash=sha256:{sha256}\n", encoding="utf-8")
            _pip(["download", "--require-hashes", "--progress-bar", "off", "--quiet", "--dest",
                  str(Path(temp) / "out"), *_platform_args(platforms, index_url), "-r", str(requirements)],
                 f"downloading {name}")
            downloaded = Path(temp) / "out" / name
            if not downloaded.is_file():
                got = ", ".join(p.name for p in (Path(temp) / "out").glob("*")) or "nothing"
                raise UpstreamIndexError(f"pip downloaded {got}, not {name}")
            actual, size = sha256_file(downloaded)
            if actual != sha256:
                raise UpstreamIndexError(f"{name}: the index publishes sha256 {sha256}, the file pip downloaded "
                                         f"has {actual}; refused")
            os.replace(downloaded, final)
    return WheelPin(name, sha256, size)
