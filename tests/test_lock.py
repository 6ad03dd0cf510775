from __future__ import annotations

from pathlib import Path

import pytest

from support.helpers import artifact_toml, lock_text
from wasi_toolchain.errors import HostNotSupported, LockError
from wasi_toolchain.pins.toolchain_lock import load_lock, parse_lock

GOOD_SHA = "ab" * 32


def good_lock(**overrides: str) -> str:
    art = artifact_toml("f.whl", b"x", ["pypi:ziglang==0.17.1"], sha=GOOD_SHA, size=1)
    parts = {"llvm": {"linux-x86_64": art}, "builtins": art.replace("f.whl", "b.deb"),
             "wasi_libc": art.replace("f.whl", "w.deb"), "wasi_libc_source": art.replace("f.whl", "w.tar.xz")}
    parts.update(overrides)
    return lock_text(**parts)


def error_of(text: str) -> LockError:
    with pytest.raises(LockError) as info:
        parse_lock(text.encode(), "toolchain.lock")
    return info.value


def test_repository_lock_pins_every_documented_host(repo: Path) -> None:
    lock = load_lock(repo / "toolchain.lock")
    assert sorted(lock.hosts) == ["linux-aarch64", "linux-x86_64", "macos-arm64", "macos-x86_64"]
    assert lock.llvm_version == "22.1.8"
    linux = lock.llvm_files("linux-x86_64", "ziglang")
    assert [a.name for a in linux] == [
        "ziglang-0.17.1-py3-none-manylinux_2_12_x86_64.manylinux2010_x86_64.musllinux_1_1_x86_64.whl"]
    assert [a.size for a in linux] == [101_083_562]  # the wheel pip downloaded on 2026-11-29
    assert lock.builtins.locators[0].startswith("debian:pool/main/l/llvm-toolchain-22/")
    assert lock.wasi_libc.name == "wasi-libc_0.0~git20241209.574b88d-2_all.deb"
    assert lock.wasi_libc_source.sha256 == "8f9b802736a856942839d32966937c389f46e9f156415a549a6675b7535e5f74"
    assert [a.name for a in lock.libcxx.files] == ["libc++-22-dev-wasm32_22.1.8-1~deb13u5_all.deb",
                                                   "libc++abi-22-dev-wasm32_22.1.8-1~deb13u5_all.deb"]
    assert all(a.locators[0].startswith("debian:pool/main/l/llvm-toolchain-22/") for a in lock.libcxx.files)
    assert lock.libcxx.version == lock.builtins_version
    # The debian provider: LLVM's packages, then the runtime they are started on (glibc first).
    debian = [a.name for a in lock.llvm_files("linux-x86_64", "debian")]
    assert debian[0] == "clang-22_22.1.8-1~deb13u5_amd64.deb"
    assert "libc6_2.41-12+deb13u5_amd64.deb" in debian


def test_good_lock_parses_into_frozen_data() -> None:
    lock = parse_lock(good_lock().encode())
    pins = lock.host_pins("linux-x86_64")
    assert pins.default_provider == "ziglang"
    assert pins.providers["ziglang"][0].where == "llvm.hosts.linux-x86_64.providers.ziglang.files[0]"
    with pytest.raises(AttributeError):
        lock.builtins.sha256 = "0" * 64  # type: ignore[misc]


def test_short_sha256_is_reported_with_its_dotted_path() -> None:
    text = good_lock().replace(GOOD_SHA, "abc123", 1)
    assert str(error_of(text)) == (
        "invalid lock file toolchain.lock: llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256: "
        "expected 64 lowercase hex characters, got 'abc123'\n"
        "  next step: regenerate toolchain.lock or restore it from version control")


