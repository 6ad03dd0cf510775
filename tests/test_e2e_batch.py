"""Batched compiles with the real toolchain (WASI_BATCH_SIZE=16 here; the default, 1, compiles each file on its
own): the objects are the bytes of one-file compiles, an edit recompiles only what changed, a failing file is named
as without batches, compile_commands.json keeps one entry per file, and a CacheDir filled by one batch size serves
the other.

Uses the session's one real toolchain build (the `real` fixture in conftest.py) as the store.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from support.helpers import REPO, run_scons

pytestmark = pytest.mark.e2e

SOURCES = {
    "include/common.h": "int twice(int x);\n#define WHERE __FILE__\n",
    "src/a.c": '#include <assert.h>\n#include "common.h"\nconst char *a(int x) { assert(x > 0); return WHERE; }\n',
    "src/b.c": '#include "common.h"\nint twice(int x) { return 2 * x; }\n',
    "src/c.c": "#include <string.h>\nint c(const char *s) { return (int)strlen(s); }\n",
    "src/d.c": '#include "d.h"\nint d(void) { return D; }\n',
    "src/d.h": "#define D 4\n",
    "src/main.c": ('#include <stdio.h>\n#include "common.h"\nconst char *a(int); int c(const char *); int d(void);\n'
                   'int main(void) { printf("%s %d %d\\n", a(1), twice(c("abc")), d()); return 0; }\n'),
    "src/w.cpp": '#include <string>\nextern "C" int w(void) { return (int)std::string(__FILE__).size(); }\n',
}
# A logging SPAWN (a user's own): batches go to it as one command, so the log shows what ran.
SCONSTRUCT = """\
import os
DefaultEnvironment(tools=[])
env = Environment(tools=['wasi', 'compilation_db'], CPPPATH=['#include'])
env.CompilationDatabase()
if os.environ.get('SPAWN_LOG'):
    spawn = env['SPAWN']
    def logged(sh, escape, cmd, args, environ):
        with open(os.environ['SPAWN_LOG'], 'a') as log:
            log.write(' '.join(args) + '\\n')
        return spawn(sh, escape, cmd, args, environ)
    env['SPAWN'] = logged
sources = Glob('src/*.c') + ['src/w.cpp']
env.WasiProgram('build/app', sources)
debug = env.Clone(WASI_CCFLAGS=['-g'], WASI_OBJSUFFIX='.g.wasi.o', WASI_STRIP=False)
debug.WasiProgram('build/app-g', sources)
"""
C_SOURCES = sorted(name for name in SOURCES if name.endswith(".c"))


class Project:
    def __init__(self, root: Path, store: Path) -> None:
        self.root, self.store = root, store
        root.mkdir(parents=True)
        for name, text in SOURCES.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        (root / "SConstruct").write_text(SCONSTRUCT)
        shutil.copy(Path(__file__).resolve().parent.parent / "toolchain.lock", root / "toolchain.lock")
        self.log = root / "spawn.log"

    def scons(self, *args: str, size: str = "16", log: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"WASI_CACHE_DIR": str(self.store), "SPAWN_LOG": str(self.log) if log else "", "WASI_BATCH_SIZE": size}
        result = run_scons(self.root, "-Q", *args, env=env)
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    def compiles(self) -> list[list[str]]:
        """The sources of each compiler run logged so far (then the log starts again)."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        runs = [[w.strip('"') for w in line.split() if w.strip('"').endswith((".c", ".cpp"))] for line in lines
                if " -c " in line]
        return [[os.path.relpath(w, self.root) if w.startswith("/") else w for w in run] for run in runs]

    def objects(self) -> dict[str, bytes]:
        return {str(p.relative_to(self.root)): p.read_bytes() for p in sorted(self.root.rglob("*.o"))}

    def compiled(self, result: subprocess.CompletedProcess[str]) -> list[str]:
        return sorted(re.findall(r"^wasi: compiling (\S+)$", result.stdout, re.M))



