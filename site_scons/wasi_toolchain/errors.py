"""The errors a user of the tool can hit.

Every message says what failed, expected versus got where that applies, and the next step. The SCons glue turns
any :class:`WasiError` into ``scons: *** …`` without a traceback; anything else escaping is a bug in this package.
"""

from __future__ import annotations

from collections.abc import Sequence


class WasiError(Exception):
    """Base class: a failure the user can act on."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  next step: {self.hint}"
        return self.message


class ConfigError(WasiError):
    """A WASI_* environment variable or construction variable has a value we cannot use."""


class LockError(WasiError):
    """toolchain.lock is missing, malformed, or names something we do not support."""

    def __init__(self, lock_path: str, where: str, problem: str) -> None:
        self.lock_path = lock_path
        self.where = where
        self.problem = problem
        location = f"{lock_path}: {where}" if where else lock_path
        super().__init__(
            f"invalid lock file {location}: {problem}",
            hint="regenerate toolchain.lock or restore it from version control",
        )


class HostNotSupported(WasiError):
    """This machine's OS/CPU has no pins, or cannot build the sysroot at all."""


class LocatorError(WasiError):
    """A locator cannot be turned into URLs (unknown scheme, no configured mirror)."""


class FetchError(WasiError):
    """Every source for an artifact failed. ``attempts`` holds (source, reason) pairs, in order."""

    def __init__(self, artifact_name: str, sha256: str, attempts: Sequence[tuple[str, str]],
                 *, hint: str | None = None) -> None:
        self.artifact_name = artifact_name
        self.sha256 = sha256
        self.attempts = list(attempts)
        lines = [f"could not fetch {artifact_name} (sha256 {sha256}):"]
        lines += [f"  - {source}: {reason}" for source, reason in self.attempts] or ["  - no sources to try"]
        super().__init__("\n".join(lines), hint=hint)


class OfflineError(FetchError):
    """WASI_OFFLINE=1 and an artifact is neither in the store nor in WASI_DISTDIR (nor at a file:// locator)."""


class ArchiveError(WasiError):
    """An archive is corrupt, truncated, or has a member we refuse to unpack."""


class ToolchainError(WasiError):
    """The unpacked LLVM or the builtins do not have the layout the recipe needs."""


class BuildError(WasiError):
    """A subprocess of the toolchain build (make, clang, pip) failed."""

    def __init__(self, what: str, command: Sequence[str], returncode: int, output_tail: str,
                 *, log_path: str | None = None, hint: str | None = None) -> None:
        self.command = list(command)
        self.returncode = returncode
        self.output_tail = output_tail
        lines = [f"{what} failed with exit code {returncode}", f"  command: {' '.join(self.command)}"]
        if log_path:
            lines.append(f"  full log: {log_path}")
        if output_tail.strip():
            lines.append("  last lines of output:")
            lines += [f"    {line}" for line in output_tail.rstrip().splitlines()]
        super().__init__("\n".join(lines), hint=hint)


class StoreError(WasiError):
    """The store cannot be used or changed safely: not a scons-wasi store, or a path outside it."""


class DiskFullError(WasiError):
    """No space left on the device (or over quota) while writing a download, an unpacked archive or an entry. A local
    problem: nothing is retried and no other mirror is tried."""


class StoreLockTimeout(WasiError):
    """Another process held a store lock for longer than the timeout."""


class RunError(WasiError):
    """A module could not be loaded or trapped while running."""


class LockInputError(WasiError):
    """toolchain.in.toml, the lock generator's input, is missing or malformed."""


class UpstreamIndexError(WasiError):
    """The lock generator could not get a trustworthy answer from a package index: a signature or a hash in the
    chain does not verify, or the pinned version is not there."""


class DistributedError(WasiError):
    """Distributed compilation cannot go on: distcc is not installed, a worker option is missing or wrong, or no
    host took a compile that may not run here (WASI_DISTCC_STRICT=1)."""
