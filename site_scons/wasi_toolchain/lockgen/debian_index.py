"""Read a Debian archive through its signed chain, for the lock generator.

    dists/<suite>/InRelease            clearsigned by the archive; verified with gpgv against a keyring
      └ sha256 + size of main/binary-<arch>/Packages.xz and main/source/Sources.xz
          └ each package's pool path, size and sha256 (Packages), each source's files and sha256 (Sources)

Every index is checked against the sha256 and size its signed InRelease lists before a byte of it is parsed; a
mismatch refuses that copy. Parsing always reads the text gpgv says was signed, never the raw download, so text
added around the signature cannot change a pin. Verification can be skipped (no keyring, no gpgv, or asked for);
the hash chain below InRelease is checked regardless, and the caller says loudly that the signature was not.

Base URLs come from WASI_DEBIAN_MIRROR or apt's sources (see locators.py); none is written here.
"""

from __future__ import annotations

import email.utils
import hashlib
import lzma
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UpstreamIndexError
from ..log import Log
from ..net import SourceFailed, bounded_get

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
MAX_INRELEASE_BYTES = 16 << 20
MAX_INDEX_BYTES = 256 << 20  # the decompressed Packages/Sources of one architecture is ~50 MB today



@dataclass(frozen=True)
class Verification:
    """How InRelease signatures are checked: with gpgv against ``keyring``, or not at all (``skipped`` says why)."""

    keyring: Path | None
    skipped: str | None = None

    @classmethod
    def choose(cls, keyring: Path | None, *, verify: bool = True) -> Verification:
        """An explicit keyring must be usable; the default keyring is used when it and gpgv are installed."""
        if not verify:
            return cls(None, "signature verification was turned off (--no-verify)")
        gpgv = shutil.which("gpgv")
        if keyring is not None:
            if not keyring.is_file():
                raise UpstreamIndexError(f"the keyring {keyring} does not exist",
                                         hint="pass --keyring with an OpenPGP keyring file, or --no-verify")
            if gpgv is None:
                raise UpstreamIndexError("gpgv is not installed, so InRelease cannot be verified with "
                                         f"{keyring}", hint="install gpgv (Debian/Ubuntu: apt-get install gpgv)")
            return cls(keyring.absolute())
        if not DEFAULT_KEYRING.is_file():
            return cls(None, f"there is no Debian archive keyring at {DEFAULT_KEYRING} (install "
                             f"debian-archive-keyring or pass --keyring)")
        if gpgv is None:
            return cls(None, "gpgv is not installed (install gpgv)")
        return cls(DEFAULT_KEYRING)

    def describe(self) -> str:
        if self.keyring is not None:
            return f"verified with gpgv against {self.keyring}"
        return f"NOT VERIFIED: {self.skipped}"


@dataclass(frozen=True)
class Release:
    """The signed part of one InRelease."""

    base: str
    suite: str
    fields: dict[str, str]
    files: dict[str, tuple[str, int]]  # path under dists/<suite>/ -> (sha256, size)
    signed_by: tuple[str, ...]  # signer user ids reported by gpgv; empty when not verified


@dataclass(frozen=True)
class PoolFile:
    path: str  # relative to the archive base, e.g. pool/main/l/llvm-toolchain-19/clang-19_…_amd64.deb
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


# -- InRelease ----------------------------------------------------------------------------------------------------
def cleartext_body(data: bytes, where: str) -> bytes:
    """The signed text of a clearsigned message (RFC 4880 §7), dash-escaping undone, as gpgv --output writes it.
    Used only when the signature is not verified."""
    lines = data.replace(b"\r\n", b"\n").split(b"\n")
    if not lines or lines[0] != b"-----BEGIN PGP SIGNED MESSAGE-----":
        raise UpstreamIndexError(f"{where} is not a clearsigned InRelease (no BEGIN PGP SIGNED MESSAGE line)")
    try:
        start = lines.index(b"", 1) + 1  # armor headers ("Hash: SHA256") end at the first empty line
        end = lines.index(b"-----BEGIN PGP SIGNATURE-----", start)
    except ValueError:
        raise UpstreamIndexError(f"{where} is not a complete clearsigned message") from None
    body = [line[2:] if line.startswith(b"- ") else line for line in lines[start:end]]
    return b"\n".join(body) + b"\n"


