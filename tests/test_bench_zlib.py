"""The logic of bench/zlib_workload.py that decides whether zlib's example and minigzip gave their exact expected
output, and where the bench gets zlib's source from. Offline: fabricated outputs and a loopback mirror."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import zlib_workload  # noqa: E402
from support.helpers import LoopbackServer  # noqa: E402
from zlib_workload import Expected, Run, example_differences, problems  # noqa: E402

from wasi_toolchain.settings import Settings  # noqa: E402

NATIVE = """\
zlib version 1.3.1 = 0x1310, compile flags = 0xa9
uncompress(): hello, hello!
gzread(): hello, hello!
large_inflate(): OK
"""


def test_the_example_output_may_differ_only_in_the_compile_flags_word() -> None:
    assert example_differences(NATIVE, NATIVE.replace("0xa9", "0x95")) == []
    assert zlib_workload.flags_word(NATIVE) == "0xa9"


@pytest.mark.parametrize("wasm", [
    NATIVE.replace("gzread(): hello, hello!", "gzread(): hello, hello?"),  # another line changed
    NATIVE.replace("large_inflate(): OK\n", ""),  # a line missing
    NATIVE + "extra\n",  # a line more
    NATIVE.replace("zlib version 1.3.1 = 0x1310", "zlib version 1.2.13 = 0x12d0"),  # the flags line, not its word
    NATIVE.replace("\n", "\r\n"),  # line ends
])
def test_any_other_difference_in_the_example_output_is_reported(wasm: str) -> None:
    differences = example_differences(NATIVE, wasm)
    assert differences and differences[0] == "--- native\n"


def _expected(tmp_path: Path) -> Expected:
    text = tmp_path / "in.txt"
    text.write_bytes(zlib_workload.mixed_text(20_000))
    text_gz = tmp_path / "in.txt.gz"
    text_gz.write_bytes(gzip.compress(text.read_bytes()))
    return Expected(NATIVE, text, text_gz)


def _runs(tmp_path: Path, compressed: bytes, decompressed: bytes, *, code: int = 0, stderr: bytes = b"") -> dict:
    runs = {}
    for name, data in (("compress", compressed), ("decompress", decompressed)):
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        out.write_bytes(data)
        err.write_bytes(stderr if name == "compress" else b"")
        runs[name] = Run(code if name == "compress" else 0, out, err)
    return runs


def test_minigzip_round_trips_that_give_the_input_back_pass(tmp_path: Path) -> None:
    expected = _expected(tmp_path)
    text = expected.text.read_bytes()
    assert problems("minigzip", _runs(tmp_path, gzip.compress(text, compresslevel=1), text), expected) == []


@pytest.mark.parametrize("case", ["other bytes compressed", "not gzip", "truncated gzip", "decompressed wrong",
                                  "exit code", "stderr"])
def test_minigzip_output_that_is_not_the_input_is_reported(tmp_path: Path, case: str) -> None:
    expected = _expected(tmp_path)
    text = expected.text.read_bytes()
    good = gzip.compress(text)
    compressed, decompressed, code, stderr = good, text, 0, b""
    if case == "other bytes compressed":
        compressed = gzip.compress(text[:-1])
    elif case == "not gzip":
        compressed = text
    elif case == "truncated gzip":
        compressed = good[: len(good) // 2]
    elif case == "decompressed wrong":
        decompressed = text + b"\n"
    elif case == "exit code":
        code = 1
    else:
        stderr = b"minigzip: out of memory\n"
    found = problems("minigzip", _runs(tmp_path, compressed, decompressed, code=code, stderr=stderr), expected)
    assert len(found) == 1, found


def test_the_mixed_text_is_deterministic_and_as_long_as_asked() -> None:
    text = zlib_workload.mixed_text(300_000)
    assert len(text) == 300_000 and text == zlib_workload.mixed_text(300_000)
    assert b"," in text and b".\n" in text and text.isascii()


def _settings(tmp_path: Path, mirror: str) -> Settings:
    return Settings.from_environ({"WASI_CACHE_DIR": str(tmp_path / "store"), "WASI_DEBIAN_MIRROR": mirror})


def test_the_zlib_source_comes_from_the_configured_mirror_once_then_from_the_store(
        tmp_path: Path, server: LoopbackServer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The real pin's name and pool path, with bytes this test makes (the real tarball is not vendored).
    payload = b"a stand-in for zlib's orig tarball\n" * 100
    stand_in = dataclasses.replace(zlib_workload.ZLIB_TARBALL, sha256=hashlib.sha256(payload).hexdigest(),
                                   size=len(payload))
    monkeypatch.setattr(zlib_workload, "ZLIB_TARBALL", stand_in)
    pool_path = stand_in.locators[0].removeprefix("debian:")
    server.files[f"/debian/{pool_path}"] = payload
    settings = _settings(tmp_path, server.url("/debian"))

    first = zlib_workload.fetch_source(settings)
    assert first.read_bytes() == payload and first.name == "zlib_1.3.dfsg+really1.3.1.orig.tar.gz"
    assert [path for _, path, _ in server.requests] == [f"/debian/{pool_path}"]
    server.stop()
    assert zlib_workload.fetch_source(settings) == first  # from the store: the stopped server is never asked
    assert len(server.requests) == 1
    server.start()  # the fixture stops it


def test_an_unreachable_zlib_source_is_a_clear_error(tmp_path: Path, server: LoopbackServer) -> None:
    with pytest.raises(SystemExit) as raised:
        zlib_workload.fetch_source(_settings(tmp_path, server.url("/nothing-here")))
    message = str(raised.value)
    assert message.startswith("bench: cannot get zlib's source zlib_1.3.dfsg+really1.3.1.orig.tar.gz")
    assert "404" in message and "next step: set WASI_DEBIAN_MIRROR" in message
