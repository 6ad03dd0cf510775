"""WASI preview 2 without the network: the pins of the component tools, the npm: locator, the adapter's pinning at
lock generation, header detection, and that the default (preview 1) toolchain is untouched by any of it."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from support.helpers import LoopbackServer, run_scons, sha256
from wasi_toolchain.toolchain import component_tools, sysroot
from wasi_toolchain.settings import Settings
from wasi_toolchain.errors import ConfigError, HostNotSupported, LocatorError, LockError, LockInputError, ToolchainError
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.pins.toolchain_lock import load_lock, parse_lock
from wasi_toolchain.pins.locators import UrlSource, sources_for
from wasi_toolchain.lockgen.npm_pin import pin_member
from wasi_toolchain.pins.npm import NpmPackage, extract_member, npm_registry
from wasi_toolchain.targets.run import is_component
from wasi_toolchain.store.store import Store
from wasi_toolchain.targets import buildvars

REPO = Path(__file__).resolve().parent.parent
MEMBER = "package/lib/adapter.wasm"


def _npm_tarball(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _without_component_tools(text: str) -> str:
    return text.split("\n[wasm-tools]\n", 1)[0] + "\n"


# -- the lock ---------------------------------------------------------------------------------------------------------
def test_the_repository_lock_pins_wasm_tools_for_both_linux_hosts_and_the_adapter_by_npm_locator() -> None:
    lock = load_lock(REPO / "toolchain.lock")
    pins = lock.component_tools
    assert pins is not None
    assert sorted(pins.wasm_tools) == ["linux-aarch64", "linux-x86_64"]
    for host, files in pins.wasm_tools.items():
        names = [a.name for a in files]
        assert names[0].startswith("wasm-tools_"), names
        # The runtime is the debian provider's own files, so one download serves both.
        provider_files = {(a.name, a.sha256) for a in lock.llvm_files(host, "debian")}
        assert all((a.name, a.sha256) in provider_files for a in files[1:]), names
    assert pins.adapter.locators == (f"npm:@bytecodealliance/jco@{pins.adapter_version}",)
    # No registry address in the lock: the locator names the package, the registry comes from the user's config.
    assert "://" not in (REPO / "toolchain.lock").read_text()


def test_the_default_sysroot_key_does_not_depend_on_the_component_tools() -> None:
    text = (REPO / "toolchain.lock").read_bytes()
    with_tools = parse_lock(text)
    without = parse_lock(_without_component_tools(text.decode()).encode())
    assert without.component_tools is None and with_tools.component_tools is not None
    settings = Settings.from_environ({"WASI_CACHE_DIR": "/nonexistent-store"})
    for provider in ("ziglang", "debian"):
        assert (sysroot.plan(with_tools, settings, host="linux-x86_64", provider=provider).key
                == sysroot.plan(without, settings, host="linux-x86_64", provider=provider).key)


def test_a_lock_with_only_one_of_the_two_tables_is_refused() -> None:
    text = (REPO / "toolchain.lock").read_text()
    only_tools = text.split("\n[wasip1-adapter]\n", 1)[0] + "\n"
    with pytest.raises(LockError, match=r"wasip1-adapter.*missing"):
        parse_lock(only_tools.encode())


def test_component_tools_plan_needs_a_pinned_host_and_a_lock_that_has_them(tmp_path: Path) -> None:
    lock = load_lock(REPO / "toolchain.lock")
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path)})
    planned = component_tools.plan(lock, settings, host="linux-x86_64")
    assert planned.key.startswith("component-tools-linux-x86_64-")
    assert planned.key != component_tools.plan(lock, settings, host="linux-aarch64").key
    assert not planned.is_complete()
    with pytest.raises(HostNotSupported, match=r"macos-arm64.*\n  next step: .*wasm32-wasip1"):
        component_tools.plan(lock, settings, host="macos-arm64")
    without = parse_lock(_without_component_tools((REPO / "toolchain.lock").read_text()).encode())
    with pytest.raises(ToolchainError, match=r"pins no component tools"):
        component_tools.plan(without, settings, host="linux-x86_64")


# -- the npm: locator ---------------------------------------------------------------------------------------------------
def test_npm_locators_resolve_against_the_configured_registry_only() -> None:
    package = NpmPackage.parse("@scope/some-tool@1.2.3")
    assert package.file_name == "scope-some-tool-1.2.3.tgz"
    settings = Settings.from_environ({"WASI_NPM_REGISTRY": "http://127.0.0.1:9/npm/"})
    assert sources_for("npm:@scope/some-tool@1.2.3", settings) == [
        UrlSource("http://127.0.0.1:9/npm/@scope/some-tool/-/some-tool-1.2.3.tgz")]
    assert sources_for("npm:plain@0.1.0", settings) == [UrlSource("http://127.0.0.1:9/npm/plain/-/plain-0.1.0.tgz")]
    for bad in ("npm:@scope/x", "npm:../etc@1.0", "npm:x@latest"):
        with pytest.raises(LocatorError, match="expected npm:<name>@<version>"):
            sources_for(bad, settings)
    with pytest.raises(ConfigError, match="WASI_NPM_REGISTRY"):
        Settings.from_environ({"WASI_NPM_REGISTRY": "not a url"})


def test_without_wasi_npm_registry_the_registry_is_npms_own_setting(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "npm").write_text("#!/bin/sh\n[ \"$*\" = 'config get registry' ] && echo http://127.0.0.1:9/from-npmrc/\n")
    (fake / "npm").chmod(0o755)
    monkeypatch.setenv("PATH", str(fake))
    assert npm_registry(None) == "http://127.0.0.1:9/from-npmrc/"
    assert npm_registry("http://elsewhere.invalid/") == "http://elsewhere.invalid/"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LocatorError, match=r"WASI_NPM_REGISTRY is unset and npm is not installed"):
        npm_registry(None)


def test_the_adapter_tarball_is_fetched_verified_and_its_member_checked(tmp_path: Path,
                                                                       server: LoopbackServer) -> None:
    adapter = b"\0asm\x01\0\0\0 adapter stand-in"
    tarball = _npm_tarball({"package/package.json": b"{}", MEMBER: adapter})
    server.files["/npm/@scope/tool/-/tool-1.0.0.tgz"] = tarball
    lock_text = (REPO / "toolchain.lock").read_text()
    lock_text = re.sub(r'(\[wasip1-adapter\]\n)(.|\n)*', "", lock_text) + (
        '[wasip1-adapter]\nversion = "1.0.0"\n'
        f'member = "{MEMBER}"\nmember-sha256 = "{sha256(adapter)}"\n'
        f'files = [{{ name = "scope-tool-1.0.0.tgz", size = {len(tarball)}, sha256 = "{sha256(tarball)}", '
        f'locators = ["npm:@scope/tool@1.0.0"] }}]\n')
    lock = parse_lock(lock_text.encode())
    assert lock.component_tools is not None
    settings = Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "store"),
                                      "WASI_NPM_REGISTRY": server.url("/npm")})
    path = fetch(lock.component_tools.adapter, Store(settings.cache_dir), settings, log=lambda m: None)
    assert server.paths_requested() == ["/npm/@scope/tool/-/tool-1.0.0.tgz"]
    extract_member(path, MEMBER, sha256(adapter), tmp_path / "out" / "adapter.wasm")
    assert (tmp_path / "out" / "adapter.wasm").read_bytes() == adapter
    with pytest.raises(ToolchainError, match=r"has sha256 .*, the lock says 0{64}"):
        extract_member(path, MEMBER, "0" * 64, tmp_path / "out" / "other.wasm")
    with pytest.raises(ToolchainError, match=r"has no file package/lib/missing.wasm"):
        extract_member(path, "package/lib/missing.wasm", sha256(adapter), tmp_path / "out" / "other.wasm")


# -- lock generation for npm ---------------------------------------------------------------------------------------------
def _registry(server: LoopbackServer, tarball: bytes, *, integrity: str | None = None) -> str:
    integrity = integrity or "sha512-" + base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    server.files["/npm/@scope/tool/-/tool-1.0.0.tgz"] = tarball
    server.files["/npm/@scope%2Ftool"] = json.dumps({"name": "@scope/tool", "versions": {"1.0.0": {"dist": {
        "tarball": server.url("/npm/@scope/tool/-/tool-1.0.0.tgz"), "integrity": integrity}}}}).encode()
    return server.url("/npm")


def test_lockgen_pins_the_tarball_the_registry_names_after_checking_its_integrity_and_the_member(
        server: LoopbackServer) -> None:
    adapter = b"adapter bytes"
    tarball = _npm_tarball({MEMBER: adapter})
    registry = _registry(server, tarball)
    pin = pin_member(NpmPackage("@scope/tool", "1.0.0"), MEMBER, sha256(adapter), registry)
    assert (pin.name, pin.size, pin.sha256, pin.locator, pin.member_sha256) == (
        "scope-tool-1.0.0.tgz", len(tarball), sha256(tarball), "npm:@scope/tool@1.0.0", sha256(adapter))
    with pytest.raises(LockInputError, match=r"has sha256 .*; toolchain.in.toml says 1{64}"):
        pin_member(NpmPackage("@scope/tool", "1.0.0"), MEMBER, "1" * 64, registry)
    with pytest.raises(LockInputError, match=r"no tarball and integrity for version 2.0.0"):
        pin_member(NpmPackage("@scope/tool", "2.0.0"), MEMBER, sha256(adapter), registry)


def test_lockgen_refuses_a_tarball_that_does_not_match_the_registrys_integrity(server: LoopbackServer) -> None:
    tarball = _npm_tarball({MEMBER: b"x"})
    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    registry = _registry(server, tarball, integrity=wrong)
    with pytest.raises(LockInputError, match="does not match the registry's sha512 integrity"):
        pin_member(NpmPackage("@scope/tool", "1.0.0"), MEMBER, sha256(b"x"), registry)


# -- headers, targets ---------------------------------------------------------------------------------------------------
def test_a_component_is_told_from_a_core_module_by_its_header() -> None:
    assert is_component(b"\0asm\x0d\x00\x01\x00rest")
    assert not is_component(b"\0asm\x01\x00\x00\x00rest")  # a core module
    assert not is_component(b"\0asm\x0d\x00\x00\x00")  # version 0x0d without the component layer
    assert not is_component(b"\0asm")
    assert not is_component(b"")


def test_wasip2_is_a_component_target_and_cxx_reactor_or_source_libc_components_are_refused() -> None:
    assert buildvars.clang_target("wasm32-wasip2") == "wasm32-wasip2"
    assert buildvars.is_component_target("wasm32-wasip2")
    assert not buildvars.is_component_target("wasm32-wasip1") and not buildvars.is_component_target("wasm32-wasi")
    buildvars.check_component_program("wasm32-wasip2", False, "command")
    with pytest.raises(ConfigError, match=r"C\+\+ cannot be built as a preview-2 component.*\n  next step: "):
        buildvars.check_component_program("wasm32-wasip2", True, "command")
    with pytest.raises(ConfigError, match=r"WASI_EXECMODEL='reactor' is not supported for components"):
        buildvars.check_component_program("wasm32-wasip2", False, "reactor")
    with pytest.raises(ConfigError, match=r"'source' libc flavour .* has no wasm32-wasip2 headers"):
        buildvars.check_component_program("wasm32-wasip2", False, "command", "source")


def test_cxx_for_wasip2_stops_at_the_sconstruct_line_before_anything_is_fetched(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    (project / "toolchain.lock").write_bytes((REPO / "toolchain.lock").read_bytes())
    (project / "a.cpp").write_text("int main() { return 0; }\n")
    (project / "SConstruct").write_text("env = Environment(tools=['wasi'])\n"
                                        "env.WasiProgram('a', ['a.cpp'], WASI_TARGET='wasm32-wasip2')\n")
    store = tmp_path / "store"
    result = run_scons(project, "-Q", env={"WASI_CACHE_DIR": str(store), "WASI_OFFLINE": "1"})
    assert result.returncode == 2
    assert re.search(r"scons: \*\*\* SConstruct:2: WASI_TARGET='wasm32-wasip2': C\+\+ cannot be built",
                     result.stderr), result.stderr
    assert "Traceback" not in result.stderr
    assert not (store / "downloads").exists()


# -- the generator's input ------------------------------------------------------------------------------------------------
def test_the_generator_input_pins_wasm_tools_as_a_host_packages_component_with_the_adapter() -> None:
    from wasi_toolchain.lockgen.generate import parse_input

    spec = parse_input((REPO / "toolchain.in.toml").read_text())
    tools = {c.name: c for c in spec.components}["wasm-tools"]
    binaryen = {c.name: c for c in spec.components}["binaryen"]
    assert tools.kind == binaryen.kind == "debian-host-packages" and spec.adapter is not None  # one kind for both
    assert tools.suite and tools.suite != spec.suite  # backports, not the default suite
    assert dict(tools.runtime).keys() == {"libc6", "libgcc-s1"}
    # The runtime is pinned at the debian provider's versions, so both read the same files.
    assert set(tools.runtime) <= set(spec.providers["debian"].runtime)


@pytest.mark.parametrize("edit, problem", [
    (lambda t: t.replace('[components.wasm-tools]', '[components.wasm-tools-renamed]'),
     r"components.wasm-tools: missing: \[components.wasm-tools\] \(kind = \"debian-host-packages\"\) and \[wasip1-adapter\]"),
    (lambda t: t.replace('member-sha256 = "', 'member-sha256 = "X'), r"wasip1-adapter.member-sha256: expected 64"),
    (lambda t: t.split("\n[wasip1-adapter]\n")[0] + "\n", r"wasip1-adapter: missing"),
    (lambda t: t.replace('packages = ["wasm-tools"]\nruntime = ["libc6=2.41', 'packages = ["wasm-tools"]\nruntime = ["libc6 2.41'),
     r"components.wasm-tools.runtime\[0\]: expected"),
])
def test_a_bad_component_tools_input_is_refused_with_its_place(edit, problem) -> None:  # type: ignore[no-untyped-def]
    from wasi_toolchain.lockgen.generate import parse_input

    with pytest.raises(LockInputError, match=problem):
        parse_input(edit((REPO / "toolchain.in.toml").read_text()))