@pytest.fixture
def store(real: tuple) -> Path:
    project, result, _ = real
    assert result.returncode == 0, result.stderr
    return project.cache


def test_a_batched_build_gives_the_objects_of_one_file_compiles(tmp_path: Path, store: Path) -> None:
    batched, single = Project(tmp_path / "batched", store), Project(tmp_path / "single", store)
    assert batched.scons().returncode == 0
    assert single.scons(size="1").returncode == 0
    runs = batched.compiles()
    # One clang run per (environment, language): the 5 C sources, then w.cpp alone; for each of the two variants.
    assert sorted(map(sorted, runs)) == sorted([C_SOURCES, ["src/w.cpp"]] * 2)
    assert all(len(run) == 1 for run in single.compiles())
    objects = batched.objects()
    assert len(objects) == 2 * len(SOURCES) - 4  # 6 objects per variant
    assert objects == single.objects()
    assert b"src/a.c" in objects["src/a.wasi.o"]  # __FILE__ as a one-file compile spells it
    assert (batched.root / "build/app.wasm").read_bytes() == (single.root / "build/app.wasm").read_bytes()


def test_an_edit_recompiles_only_the_edited_file(tmp_path: Path, store: Path) -> None:
    project = Project(tmp_path / "p", store)
    assert project.scons().returncode == 0
    project.compiles()
    with open(project.root / "src/b.c", "a") as f:
        f.write("int more(void) { return 1; }\n")
    result = project.scons("build/app.wasm")
    assert project.compiled(result) == ["src/b.c"]
    assert project.compiles() == [["src/b.c"]]
    # A header that one source includes: only that source.
    (project.root / "src/d.h").write_text("#define D 5\n")
    assert project.compiled(project.scons("build/app.wasm")) == ["src/d.c"]
    # Two edits in one batch: one run for both.
    for name in ("src/a.c", "src/c.c"):
        with open(project.root / name, "a") as f:
            f.write("int extra_" + name[4] + "(void) { return 2; }\n")
    project.compiles()
    assert project.compiled(project.scons("build/app.wasm")) == ["src/a.c", "src/c.c"]
    assert project.compiles() == [["src/a.c", "src/c.c"]]


def test_changing_the_batch_size_rebuilds_nothing(tmp_path: Path, store: Path) -> None:
    project = Project(tmp_path / "p", store)
    assert project.scons().returncode == 0
    for size in ("1", "2", "16"):
        result = project.scons(size=size)  # compile_commands.json is always rebuilt (AlwaysBuild), nothing else
        assert result.returncode == 0 and "wasi:" not in result.stdout, (size, result.stdout)


def test_a_cache_dir_filled_by_a_batched_build_serves_a_one_file_build(tmp_path: Path, store: Path) -> None:
    cache = tmp_path / "cachedir"
    assert Project(tmp_path / "first", store).scons(f"--cache-dir={cache}").returncode == 0
    other = Project(tmp_path / "second", store)
    result = other.scons(f"--cache-dir={cache}", size="1")
    assert result.returncode == 0
    assert project_compiles(result) == []
    assert other.compiles() == []
    assert len(re.findall(r"^Retrieved `[^']+\.o'", result.stdout, re.M)) == 12


def project_compiles(result: subprocess.CompletedProcess[str]) -> list[str]:
    return re.findall(r"^wasi: compiling (\S+)$", result.stdout, re.M)


def test_a_failing_file_in_a_batch_is_named_as_without_batches(tmp_path: Path, store: Path) -> None:
    outcomes = {}
    for size in ("16", "1"):
        project = Project(tmp_path / f"size{size}", store)
        (project.root / "src/bad.c").write_text("int bad(void) { return nope; }\n")
        result = project.scons("-k", "build/app.wasm", size=size, log=False)
        assert result.returncode != 0
        outcomes[size] = result
        assert str(project.root) not in result.stderr  # the source is named relative to the project, as make would
    for result in outcomes.values():
        assert re.search(r"^src/bad\.c:1:24: error: use of undeclared identifier 'nope'$", result.stderr, re.M)
    # The same `scons: *** [object] Error 1` line, naming the one object that failed.
    errors = {size: re.findall(r"^scons: \*\*\* .*$", r.stderr, re.M) for size, r in outcomes.items()}
    assert errors["16"] == errors["1"] == ["scons: *** [src/bad.wasi.o] Error 1"]


