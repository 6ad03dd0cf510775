"""The lock generator's input, toolchain.in.toml (``input-version = 1``), parsed strictly into types:

    [debian]                suite, component ("main"): where Debian files are looked up
    [llvm]                  version
    [llvm.providers.NAME]   kind = "pypi-wheel" (requirement) or "debian-packages" (version, packages; optional
                            suite, and runtime: "package=version" entries whose files follow the packages')
    [llvm.hosts.HOST]       providers, default-provider, pip-platforms (pypi-wheel), debian-arch (debian-packages)
    [components.NAME]       kind = "debian-packages" (version, arch, packages) or "debian-orig" (package, version);
                            optional `suite` (default: [debian] suite), `index-arch` (read arch "all" packages from
                            binary-<index-arch>, which lists them too) and `extra` table copied verbatim;
                            or kind = "debian-host-packages": programs that run on the build host (wasm-opt,
                            wasm-tools): version, packages from `suite`, and runtime ("package=version", read from
                            [debian] suite, like a debian provider's), pinned for each llvm host with a debian-arch
                            as [NAME.hosts.HOST] files. Each becomes the lock's top-level [NAME] table with
                            `version`, the `extra` keys, then `files`; adding a component is a data change here
                            (pins/toolchain_lock.py must know the table to read it).
    [wasip1-adapter]        optional, with the host-packages component `wasm-tools`: what makes a preview-2
                            component. package and version of an npm package, member (a file in its tarball) and
                            member-sha256. The tarball's sha256 and size come from downloading it and checking it
                            against the registry's sha512 integrity; the member's sha256 is checked too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from typing import Any

from ..errors import LockInputError
from ..host import KNOWN_HOSTS
from ..pins.toolchain_lock import PROVIDERS
from ..pins.strict_toml import StrictReader

INPUT_VERSION = 1
PROVIDER_KINDS = ("pypi-wheel", "debian-packages")
COMPONENT_KINDS = ("debian-packages", "debian-orig", "debian-host-packages")


# -- the input --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ProviderInput:
    name: str
    kind: str
    requirement: str = ""  # pypi-wheel
    version: str = ""  # debian-packages
    packages: tuple[str, ...] = ()
    runtime: tuple[tuple[str, str], ...] = ()  # debian-packages: (package, version), pinned after the packages
    suite: str = ""  # debian-packages: "" is [debian] suite


@dataclass(frozen=True)
class HostInput:
    name: str
    providers: tuple[str, ...]
    default_provider: str
    pip_platforms: tuple[str, ...]
    debian_arch: str


@dataclass(frozen=True)
class ComponentInput:
    name: str
    kind: str
    version: str
    arch: str = ""  # debian-packages
    packages: tuple[str, ...] = ()
    package: str = ""  # debian-orig: the source package
    extra: tuple[tuple[str, str], ...] = ()
    suite: str = ""  # "" is [debian] suite
    index_arch: str = ""  # debian-packages: the binary-<arch> index to read; "" is `arch`
    runtime: tuple[tuple[str, str], ...] = ()  # debian-host-packages: (package, version), after the packages


@dataclass(frozen=True)
class AdapterInput:
    package: str
    version: str
    member: str
    member_sha256: str


@dataclass(frozen=True)
class LockInput:
    path: str
    suite: str
    component: str
    llvm_version: str
    providers: dict[str, ProviderInput]
    hosts: tuple[HostInput, ...]
    components: tuple[ComponentInput, ...]
    adapter: AdapterInput | None = None


class _Reader(StrictReader):
    """The strict reader, raising LockInputError; keys are named alone, and strings must not be padded."""

    dotted_keys = False
    stripped_strings = True

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> LockInputError:
        return LockInputError(f"invalid generator input {self.path}: {where}: {problem}",
                              hint="fix toolchain.in.toml (its format is described in wasi_toolchain/lockgen/input.py)")


def parse_input(text: str, path: str = "toolchain.in.toml") -> LockInput:
    r = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise r.fail("", f"not valid TOML: {e}") from None
    top = r.table(data, "top level", {"input-version", "debian", "llvm", "components"},
                  {"wasip1-adapter"})
    if top["input-version"] != INPUT_VERSION:
        raise r.fail("input-version", f"expected {INPUT_VERSION}, got {top['input-version']!r}")
    debian = r.table(top["debian"], "debian", {"suite"}, {"component"})
    llvm = r.table(top["llvm"], "llvm", {"version", "providers", "hosts"})

    providers: dict[str, ProviderInput] = {}
    for name, value in _items(r, llvm["providers"], "llvm.providers"):
        where = f"llvm.providers.{name}"
        r.choice(name, where, PROVIDERS)
        kind = r.choice(r.table(value, where, {"kind"}, {"requirement", "version", "packages", "runtime", "suite"})
                        ["kind"], f"{where}.kind", PROVIDER_KINDS)
        if kind == "pypi-wheel":
            t = r.table(value, where, {"kind", "requirement"})
            providers[name] = ProviderInput(name, kind, requirement=r.string(t["requirement"], f"{where}.requirement"))
        else:
            t = r.table(value, where, {"kind", "version", "packages"}, {"runtime", "suite"})
            providers[name] = ProviderInput(
                name, kind, version=r.string(t["version"], f"{where}.version"),
                packages=r.strings(t["packages"], f"{where}.packages"),
                runtime=tuple(_package_version(r, entry, f"{where}.runtime[{i}]")
                              for i, entry in enumerate(r.strings(t["runtime"], f"{where}.runtime")))
                if "runtime" in t else (),
                suite=r.string(t["suite"], f"{where}.suite") if "suite" in t else "")

    hosts: list[HostInput] = []
    for name, value in _items(r, llvm["hosts"], "llvm.hosts"):
        where = f"llvm.hosts.{name}"
        r.choice(name, where, KNOWN_HOSTS)
        t = r.table(value, where, {"providers", "default-provider"}, {"pip-platforms", "debian-arch"})
        names = r.strings(t["providers"], f"{where}.providers")
        for i, provider in enumerate(names):
            if provider not in providers:
                raise r.fail(f"{where}.providers[{i}]", f"no [llvm.providers.{provider}] table defines {provider!r}")
        default = r.choice(t["default-provider"], f"{where}.default-provider", names)
        kinds = {providers[p].kind for p in names}
        for field, kind in (("pip-platforms", "pypi-wheel"), ("debian-arch", "debian-packages")):
            if kind in kinds and field not in t:
                raise r.fail(where, f"missing field {field!r} (needed by its {kind} provider)")
        hosts.append(HostInput(
            name=name, providers=names, default_provider=default,
            pip_platforms=r.strings(t["pip-platforms"], f"{where}.pip-platforms") if "pip-platforms" in t else (),
            debian_arch=r.string(t["debian-arch"], f"{where}.debian-arch") if "debian-arch" in t else ""))
    if not hosts:
        raise r.fail("llvm.hosts", "expected at least one host")

    components: list[ComponentInput] = []
    for name, value in _items(r, top["components"], "components"):
        where = f"components.{name}"
        if name in ("lock-version", "llvm"):
            raise r.fail(where, f"{name!r} is reserved by the lock itself")
        kind = r.choice(r.table(value, where, {"kind"}, {"version", "arch", "packages", "package", "extra", "suite",
                                                                 "index-arch", "runtime"})
                        ["kind"], f"{where}.kind", COMPONENT_KINDS)
        if kind == "debian-packages":
            t = r.table(value, where, {"kind", "version", "arch", "packages"}, {"extra", "suite", "index-arch"})
            component = ComponentInput(name, kind, version=r.string(t["version"], f"{where}.version"),
                                       arch=r.string(t["arch"], f"{where}.arch"),
                                       packages=r.strings(t["packages"], f"{where}.packages"),
                                       index_arch=r.string(t["index-arch"], f"{where}.index-arch")
                                       if "index-arch" in t else "")
        elif kind == "debian-host-packages":
            t = r.table(value, where, {"kind", "version", "packages"}, {"runtime", "suite"})
            component = ComponentInput(
                name, kind, version=r.string(t["version"], f"{where}.version"),
                packages=r.strings(t["packages"], f"{where}.packages"),
                runtime=tuple(_package_version(r, entry, f"{where}.runtime[{i}]")
                              for i, entry in enumerate(r.strings(t["runtime"], f"{where}.runtime")))
                if "runtime" in t else ())
        else:
            t = r.table(value, where, {"kind", "package", "version"}, {"extra", "suite"})
            component = ComponentInput(name, kind, version=r.string(t["version"], f"{where}.version"),
                                       package=r.string(t["package"], f"{where}.package"))
        extra: list[tuple[str, str]] = []
        for key, v in _items(r, t.get("extra", {}), f"{where}.extra", allow_empty=True):
            if key in ("version", "files"):
                raise r.fail(f"{where}.extra.{key}", "is written by the generator itself")
            extra.append((key, r.string(v, f"{where}.extra.{key}")))
        suite = r.string(t["suite"], f"{where}.suite") if "suite" in t else ""
        components.append(ComponentInput(**{**component.__dict__, "extra": tuple(extra), "suite": suite}))
        if kind == "debian-host-packages" and not any(h.debian_arch for h in hosts):
            raise r.fail(where, "a debian-host-packages component needs a host with `debian-arch` in llvm.hosts")

    adapter = _adapter_input(r, top, components)
    return LockInput(path=path, suite=r.string(debian["suite"], "debian.suite"),
                     component=r.string(debian.get("component", "main"), "debian.component"),
                     llvm_version=r.string(llvm["version"], "llvm.version"), providers=providers,
                     hosts=tuple(hosts), components=tuple(components), adapter=adapter)


def _adapter_input(r: _Reader, top: dict[str, Any], components: list[ComponentInput]) -> AdapterInput | None:
    """[wasip1-adapter], which comes with the host-packages component `wasm-tools`: together they make a component."""
    tools = any(c.name == "wasm-tools" and c.kind == "debian-host-packages" for c in components)
    if "wasip1-adapter" not in top:
        if tools:
            raise r.fail("wasip1-adapter", "missing: [components.wasm-tools] and [wasip1-adapter] come together")
        return None
    if not tools:
        raise r.fail("components.wasm-tools", "missing: [components.wasm-tools] (kind = \"debian-host-packages\") and "
                                              "[wasip1-adapter] come together")
    a = r.table(top["wasip1-adapter"], "wasip1-adapter", {"package", "version", "member", "member-sha256"})
    member_sha256 = r.string(a["member-sha256"], "wasip1-adapter.member-sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", member_sha256):
        raise r.fail("wasip1-adapter.member-sha256", f"expected 64 lowercase hex characters, got {member_sha256!r}")
    return AdapterInput(package=r.string(a["package"], "wasip1-adapter.package"),
                        version=r.string(a["version"], "wasip1-adapter.version"),
                        member=r.string(a["member"], "wasip1-adapter.member"), member_sha256=member_sha256)


def _package_version(r: _Reader, entry: str, where: str) -> tuple[str, str]:
    package, sep, version = entry.partition("=")
    if not sep or not package or not version or package != package.strip() or version != version.strip():
        raise r.fail(where, f"expected 'package=version', got {entry!r}")
    return package, version


def _items(r: _Reader, value: Any, where: str, *, allow_empty: bool = False) -> list[tuple[str, Any]]:
    if not isinstance(value, dict):
        raise r.fail(where, "expected a table")
    if not value and not allow_empty:
        raise r.fail(where, "expected at least one entry")
    return list(value.items())


