"""The lock generator against a Debian archive and a package index that the tests build and serve themselves.

The archive is served from a loopback HTTP server: an InRelease clearsigned with a throw-away key made here with
gpg (when gpg is installed), Packages.xz and Sources.xz listed in it by sha256. The package index is a PEP 503
directory read by pip through file://. Every expected pin below is computed from the bytes the tests made.
"""

from __future__ import annotations

import lzma
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pytest

from support.helpers import LoopbackServer, make_zip, sha256
from wasi_toolchain.lockgen import generate as lockgen
from wasi_toolchain.lockgen.debian_index import cleartext_body, parse_release
from wasi_toolchain.errors import LockInputError, UpstreamIndexError
from wasi_toolchain.pins.toolchain_lock import Artifact, parse_lock

SUITE = "bookworm"
LLVM_VERSION = "1:19.1.7-3~deb12u1"
LLVM_PACKAGES = ["clang-19", "libclang-cpp19", "libllvm19", "lld-19", "llvm-19", "libclang-common-19-dev"]
LIBC_VERSION = "0.0~git20220510.9886d3d-2"
LIBC_PACKAGE_VERSION = "0.0~git20241209.574b88d-2"
RUNTIME = [("libc6", "2.41-12"), ("libstdc++6", "14.2.0-19")]
LINUX_WHEEL = "ziglang-0.14.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl"
MAC_WHEEL = "ziglang-0.14.1-py3-none-macosx_12_0_arm64.whl"
HAVE_GPG = shutil.which("gpg") is not None and shutil.which("gpgv") is not None
MEMBER = "usr/lib/llvm-19/lib/clang/19/lib/wasi/libclang_rt.builtins-wasm32.a"


# -- a Debian archive made here ------------------------------------------------------------------------------------
@dataclass
class FakePool:
    """Pool files by path, and the index stanzas that describe them."""

    files: dict[str, bytes] = field(default_factory=dict)
    packages: dict[str, list[str]] = field(default_factory=dict)  # arch -> stanzas
    sources: list[str] = field(default_factory=list)

    def binary(self, package: str, version: str, arch: str, payload: bytes, *,
               directory: str = "l/llvm-toolchain-19", index: str = "") -> str:
        """A binary package, listed in binary-<index>/Packages (default: its own arch's)."""
        plain = version.split(":", 1)[-1]
        path = f"pool/main/{directory}/{package}_{plain}_{arch}.deb"
        self.files[path] = payload
        self.packages.setdefault(index or arch, []).append(
            f"Package: {package}\nSource: llvm-toolchain-19\nVersion: {version}\nArchitecture: {arch}\n"
            f"Description: test package\n that spans lines\nFilename: {path}\nSize: {len(payload)}\n"
            f"MD5sum: {'0' * 32}\nSHA256: {sha256(payload)}\n")
        return path

    def source(self, package: str, version: str, files: dict[str, bytes]) -> None:
        directory = f"pool/main/{package[0]}/{package}"
        lines = []
        for name, data in files.items():
            self.files[f"{directory}/{name}"] = data
            lines.append(f" {sha256(data)} {len(data)} {name}")
        self.sources.append(f"Package: {package}\nBinary: {package}\nVersion: {version}\nChecksums-Sha256:\n"
                            + "\n".join(lines) + f"\nDirectory: {directory}\n")


