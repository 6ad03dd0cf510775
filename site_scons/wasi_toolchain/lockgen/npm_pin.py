"""Pinning an npm package for the lock: the registry's package document gives the tarball's address and its
``integrity`` (sha512); the tarball is downloaded, checked against it, and its sha256 and size go into the lock,
together with the sha256 of the member, which is checked against the generator input's."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass

from ..errors import LockInputError
from ..net import SourceFailed, bounded_get
from ..pins.npm import NpmPackage, read_member

_DOCUMENT_LIMIT = 64 << 20  # jco's package document is a few MB; a bound keeps a hostile registry from filling RAM
_TARBALL_LIMIT = 256 << 20


@dataclass(frozen=True)
class NpmPin:
    name: str
    size: int
    sha256: str
    locator: str
    member_sha256: str


def pin_member(package: NpmPackage, member: str, member_sha256: str, registry: str) -> NpmPin:
    """Read the registry's package document, download the tarball it names, check it against the document's
    sha512 integrity, and check ``member``'s sha256 against the input's."""
    try:
        document = json.loads(bounded_get(package.document_url(registry), _DOCUMENT_LIMIT))
        dist = document["versions"][package.version]["dist"]
        tarball_url, integrity = dist["tarball"], dist["integrity"]
    except (SourceFailed, ValueError, KeyError, TypeError) as e:
        raise LockInputError(f"the npm registry's document for {package.name} gives no tarball and integrity for "
                             f"version {package.version}: {e}",
                             hint="check the package and version in toolchain.in.toml") from None
    algorithm, _, expected = integrity.partition("-")
    if algorithm != "sha512":
        raise LockInputError(f"{package.locator}: the registry gives a {algorithm} integrity; expected sha512")
    try:
        data = bounded_get(tarball_url, _TARBALL_LIMIT)
    except SourceFailed as e:
        raise LockInputError(f"{package.locator}: cannot download its tarball: {e}") from None
    if base64.b64encode(hashlib.sha512(data).digest()).decode() != expected:
        raise LockInputError(f"{package.locator}: the tarball does not match the registry's sha512 integrity")
    content = read_member(data, member, package.locator)
    actual = hashlib.sha256(content).hexdigest()
    if actual != member_sha256:
        raise LockInputError(f"{package.locator}: {member} has sha256 {actual}; toolchain.in.toml says "
                             f"{member_sha256}", hint="check the version and member-sha256 in toolchain.in.toml")
    return NpmPin(package.file_name, len(data), hashlib.sha256(data).hexdigest(), package.locator, actual)