def test_a_failing_edit_is_named_when_it_compiles_alone(tmp_path: Path, store: Path) -> None:
    project = Project(tmp_path / "p", store)
    assert project.scons("build/app.wasm").returncode == 0
    (project.root / "src/c.c").write_text("int c(const char *s) { return nope; }\n")
    result = project.scons("build/app.wasm", log=False)
    assert result.returncode != 0
    assert re.search(r"^src/c\.c:1:31: error: use of undeclared identifier 'nope'$", result.stderr, re.M)
    assert re.findall(r"^scons: \*\*\* .*$", result.stderr, re.M) == ["scons: *** [src/c.wasi.o] Error 1"]


def test_compile_commands_keep_one_entry_per_file(tmp_path: Path, store: Path) -> None:
    entries = {}
    for size in ("16", "1"):
        project = Project(tmp_path / f"size{size}", store)
        assert project.scons("compile_commands.json", size=size).returncode == 0
        data = json.loads((project.root / "compile_commands.json").read_text())
        entries[size] = sorted((e["file"], e["output"], e["command"].replace(str(project.root), "<top>"))
                               for e in data)
    assert entries["16"] == entries["1"]
    assert [file for file, _, _ in entries["16"]] == sorted([*C_SOURCES, "src/w.cpp"] * 2)
    assert all(f" -o {output} {file}" in command for file, output, command in entries["16"])


def test_a_flag_made_from_the_source_still_gives_each_object_its_own(tmp_path: Path, store: Path) -> None:
    """Members whose one-file commands differ in more than their target and source compile alone."""
    objects = {}
    for size in ("16", "1"):
        root = tmp_path / f"size{size}"
        root.mkdir()
        for name in ("a", "b", "c"):
            (root / f"{name}.c").write_text(f'#define S(x) #x\n#define T(x) S(x)\nconst char *{name}(void) '
                                            '{ return "base=" T(BASE); }\n')
        (root / "SConstruct").write_text(
            "DefaultEnvironment(tools=[])\nenv = Environment(tools=['wasi'], "
            "WASI_CCFLAGS=['-DBASE=${SOURCE.filebase}'])\nenv.WasiLibrary('build/lib', ['a.c', 'b.c', 'c.c'])\n")
        shutil.copy(Path(__file__).resolve().parent.parent / "toolchain.lock", root / "toolchain.lock")
        result = run_scons(root, "-Q", env={"WASI_CACHE_DIR": str(store), "WASI_BATCH_SIZE": size})
        assert result.returncode == 0, result.stderr
        objects[size] = {p.name: p.read_bytes() for p in sorted(root.glob("*.o"))}
    assert objects["16"] == objects["1"]
    assert [b"base=" + name.encode() in data for name, data in zip("abc", objects["16"].values())] == [True] * 3