def make_pool() -> FakePool:
    pool = FakePool()
    for i, package in enumerate(LLVM_PACKAGES):
        pool.binary(package, LLVM_VERSION, "amd64", f"{package} amd64 ".encode() * (100 + i))
    pool.binary("clang-19", "1:19.1.6-1~deb12u1", "amd64", b"an older clang")  # a decoy version
    pool.binary("hello", "2.10-3", "amd64", b"unrelated")
    pool.binary("libclang-rt-19-dev-wasm32", LLVM_VERSION, "all", b"builtins deb")
    pool.binary("libc++-19-dev-wasm32", LLVM_VERSION, "all", b"libc++ deb")
    pool.binary("libc++abi-19-dev-wasm32", LLVM_VERSION, "all", b"libc++abi deb")
    for package, version in RUNTIME:
        pool.binary(package, version, "amd64", f"{package} runtime".encode(), directory=f"x/{package}")
    # An arch-all package read from binary-amd64 (index-arch): binary-all has only an older version of it.
    pool.binary("wasi-libc", LIBC_PACKAGE_VERSION, "all", b"wasi-libc deb", directory="w/wasi-libc", index="amd64")
    pool.binary("wasi-libc", "0.0~git20230101.0000000-1", "all", b"older", directory="w/wasi-libc")
    pool.source("wasi-libc", "0.0~git20220101.0000000-1", {"wasi-libc_0.0~git20220101.0000000.orig.tar.xz": b"old"})
    pool.source("wasi-libc", LIBC_VERSION, {
        f"wasi-libc_{LIBC_VERSION}.dsc": b"dsc",
        "wasi-libc_0.0~git20220510.9886d3d.orig.tar.xz": b"the wasi-libc source" * 50,
        f"wasi-libc_{LIBC_VERSION}.debian.tar.xz": b"debian dir"})
    return pool


def indexes(pool: FakePool) -> dict[str, bytes]:
    """dists/<suite>/… paths -> the .xz bytes of each index."""
    out = {f"main/binary-{arch}/Packages.xz": lzma.compress("\n".join(stanzas).encode())
           for arch, stanzas in pool.packages.items()}
    out["main/source/Sources.xz"] = lzma.compress("\n".join(pool.sources).encode())
    return out


def release_text(files: dict[str, bytes], *, extra: str = "", codename: str = SUITE) -> str:
    checksums = "".join(f" {sha256(data)} {len(data):>8} {path}\n" for path, data in sorted(files.items()))
    suite = "oldstable" if codename == SUITE else "stable"
    return (f"Origin: Debian\nLabel: Debian\nSuite: {suite}\nCodename: {codename}\nDate: Sat, 11 Jul 2026 10:16:37 UTC\n"
            f"{extra}Architectures: all amd64\nComponents: main\nSHA256:\n{checksums}")


@dataclass
class Signer:
    home: Path
    keyring: Path

    def clearsign(self, text: str) -> bytes:
        return subprocess.run(["gpg", "--homedir", str(self.home), "--batch", "--yes", "--clearsign"],
                              input=text.encode(), capture_output=True, check=True).stdout


def make_signer(home: Path) -> Signer:
    home.mkdir(mode=0o700)
    subprocess.run(["gpg", "--homedir", str(home), "--batch", "--passphrase", "", "--quick-gen-key",
                    f"scons-wasi test key {home.name} <test@invalid>", "ed25519", "sign", "never"],
                   capture_output=True, check=True)
    keyring = home.parent / f"{home.name}.gpg"
    keyring.write_bytes(subprocess.run(["gpg", "--homedir", str(home), "--export"], capture_output=True,
                                       check=True).stdout)
    return Signer(home, keyring)


Signers = tuple[Signer, Signer]  # the archive's key, and a stranger's


@pytest.fixture(scope="module")
def signers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signers]:
    if not HAVE_GPG:
        pytest.skip("gpg and gpgv are needed to make and check a test signature")
    base = tmp_path_factory.mktemp("gpg")
    made = [make_signer(base / "archive"), make_signer(base / "stranger")]
    try:
        yield made[0], made[1]
    finally:
        for signer in made:  # the agents gpg started for these homes
            subprocess.run(["gpgconf", "--homedir", str(signer.home), "--kill", "all"], capture_output=True)


def unsigned(text: str) -> bytes:
    """The clearsigned format with a signature block that nothing can verify."""
    body = "".join(f"- {line}\n" if line.startswith("-") else f"{line}\n" for line in text.splitlines())
    return (f"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n{body}-----BEGIN PGP SIGNATURE-----\n\n"
            f"AAAA\n-----END PGP SIGNATURE-----\n").encode()


