"""What a warm start does and does not do: the lock's parsed data kept in the store under the sha256 of its bytes
(pins/lock_cache.py), and the modules a null build leaves unimported (distcc, WasiRun, symbolize, the component tools,
the source libc flavour, tomllib once the lock is cached), through real scons runs against the stand-in toolchain.
Timings are in bench/warm_overhead.py, not here."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from support.helpers import REPO, make_project, run_scons
from support.standin import fake_entry
from wasi_toolchain.errors import LockError
from wasi_toolchain.pins import lock_cache
from wasi_toolchain.pins.lock_cache import load_lock_cached
from wasi_toolchain.pins.toolchain_lock import load_lock
from wasi_toolchain.store.store import PARSED_LOCKS, Store

LOCK_TEXT = (REPO / "toolchain.lock").read_bytes()


def write_lock(tmp_path: Path, text: bytes = LOCK_TEXT) -> Path:
    lock = tmp_path / "project" / "toolchain.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    lock.write_bytes(text)
    return lock


def no_toml(*args: object) -> object:
    raise AssertionError("the TOML was parsed")


# -- the parsed lock in the store -----------------------------------------------------------------------------------
def test_the_parsed_lock_is_kept_under_the_digest_of_its_bytes_and_read_back_without_toml(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lock_path, cache = write_lock(tmp_path), tmp_path / "store" / PARSED_LOCKS
    cache.parent.mkdir()
    parsed = load_lock_cached(lock_path, cache)
    digest = hashlib.sha256(LOCK_TEXT).hexdigest()
    assert [p.name for p in cache.iterdir()] == [f"{digest}.json"]
    assert parsed == load_lock(lock_path) and parsed.digest == digest

    monkeypatch.setattr(lock_cache, "toml_data", no_toml)
    again = load_lock_cached(lock_path, cache)
    assert again == parsed
    # The same content elsewhere: the same data, with that lock's own path in it (for messages).
    other = write_lock(tmp_path / "elsewhere")
    assert load_lock_cached(other, cache).path == str(other)


def test_an_edited_lock_is_parsed_again(tmp_path: Path) -> None:
    lock_path, cache = write_lock(tmp_path), tmp_path / "store" / PARSED_LOCKS
    cache.parent.mkdir()
    before = load_lock_cached(lock_path, cache)
    edited = LOCK_TEXT.replace(before.llvm_version.encode(), b"22.1.99", 1)
    lock_path.write_bytes(edited)
    after = load_lock_cached(lock_path, cache)
    assert after.llvm_version == "22.1.99" and after.digest == hashlib.sha256(edited).hexdigest()
    assert len(list(cache.iterdir())) == 2


@pytest.mark.parametrize("cached", [b"{not json", b"[]", json.dumps({"lock-version": 2}).encode()],
                         ids=["not JSON", "not a table", "refused by the lock's checks"])
def test_a_cached_file_that_is_not_usable_means_parsing_the_toml(tmp_path: Path, cached: bytes) -> None:
    lock_path, cache = write_lock(tmp_path), tmp_path / "store" / PARSED_LOCKS
    cache.mkdir(parents=True)
    target = cache / f"{hashlib.sha256(LOCK_TEXT).hexdigest()}.json"
    target.write_bytes(cached)
    assert load_lock_cached(lock_path, cache) == load_lock(lock_path)
    assert json.loads(target.read_bytes())["lock-version"] == 2 and len(json.loads(target.read_bytes())) > 1


def test_a_bad_lock_is_reported_from_the_lock_and_not_cached(tmp_path: Path) -> None:
    lock_path, cache = write_lock(tmp_path, LOCK_TEXT.replace(b"lock-version = 2", b"lock-version = 9", 1)), \
        tmp_path / "store" / PARSED_LOCKS
    cache.parent.mkdir()
    with pytest.raises(LockError) as cached_error:
        load_lock_cached(lock_path, cache)
    with pytest.raises(LockError) as plain_error:
        load_lock(lock_path)
    assert str(cached_error.value) == str(plain_error.value) and "lock-version" in str(cached_error.value)
    assert not cache.exists()


def test_only_a_marked_store_keeps_parsed_locks(tmp_path: Path) -> None:
    users_dir = tmp_path / "not-a-store"
    users_dir.mkdir()
    assert Store(users_dir).parsed_locks_dir() is None
    store = Store(tmp_path / "store")
    store.claim()
    assert store.parsed_locks_dir() == tmp_path / "store" / PARSED_LOCKS


# -- a null build through scons -------------------------------------------------------------------------------------
# What a plain project's null build has no use for: each is imported by the feature that needs it.
NOT_NEEDED = ("tomllib", "wasi_toolchain.distributed.client", "wasi_toolchain.distributed.hosts",
              "wasi_toolchain.remote_cache.config", "wasi_toolchain.targets.run", "wasi_toolchain.targets.symbolize",
              "wasi_toolchain.targets.hints", "wasi_toolchain.toolchain.component_tools",
              "wasi_toolchain.toolchain.libc_source", "wasi_toolchain.store.fetch", "wasi.store_commands")
REPORT = f"""
import atexit, sys
atexit.register(lambda: print('IMPORTED', sorted(m for m in {NOT_NEEDED!r} if m in sys.modules)))
"""


def test_a_null_build_imports_none_of_what_it_does_not_use(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {
        "a.c": "int main(void) { return 0; }\n", "b.c": "int main(void) { return 1; }\n",
        "SConstruct": "DefaultEnvironment(tools=[])\nenv = Environment(tools=['wasi'])\n"
                      "env.WasiProgram('build/a', ['a.c'])\nenv.WasiProgram('build/b', ['b.c'])\n" + REPORT})
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    env = {"WASI_CACHE_DIR": str(cache)}
    first = run_scons(project, "-Q", env=env)
    assert first.returncode == 0, first.stderr
    # The first run parsed the TOML and kept it (and its links split the names off, with symbolize).
    assert "IMPORTED ['tomllib', " in first.stdout
    assert len(list((cache / PARSED_LOCKS).iterdir())) == 1
    null = run_scons(project, "-Q", env=env)
    assert null.returncode == 0, null.stderr
    assert "is up to date" in null.stdout
    assert "IMPORTED []" in null.stdout, null.stdout


def test_help_is_still_complete_with_a_cached_lock(tmp_path: Path) -> None:
    project = make_project(tmp_path / "p", {
        "a.c": "int main(void) { return 0; }\n",
        "SConstruct": "env = Environment(tools=['wasi'])\nenv.WasiRun('run-a', env.WasiProgram('build/a', ['a.c']))\n"})
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    env = {"WASI_CACHE_DIR": str(cache)}
    assert run_scons(project, "-Q", "-n", env=env).returncode == 0
    text = run_scons(project, "-Q", "--help", env=env).stdout
    assert "Targets of the wasi tool:" in text and "\n  run-a                    run build/a.wasm in wasmtime\n" in text
    assert "Targets of the wasi tool:" not in run_scons(project, "-Q", "-n", env=env).stdout


def test_reading_a_variable_without_substitution_gives_what_substitution_gives(tmp_path: Path) -> None:
    # commands.variable skips SCons's substitution for a string without $; each value must read the same both ways.
    values = ["wasm32-wasip1", "  wasm32-wasip1  ", "a  b\t\tc", "a\nb", "\t", "", ["wasm32-wasi", "x"],
              "$OTHER", "${OTHER}p1", "one $$ two"]
    project = make_project(tmp_path / "p", {"SConstruct": f"""\
import sys
env = Environment(tools=['wasi'], OTHER='wasm32-wasi')
variable = sys.modules['wasi.commands'].variable
for value in {values!r}:
    env['X'] = value
    print('SAME' if variable(env, 'X') == env.subst('$X') else 'DIFFERENT %r: %r %r' % (value, variable(env, 'X'),
                                                                                      env.subst('$X')))
print('SAME' if variable(env, 'UNSET') == env.subst('$UNSET') else 'DIFFERENT unset')
"""})
    cache = tmp_path / "cache"
    fake_entry(project, cache)
    result = run_scons(project, "-Q", "-n", env={"WASI_CACHE_DIR": str(cache)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("SAME") == len(values) + 1 and "DIFFERENT" not in result.stdout, result.stdout
