"""The lock generator: write toolchain.lock from the hand-written toolchain.in.toml and the signed upstream indexes.

    PYTHONPATH=site_scons python -m wasi_toolchain.lockgen            # rewrite toolchain.lock
    PYTHONPATH=site_scons python -m wasi_toolchain.lockgen --check    # exit 1 if it is not what would be written

Debian files come from the archive's signed chain (debian_index.py); wheels from the package index through pip
(wheel_index.py). The output is a function of the input and the indexes only: no dates, no mirror URLs, no
verification status, so ``--check`` compares like with like on any machine. Before anything is written the text is
parsed back with the tool's own strict lock parser, so the generator never writes a lock the tool cannot read.

toolchain.in.toml (``input-version = 1``):

    [debian]                suite, component ("main"): where Debian files are looked up
    [llvm]                  version
    [llvm.providers.NAME]   kind = "pypi-wheel" (requirement) or "debian-packages" (version, packages; optional
                            suite, and runtime: "package=version" entries whose files follow the packages')
    [llvm.hosts.HOST]       providers, default-provider, pip-platforms (pypi-wheel), debian-arch (debian-packages)
    [components.NAME]       kind = "debian-packages" (version, arch, packages) or "debian-orig" (package, version);
                            optional `suite` (default: [debian] suite), `index-arch` (read arch "all" packages from
                            binary-<index-arch>, which lists them too) and `extra` table copied verbatim;
                            or kind = "debian-host-packages" (version, packages, runtime like a debian provider's),
                            pinned for each llvm host with a debian-arch as [NAME.hosts.HOST] files. Each becomes the lock's top-level [NAME] table
                            with `version`, the `extra` keys, then `files`; adding a component is a data change
                            here (lock.py must know the table to read it).
    [wasm-tools]            optional, with [wasip1-adapter]: what makes a preview-2 component. version, packages,
                            hosts (each host's debian-arch is its [llvm.hosts.HOST] one), optional suite and
                            runtime ("package=version", read from [debian] suite). Written per host.
    [wasip1-adapter]        package and version of an npm package, member (a file in its tarball) and
                            member-sha256. The tarball's sha256 and size come from downloading it and checking it
                            against the registry's sha512 integrity; the member's sha256 is checked too.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import Settings
from .debian_index import DebianArchive, PoolFile, Verification, upstream_version
from ..errors import LockError, LockInputError, WasiError
from ..host import KNOWN_HOSTS
from ..pins.toolchain_lock import LOCK_VERSION, PROVIDERS, parse_lock
from ..pins.locators import apt_archive_bases
from ..store.store import Store
from .wheel_index import pin_wheel

INPUT_VERSION = 1
COMMAND = "python -m wasi_toolchain.lockgen"
PROVIDER_KINDS = ("pypi-wheel", "debian-packages")
COMPONENT_KINDS = ("debian-packages", "debian-orig", "debian-host-packages")

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


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
class WasmToolsInput:
    version: str
    packages: tuple[str, ...]
    runtime: tuple[tuple[str, str], ...]
    hosts: tuple[str, ...]
    suite: str = ""


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
    wasm_tools: WasmToolsInput | None = None
    adapter: AdapterInput | None = None


class _Reader:
    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> LockInputError:
        return LockInputError(f"invalid generator input {self.path}: {where}: {problem}",
                              hint="fix toolchain.in.toml (its format is described in wasi_toolchain/lockgen.py)")

    def table(self, value: Any, where: str, required: set[str], optional: set[str] = frozenset()) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(where, "expected a table")
        missing = sorted(required - value.keys())
        if missing:
            raise self.fail(where, f"missing field {missing[0]!r}")
        unknown = sorted(value.keys() - required - optional)
        if unknown:
            raise self.fail(where, f"unknown field {unknown[0]!r}")
        return value

    def string(self, value: Any, where: str) -> str:
        if not isinstance(value, str) or not value or value != value.strip():
            raise self.fail(where, f"expected a non-empty string, got {value!r}")
        return value

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, "expected a non-empty list of strings")
        items = tuple(self.string(v, f"{where}[{i}]") for i, v in enumerate(value))
        if len(set(items)) != len(items):
            raise self.fail(where, "lists a value twice")
        return items

    def choice(self, value: Any, where: str, choices: Sequence[str]) -> str:
        text = self.string(value, where)
        if text not in choices:
            raise self.fail(where, f"expected one of {', '.join(choices)}, got {text!r}")
        return text


def parse_input(text: str, path: str = "toolchain.in.toml") -> LockInput:
    r = _Reader(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise r.fail("", f"not valid TOML: {e}") from None
    top = r.table(data, "top level", {"input-version", "debian", "llvm", "components"},
                  {"wasm-tools", "wasip1-adapter"})
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

    wasm_tools, adapter = _component_tools_input(r, top, {h.name: h for h in hosts})
    return LockInput(path=path, suite=r.string(debian["suite"], "debian.suite"),
                     component=r.string(debian.get("component", "main"), "debian.component"),
                     llvm_version=r.string(llvm["version"], "llvm.version"), providers=providers,
                     hosts=tuple(hosts), components=tuple(components), wasm_tools=wasm_tools, adapter=adapter)


def _component_tools_input(r: _Reader, top: dict[str, Any], hosts: dict[str, HostInput]
                           ) -> tuple[WasmToolsInput | None, AdapterInput | None]:
    if "wasm-tools" not in top and "wasip1-adapter" not in top:
        return None, None
    for name in ("wasm-tools", "wasip1-adapter"):
        if name not in top:
            raise r.fail(name, "missing: [wasm-tools] and [wasip1-adapter] come together")
    t = r.table(top["wasm-tools"], "wasm-tools", {"version", "packages", "hosts"}, {"runtime", "suite"})
    names = r.strings(t["hosts"], "wasm-tools.hosts")
    for i, host in enumerate(names):
        if not hosts.get(host) or not hosts[host].debian_arch:
            raise r.fail(f"wasm-tools.hosts[{i}]", f"{host!r} has no [llvm.hosts.{host}] with a debian-arch")
    wasm_tools = WasmToolsInput(
        version=r.string(t["version"], "wasm-tools.version"), packages=r.strings(t["packages"], "wasm-tools.packages"),
        runtime=tuple(_package_version(r, entry, f"wasm-tools.runtime[{i}]")
                      for i, entry in enumerate(r.strings(t["runtime"], "wasm-tools.runtime")))
        if "runtime" in t else (),
        hosts=names, suite=r.string(t["suite"], "wasm-tools.suite") if "suite" in t else "")
    a = r.table(top["wasip1-adapter"], "wasip1-adapter", {"package", "version", "member", "member-sha256"})
    member_sha256 = r.string(a["member-sha256"], "wasip1-adapter.member-sha256")
    if not re.fullmatch(r"[0-9a-f]{64}", member_sha256):
        raise r.fail("wasip1-adapter.member-sha256", f"expected 64 lowercase hex characters, got {member_sha256!r}")
    adapter = AdapterInput(package=r.string(a["package"], "wasip1-adapter.package"),
                           version=r.string(a["version"], "wasip1-adapter.version"),
                           member=r.string(a["member"], "wasip1-adapter.member"), member_sha256=member_sha256)
    return wasm_tools, adapter


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


# -- resolving pins -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Pin:
    name: str
    size: int
    sha256: str
    locator: str


class Resolver:
    """Turns the input into pins, reading each upstream index at most once."""

    def __init__(self, spec: LockInput, archive: DebianArchive, settings: Settings, log: Log) -> None:
        self.spec = spec
        self.archive = archive
        self.settings = settings
        self.log = log

    def debian_packages(self, packages: Sequence[tuple[str, str]], arch: str, suite: str = "") -> list[Pin]:
        """Pins of (package, version) pairs, in order."""
        return [_pool_pin(self.archive.binary_package(suite or self.spec.suite, self.spec.component, arch, p,
                                                      version))
                for p, version in packages]

    def debian_orig(self, package: str, version: str, suite: str = "") -> Pin:
        files = self.archive.source_files(suite or self.spec.suite, self.spec.component, package, version)
        prefix = f"{package}_{upstream_version(version)}.orig.tar."
        origs = [f for f in files if f.name.startswith(prefix) and not f.name.endswith(".asc")]
        if len(origs) != 1:
            raise LockInputError(f"source {package} {version} has {len(origs)} files named {prefix}*, expected one "
                                 f"(its files: {', '.join(f.name for f in files)})",
                                 hint="a native Debian package has no orig tarball; pin another source")
        return _pool_pin(origs[0])

    def wheel(self, requirement: str, platforms: Sequence[str]) -> Pin:
        pin = pin_wheel(requirement, platforms, index_url=self.settings.pypi_index,
                        store=Store(self.settings.cache_dir, lock_timeout=self.settings.lock_timeout), log=self.log)
        return Pin(pin.name, pin.size, pin.sha256, f"pypi:{requirement}")

    def provider_files(self, host: HostInput, provider: ProviderInput) -> list[Pin]:
        if provider.kind == "pypi-wheel":
            return [self.wheel(provider.requirement, host.pip_platforms)]
        packages = [(p, provider.version) for p in provider.packages] + list(provider.runtime)
        return self.debian_packages(packages, host.debian_arch, provider.suite)

    def component_tools(self, tools: WasmToolsInput, adapter: AdapterInput) -> list[str]:
        return _component_tools_lines(self, tools, adapter)

    def component(self, component: ComponentInput) -> tuple[str, list[Pin]]:
        if component.kind == "debian-packages":
            packages = [(p, component.version) for p in component.packages]
            return component.version, self.debian_packages(packages, component.index_arch or component.arch,
                                                           component.suite)
        return upstream_version(component.version), [self.debian_orig(component.package, component.version,
                                                                      component.suite)]


def _component_tools_lines(resolver: Resolver, tools: WasmToolsInput, adapter: AdapterInput) -> list[str]:
    from ..pins.npm import NpmPackage, npm_registry, pin_member

    lines = ["[wasm-tools]", f"version = {_str(tools.version)}", ""]
    arches = {h.name: h.debian_arch for h in resolver.spec.hosts}
    for host in tools.hosts:
        pins = (resolver.debian_packages([(p, tools.version) for p in tools.packages], arches[host], tools.suite)
                + resolver.debian_packages(list(tools.runtime), arches[host]))
        lines += [f"[wasm-tools.hosts.{host}]", *_files(pins), ""]
    package = NpmPackage(adapter.package, adapter.version)
    resolver.log(f"lockgen: pinning {adapter.member} of {package.locator}")
    pin = pin_member(package, adapter.member, adapter.member_sha256, npm_registry(resolver.settings.npm_registry))
    return lines + ["[wasip1-adapter]", f"version = {_str(adapter.version)}", f"member = {_str(adapter.member)}",
                    f"member-sha256 = {_str(pin.member_sha256)}",
                    *_files([Pin(pin.name, pin.size, pin.sha256, pin.locator)]), ""]


def _pool_pin(f: PoolFile) -> Pin:
    return Pin(f.name, f.size, f.sha256, f"debian:{f.path}")


# -- rendering ------------------------------------------------------------------------------------------------------
def _str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string


def _files(pins: Sequence[Pin]) -> list[str]:
    lines = ["files = ["]
    for p in pins:
        lines.append(f"  {{ name = {_str(p.name)}, size = {p.size}, sha256 = {_str(p.sha256)}, "
                     f"locators = [{_str(p.locator)}] }},")
    return lines + ["]"]


def _suites(spec: LockInput) -> list[str]:
    """The Debian suites the input reads, the default first."""
    named = [p.suite for p in spec.providers.values()] + [c.suite for c in spec.components]
    if spec.wasm_tools is not None:
        named.append(spec.wasm_tools.suite)
    return [spec.suite, *sorted({s for s in named if s and s != spec.suite})]


def header(spec: LockInput) -> list[str]:
    return [
        "# toolchain.lock: every input of the WASI toolchain, pinned by sha256. Read by "
        "site_scons/wasi_toolchain/lock.py.",
        "#",
        f"# GENERATED by `{COMMAND}` from toolchain.in.toml; do not edit it by hand. Change",
        "# toolchain.in.toml and run the generator again; `--check` fails when this file is not what it would write.",
        "#",
        f"# Debian files: from the signed dists/<suite>/InRelease ({', '.join(_suites(spec))}), then "
        f"{spec.component}/binary-<arch>/Packages.xz",
        f"# and {spec.component}/source/Sources.xz, each checked against the sha256 the InRelease lists.",
        "# Wheels: file name and sha256 from the package index, through pip.",
        "# Locators never name a registry host: debian: paths are joined to WASI_DEBIAN_MIRROR or apt's sources,",
        "# and pypi: requirements are fetched by pip with the user's own pip configuration.",
        *(["# npm: packages: sha256 of the tarball the registry names, checked against its sha512 integrity; the",
           "# tarball is fetched from WASI_NPM_REGISTRY or `npm config get registry`."] if spec.adapter else []),
    ]


def render(spec: LockInput, resolver: Resolver) -> str:
    lines = header(spec) + [f"lock-version = {LOCK_VERSION}", "", "[llvm]", f"version = {_str(spec.llvm_version)}", ""]
    for host in spec.hosts:
        lines += [f"[llvm.hosts.{host.name}]", f"default-provider = {_str(host.default_provider)}", ""]
        for name in host.providers:
            pins = resolver.provider_files(host, spec.providers[name])
            lines += [f"[llvm.hosts.{host.name}.providers.{name}]", *_files(pins), ""]
    for component in spec.components:
        if component.kind == "debian-host-packages":
            # Per host, like the debian LLVM provider: every llvm host with a debian-arch.
            lines += [f"[{component.name}]", f"version = {_str(component.version)}", ""]
            packages = [(p, component.version) for p in component.packages] + list(component.runtime)
            for host in spec.hosts:
                if host.debian_arch:
                    pins = resolver.debian_packages(packages, host.debian_arch, component.suite)
                    lines += [f"[{component.name}.hosts.{host.name}]", *_files(pins), ""]
            continue
        version, pins = resolver.component(component)
        lines += [f"[{component.name}]", f"version = {_str(version)}",
                  *(f"{key} = {_str(value)}" for key, value in component.extra), *_files(pins), ""]
    if spec.wasm_tools is not None and spec.adapter is not None:
        lines += resolver.component_tools(spec.wasm_tools, spec.adapter)
    return "\n".join(lines)


def generate(spec: LockInput, settings: Settings, verification: Verification, *, log: Log = _stderr,
             apt_root: Path = Path("/")) -> str:
    """The lock text for ``spec``. Raises WasiError on any failure; nothing is written."""
    bases = tuple(settings.debian_mirrors) or tuple(apt_archive_bases(apt_root))
    if not bases:
        raise LockInputError(
            f"no Debian mirror is configured: WASI_DEBIAN_MIRROR is unset and apt has no http(s) sources under "
            f"{apt_root / 'etc/apt'}",
            hint="set WASI_DEBIAN_MIRROR to a Debian archive base URL (the directory that holds dists/ and pool/)")
    if verification.keyring is None:
        log(f"lockgen: WARNING: InRelease signatures will NOT be verified: {verification.skipped}; only the hash "
            f"chain below InRelease is checked")
    archive = DebianArchive(bases=bases, verification=verification, log=log)
    text = render(spec, Resolver(spec, archive, settings, log))
    try:
        parse_lock(text.encode("utf-8"), "the generated lock")
    except LockError as e:
        raise LockInputError(f"the generated lock would not be readable by the tool: {e.where}: {e.problem}",
                             hint="toolchain.in.toml names something lock.py does not read (e.g. a new component "
                                  "table); teach lock.py first") from None
    return text


# -- command line ---------------------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None, *, environ: dict[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description="Write toolchain.lock from toolchain.in.toml and "
                                     "the signed upstream indexes.")
    parser.add_argument("--input", type=Path, default=Path("toolchain.in.toml"),
                        help="the hand-written input (default: ./toolchain.in.toml)")
    parser.add_argument("--output", type=Path, help="the lock to write (default: toolchain.lock beside the input)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 if the lock differs from what would be written")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--keyring", type=Path, help="verify InRelease against this OpenPGP keyring (default: "
                       "Debian's archive keyring, when it and gpgv are installed)")
    group.add_argument("--no-verify", action="store_true", help="do not check InRelease signatures (the hash "
                       "chain below them is still checked)")
    args = parser.parse_args(argv)
    output: Path = args.output or args.input.parent / "toolchain.lock"
    try:
        try:
            text = args.input.read_text(encoding="utf-8")
        except OSError as e:
            raise LockInputError(f"cannot read {args.input} ({e.strerror})",
                                 hint="run from the directory holding toolchain.in.toml, or pass --input") from None
        spec = parse_input(text, str(args.input))
        settings = Settings.from_environ(os.environ if environ is None else environ)
        verification = Verification.choose(args.keyring, verify=not args.no_verify)
        lock = generate(spec, settings, verification)
    except WasiError as e:
        _stderr(f"lockgen: error: {e}")
        return 2
    try:
        current = output.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if args.check:
        if current == lock:
            _stderr(f"lockgen: {output} is up to date")
            return 0
        diff = difflib.unified_diff((current or "").splitlines(keepends=True), lock.splitlines(keepends=True),
                                    f"{output} (on disk)", f"{output} (generated)")
        sys.stderr.writelines(list(diff)[:200])
        _stderr(f"lockgen: {output} is stale; run `{COMMAND}` and commit the result")
        return 1
    if current == lock:
        _stderr(f"lockgen: {output} is up to date; not rewritten")
        return 0
    temp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        temp.write_text(lock, encoding="utf-8")
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
    _stderr(f"lockgen: wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
