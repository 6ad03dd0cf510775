"""The phase breakdown a cold start prints on its last line (`wasi: toolchain … ready in 7.4 s (fetch 3.8 s, …)`)."""

from __future__ import annotations

import time

from wasi_toolchain.toolchain.entry import Timings


def test_the_summary_lists_phases_in_the_order_they_ran_and_adds_up_repeats() -> None:
    timings = Timings()
    for name, seconds in (("fetch", 0.06), ("unpack", 0.0), ("fetch", 0.06), ("manifest", 0.0)):
        with timings.phase(name):
            time.sleep(seconds)
    summary = timings.summary()
    names = [part.split(" ")[0] for part in summary.split(", ")]
    assert names == ["fetch", "unpack", "manifest"]
    fetch = float(summary.split(", ")[0].split(" ")[1])
    assert 0.1 <= fetch < 1.0 and summary.split(", ")[0].endswith(" s")