def verify_clearsigned(data: bytes, keyring: Path, where: str) -> tuple[bytes, tuple[str, ...]]:
    """Check ``data`` with gpgv; return (the signed text, signer user ids). Raises UpstreamIndexError."""
    with tempfile.TemporaryDirectory(prefix="wasi-inrelease-") as temp:
        signed, out = Path(temp) / "InRelease", Path(temp) / "signed"
        signed.write_bytes(data)
        result = subprocess.run(["gpgv", "--keyring", str(keyring), "--status-fd", "1", "--output", str(out),
                                 str(signed)], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        status = [line.split(" ", 2)[1:] for line in result.stdout.splitlines() if line.startswith("[GNUPG:] ")]
        good = [rest[0].split(" ", 1)[1] if " " in rest[0] else rest[0] for kind, *rest in status
                if kind == "GOODSIG" and rest]
        valid = [kind for kind, *_ in status if kind == "VALIDSIG"]
        bad = [kind for kind, *_ in status if kind in ("BADSIG", "EXPKEYSIG", "REVKEYSIG", "EXPSIG")]
        # Like apt: one good signature by a key in the keyring is enough; signatures by keys that are not in it
        # (ERRSIG/NO_PUBKEY, e.g. the next release's key in an older keyring) are ignored; a bad one is fatal.
        if bad or not valid or not out.is_file():
            detail = (result.stderr.strip() or result.stdout.strip())[-800:]
            raise UpstreamIndexError(
                f"the signature of {where} does not verify against {keyring} (gpgv exit code "
                f"{result.returncode}):\n    " + detail.replace("\n", "\n    "),
                hint="the mirror may be serving tampered or stale files; try another WASI_DEBIAN_MIRROR, or pass "
                     "--keyring with the archive's current keys",
            )
        return out.read_bytes(), tuple(good)


def parse_stanza(text: str) -> dict[str, str]:
    """One deb822 paragraph: ``Field: value`` with continuation lines (kept, newline-separated)."""
    fields: dict[str, str] = {}
    last: str | None = None
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += "\n" + line.strip()
            continue
        key, sep, value = line.partition(":")
        if sep:
            last = key.strip()
            fields[last] = value.strip()
    return fields


def iter_stanzas(text: str) -> Iterator[str]:
    for chunk in re.split(r"\n[ \t]*\n", text):
        if chunk.strip():
            yield chunk


def parse_release(signed: bytes, base: str, suite: str, where: str, signed_by: tuple[str, ...],
                  *, now: datetime | None = None) -> Release:
    fields = parse_stanza(signed.decode("utf-8", "replace"))
    names = {fields.get("Codename"), fields.get("Suite")}
    if suite not in names:
        raise UpstreamIndexError(
            f"{where} is for {' / '.join(sorted(n for n in names if n)) or 'no named suite'}, not {suite}",
            hint="the mirror's dists/ layout is unexpected; check WASI_DEBIAN_MIRROR")
    valid_until = fields.get("Valid-Until")
    if valid_until:
        try:
            expiry = email.utils.parsedate_to_datetime(valid_until)
        except (TypeError, ValueError):
            raise UpstreamIndexError(f"{where} has an unreadable Valid-Until: {valid_until!r}") from None
        if expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=timezone.utc)
        if expiry < (now or datetime.now(timezone.utc)):
            raise UpstreamIndexError(f"{where} expired at {valid_until}; a stale or replayed InRelease is refused",
                                     hint="use an up-to-date mirror")
    files: dict[str, tuple[str, int]] = {}
    for line in fields.get("SHA256", "").split("\n"):
        parts = line.split()
        if len(parts) == 3 and re.fullmatch(r"[0-9a-f]{64}", parts[0]) and parts[1].isdigit():
            files[parts[2]] = (parts[0], int(parts[1]))
    if not files:
        raise UpstreamIndexError(f"{where} lists no SHA256 checksums")
    return Release(base=base, suite=suite, fields=fields, files=files, signed_by=signed_by)


