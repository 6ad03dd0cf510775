"""toolchain.lock: the pins, parsed strictly into frozen dataclasses.

The file is TOML. Every artifact has a file name, a sha256, a size and one or more locators. A problem is reported
with the dotted path of the offending value, e.g. ``llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import HostNotSupported, LockError
from ..host import KNOWN_HOSTS
from .strict_toml import StrictReader, kind

# 2: LLVM 22; [wasi-libc] is Debian's binary package and [wasi-libc-source] the orig tarball built from source.
LOCK_VERSION = 2
# The LLVM distributions the recipe knows how to lay out (see llvm.py).
PROVIDERS = ("ziglang", "debian")
LOCATOR_SCHEMES = ("debian", "pypi", "npm", "https", "http", "file")
_SHA256 = re.compile(r"[0-9a-f]{64}")
# A file name is stored as a single path component: it names the file in the store and in WASI_DISTDIR.
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*")


@dataclass(frozen=True)
class Artifact:
    """One pinned file."""

    name: str
    sha256: str
    size: int
    locators: tuple[str, ...]
    where: str  # dotted path in the lock, for messages


@dataclass(frozen=True)
class HostPins:
    """The LLVM pins for one host (e.g. ``linux-x86_64``), per provider."""

    host: str
    default_provider: str
    providers: Mapping[str, tuple[Artifact, ...]]


@dataclass(frozen=True)
class LibcxxPins:
    """libc++ and libc++abi for wasm32-wasi: packages whose ``headers`` dir (holding ``__config`` and ``cxxabi.h``)
    and ``libraries`` dir (holding ``libc++.a`` and ``libc++abi.a``) go into the sysroot."""

    version: str
    headers: str
    libraries: str
    files: tuple[Artifact, ...]


@dataclass(frozen=True)
class ComponentToolPins:
    """What turns a core module into a WASI preview-2 component (WASI_TARGET='wasm32-wasip2'): Debian's
    ``wasm-tools`` with its runtime per host, and the ``wasi_snapshot_preview1`` adapter, the file ``member`` (sha256
    ``member_sha256``) of the npm package ``adapter``. Fetched only when a wasip2 target is built."""

    wasm_tools_version: str
    wasm_tools: Mapping[str, tuple[Artifact, ...]]  # per host
    adapter_version: str
    adapter_member: str
    adapter_member_sha256: str
    adapter: Artifact


@dataclass(frozen=True)
class Lock:
    path: str
    digest: str  # sha256 of the lock file's bytes
    llvm_version: str
    hosts: Mapping[str, HostPins]
    builtins_version: str
    builtins_member: str
    builtins: Artifact
    wasi_libc_version: str
    wasi_libc: Artifact  # Debian's wasi-libc binary package (WASI_LIBC='debian')
    wasi_libc_source_version: str
    wasi_libc_source: Artifact  # the wasi-libc source tarball (WASI_LIBC='source')
    libcxx: LibcxxPins
    # [binaryen] (optional): wasm-opt for WASI_OPTIMIZE='size', per host (see wasm_opt.py).
    binaryen_version: str = ""
    binaryen_hosts: Mapping[str, tuple[Artifact, ...]] = field(default_factory=dict)

    def wasm_opt_files(self, host: str) -> tuple[Artifact, ...]:
        try:
            return self.binaryen_hosts[host]
        except KeyError:
            pinned = ", ".join(sorted(self.binaryen_hosts)) or "none"
            raise HostNotSupported(
                f"WASI_OPTIMIZE='size' needs wasm-opt, and {self.path} pins none for this host ({host}); hosts with "
                f"a pinned wasm-opt: {pinned}",
                hint="use WASI_OPTIMIZE='speed' here, or add [components.binaryen] for this host to "
                     "toolchain.in.toml and regenerate the lock") from None
    component_tools: ComponentToolPins | None = None  # optional: a lock without it builds preview 1 only

    def host_pins(self, host: str) -> HostPins:
        try:
            return self.hosts[host]
        except KeyError:
            supported = ", ".join(sorted(self.hosts)) or "none"
            raise HostNotSupported(
                f"no LLVM {self.llvm_version} is pinned for this host ({host}); pinned hosts: {supported}",
                hint="run on a pinned host, or add this host to toolchain.lock",
            ) from None

    def llvm_files(self, host: str, provider: str) -> tuple[Artifact, ...]:
        pins = self.host_pins(host)
        try:
            return pins.providers[provider]
        except KeyError:
            available = ", ".join(sorted(pins.providers))
            raise HostNotSupported(
                f"LLVM provider {provider!r} is not pinned for {host}; available: {available}",
                hint=f"set WASI_LLVM_PROVIDER to one of: {available}",
            ) from None

    def all_artifacts(self) -> list[Artifact]:
        artifacts = [self.builtins, self.wasi_libc, self.wasi_libc_source, *self.libcxx.files]
        for host in self.hosts.values():
            for files in host.providers.values():
                artifacts.extend(files)
        # wasm-opt's runtime packages are the debian provider's own (the same files): each file once.
        seen = {(a.sha256, a.name) for a in artifacts}
        for files in self.binaryen_hosts.values():
            for artifact in files:
                if (artifact.sha256, artifact.name) not in seen:
                    seen.add((artifact.sha256, artifact.name))
                    artifacts.append(artifact)
        if self.component_tools is not None:
            artifacts.append(self.component_tools.adapter)
            for files in self.component_tools.wasm_tools.values():
                # The wasm-tools runtime is the debian provider's own files (libc6, libgcc-s1): listed once.
                listed = {(a.name, a.sha256) for a in artifacts}
                artifacts.extend(a for a in files if (a.name, a.sha256) not in listed)
        return artifacts


class _Reader(StrictReader):
    """The strict reader, raising LockError with a dotted path; plus the lock's own kinds of value."""

    def __init__(self, lock_path: str) -> None:
        self.lock_path = lock_path

    def fail(self, where: str, problem: str) -> LockError:
        return LockError(self.lock_path, where, problem)

    def artifact(self, value: Any, where: str) -> Artifact:
        t = self.table(value, where, required={"name", "sha256", "size", "locators"})
        name = self.string(t["name"], f"{where}.name")
        if not _FILE_NAME.fullmatch(name):
            raise self.fail(f"{where}.name", f"expected a plain file name, got {name!r}")
        sha256 = t["sha256"]
        if not isinstance(sha256, str) or not _SHA256.fullmatch(sha256):
            raise self.fail(f"{where}.sha256", f"expected 64 lowercase hex characters, got {sha256!r}")
        size = t["size"]
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise self.fail(f"{where}.size", f"expected a non-negative integer, got {size!r}")
        locators = t["locators"]
        if not isinstance(locators, list) or not locators:
            raise self.fail(f"{where}.locators", f"expected a non-empty list of strings, got {kind(locators)}")
        for i, locator in enumerate(locators):
            self.locator(locator, f"{where}.locators[{i}]")
        return Artifact(name=name, sha256=sha256, size=size, locators=tuple(locators), where=where)

    def member_dir(self, value: Any, where: str) -> str:
        """A directory inside a package, e.g. ``usr/lib/llvm-19/lib/wasm32-wasi``: relative, no ``..``."""
        path = self.string(value, where)
        parts = path.split("/")
        if path.startswith("/") or path.endswith("/") or any(p in ("", ".", "..") for p in parts):
            raise self.fail(where, f"expected a relative directory inside the package such as "
                                   f"'usr/lib/llvm-19/lib/wasm32-wasi', got {path!r}")
        return path

    def locator(self, value: Any, where: str) -> str:
        locator = self.string(value, where)
        scheme, sep, rest = locator.partition(":")
        if not sep or scheme not in LOCATOR_SCHEMES or not rest:
            raise self.fail(where, f"expected a locator starting with one of {', '.join(s + ':' for s in LOCATOR_SCHEMES)}"
                                   f" got {locator!r}")
        return locator

    def files(self, value: Any, where: str, *, exactly_one: bool = False) -> tuple[Artifact, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(where, f"expected a non-empty list of artifacts, got {kind(value)}")
        if exactly_one and len(value) != 1:
            raise self.fail(where, f"expected exactly one artifact, got {len(value)}")
        return tuple(self.artifact(item, f"{where}[{i}]") for i, item in enumerate(value))


def parse_lock(text: bytes, lock_path: str = "toolchain.lock") -> Lock:
    """Parse lock bytes. Raises LockError, and only LockError, on any problem."""
    return lock_from_data(toml_data(text, lock_path), hashlib.sha256(text).hexdigest(), lock_path)


def toml_data(text: bytes, lock_path: str = "toolchain.lock") -> dict[str, Any]:
    """The lock's TOML as Python data, unchecked. LockError if it is not UTF-8 TOML."""
    import tomllib  # here, not at the top: a warm start reads the parsed lock from the store (pins/lock_cache.py)

    r = _Reader(lock_path)
    try:
        return tomllib.loads(text.decode("utf-8"))
    except UnicodeDecodeError as e:
        raise r.fail("", f"not UTF-8 text ({e.reason} at byte {e.start})") from None
    except tomllib.TOMLDecodeError as e:
        raise r.fail("", f"not valid TOML: {e}") from None
    except RecursionError:  # tomllib reads nested arrays and inline tables recursively
        raise r.fail("", "not valid TOML: arrays or tables nested too deeply to read") from None
    except ValueError as e:
        # tomllib lets int() raise for an integer over CPython's 4300-digit limit, the mitigation of
        # CVE-2020-10735 (https://github.com/python/cpython/issues/95778).
        raise r.fail("", f"not valid TOML: {e}") from None


def lock_from_data(data: Any, digest: str, lock_path: str = "toolchain.lock") -> Lock:
    """The lock from its TOML data (toml_data), checked strictly. ``digest`` is the sha256 of the file's bytes.
    Raises LockError, and only LockError, on any problem."""
    r = _Reader(lock_path)
    top = r.table(data, "", required={"lock-version", "llvm", "builtins", "wasi-libc", "wasi-libc-source", "libcxx"},
                  optional={"binaryen", "wasm-tools", "wasip1-adapter"})
    version = top["lock-version"]
    if type(version) is not int or version != LOCK_VERSION:
        raise r.fail("lock-version", f"expected {LOCK_VERSION}, got {version!r}; this tool reads lock-version "
                                     f"{LOCK_VERSION} only")

    llvm = r.table(top["llvm"], "llvm", required={"version", "hosts"})
    llvm_version = r.string(llvm["version"], "llvm.version")
    hosts_table = r.mapping(llvm["hosts"], "llvm.hosts")
    if not hosts_table:
        raise r.fail("llvm.hosts", "expected at least one host")
    hosts: dict[str, HostPins] = {}
    for host, value in hosts_table.items():
        where = f"llvm.hosts.{host}"
        if host not in KNOWN_HOSTS:
            raise r.fail(where, f"unknown host {host!r}; known hosts: {', '.join(KNOWN_HOSTS)}")
        h = r.table(value, where, required={"default-provider", "providers"})
        providers_table = r.mapping(h["providers"], f"{where}.providers")
        providers: dict[str, tuple[Artifact, ...]] = {}
        for provider, pvalue in providers_table.items():
            pwhere = f"{where}.providers.{provider}"
            if provider not in PROVIDERS:
                raise r.fail(pwhere, f"unknown provider {provider!r}; known providers: {', '.join(PROVIDERS)}")
            p = r.table(pvalue, pwhere, required={"files"})
            providers[provider] = r.files(p["files"], f"{pwhere}.files")
        default = r.string(h["default-provider"], f"{where}.default-provider")
        if default not in providers:
            raise r.fail(f"{where}.default-provider",
                         f"expected one of the host's providers ({', '.join(sorted(providers)) or 'none'}), "
                         f"got {default!r}")
        hosts[host] = HostPins(host=host, default_provider=default, providers=providers)

    b = r.table(top["builtins"], "builtins", required={"version", "member", "files"})
    w = r.table(top["wasi-libc"], "wasi-libc", required={"version", "files"})
    ws = r.table(top["wasi-libc-source"], "wasi-libc-source", required={"version", "files"})
    x = r.table(top["libcxx"], "libcxx", required={"version", "headers", "libraries", "files"})
    binaryen_version, binaryen_hosts = _host_packages(r, top, "binaryen") if "binaryen" in top else ("", {})
    lock = Lock(
        path=lock_path,
        digest=digest,
        llvm_version=llvm_version,
        hosts=hosts,
        builtins_version=r.string(b["version"], "builtins.version"),
        builtins_member=r.string(b["member"], "builtins.member"),
        builtins=r.files(b["files"], "builtins.files", exactly_one=True)[0],
        wasi_libc_version=r.string(w["version"], "wasi-libc.version"),
        wasi_libc=r.files(w["files"], "wasi-libc.files", exactly_one=True)[0],
        wasi_libc_source_version=r.string(ws["version"], "wasi-libc-source.version"),
        wasi_libc_source=r.files(ws["files"], "wasi-libc-source.files", exactly_one=True)[0],
        libcxx=LibcxxPins(
            version=r.string(x["version"], "libcxx.version"),
            headers=r.member_dir(x["headers"], "libcxx.headers"),
            libraries=r.member_dir(x["libraries"], "libcxx.libraries"),
            files=r.files(x["files"], "libcxx.files"),
        ),
        binaryen_version=binaryen_version,
        binaryen_hosts=binaryen_hosts,
        component_tools=_component_tools(r, top),
    )
    return lock


def _host_packages(r: _Reader, top: dict[str, Any], name: str) -> tuple[str, dict[str, tuple[Artifact, ...]]]:
    """A table of host programs (binaryen, wasm-tools): its version, and its files per host."""
    t = r.table(top[name], name, required={"version", "hosts"})
    hosts: dict[str, tuple[Artifact, ...]] = {}
    for host, value in r.mapping(t["hosts"], f"{name}.hosts").items():
        where = f"{name}.hosts.{host}"
        if host not in KNOWN_HOSTS:
            raise r.fail(where, f"unknown host {host!r}; known hosts: {', '.join(KNOWN_HOSTS)}")
        hosts[host] = r.files(r.table(value, where, required={"files"})["files"], f"{where}.files")
    return r.string(t["version"], f"{name}.version"), hosts


def _component_tools(r: _Reader, top: dict[str, Any]) -> ComponentToolPins | None:
    if "wasm-tools" not in top and "wasip1-adapter" not in top:
        return None
    for name in ("wasm-tools", "wasip1-adapter"):
        if name not in top:
            raise r.fail(name, "missing: [wasm-tools] and [wasip1-adapter] come together (both make a component)")
    version, hosts = _host_packages(r, top, "wasm-tools")
    a = r.table(top["wasip1-adapter"], "wasip1-adapter", required={"version", "member", "member-sha256", "files"})
    member_sha256 = a["member-sha256"]
    if not isinstance(member_sha256, str) or not _SHA256.fullmatch(member_sha256):
        raise r.fail("wasip1-adapter.member-sha256", f"expected 64 lowercase hex characters, got {member_sha256!r}")
    return ComponentToolPins(
        wasm_tools_version=version, wasm_tools=hosts,
        adapter_version=r.string(a["version"], "wasip1-adapter.version"),
        adapter_member=r.member_dir(a["member"], "wasip1-adapter.member"), adapter_member_sha256=member_sha256,
        adapter=r.files(a["files"], "wasip1-adapter.files", exactly_one=True)[0])


def load_lock(path: str | Path) -> Lock:
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as e:
        raise LockError(str(path), "", f"cannot read it ({e.strerror})") from None
    return parse_lock(text, str(path))