def serve(server: LoopbackServer, prefix: str, pool: FakePool, inrelease: bytes,
          index_files: dict[str, bytes], *, suite: str = SUITE) -> str:
    server.files[f"{prefix}/dists/{suite}/InRelease"] = inrelease
    for path, data in index_files.items():
        server.files[f"{prefix}/dists/{suite}/{path}"] = data
    return server.url(prefix)


# -- a package index made here -------------------------------------------------------------------------------------
def make_wheel(file_name: str) -> bytes:
    name, version, _, _, platform = file_name[:-len(".whl")].split("-")
    dist = f"{name}-{version}.dist-info"
    return make_zip([
        (f"{name}/zig", b"#!/bin/sh\n", 0o100755),
        (f"{dist}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()),
        (f"{dist}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\n"
                          f"Tag: py3-none-{platform}\n".encode()),
        (f"{dist}/RECORD", b""),
    ])


def make_index(root: Path, wheels: dict[str, bytes], *, listed_sha: dict[str, str] | None = None) -> str:
    """A PEP 503 index under root; each link carries #sha256= (of the file, unless listed_sha says otherwise)."""
    (root / "files").mkdir(parents=True)
    links = []
    for name, data in wheels.items():
        (root / "files" / name).write_bytes(data)
        links.append(f'<a href="../../files/{name}#sha256={(listed_sha or {}).get(name, sha256(data))}">{name}</a>')
    (root / "simple" / "ziglang").mkdir(parents=True)
    (root / "simple" / "ziglang" / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return (root / "simple").as_uri()


@pytest.fixture
def isolated_pip(monkeypatch: pytest.MonkeyPatch) -> None:
    """pip sees only the index the test passes: no config files, no find-links from this machine."""
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    for name in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_NO_INDEX"):
        monkeypatch.delenv(name, raising=False)


# -- the generator's input -----------------------------------------------------------------------------------------
def input_text(*, with_wheels: bool) -> str:
    providers = '["ziglang", "debian"]' if with_wheels else '["debian"]'
    default = "ziglang" if with_wheels else "debian"
    text = f"""
input-version = 1

[debian]
suite = "{SUITE}"

[llvm]
version = "19.1.7"

[llvm.providers.ziglang]
kind = "pypi-wheel"
requirement = "ziglang==0.14.1"

[llvm.providers.debian]
kind = "debian-packages"
version = "{LLVM_VERSION}"
packages = {LLVM_PACKAGES!r}
runtime = {[f"{p}={v}" for p, v in RUNTIME]!r}

[llvm.hosts.linux-x86_64]
providers = {providers}
default-provider = "{default}"
pip-platforms = ["manylinux2014_x86_64"]
debian-arch = "amd64"
"""
    if with_wheels:
        text += """
[llvm.hosts.macos-arm64]
providers = ["ziglang"]
default-provider = "ziglang"
pip-platforms = ["macosx_12_0_arm64"]
"""
    return text.replace("'", '"') + f"""
[components.builtins]
kind = "debian-packages"
version = "{LLVM_VERSION}"
arch = "all"
packages = ["libclang-rt-19-dev-wasm32"]
extra = {{ member = "{MEMBER}" }}

[components.wasi-libc]
kind = "debian-packages"
version = "{LIBC_PACKAGE_VERSION}"
arch = "all"
index-arch = "amd64"
packages = ["wasi-libc"]

[components.wasi-libc-source]
kind = "debian-orig"
package = "wasi-libc"
version = "{LIBC_VERSION}"

[components.libcxx]
kind = "debian-packages"
version = "{LLVM_VERSION}"
arch = "all"
packages = ["libc++-19-dev-wasm32", "libc++abi-19-dev-wasm32"]
extra = {{ headers = "usr/lib/llvm-19/include/wasm32-wasi/c++/v1", libraries = "usr/lib/llvm-19/lib/wasm32-wasi" }}
"""


@dataclass
class Run:
    code: int
    stderr: str
    lock: Path


def run_lockgen(tmp_path: Path, capsys: pytest.CaptureFixture[str], mirrors: str, *args: str,
                with_wheels: bool = False, index: str = "", text: str | None = None) -> Run:
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    (work / "toolchain.in.toml").write_text(text if text is not None else input_text(with_wheels=with_wheels))
    environ = {"WASI_CACHE_DIR": str(tmp_path / "cache"), "WASI_DEBIAN_MIRROR": mirrors}
    if index:
        environ["WASI_PYPI_INDEX"] = index
    capsys.readouterr()
    code = lockgen.main(["--input", str(work / "toolchain.in.toml"), *args], environ=environ)
    return Run(code, capsys.readouterr().err, work / "toolchain.lock")


def expected_debian_pins(pool: FakePool) -> dict[str, list[tuple[str, int, str, tuple[str, ...]]]]:
    def pin(path: str) -> tuple[str, int, str, tuple[str, ...]]:
        data = pool.files[path]
        return path.rsplit("/", 1)[1], len(data), sha256(data), (f"debian:{path}",)

    plain = LLVM_VERSION.split(":")[1]
    return {
        # LLVM's packages, then the runtime's, in the order the input lists them.
        "llvm": [pin(f"pool/main/l/llvm-toolchain-19/{p}_{plain}_amd64.deb") for p in LLVM_PACKAGES]
        + [pin(f"pool/main/x/{p}/{p}_{v}_amd64.deb") for p, v in RUNTIME],
        "builtins": [pin(f"pool/main/l/llvm-toolchain-19/libclang-rt-19-dev-wasm32_{plain}_all.deb")],
        "wasi-libc": [pin(f"pool/main/w/wasi-libc/wasi-libc_{LIBC_PACKAGE_VERSION}_all.deb")],
        "wasi-libc-source": [pin("pool/main/w/wasi-libc/wasi-libc_0.0~git20220510.9886d3d.orig.tar.xz")],
        "libcxx": [pin(f"pool/main/l/llvm-toolchain-19/{p}_{plain}_all.deb")
                   for p in ("libc++-19-dev-wasm32", "libc++abi-19-dev-wasm32")],
    }


def as_tuples(artifacts: Iterable[Artifact]) -> list[tuple[str, int, str, tuple[str, ...]]]:
    return [(a.name, a.size, a.sha256, a.locators) for a in artifacts]


# -- tests -----------------------------------------------------------------------------------------------------------
def test_the_signed_chain_gives_every_debian_pin(
        tmp_path: Path, server: LoopbackServer, signers: Signers, capsys: pytest.CaptureFixture[str]) -> None:
    archive, _ = signers
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, archive.clearsign(release_text(files)), files)
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    assert run.code == 0, run.stderr
    text = run.lock.read_text()
    lock = parse_lock(text.encode())
    expected = expected_debian_pins(pool)
    assert lock.host_pins("linux-x86_64").default_provider == "debian"
    assert as_tuples(lock.llvm_files("linux-x86_64", "debian")) == expected["llvm"]
    assert as_tuples([lock.builtins]) == expected["builtins"]
    assert (lock.builtins_version, lock.builtins_member) == (LLVM_VERSION, MEMBER)
    assert as_tuples([lock.wasi_libc]) == expected["wasi-libc"]
    assert as_tuples([lock.wasi_libc_source]) == expected["wasi-libc-source"]
    assert as_tuples(lock.libcxx.files) == expected["libcxx"]
    assert lock.wasi_libc_version == LIBC_PACKAGE_VERSION
    assert lock.wasi_libc_source_version == "0.0~git20220510.9886d3d"  # the upstream version, as the tarball is named
    assert text.startswith("# toolchain.lock:") and "# GENERATED by `python -m wasi_toolchain.lockgen`" in text
    assert server.url("") not in text and "127.0.0.1" not in text  # no base URL is ever written
    assert f"{base}/dists/{SUITE}/InRelease: verified with gpgv against {archive.keyring}" in run.stderr
    assert "scons-wasi test key archive <test@invalid>" in run.stderr
    # Only the indexes were read: pins come from them, the pool files themselves are not downloaded.
    assert not any("/pool/" in path for path in server.paths_requested())


def test_output_is_deterministic_and_check_agrees(
        tmp_path: Path, server: LoopbackServer, signers: Signers, capsys: pytest.CaptureFixture[str]) -> None:
    archive, _ = signers
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, archive.clearsign(release_text(files)), files)
    first = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    written = first.lock.read_bytes()
    again = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    assert (again.code, again.lock.read_bytes()) == (0, written)
    assert "is up to date; not rewritten" in again.stderr
    check = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring), "--check")
    assert check.code == 0 and f"lockgen: {check.lock} is up to date" in check.stderr


