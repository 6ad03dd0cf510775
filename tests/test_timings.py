"""The phase breakdown a cold start prints on its last line (`wasi: toolchain … ready in 7.4 s (fetch 3.8 s, …)`)."""

from __future__ import annotations

import json
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


def test_work_done_alongside_is_summarised_apart_and_read_back_from_a_stamp_in_build_order() -> None:
    timings = Timings()
    for name in ("fetch", "unpack", "manifest"):
        with timings.phase(name):
            pass
    timings.alongside("LLVM fetch", 1.64)
    timings.alongside("libc and libc++", 1.25)
    summary = timings.summary()
    assert summary.endswith("; alongside: LLVM fetch 1.6 s, libc and libc++ 1.2 s")
    assert summary.startswith("fetch 0.0 s, unpack 0.0 s, manifest 0.0 s")
    fields = timings.stamp_fields(3.21)
    assert fields["timings-total"] == 3.21 and fields["timings-alongside"] == {"LLVM fetch": 1.64,
                                                                               "libc and libc++": 1.25}
    # The stamp is written with sorted keys; read back, the phases come in the order a build runs them.
    stamp = json.loads(json.dumps(fields, sort_keys=True))
    assert list(stamp["timings"]) == ["fetch", "manifest", "unpack"]
    assert Timings.from_stamp(stamp).summary() == summary


def test_a_stamp_from_before_the_alongside_record_still_reads() -> None:
    old = {"key": "k", "timings": {"manifest": 0.2, "fetch": 3.8, "unpack": 2.9, "libc++ install": 0.2}}
    assert Timings.from_stamp(old).summary() == "fetch 3.8 s, unpack 2.9 s, libc++ install 0.2 s, manifest 0.2 s"
    assert Timings.from_stamp({"key": "k"}).summary() == ""
