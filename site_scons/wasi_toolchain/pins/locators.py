"""Turn a lock locator into concrete sources, without any registry host written in the repository.

- ``debian:pool/…``: joined to each base in WASI_DEBIAN_MIRROR, else each archive in apt's configured sources;
- ``pypi:<name>==<version>``: fetched by running pip itself, so the user's pip configuration (index, proxy,
  certificates, credentials) applies unchanged; WASI_PYPI_INDEX, if set, becomes ``--index-url``;
- ``npm:<name>@<version>``: the package tarball under WASI_NPM_REGISTRY, else ``npm config get registry``
  (npm.py);
- ``https://``, ``http://`` and ``file://``: used as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from ..errors import LocatorError

_URL_SCHEMES = ("http://", "https://", "file://")
_REQUIREMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9][A-Za-z0-9.+!_-]*")


@dataclass(frozen=True)
class UrlSource:
    url: str

    def describe(self) -> str:
        return self.url


@dataclass(frozen=True)
class PipSource:
    requirement: str  # e.g. "ziglang==0.14.1"
    index_url: str | None

    def describe(self) -> str:
        where = self.index_url or "pip's configured index"
        return f"pip download {self.requirement} (from {where})"


Source = UrlSource | PipSource


def sources_for(locator: str, settings: Settings, *, apt_root: Path = Path("/")) -> list[Source]:
    """All sources for one locator, in the order to try them."""
    scheme, _, rest = locator.partition(":")
    if scheme == "debian":
        path = rest.lstrip("/")
        if not path.startswith("pool/"):
            raise LocatorError(f"debian locator {locator!r}: expected a path under pool/")
        bases = list(settings.debian_mirrors) or apt_archive_bases(apt_root)
        if not bases:
            raise LocatorError(
                f"no Debian mirror is configured to fetch {locator!r}: WASI_DEBIAN_MIRROR is unset and apt has no "
                f"http(s) sources under {apt_root / 'etc/apt'}",
                hint="set WASI_DEBIAN_MIRROR to a Debian archive base URL (the directory that holds pool/); several "
                     "bases may be given, separated by spaces",
            )
        return [UrlSource(f"{base.rstrip('/')}/{path}") for base in bases]
    if scheme == "pypi":
        if not _REQUIREMENT.fullmatch(rest):
            raise LocatorError(f"pypi locator {locator!r}: expected pypi:<name>==<version>")
        return [PipSource(rest, settings.pypi_index)]
    if scheme == "npm":
        from .npm import NpmPackage, npm_registry

        return [UrlSource(NpmPackage.parse(rest).tarball_url(npm_registry(settings.npm_registry)))]
    if locator.startswith(_URL_SCHEMES):
        return [UrlSource(locator)]
    raise LocatorError(f"unknown locator scheme in {locator!r}; expected debian:, pypi:, npm:, https:, http: or file:")


def apt_archive_bases(root: Path = Path("/")) -> list[str]:
    """Base URLs of apt's configured archives, in apt's file order, without duplicates.

    Reads the one-line format (``sources.list``, ``sources.list.d/*.list``) and deb822 (``sources.list.d/*.sources``).
    Only http, https and file URIs are kept; apt's own transports (``mirror+file:``, ``tor+http:``) are skipped.
    """
    etc = root / "etc" / "apt"
    files = [etc / "sources.list"]
    parts = etc / "sources.list.d"
    if parts.is_dir():
        files += sorted(p for p in parts.iterdir() if p.suffix in (".list", ".sources"))
    bases: list[str] = []
    for file in files:
        try:
            text = file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        uris = _deb822_uris(text) if file.suffix == ".sources" else _one_line_uris(text)
        for uri in uris:
            if uri.startswith(_URL_SCHEMES) and uri.rstrip("/") not in bases:
                bases.append(uri.rstrip("/"))
    return bases


def _one_line_uris(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        tokens = line.split("#", 1)[0].split()
        if not tokens or tokens[0] not in ("deb", "deb-src"):
            continue
        rest = tokens[1:]
        if rest and rest[0].startswith("["):  # options such as [arch=amd64 signed-by=…]
            while rest and not rest[0].endswith("]"):
                rest = rest[1:]
            rest = rest[1:]
        if rest:
            uris.append(rest[0])
    return uris


def _deb822_uris(text: str) -> list[str]:
    uris = []
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = None
        for line in stanza.splitlines():
            if line.startswith("#") or not line.strip():
                continue
            if line[0].isspace() and last:
                fields[last] += " " + line.strip()
                continue
            key, sep, value = line.partition(":")
            if sep:
                last = key.strip().lower()
                fields[last] = value.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if not set(fields.get("types", "").split()) & {"deb", "deb-src"}:
            continue
        uris += fields.get("uris", "").split()
    return uris