def test_check_fails_on_a_stale_lock_and_writes_nothing(tmp_path: Path, server: LoopbackServer,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, unsigned(release_text(files)), files)
    assert run_lockgen(tmp_path, capsys, base, "--no-verify").code == 0
    lock = tmp_path / "work" / "toolchain.lock"
    good = lock.read_text()
    stale = good.replace('[llvm]\nversion = "19.1.7"', '[llvm]\nversion = "19.1.6"')
    assert stale != good
    lock.write_text(stale)
    check = run_lockgen(tmp_path, capsys, base, "--no-verify", "--check")
    assert check.code == 1
    assert lock.read_text() == stale
    assert '\n-version = "19.1.6"\n+version = "19.1.7"\n' in check.stderr
    assert f"lockgen: {lock} is stale; run `python -m wasi_toolchain.lockgen` and commit the result" in check.stderr


def test_a_tampered_index_served_from_loopback_is_refused(
        tmp_path: Path, server: LoopbackServer, signers: Signers, capsys: pytest.CaptureFixture[str]) -> None:
    archive, _ = signers
    pool = make_pool()
    files = indexes(pool)
    signed = archive.clearsign(release_text(files))
    # The mirror's copy of Packages.xz points clang-19 at other bytes; its InRelease is the genuine signed one.
    evil = make_pool()
    evil.packages["amd64"][0] = evil.packages["amd64"][0].replace(sha256(evil.files[next(iter(evil.files))]),
                                                                  "e" * 64)
    tampered = indexes(evil)["main/binary-amd64/Packages.xz"]
    assert tampered != files["main/binary-amd64/Packages.xz"]
    base = serve(server, "/debian", pool, signed, {**files, "main/binary-amd64/Packages.xz": tampered})
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    assert run.code == 2
    good = files["main/binary-amd64/Packages.xz"]
    assert (f"{base}/dists/{SUITE}/main/binary-amd64/Packages.xz does not match its signed InRelease: expected "
            f"sha256 {sha256(good)} ({len(good)} bytes), got {sha256(tampered)} ({len(tampered)} bytes); refused"
            ) in run.stderr
    assert "no Debian base served a verified dists/bookworm/main/binary-amd64/Packages.xz" in run.stderr
    assert not run.lock.exists()


