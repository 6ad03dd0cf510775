"""The lock generator: write toolchain.lock from the hand-written toolchain.in.toml and the signed upstream indexes.

    PYTHONPATH=site_scons python -m wasi_toolchain.lockgen            # rewrite toolchain.lock
    PYTHONPATH=site_scons python -m wasi_toolchain.lockgen --check    # exit 1 if it is not what would be written

Debian files come from the archive's signed chain (debian_index.py); wheels from the package index through pip
(wheel_index.py). The output is a function of the input and the indexes only: no dates, no mirror URLs, no
verification status, so ``--check`` compares like with like on any machine. Before anything is written the text is
parsed back with the tool's own strict lock parser, so the generator never writes a lock the tool cannot read.

The input, toolchain.in.toml, is described and parsed in input.py.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..log import Log, log_to_stderr
from ..settings import Settings
from .debian_index import DebianArchive, PoolFile, Verification, upstream_version
from ..errors import LockError, LockInputError, WasiError
from ..pins.toolchain_lock import LOCK_VERSION, parse_lock
from ..pins.locators import apt_archive_bases
from ..store.store import Store
from .input import AdapterInput, ComponentInput, HostInput, LockInput, ProviderInput, parse_input
from .wheel_index import pin_wheel

COMMAND = "python -m wasi_toolchain.lockgen"



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

    def adapter(self, adapter: AdapterInput) -> list[str]:
        return _adapter_lines(self, adapter)

    def component(self, component: ComponentInput) -> tuple[str, list[Pin]]:
        if component.kind == "debian-packages":
            packages = [(p, component.version) for p in component.packages]
            return component.version, self.debian_packages(packages, component.index_arch or component.arch,
                                                           component.suite)
        return upstream_version(component.version), [self.debian_orig(component.package, component.version,
                                                                      component.suite)]


def _adapter_lines(resolver: Resolver, adapter: AdapterInput) -> list[str]:
    from ..pins.npm import NpmPackage, npm_registry
    from .npm_pin import pin_member

    package = NpmPackage(adapter.package, adapter.version)
    resolver.log(f"lockgen: pinning {adapter.member} of {package.locator}")
    pin = pin_member(package, adapter.member, adapter.member_sha256, npm_registry(resolver.settings.npm_registry))
    return ["[wasip1-adapter]", f"version = {_str(adapter.version)}", f"member = {_str(adapter.member)}",
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
    return [spec.suite, *sorted({s for s in named if s and s != spec.suite})]


def header(spec: LockInput) -> list[str]:
    return [
        "# toolchain.lock: every input of the WASI toolchain, pinned by sha256. Read by "
        "site_scons/wasi_toolchain/pins/toolchain_lock.py.",
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
            # Per host, like the debian LLVM provider: every llvm host with a debian-arch. The packages come from
            # the component's suite, their runtime from the default one (it is the debian provider's glibc).
            lines += [f"[{component.name}]", f"version = {_str(component.version)}", ""]
            packages = [(p, component.version) for p in component.packages]
            for host in spec.hosts:
                if host.debian_arch:
                    pins = (resolver.debian_packages(packages, host.debian_arch, component.suite)
                            + resolver.debian_packages(list(component.runtime), host.debian_arch))
                    lines += [f"[{component.name}.hosts.{host.name}]", *_files(pins), ""]
            continue
        version, pins = resolver.component(component)
        lines += [f"[{component.name}]", f"version = {_str(version)}",
                  *(f"{key} = {_str(value)}" for key, value in component.extra), *_files(pins), ""]
    if spec.adapter is not None:
        lines += resolver.adapter(spec.adapter)
    return "\n".join(lines)


def generate(spec: LockInput, settings: Settings, verification: Verification, *, log: Log = log_to_stderr,
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
                             hint="toolchain.in.toml names something pins/toolchain_lock.py does not read (e.g. a "
                                  "new component table); teach pins/toolchain_lock.py first") from None
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
        log_to_stderr(f"lockgen: error: {e}")
        return 2
    try:
        current = output.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if args.check:
        if current == lock:
            log_to_stderr(f"lockgen: {output} is up to date")
            return 0
        diff = difflib.unified_diff((current or "").splitlines(keepends=True), lock.splitlines(keepends=True),
                                    f"{output} (on disk)", f"{output} (generated)")
        sys.stderr.writelines(list(diff)[:200])
        log_to_stderr(f"lockgen: {output} is stale; run `{COMMAND}` and commit the result")
        return 1
    if current == lock:
        log_to_stderr(f"lockgen: {output} is up to date; not rewritten")
        return 0
    temp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    try:
        temp.write_text(lock, encoding="utf-8")
        os.replace(temp, output)
    finally:
        temp.unlink(missing_ok=True)
    log_to_stderr(f"lockgen: wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