@pytest.mark.parametrize("mutate, where, problem", [
    (lambda t: t.replace("lock-version = 2", "lock-version = 1"), "lock-version", "expected 2, got 1"),
    (lambda t: t.replace("size = 1,", "size = -1,", 1), "llvm.hosts.linux-x86_64.providers.ziglang.files[0].size",
     "expected a non-negative integer, got -1"),
    (lambda t: t.replace('"pypi:ziglang==0.17.1"', '"ftp:x"', 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].locators[0]", "got 'ftp:x'"),
    (lambda t: t.replace("linux-x86_64", "plan9-mips"), "llvm.hosts.plan9-mips", "unknown host 'plan9-mips'"),
    (lambda t: t.replace('member = ', 'colour = "blue"\nmember = '), "builtins", "unknown field 'builtins.colour'"),
    (lambda t: t.replace('version = "0.0~git20241209.574b88d-2"\n', ''), "wasi-libc",
     "missing field 'wasi-libc.version'"),
    (lambda t: t.split("[wasi-libc-source]")[0] + "[libcxx]" + t.split("[libcxx]")[1], "",
     "missing field 'wasi-libc-source'"),
    (lambda t: t.replace('default-provider = "ziglang"', 'default-provider = "debian"'),
     "llvm.hosts.linux-x86_64.default-provider", "expected one of the host's providers (ziglang), got 'debian'"),
    (lambda t: t.replace('name = "b.deb"', 'name = "../b.deb"'), "builtins.files[0].name",
     "expected a plain file name, got '../b.deb'"),
    (lambda t: t.split("[libcxx]")[0], "", "missing field 'libcxx'"),
    (lambda t: t.replace('headers = "usr/lib/llvm-22/include/wasm32-wasi/c++/v1"\n', ""), "libcxx",
     "missing field 'libcxx.headers'"),
    (lambda t: t.replace('libraries = "usr/lib/llvm-22/lib', 'libraries = "usr/lib/../lib'), "libcxx.libraries",
     "expected a relative directory inside the package"),
    (lambda t: t.replace('headers = "usr/', 'headers = "/usr/'), "libcxx.headers",
     "got '/usr/lib/llvm-22/include/wasm32-wasi/c++/v1'"),
    (lambda t: t.replace('[libcxx]\n', '[libcxx]\nexceptions = true\n'), "libcxx",
     "unknown field 'libcxx.exceptions'"),
    (lambda t: t.replace('locators = ["file:///nonexistent/libcxx.deb"]', 'locators = []'),
     "libcxx.files[0].locators",
     "expected a non-empty list of strings"),
])
def test_each_bad_field_names_its_place(mutate, where: str, problem: str) -> None:  # type: ignore[no-untyped-def]
    error = error_of(mutate(good_lock()))
    assert error.where == where
    assert problem in error.problem


def test_malformed_toml_is_a_lock_error_with_the_line() -> None:
    error = error_of("lock-version = 1\n[llvm\n")
    assert "not valid TOML" in str(error)
    assert "line 2" in str(error)


def test_unreadable_lock_says_so(tmp_path: Path) -> None:
    with pytest.raises(LockError, match="cannot read it"):
        load_lock(tmp_path / "missing.lock")


def test_unpinned_host_lists_the_supported_hosts() -> None:
    lock = parse_lock(good_lock().encode())
    with pytest.raises(HostNotSupported) as info:
        lock.host_pins("macos-arm64")
    assert "no LLVM 22.1.8 is pinned for this host (macos-arm64); pinned hosts: linux-x86_64" in str(info.value)


def test_unknown_provider_for_host_names_the_available_ones() -> None:
    lock = parse_lock(good_lock().encode())
    with pytest.raises(HostNotSupported, match="available: ziglang"):
        lock.llvm_files("linux-x86_64", "debian")


# -- every bad-input kind from the issue, each one clear LockError with a dotted path or line ---------------------
BAD_LOCKS = [
    ("malformed TOML", lambda t: t.replace("[builtins]", "[builtins"), "",
     "not valid TOML: Expected ']' at the end of a table declaration (at line"),
    ("unknown lock-version", lambda t: t.replace("lock-version = 2", "lock-version = 3"), "lock-version",
     "expected 2, got 3; this tool reads lock-version 2 only"),
    ("lock-version as a float", lambda t: t.replace("lock-version = 2", "lock-version = 2.0"), "lock-version",
     "expected 2, got 2.0"),
    ("missing field", lambda t: t.replace('version = "22.1.8"\n', ""), "llvm", "missing field 'llvm.version'"),
    ("unknown top-level field", lambda t: "comment = 'x'\n" + t, "", "unknown field 'comment'"),
    ("unknown artifact field", lambda t: t.replace('{ name = "b.deb"', '{ mirror = "x", name = "b.deb"'),
     "builtins.files[0]", "unknown field 'builtins.files[0].mirror'"),
    ("sha256 too short", lambda t: t.replace(GOOD_SHA, GOOD_SHA[:-1], 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256", "expected 64 lowercase hex characters"),
    ("sha256 upper case", lambda t: t.replace(GOOD_SHA, GOOD_SHA.upper(), 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256", "expected 64 lowercase hex characters"),
    ("sha256 not hex", lambda t: t.replace(GOOD_SHA, "g" * 64, 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].sha256", "expected 64 lowercase hex characters"),
    ("negative size", lambda t: t.replace("size = 1,", "size = -5,"),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].size", "expected a non-negative integer, got -5"),
    ("size as a string", lambda t: t.replace("size = 1,", 'size = "1",'),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].size", "expected a non-negative integer, got '1'"),
    ("unknown locator scheme", lambda t: t.replace('"pypi:ziglang==0.17.1"', '"s3://bucket/x"', 1),
     "llvm.hosts.linux-x86_64.providers.ziglang.files[0].locators[0]", "got 's3://bucket/x'"),
    ("unknown host", lambda t: t.replace("linux-x86_64", "haiku-x86_64"), "llvm.hosts.haiku-x86_64",
     "unknown host 'haiku-x86_64'; known hosts: linux-x86_64, linux-aarch64, macos-x86_64, macos-arm64"),
    ("not UTF-8", lambda t: t.replace("22.1.8", "22.1.8\udcff"), "", "not UTF-8 text"),
    ("nested too deeply", lambda t: t + "deep = " + "[" * 3000 + "]" * 3000 + "\n", "",
     "arrays or tables nested too deeply to read"),
    ("an integer too long to read", lambda t: t.replace("size = 1,", "size = " + "9" * 5000 + ","), "",
     "not valid TOML: Exceeds the limit"),
]


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


@pytest.mark.parametrize("case, mutate, where, problem", BAD_LOCKS, ids=[c[0] for c in BAD_LOCKS])
def test_each_kind_of_bad_lock_is_one_clear_lock_error(case: str, mutate, where: str,  # type: ignore[no-untyped-def]
                                                       problem: str) -> None:
    with pytest.raises(LockError) as info:
        parse_lock(_bytes(mutate(good_lock())), "toolchain.lock")
    assert info.value.where == where
    assert problem in info.value.problem
    assert str(info.value).startswith(f"invalid lock file toolchain.lock: {where + ': ' if where else ''}")
    assert str(info.value).endswith("next step: regenerate toolchain.lock or restore it from version control")


@pytest.mark.parametrize("case, mutate, where, problem", BAD_LOCKS[::3], ids=[c[0] for c in BAD_LOCKS[::3]])
def test_bad_locks_reach_the_user_through_scons_without_a_traceback(tmp_path: Path, case: str, mutate,  # type: ignore[no-untyped-def]
                                                                    where: str, problem: str) -> None:
    from support.helpers import run_scons

    (tmp_path / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    (tmp_path / "toolchain.lock").write_bytes(_bytes(mutate(good_lock())))
    result = run_scons(tmp_path, "-Q", env={"WASI_CACHE_DIR": str(tmp_path / "cache")})
    assert result.returncode == 2
    lock_path = tmp_path / "toolchain.lock"
    assert f"scons: *** invalid lock file {lock_path}: {where + ': ' if where else ''}" in result.stderr
    assert problem in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


# -- property: mutate valid locks at random; only LockError may ever escape ---------------------------------------
from datetime import date  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_REPO_LOCK = (Path(__file__).resolve().parent.parent / "toolchain.lock").read_text()
VALID_LOCKS = [good_lock(), _REPO_LOCK]


def _toml_string(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    import re

    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_string(key)


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value).replace("inf", "inf").replace("nan", "nan")
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def dump_toml(data: dict) -> str:  # type: ignore[type-arg]
    """Enough of a TOML writer for these tests: every table inline."""
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in data.items())


_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
_scalars = st.one_of(st.booleans(), st.integers(min_value=-(2**63), max_value=2**63 - 1), st.floats(), _text,
                     st.dates(), st.sampled_from(["ab" * 32, "", "..", "/etc/passwd", "pypi:x==1", "debian:pool/x",
                                                  "linux-x86_64", "ziglang", "debian", "1:22.1.8"]))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(_text, inner, max_size=3)), max_leaves=8)


def _paths(data: object, prefix: tuple = ()) -> list[tuple]:  # type: ignore[type-arg]
    found = [prefix]
    if isinstance(data, dict):
        for k, v in data.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            found += _paths(v, prefix + (i,))
    return found


def _assert_only_lock_errors(text: bytes) -> None:
    try:
        lock = parse_lock(text, "toolchain.lock")
    except LockError as e:
        assert str(e).startswith("invalid lock file toolchain.lock")
        return
    for artifact in lock.all_artifacts():  # what does parse must be sound
        assert len(artifact.sha256) == 64 and artifact.size >= 0 and artifact.locators


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_structural_mutations_only_ever_raise_lock_error(data: st.DataObject) -> None:
    import copy
    import tomllib

    tree = copy.deepcopy(tomllib.loads(data.draw(st.sampled_from(VALID_LOCKS))))
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        path = data.draw(st.sampled_from(_paths(tree)))
        if not path:
            continue
        parent = tree
        for step in path[:-1]:
            parent = parent[step]
        action = data.draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "replace":
            parent[path[-1]] = data.draw(_values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[data.draw(_text)] = data.draw(_values)
        else:
            parent.append(data.draw(_values))
    _assert_only_lock_errors(dump_toml(tree).encode("utf-8"))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_textual_mutations_only_ever_raise_lock_error(data: st.DataObject) -> None:
    text = bytearray(data.draw(st.sampled_from(VALID_LOCKS)).encode())
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        start = data.draw(st.integers(min_value=0, max_value=len(text)))
        end = data.draw(st.integers(min_value=start, max_value=min(len(text), start + 40)))
        insert = data.draw(st.one_of(st.binary(max_size=8),
                                     st.sampled_from([b"[", b"]", b"{", b"}", b"=", b'"', b",", b"\n", b"-1", b"1.0",
                                                      b"true", b"#", b"[[", b"x = 1\n", b"\xff", b"9" * 5000])))
        text[start:end] = insert
    _assert_only_lock_errors(bytes(text))


_NASTY_VALUES = [b"-1", b"1.0", b"1e400", b"nan", b"true", b'""', b"''", b"[]", b"{}", b"[1, 2]", b'{ a = 1 }',
                 b"1979-05-27", b"07:32:00", b'"' + b"a" * 65 + b'"', b'"ab"', b"9" * 5000, b"0x10", b"1_000",
                 b"[" * 3000 + b"]" * 3000, b"{ a = " * 1200 + b"1" + b" }" * 1200, b'"\\u0000"', b'"\xff"',
                 b"[[", b"= =", b""]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_replacing_values_only_ever_raises_lock_error(data: st.DataObject) -> None:
    """Aimed at the values themselves: every `= value` is a place where a wrong type or a parser limit can hide."""
    import re

    text = data.draw(st.sampled_from(VALID_LOCKS)).encode()
    spans = [m.span(1) for m in re.finditer(rb"= *([^,\n}]+)", text)]
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        start, end = data.draw(st.sampled_from(spans))
        replacement = data.draw(st.one_of(st.sampled_from(_NASTY_VALUES), st.binary(max_size=6)))
        text = text[:start] + replacement + text[end:]
        spans = [m.span(1) for m in re.finditer(rb"= *([^,\n}]+)", text)] or [(0, 0)]
    _assert_only_lock_errors(text)