def test_a_tampered_index_is_refused_without_signature_checks_too(tmp_path: Path, server: LoopbackServer,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    tampered = lzma.compress(b"Package: clang-19\n")
    base = serve(server, "/debian", pool, unsigned(release_text(files)),
                 {**files, "main/source/Sources.xz": tampered})
    run = run_lockgen(tmp_path, capsys, base, "--no-verify")
    assert run.code == 2
    assert ("lockgen: WARNING: InRelease signatures will NOT be verified: signature verification was turned off "
            "(--no-verify); only the hash chain below InRelease is checked") in run.stderr
    assert f"main/source/Sources.xz does not match its signed InRelease: expected sha256 " \
           f"{sha256(files['main/source/Sources.xz'])}" in run.stderr
    assert not run.lock.exists()


def test_a_good_second_mirror_is_used_when_the_first_serves_a_tampered_copy(
        tmp_path: Path, server: LoopbackServer, capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    inrelease = unsigned(release_text(files))
    bad = serve(server, "/bad", pool, inrelease, {**files, "main/binary-all/Packages.xz": b"not it"})
    good = serve(server, "/good", pool, inrelease, files)
    run = run_lockgen(tmp_path, capsys, f"{server.url('/missing')} {bad} {good}", "--no-verify")
    assert run.code == 0, run.stderr
    assert as_tuples([parse_lock(run.lock.read_bytes()).builtins]) == expected_debian_pins(pool)["builtins"]
    assert f"/good/dists/{SUITE}/main/binary-all/Packages.xz: sha256 matches the signed InRelease" in run.stderr


def test_an_inrelease_changed_after_signing_is_refused(
        tmp_path: Path, server: LoopbackServer, signers: Signers, capsys: pytest.CaptureFixture[str]) -> None:
    archive, _ = signers
    pool = make_pool()
    files = indexes(pool)
    evil = {**files, "main/binary-amd64/Packages.xz": lzma.compress(b"Package: clang-19\n")}
    # The attacker rewrites the hash inside the signed text to match the tampered index.
    signed = archive.clearsign(release_text(files)).decode()
    good_line = f" {sha256(files['main/binary-amd64/Packages.xz'])}"
    forged = signed.replace(good_line, f" {sha256(evil['main/binary-amd64/Packages.xz'])}")
    forged = forged.replace(f"{len(files['main/binary-amd64/Packages.xz']):>8} main/binary-amd64",
                            f"{len(evil['main/binary-amd64/Packages.xz']):>8} main/binary-amd64")
    assert forged != signed
    base = serve(server, "/debian", pool, forged.encode(), evil)
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    assert run.code == 2
    assert f"the signature of {base}/dists/{SUITE}/InRelease does not verify against {archive.keyring}" in run.stderr
    assert "BAD signature" in run.stderr
    assert not run.lock.exists()


def test_an_inrelease_signed_by_a_key_outside_the_keyring_is_refused(
        tmp_path: Path, server: LoopbackServer, signers: Signers, capsys: pytest.CaptureFixture[str]) -> None:
    archive, stranger = signers
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, stranger.clearsign(release_text(files)), files)
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring))
    assert run.code == 2
    assert f"the signature of {base}/dists/{SUITE}/InRelease does not verify against {archive.keyring}" in run.stderr
    assert "No public key" in run.stderr