def test_a_batch_runs_as_one_compiler_process_with_the_objects_of_one_file_compiles(tmp_path: Path,
                                                                                      store: Path) -> None:
    """With the tool's own spawn (no user SPAWN), a batch is one clang -cc1 for all its sources (C, and C++ in a
    batch of its own); with -g the driver batch runs instead. Every object is the one-file compile's."""
    traced = shutil.which("strace")
    objects = {}
    for size in ("16", "1"):
        project = Project(tmp_path / f"size{size}", store)
        (project.root / "src/v.cpp").write_text('#include <vector>\n#include "d.h"\n'
                                                'extern "C" int v(void) { return (int)std::vector<int>(D).size(); }\n')
        sconstruct = project.root / "SConstruct"
        sconstruct.write_text(sconstruct.read_text().replace("['src/w.cpp']", "Glob('src/*.cpp')"))
        trace = tmp_path / f"trace{size}"
        prefix = [traced, "-f", "-qq", "-e", "trace=execve", "-s", "4096", "-o", str(trace)] if traced else []
        env = {**os.environ, "WASI_CACHE_DIR": str(store), "WASI_BATCH_SIZE": size}
        result = subprocess.run([*prefix, sys.executable, "-m", "SCons", f"--site-dir={REPO / 'site_scons'}", "-Q"],
                                cwd=project.root, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
        objects[size] = project.objects()
        if traced and size == "16":
            cc1 = [line for line in trace.read_text().splitlines() if '"-cc1"' in line and "execve(" in line]
            batched = [sorted(re.findall(r'/tree/(src/\w+\.c(?:pp)?)"', line)) for line in cc1]
            # The C sources of the plain variant in one -cc1, the two C++ sources in another.
            assert C_SOURCES in batched and ["src/v.cpp", "src/w.cpp"] in batched, batched
    assert len(objects["16"]) == 2 * 7  # 5 C and 2 C++ sources, in the plain and the -g variant
    assert objects["16"] == objects["1"]
    assert b"src/a.c" in objects["16"]["src/a.wasi.o"]


def test_an_edit_with_a_cache_dir_recompiles_only_the_edited_file(tmp_path: Path, store: Path) -> None:
    """SCons deletes the targets of a task it retrieved before a miss; for a batch those were up-to-date members
    that nothing compiled again (the link then failed). Out-of-date members are retrieved all or none."""
    cache = f"--cache-dir={tmp_path / 'cachedir'}"
    project = Project(tmp_path / "p", store)
    assert project.scons(cache).returncode == 0
    original = {name: (project.root / name).read_text() for name in ("src/c.c", "src/d.c")}
    with open(project.root / "src/c.c", "a") as f:  # c.c: neither the first nor the last of its batch
        f.write("int edited(void) { return 1; }\n")
    result = project.scons(cache, "build/app.wasm")
    assert result.returncode == 0, result.stderr
    assert project.compiled(result) == ["src/c.c"]
    assert all((project.root / name).with_suffix(".wasi.o").exists() for name in C_SOURCES)
    # Two members edited, then both put back: their objects come from the cache, nothing compiles.
    with open(project.root / "src/d.c", "a") as f:
        f.write("int edited_too(void) { return 2; }\n")
    assert project.compiled(project.scons(cache, "build/app.wasm")) == ["src/d.c"]
    for name, text in original.items():
        (project.root / name).write_text(text)
    result = project.scons(cache, "build/app.wasm")
    assert result.returncode == 0, result.stderr
    assert project.compiled(result) == []
    assert sorted(re.findall(r"^Retrieved `(src/\w+)\.wasi\.o' from cache$", result.stdout, re.M)) == \
        ["src/c", "src/d"]


def test_a_second_machine_with_one_edit_gets_the_rest_of_the_batch_from_the_remote_cache(
        tmp_path: Path, store: Path, nginx: Any) -> None:
    """Through the remote cache (a real nginx): the unedited members of a batch come from the server, the edited
    one compiles, and the program links."""
    first = Project(tmp_path / "laptop", store)
    assert first.scons(f"--remote-cache={nginx.url()}", f"--cache-dir={tmp_path / 'laptop-cachedir'}").returncode == 0
    second = Project(tmp_path / "runner" / "checkout", store)
    with open(second.root / "src/c.c", "a") as f:
        f.write("int edited(void) { return 1; }\n")
    result = second.scons(f"--remote-cache={nginx.url()}", f"--cache-dir={tmp_path / 'runner-cachedir'}",
                          "build/app.wasm")
    assert result.returncode == 0, result.stderr
    assert project_compiles(result) == ["src/c.c"]
    served = sorted(re.findall(r"^Retrieved `(src/\w+)\.wasi\.o'", result.stdout, re.M))
    assert served == sorted(name[:-2] for name in C_SOURCES if name != "src/c.c") + ["src/w"]
