"""Fetching some pinned files in a thread of their own while the caller does other work.

A cold build spends most of its fetch waiting for pip to deliver the 101 MB LLVM wheel, and pip works in a process
of its own. So the LLVM files are fetched here, beside the small pins (builtins, wasi-libc, libc++), which the
build fetches and unpacks meanwhile. Each file is fetched exactly as ``fetch.fetch`` fetches it alone: under its own
store lock, into its ``.partial-`` path, verified by size and sha256 before it is moved in; so what kill -9 and
concurrent builds leave is what they leave today.

Either side's failure ends both. When the caller fails (or is interrupted), leaving the ``with`` block cancels the
lane and waits until its download has stopped (pip killed, the HTTP connection shut), and its partial file is
removed as a failed fetch's is. When the lane fails, ``check()`` and ``result()`` raise its error, unchanged (a
FetchError naming the file and every source tried).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType

from ..log import Log
from ..pins.toolchain_lock import Artifact
from ..settings import Settings
from .fetch import fetch
from .lane import FetchCancelled, Lane
from .store import Store


class BackgroundFetch:
    """``with BackgroundFetch(artifacts, …) as lane: …; paths = lane.result()``: the artifacts are fetched in order,
    one after the other, in a thread started on entering the block."""

    def __init__(self, artifacts: Sequence[Artifact], store: Store, settings: Settings, *, log: Log) -> None:
        self.artifacts = list(artifacts)
        self._store, self._settings, self._log = store, settings, log
        self._lane = Lane()
        self._paths: list[Path] = []
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="wasi-fetch-lane", daemon=True)
        self._started = 0.0
        self.seconds = 0.0  # how long the lane took, from start to its last file (or its failure)

    def __enter__(self) -> BackgroundFetch:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            for artifact in self.artifacts:
                self._paths.append(fetch(artifact, self._store, self._settings, log=self._log, lane=self._lane))
        except FetchCancelled:
            pass  # the caller stopped the lane; its own error is the one to report
        except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
            self._error = e
        finally:
            self.seconds = time.monotonic() - self._started

    def check(self) -> None:
        """Raise the lane's error now if it has already failed (so the caller stops early); else return."""
        if self._error is not None:
            raise self._error

    def result(self, *, while_waiting: Callable[[], None] | None = None) -> list[Path]:
        """Wait for every file; their store paths, in the order given. Raises the lane's error if it failed.
        ``while_waiting`` is called every fraction of a second meanwhile; what it raises ends the wait (the caller's
        other work failed), and leaving the ``with`` block then stops the lane."""
        while self._thread.is_alive():
            if while_waiting is not None:
                while_waiting()
            self._thread.join(0.05)
        self.check()
        if len(self._paths) != len(self.artifacts):  # cancelled before it finished: only stop() cancels
            raise FetchCancelled("the lane was stopped before its files were fetched")
        return list(self._paths)

    def stop(self) -> None:
        """Cancel what is still running and wait until it has stopped. Harmless after the lane finished."""
        self._lane.cancelled.set()
        if self._thread.is_alive():
            self._thread.join()