def test_a_component_may_name_another_suite(tmp_path: Path, server: LoopbackServer, signers: Signers,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The 2022 wasi-libc source is listed by bookworm's Sources only, while the rest comes from trixie."""
    archive, _ = signers
    pool = make_pool()
    files = indexes(pool)
    other_pool = FakePool()
    other_pool.source("wasi-libc", "0.0~git20210101.1111111-1",
                      {"wasi-libc_0.0~git20210101.1111111.orig.tar.xz": b"the older source"})
    other_files = {"main/source/Sources.xz": indexes(other_pool)["main/source/Sources.xz"]}
    base = serve(server, "/debian", pool, archive.clearsign(release_text(files)), files)
    serve(server, "/debian", other_pool, archive.clearsign(release_text(other_files, codename="trixie")),
          other_files, suite="trixie")
    text = input_text(with_wheels=False).replace(
        f'[components.wasi-libc-source]\nkind = "debian-orig"\npackage = "wasi-libc"\nversion = "{LIBC_VERSION}"',
        '[components.wasi-libc-source]\nkind = "debian-orig"\nsuite = "trixie"\npackage = "wasi-libc"\n'
        'version = "0.0~git20210101.1111111-1"')
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring), text=text)
    assert run.code == 0, run.stderr
    lock = parse_lock(run.lock.read_bytes())
    data = other_pool.files["pool/main/w/wasi-libc/wasi-libc_0.0~git20210101.1111111.orig.tar.xz"]
    assert as_tuples([lock.wasi_libc_source]) == [
        ("wasi-libc_0.0~git20210101.1111111.orig.tar.xz", len(data), sha256(data),
         ("debian:pool/main/w/wasi-libc/wasi-libc_0.0~git20210101.1111111.orig.tar.xz",))]
    assert f"{base}/dists/trixie/InRelease: verified with gpgv" in run.stderr
    assert "# Debian files: from the signed dists/<suite>/InRelease (bookworm, trixie)" in run.lock.read_text()


