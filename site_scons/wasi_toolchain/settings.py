"""Settings from the documented WASI_* environment variables, validated once.

Order of precedence (highest first): explicit arguments, SCons construction variables / tool keywords (applied by
the glue), these environment variables, defaults. Only WASI_LLVM_PROVIDER and WASI_LIBC change the sysroot key; the others say
where things come from or go (and how hard to try), never what they are: every file is verified by its pinned sha256
whichever way it arrives.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .host import KNOWN_HOSTS

APP_NAME = "scons-wasi"
# Upper bounds for the numeric settings. A value past them is a typo or an attack (inf, 1e999, 2**64), and taking it
# would fail far from its cause: an OverflowError inside a socket call, make printing its usage text, retries for
# ever. The bounds are generous for any real use.
MAX_JOBS = 1024
MAX_LOCK_TIMEOUT = 7 * 24 * 3600.0  # a week
MAX_FETCH_TIMEOUT = 24 * 3600.0  # a day (WASI_FETCH_TIMEOUT, WASI_FETCH_GRACE)
MAX_FETCH_RETRIES = 100
MAX_FETCH_MIN_RATE = 1e12  # bytes/s
_URL_SCHEMES = ("http://", "https://", "file://")


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    debian_mirrors: tuple[str, ...]  # empty: read apt's configured sources
    pypi_index: str | None  # None: pip's own configuration
    provider: str | None  # None: the lock's default for this host
    jobs: int
    lock_timeout: float  # seconds to wait for another process's store lock
    offline: bool = False  # WASI_OFFLINE: never open a socket or run pip; only the store, WASI_DISTDIR and file://
    distdir: Path | None = None  # WASI_DISTDIR: pre-downloaded files, matched by name, checked before the network
    fetch_timeout: float = 60.0  # WASI_FETCH_TIMEOUT: seconds a download may stall before it counts as failed
    # WASI_FETCH_HEADER_TIMEOUT: seconds from a request to the first byte of its answer, and to its last header line.
    # A server past it is left for the next source at once, and asked again (bounded by WASI_FETCH_TIMEOUT) only
    # when no other source delivers.
    fetch_header_timeout: float = 5.0
    fetch_retries: int = 3  # WASI_FETCH_RETRIES: retries per URL after a connection error, timeout, 5xx or 429
    # WASI_FETCH_MIN_RATE / WASI_FETCH_GRACE: after the first fetch_grace seconds of an HTTP attempt, the attempt is
    # abandoned (and the next URL tried) whenever it has averaged fewer than fetch_min_rate bytes/s since it began.
    # WASI_FETCH_TIMEOUT bounds only silence; this bounds a mirror that trickles. 0 turns the rate check off.
    fetch_min_rate: float = 10_000.0
    fetch_grace: float = 30.0
    libc: str | None = None  # WASI_LIBC: the libc flavour ('debian' or 'source'); None: 'debian'
    npm_registry: str | None = None  # WASI_NPM_REGISTRY: npm: locators' registry; None: `npm config get registry`
    cxx_exceptions: bool = False  # WASI_CXX_EXCEPTIONS: the default of the construction variable of that name
    # WASI_HOST: build with another host's pins (their entries have keys of their own); None: this machine's.
    # WASI_HOST_EMULATOR: the absolute path of what runs that host's binaries here (qemu-aarch64-static).
    host: str | None = None
    host_emulator: str | None = None

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            cache_dir=_cache_dir(env.get("WASI_CACHE_DIR", "")),
            debian_mirrors=_mirrors(env.get("WASI_DEBIAN_MIRROR", "")),
            pypi_index=_url_or_none("WASI_PYPI_INDEX", env.get("WASI_PYPI_INDEX", "")),
            provider=env.get("WASI_LLVM_PROVIDER", "").strip() or None,
            jobs=_positive_int("WASI_JOBS", env.get("WASI_JOBS", ""), default=os.cpu_count() or 1, maximum=MAX_JOBS),
            lock_timeout=_positive_float("WASI_LOCK_TIMEOUT", env.get("WASI_LOCK_TIMEOUT", ""), default=1800.0,
                                         maximum=MAX_LOCK_TIMEOUT),
            offline=_boolean("WASI_OFFLINE", env.get("WASI_OFFLINE", "")),
            distdir=_directory_or_none(env.get("WASI_DISTDIR", "")),
            fetch_timeout=_positive_float("WASI_FETCH_TIMEOUT", env.get("WASI_FETCH_TIMEOUT", ""), default=60.0,
                                          maximum=MAX_FETCH_TIMEOUT),
            fetch_header_timeout=_positive_float("WASI_FETCH_HEADER_TIMEOUT", env.get("WASI_FETCH_HEADER_TIMEOUT", ""),
                                                 default=5.0, maximum=MAX_FETCH_TIMEOUT),
            fetch_retries=_count("WASI_FETCH_RETRIES", env.get("WASI_FETCH_RETRIES", ""), default=3,
                                 maximum=MAX_FETCH_RETRIES),
            fetch_min_rate=_rate("WASI_FETCH_MIN_RATE", env.get("WASI_FETCH_MIN_RATE", ""), default=10_000.0),
            fetch_grace=_positive_float("WASI_FETCH_GRACE", env.get("WASI_FETCH_GRACE", ""), default=30.0,
                                        maximum=MAX_FETCH_TIMEOUT),
            libc=env.get("WASI_LIBC", "").strip() or None,
            npm_registry=_url_or_none("WASI_NPM_REGISTRY", env.get("WASI_NPM_REGISTRY", "")),
            cxx_exceptions=_boolean("WASI_CXX_EXCEPTIONS", env.get("WASI_CXX_EXCEPTIONS", "")),
            host=_host(env.get("WASI_HOST", "")),
            host_emulator=_emulator(env.get("WASI_HOST_EMULATOR", ""), env.get("PATH")),
        )


def _cache_dir(value: str) -> Path:
    if value.strip():
        return Path(value.strip()).expanduser().absolute()
    import platformdirs  # imported lazily: only needed when WASI_CACHE_DIR is unset

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def _mirrors(value: str) -> tuple[str, ...]:
    bases = tuple(value.split())
    for base in bases:
        if not base.startswith(_URL_SCHEMES):
            raise ConfigError(
                f"WASI_DEBIAN_MIRROR: expected http://, https:// or file:// base URLs separated by spaces, got {base!r}",
                hint="set WASI_DEBIAN_MIRROR to a Debian archive base, the directory that holds pool/",
            )
    return bases


def _url_or_none(name: str, value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    if not value.startswith(_URL_SCHEMES):
        raise ConfigError(f"{name}: expected an http://, https:// or file:// URL, got {value!r}",
                          hint=f"set {name} to your package index's simple API URL, or unset it")
    return value


def _positive_int(name: str, value: str, *, default: int, maximum: int) -> int:
    if not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= maximum:
        raise ConfigError(f"{name}: expected a whole number from 1 to {maximum}, got {value!r}",
                          hint=f"unset {name} or fix it")
    return number


def _float_or_nan(value: str) -> float:
    """The number ``value`` spells, or nan, which every range check refuses (as it does inf and 1e999)."""
    try:
        return float(value)
    except ValueError:
        return math.nan


def _positive_float(name: str, value: str, *, default: float, maximum: float) -> float:
    if not value.strip():
        return default
    number = _float_or_nan(value)
    if not (math.isfinite(number) and 0 < number <= maximum):  # also refuses nan, inf and 1e999
        raise ConfigError(f"{name}: expected a number of seconds above 0 and at most {maximum:g}, got {value!r}",
                          hint=f"unset {name} or fix it")
    return number


def _rate(name: str, value: str, *, default: float) -> float:
    if not value.strip():
        return default
    number = _float_or_nan(value)
    if not (math.isfinite(number) and 0 <= number <= MAX_FETCH_MIN_RATE):
        raise ConfigError(f"{name}: expected bytes per second from 0 (no minimum) to {MAX_FETCH_MIN_RATE:g}, "
                          f"got {value!r}", hint=f"unset {name} or fix it")
    return number


TRUE_WORDS = ("1", "yes", "true", "on")
FALSE_WORDS = ("", "0", "no", "false", "off")


def boolean_word(value: str) -> bool | None:
    """True or False for the words a boolean setting accepts (an empty value is False), None for anything else."""
    word = value.strip().lower()
    return True if word in TRUE_WORDS else False if word in FALSE_WORDS else None


def _boolean(name: str, value: str) -> bool:
    result = boolean_word(value)
    if result is None:
        raise ConfigError(f"{name}: expected 1 or 0 (or yes/no, true/false, on/off), got {value!r}",
                          hint=f"set {name}=1 to turn it on, or unset it")
    return result


def _directory_or_none(value: str) -> Path | None:
    """Not checked for existence here: the warm path must not fail because a directory it will not read is gone.
    store/fetch.py reports a missing WASI_DISTDIR as one of the places it looked."""
    value = value.strip()
    return Path(value).expanduser().absolute() if value else None


def _host(value: str) -> str | None:
    value = value.strip()
    if value and value not in KNOWN_HOSTS:
        raise ConfigError(f"WASI_HOST: expected one of {', '.join(KNOWN_HOSTS)}, got {value!r}",
                          hint="unset WASI_HOST to build with this machine's pins")
    return value or None


def _emulator(value: str, path: str | None) -> str | None:
    """The emulator's absolute path, looked up on PATH once, here: the wrappers that start it have no PATH."""
    import shutil

    value = value.strip()
    if not value:
        return None
    found = shutil.which(value, path=path)
    if found is None:
        raise ConfigError(f"WASI_HOST_EMULATOR: {value!r} is not an executable file (looked on PATH too)",
                          hint="install it (Debian: apt-get install qemu-user-static), give its absolute path, "
                               "or unset WASI_HOST_EMULATOR")
    return os.path.abspath(found)


def _count(name: str, value: str, *, default: int, maximum: int) -> int:
    if not value.strip():
        return default
    try:
        number = int(value)
    except ValueError:
        number = -1
    if not 0 <= number <= maximum:
        raise ConfigError(f"{name}: expected a whole number from 0 to {maximum}, got {value!r}",
                          hint=f"unset {name} or fix it")
    return number
