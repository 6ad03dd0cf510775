"""npm packages as pinned files: the ``npm:<name>@<version>`` locator, the registry it resolves against, and
the one member the recipe takes from a package tarball.

The registry is never written in the repository: it is WASI_NPM_REGISTRY if set, else what ``npm config get
registry`` says (the user's own npm configuration, .npmrc included). A package tarball is fetched with a plain HTTP
GET of ``<registry>/<name>/-/<base name>-<version>.tgz``, the registry's documented tarball path, and verified by
the lock's sha256 like every other file; npm itself never runs a script or writes node_modules.

Pinning a package (the registry's document, its sha512 integrity) is the lock generator's: lockgen/npm_pin.py.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import subprocess
import tarfile
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from ..errors import LocatorError, ToolchainError

_LOCATOR = re.compile(r"(?P<name>(?:@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*)@(?P<version>[0-9][A-Za-z0-9.+-]*)")


@dataclass(frozen=True)
class NpmPackage:
    name: str  # e.g. "@bytecodealliance/jco"
    version: str

    @classmethod
    def parse(cls, locator_rest: str) -> NpmPackage:
        match = _LOCATOR.fullmatch(locator_rest)
        if not match:
            raise LocatorError(f"npm locator 'npm:{locator_rest}': expected npm:<name>@<version>, e.g. "
                               f"npm:@scope/name@1.2.3")
        return cls(match["name"], match["version"])

    @property
    def locator(self) -> str:
        return f"npm:{self.name}@{self.version}"

    @property
    def file_name(self) -> str:
        """The tarball's name in the store: a single path component (``@scope/name`` -> ``scope-name``)."""
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    def tarball_url(self, registry: str) -> str:
        base_name = self.name.rpartition("/")[2]
        return f"{registry.rstrip('/')}/{self.name}/-/{base_name}-{self.version}.tgz"

    def document_url(self, registry: str) -> str:
        return f"{registry.rstrip('/')}/{urllib.parse.quote(self.name, safe='@')}"


def npm_registry(configured: str | None) -> str:
    """WASI_NPM_REGISTRY if set, else ``npm config get registry``. Raises LocatorError if neither gives one."""
    if configured:
        return configured
    npm = shutil.which("npm")
    if npm is None:
        raise LocatorError("no npm registry is configured: WASI_NPM_REGISTRY is unset and npm is not installed to "
                           "ask (`npm config get registry`)",
                           hint="set WASI_NPM_REGISTRY to the npm registry's base URL, or install npm")
    try:
        result = subprocess.run([npm, "config", "get", "registry"], stdin=subprocess.DEVNULL, capture_output=True,
                                text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise LocatorError(f"`npm config get registry` failed: {e}",
                           hint="set WASI_NPM_REGISTRY to the npm registry's base URL") from None
    registry = result.stdout.strip()
    if result.returncode != 0 or not registry.startswith(("http://", "https://", "file://")):
        raise LocatorError(f"`npm config get registry` gave no registry URL (exit {result.returncode}: "
                           f"{(result.stdout + result.stderr).strip()[-300:]!r})",
                           hint="set WASI_NPM_REGISTRY to the npm registry's base URL")
    return registry


def extract_member(tarball: Path, member: str, sha256: str, destination: Path) -> None:
    """Write ``member`` of the npm tarball to ``destination``, checking its sha256 (the tarball itself was checked
    when it was fetched; this catches a lock whose member pin does not match its tarball pin)."""
    data = read_member(tarball.read_bytes(), member, str(tarball))
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ToolchainError(f"{member} in {tarball.name} has sha256 {actual}, the lock says {sha256}",
                             hint="regenerate toolchain.lock with `python -m wasi_toolchain.lockgen`")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(data)


def read_member(tarball: bytes, member: str, where: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
            for info in archive:
                if info.name == member and info.isfile():
                    extracted = archive.extractfile(info)
                    if extracted is not None:
                        return extracted.read()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise ToolchainError(f"{where} is not a readable npm tarball: {e}") from None
    raise ToolchainError(f"{where} has no file {member}",
                         hint="check `member` of [wasip1-adapter] in toolchain.in.toml")