def test_a_missing_version_names_the_versions_that_are_there(tmp_path: Path, server: LoopbackServer,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, unsigned(release_text(files)), files)
    text = input_text(with_wheels=False).replace(f'version = "{LLVM_VERSION}"\npackages = [',
                                                 'version = "1:19.1.5-1"\npackages = [', 1)
    run = run_lockgen(tmp_path, capsys, base, "--no-verify", text=text)
    assert run.code == 2
    assert (f"clang-19 1:19.1.5-1 is not in {SUITE} main/binary-amd64/Packages.xz; it has {LLVM_VERSION} (amd64), "
            f"1:19.1.6-1~deb12u1 (amd64)\n  next step: fix the version or package name in toolchain.in.toml"
            ) in run.stderr


def test_a_component_the_lock_parser_does_not_know_is_not_written(tmp_path: Path, server: LoopbackServer,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, unsigned(release_text(files)), files)
    text = input_text(with_wheels=False) + f"""
[components.libfoo]
kind = "debian-packages"
version = "{LLVM_VERSION}"
arch = "all"
packages = ["libclang-rt-19-dev-wasm32"]
"""
    run = run_lockgen(tmp_path, capsys, base, "--no-verify", text=text)
    assert run.code == 2
    assert "the generated lock would not be readable by the tool: : unknown field 'libfoo'" in run.stderr
    assert not run.lock.exists()


def test_wheels_are_pinned_through_pip_per_host(tmp_path: Path, server: LoopbackServer, isolated_pip: None,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, unsigned(release_text(files)), files)
    wheels = {name: make_wheel(name) for name in (LINUX_WHEEL, MAC_WHEEL,
                                                  "ziglang-0.14.1-py3-none-win_amd64.whl")}
    index = make_index(tmp_path / "index", wheels)
    run = run_lockgen(tmp_path, capsys, base, "--no-verify", with_wheels=True, index=index)
    assert run.code == 0, run.stderr
    lock = parse_lock(run.lock.read_bytes())
    for host, name in (("linux-x86_64", LINUX_WHEEL), ("macos-arm64", MAC_WHEEL)):
        assert as_tuples(lock.llvm_files(host, "ziglang")) == [
            (name, len(wheels[name]), sha256(wheels[name]), ("pypi:ziglang==0.14.1",))]
    assert lock.host_pins("linux-x86_64").default_provider == "ziglang"
    # The measured wheels stay in the store, where a build looks for them.
    assert (tmp_path / "cache" / "downloads" / sha256(wheels[MAC_WHEEL]) / MAC_WHEEL).read_bytes() == wheels[MAC_WHEEL]
    assert index not in run.lock.read_text()
    again = run_lockgen(tmp_path, capsys, base, "--no-verify", "--check", with_wheels=True, index=index)
    assert again.code == 0, again.stderr
    assert f"lockgen: {MAC_WHEEL}: sha256 from the index via pip; size from the store copy" in again.stderr