# -- the archive ----------------------------------------------------------------------------------------------------
@dataclass
class DebianArchive:
    """A Debian archive reached through one or more bases, tried in order; indexes are read once per run."""

    bases: tuple[str, ...]
    verification: Verification
    log: Log
    _releases: dict[tuple[str, str], Release | str] = field(default_factory=dict)
    _indexes: dict[tuple[str, str], str] = field(default_factory=dict)

    def release(self, base: str, suite: str) -> Release:
        """The verified InRelease of ``suite`` at ``base`` (cached, failures too). Raises UpstreamIndexError."""
        cached = self._releases.get((base, suite))
        if isinstance(cached, Release):
            return cached
        if isinstance(cached, str):
            raise UpstreamIndexError(cached)
        url = f"{base.rstrip('/')}/dists/{suite}/InRelease"
        try:
            try:
                data = bounded_get(url, MAX_INRELEASE_BYTES)
            except SourceFailed as e:
                raise UpstreamIndexError(f"{url}: {e}") from None
            if self.verification.keyring is not None:
                signed, signers = verify_clearsigned(data, self.verification.keyring, url)
            else:
                signed, signers = cleartext_body(data, url), ()
            release = parse_release(signed, base, suite, url, signers)
        except UpstreamIndexError as e:
            self._releases[(base, suite)] = str(e)
            raise
        self._releases[(base, suite)] = release
        self.log(f"lockgen: {url}: {self.verification.describe()}"
                 + (f" (signed by {'; '.join(signers)})" if signers else ""))
        return release

    def index(self, suite: str, path: str) -> str:
        """Decompressed text of ``dists/<suite>/<path>`` (an .xz index) from the first base that serves a copy
        matching its signed InRelease. Raises UpstreamIndexError listing every base's failure."""
        failures: list[str] = []
        for base in self.bases:
            cached = self._indexes.get((base, f"{suite}/{path}"))
            if cached is not None:
                return cached
            try:
                text = self._index_at(base, suite, path)
            except UpstreamIndexError as e:
                failures.append(f"  - {base}: {e.message}")
                continue
            self._indexes[(base, f"{suite}/{path}")] = text
            return text
        raise UpstreamIndexError(
            f"no Debian base served a verified dists/{suite}/{path}:\n" + "\n".join(failures or ["  - no bases"]),
            hint="check WASI_DEBIAN_MIRROR (or apt's sources) and the network, then run the generator again")

    def _index_at(self, base: str, suite: str, path: str) -> str:
        release = self.release(base, suite)
        try:
            expected_sha, expected_size = release.files[path]
        except KeyError:
            raise UpstreamIndexError(f"its InRelease for {suite} lists no {path}") from None
        url = f"{base.rstrip('/')}/dists/{suite}/{path}"
        try:
            data = bounded_get(url, expected_size)
        except SourceFailed as e:
            if "sent more than" in str(e):
                raise UpstreamIndexError(f"{url} is larger than the {expected_size} bytes its signed InRelease "
                                         f"lists; refused") from None
            raise UpstreamIndexError(f"{url}: {e}") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != expected_sha or len(data) != expected_size:
            raise UpstreamIndexError(
                f"{url} does not match its signed InRelease: expected sha256 {expected_sha} ({expected_size} "
                f"bytes), got {actual} ({len(data)} bytes); refused")
        try:
            raw = lzma.decompress(data) if path.endswith(".xz") else data
        except lzma.LZMAError as e:
            raise UpstreamIndexError(f"{url} matches its InRelease but does not decompress: {e}") from None
        if len(raw) > MAX_INDEX_BYTES:
            raise UpstreamIndexError(f"{url} decompresses to more than {MAX_INDEX_BYTES} bytes; refused")
        self.log(f"lockgen: {url}: sha256 matches the signed InRelease")
        return raw.decode("utf-8", "replace")

    # -- lookups ------------------------------------------------------------------------------------------------
    def _stanza(self, suite: str, path: str, package: str, version: str, kind: str,
                matches: Callable[[dict[str, str]], bool], describe: Callable[[dict[str, str]], str]
                ) -> dict[str, str]:
        """The fields of ``package`` ``version`` in the index ``path``; the error lists the versions it has."""
        seen: list[str] = []
        for chunk in iter_stanzas(self.index(suite, path)):
            if not chunk.startswith(f"Package: {package}\n"):
                continue
            fields = parse_stanza(chunk)
            seen.append(describe(fields))
            if fields.get("Version") == version and matches(fields):
                return fields
        raise UpstreamIndexError(
            f"{kind}{package} {version} is not in {suite} {path}; "
            + (f"it has {', '.join(seen)}" if seen else "no version of it is there"),
            hint="fix the version or package name in toolchain.in.toml")

    def binary_package(self, suite: str, component: str, arch: str, package: str, version: str) -> PoolFile:
        path = f"{component}/binary-{arch}/Packages.xz"
        fields = self._stanza(suite, path, package, version, "",
                              lambda f: f.get("Architecture") in (arch, "all"),
                              lambda f: f"{f.get('Version')} ({f.get('Architecture')})")
        return _pool_file(fields.get("Filename", ""), fields.get("Size", ""), fields.get("SHA256", ""),
                          f"{package} {version} in {suite} {path}")

    def source_files(self, suite: str, component: str, package: str, version: str) -> list[PoolFile]:
        path = f"{component}/source/Sources.xz"
        fields = self._stanza(suite, path, package, version, "source ", lambda f: True,
                              lambda f: f.get("Version", "?"))
        directory = fields.get("Directory", "")
        files = []
        for line in fields.get("Checksums-Sha256", "").split("\n"):
            parts = line.split()
            if len(parts) == 3:
                files.append(_pool_file(f"{directory}/{parts[2]}", parts[1], parts[0],
                                        f"{package} {version} in {suite} {path}"))
        if not files:
            raise UpstreamIndexError(f"{package} {version} in {suite} {path} lists no Checksums-Sha256")
        return files


def _pool_file(path: str, size: str, sha256: str, where: str) -> PoolFile:
    if not path.startswith("pool/") or ".." in path.split("/") or not size.isdigit() \
            or not re.fullmatch(r"[0-9a-f]{64}", sha256):
        raise UpstreamIndexError(f"{where} has an unusable entry: path {path!r}, size {size!r}, sha256 {sha256!r}")
    return PoolFile(path=path, size=int(size), sha256=sha256)


def upstream_version(debian_version: str) -> str:
    """``1:2.3-4`` -> ``2.3``: the version an orig tarball is named with (no epoch, no Debian revision)."""
    version = debian_version.split(":", 1)[-1]
    return version.rsplit("-", 1)[0] if "-" in version else version
