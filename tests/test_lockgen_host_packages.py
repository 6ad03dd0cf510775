"""The lock generator's per-host component kind (`debian-host-packages`, used for binaryen's wasm-opt): pinned for
every llvm host with a debian-arch, from the signed chain served on loopback, and read back by pins/toolchain_lock.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import LoopbackServer
from test_lockgen import (RUNTIME, Signers, as_tuples, indexes, input_text, make_pool, release_text, run_lockgen,
                          serve, sha256, signers)  # noqa: F401  (signers is a fixture)
from wasi_toolchain.pins.toolchain_lock import parse_lock

COMPONENT = f"""
[components.binaryen]
kind = "debian-host-packages"
version = "120-4"
packages = ["binaryen"]
runtime = ["{RUNTIME[0][0]}={RUNTIME[0][1]}"]
"""


def test_a_per_host_component_is_pinned_for_each_debian_host(tmp_path: Path, server: LoopbackServer,
                                                              signers: Signers,  # noqa: F811
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    archive, _ = signers
    pool = make_pool()
    binaryen = pool.binary("binaryen", "120-4", "amd64", b"wasm-opt and libbinaryen", directory="b/binaryen")
    pool.binary("binaryen", "108-1", "amd64", b"an older binaryen", directory="b/binaryen")  # a decoy version
    files = indexes(pool)
    base = serve(server, "/debian", pool, archive.clearsign(release_text(files)), files)
    run = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring),
                      text=input_text(with_wheels=False) + COMPONENT)
    assert run.code == 0, run.stderr
    lock = parse_lock(run.lock.read_bytes())
    assert lock.binaryen_version == "120-4"
    package, version = RUNTIME[0]
    runtime = next(p for p in pool.files if p.startswith(f"pool/main/x/{package}/{package}_{version}_amd64"))
    assert as_tuples(lock.wasm_opt_files("linux-x86_64")) == [
        (path.rsplit("/", 1)[1], len(pool.files[path]), sha256(pool.files[path]), (f"debian:{path}",))
        for path in (binaryen, runtime)]
    assert list(lock.binaryen_hosts) == ["linux-x86_64"]  # the only llvm host with a debian-arch here
    check = run_lockgen(tmp_path, capsys, base, "--keyring", str(archive.keyring), "--check",
                        text=input_text(with_wheels=False) + COMPONENT)
    assert check.code == 0, check.stderr