def test_a_wheel_that_does_not_match_the_index_hash_is_refused(tmp_path: Path, server: LoopbackServer,
                                                               isolated_pip: None,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    pool = make_pool()
    files = indexes(pool)
    base = serve(server, "/debian", pool, unsigned(release_text(files)), files)
    wheels = {name: make_wheel(name) for name in (LINUX_WHEEL, MAC_WHEEL)}
    index = make_index(tmp_path / "index", wheels, listed_sha={MAC_WHEEL: "d" * 64})
    run = run_lockgen(tmp_path, capsys, base, "--no-verify", with_wheels=True, index=index)
    assert run.code == 2
    assert "lockgen: error: resolving ziglang==0.14.1 for macosx_12_0_arm64: pip exited with 1" in run.stderr
    assert "d" * 64 in run.stderr and sha256(wheels[MAC_WHEEL]) in run.stderr  # pip's own hash report
    assert not run.lock.exists()


# -- pieces --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("mutate, problem", [
    (lambda t: t.replace("input-version = 1", "input-version = 2"), "input-version: expected 1, got 2"),
    (lambda t: t.replace("[llvm.hosts.linux-x86_64]", "[llvm.hosts.linux-riscv64]"),
     "llvm.hosts.linux-riscv64: expected one of linux-x86_64, linux-aarch64, macos-x86_64, macos-arm64"),
    (lambda t: t.replace('providers = ["debian"]', 'providers = ["debian", "apt"]'),
     "llvm.hosts.linux-x86_64.providers[1]: no [llvm.providers.apt] table defines 'apt'"),
    (lambda t: t.replace('default-provider = "debian"', 'default-provider = "ziglang"'),
     "llvm.hosts.linux-x86_64.default-provider: expected one of debian, got 'ziglang'"),
    (lambda t: t.replace('debian-arch = "amd64"\n', ''),
     "llvm.hosts.linux-x86_64: missing field 'debian-arch' (needed by its debian-packages provider)"),
    (lambda t: t.replace('kind = "debian-orig"', 'kind = "git"'),
     "components.wasi-libc-source.kind: expected one of debian-packages, debian-orig, debian-host-packages, got 'git'"),
    (lambda t: t.replace('"libc6=2.41-12"', '"libc6 2.41-12"'),
     "llvm.providers.debian.runtime[0]: expected 'package=version', got 'libc6 2.41-12'"),
    (lambda t: t.replace('extra = { member', 'extra = { files'),
     "components.builtins.extra.files: is written by the generator itself"),
    (lambda t: t.replace('arch = "all"\n', 'arch = "all"\ncolour = "blue"\n'),
     "components.builtins: unknown field 'colour'"),
])
def test_input_problems_name_their_place(mutate, problem: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(LockInputError) as info:
        lockgen.parse_input(mutate(input_text(with_wheels=False)), "toolchain.in.toml")
    assert str(info.value).startswith(f"invalid generator input toolchain.in.toml: {problem}")


def test_the_repository_input_parses(repo: Path) -> None:
    spec = lockgen.parse_input((repo / "toolchain.in.toml").read_text(), "toolchain.in.toml")
    assert [h.name for h in spec.hosts] == ["linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64"]
    assert {h.name: h.default_provider for h in spec.hosts} == dict.fromkeys(
        ["linux-x86_64", "linux-aarch64", "macos-x86_64", "macos-arm64"], "ziglang")
    assert [c.name for c in spec.components] == ["builtins", "wasi-libc", "wasi-libc-source", "libcxx", "binaryen",
                                                   "wasm-tools"]
    debian = spec.providers["debian"]
    assert debian.runtime[0] == ("libc6", "2.41-12+deb13u5")  # the glibc the Debian tools are started on
    assert {c.name: c.suite for c in spec.components}["wasi-libc-source"] == "bookworm"


def test_an_expired_inrelease_is_refused() -> None:
    signed = release_text({"main/x": b""}, extra="Valid-Until: Sat, 01 Jan 2022 00:00:00 UTC\n").encode()
    with pytest.raises(UpstreamIndexError, match="expired at Sat, 01 Jan 2022 00:00:00 UTC"):
        parse_release(signed, "http://127.0.0.1:1", SUITE, "InRelease", (),
                      now=datetime(2023, 1, 1, tzinfo=timezone.utc))
    assert parse_release(signed, "http://127.0.0.1:1", SUITE, "InRelease", (),
                         now=datetime(2021, 1, 1, tzinfo=timezone.utc)).files == {"main/x": (sha256(b""), 0)}


def test_an_inrelease_for_another_suite_is_refused() -> None:
    with pytest.raises(UpstreamIndexError, match="is for bookworm / oldstable, not trixie"):
        parse_release(release_text({"main/x": b""}).encode(), "http://127.0.0.1:1", "trixie", "InRelease", ())


@pytest.mark.skipif(not HAVE_GPG, reason="needs gpg")
def test_the_unverified_reading_is_the_text_gpgv_verifies(signers: Signers, tmp_path: Path) -> None:
    archive, _ = signers
    text = "Codename: bookworm\n-dashed line\n- another\nSHA256:\n x\n"
    signed = archive.clearsign(text)
    out = tmp_path / "out"
    subprocess.run(["gpgv", "--keyring", str(archive.keyring), "--output", str(out), "-"], input=signed,
                   capture_output=True, check=True)
    assert cleartext_body(signed, "test") == out.read_bytes() == text.encode()
