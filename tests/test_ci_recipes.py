"""The CI recipes of docs/ci.md, played as written against the stand-in toolchain (tests/support/standin_cold.py).

Each recipe's YAML is read from docs/ci.md and run by a small interpreter of the few things it uses (GitHub's
`${{ }}` expressions, `$GITHUB_OUTPUT`/`$GITHUB_ENV`, `actions/cache` restore and post-job save; GitLab's variables,
caches and script). Two jobs run:

1. a cold job in one clone, whose cache saves only the recipe's paths;
2. a second job in a fresh clone at another path, with another WASI_CACHE_DIR path, that restores them. It must run
   offline (the recipe sets WASI_OFFLINE=1; the audit-hook guard in tests/support/offline_guard refuses sockets and pip),
   build no toolchain, download nothing, and give byte-identical outputs.

What each job printed is asserted as a CI log would show it. Setup steps (checkout, setup-python, pip install of
requirements.txt) are the test runner's own: the clones are made by the test, and the requirements are installed.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from support.coldrun import ColdRig
from support.helpers import REPO, LoopbackServer

GUARD = REPO / "tests" / "support" / "offline_guard"
EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")

SCONSTRUCT = """\
DefaultEnvironment(tools=[])
env = Environment(tools=['wasi'])
util = env.WasiLibrary('build/lib/util', ['src/util.c'])
env.WasiProgram('build/hello', ['src/hello.c'], LIBS=['util'], LIBPATH=['build/lib'])
"""


def documented_recipes() -> dict[str, dict]:
    """The YAML blocks of docs/ci.md, the page the README links for CI: {"github": …, "gitlab": …}."""
    text = (REPO / "docs" / "ci.md").read_text(encoding="utf-8")
    recipes = {}
    for block in re.findall(r"```yaml\n(.*?)```", text, flags=re.S):
        document = yaml.safe_load(block)
        recipes["github" if "jobs" in document else "gitlab"] = document
    assert sorted(recipes) == ["github", "gitlab"], "docs/ci.md must hold both recipes"
    return recipes


def built_files(checkout: Path) -> dict[str, str]:
    """sha256 of every object, library, module and names file the project built, by path in the checkout."""
    return {str(p.relative_to(checkout)): hashlib.sha256(p.read_bytes()).hexdigest()
            for directory in ("build", "src") for p in sorted((checkout / directory).rglob("*"))
            if p.suffix in (".o", ".a", ".wasm", ".names")}


@dataclass
class Rig:
    cold: ColdRig
    tmp: Path
    saved: dict[str, Path] = field(default_factory=dict)  # the CI system's cache: key -> saved workspace paths
    shims: Path = field(init=False)

    def __post_init__(self) -> None:
        # `scons` as the recipes call it: this Python's SCons, from the clone's own site_scons.
        self.shims = self.tmp / "shims"
        self.shims.mkdir()
        scons = self.shims / "scons"
        scons.write_text(f'#!/bin/sh\nexec {sys.executable} -m SCons "$@"\n')
        scons.chmod(0o755)

    def clone(self, path: Path) -> Path:
        """A fresh clone: the project's files and the tool's site_scons, nothing built, no store."""
        path.mkdir(parents=True)
        (path / "SConstruct").write_text(SCONSTRUCT)
        (path / "toolchain.lock").write_text(self.cold.standin.lock)
        (path / "src").mkdir()
        (path / "src" / "util.c").write_text("int util(void) { return 1; }\n")
        (path / "src" / "hello.c").write_text("int util(void);\nint main(void) { return util() - 1; }\n")
        shutil.copytree(REPO / "site_scons", path / "site_scons", ignore=shutil.ignore_patterns("__pycache__"))
        return path

    def environment(self, *, guarded: bool) -> dict[str, str]:
        env = {name: value for name, value in os.environ.items() if not name.startswith("WASI_")}
        env.update(PATH=f"{self.shims}{os.pathsep}{os.environ['PATH']}", WASI_JOBS="2", WASI_LOCK_TIMEOUT="120",
                   WASI_DEBIAN_MIRROR=self.cold.server.url("/debian"))
        if guarded:
            notes = self.tmp / "offline-guard.log"
            notes.touch()
            env.update(PYTHONPATH=str(GUARD), WASI_TEST_OFFLINE_GUARD=str(notes))
        return env

    def save(self, key: str, workspace: Path, paths: list[str]) -> None:
        target = self.tmp / "ci-cache" / re.sub(r"[^\w.-]", "_", key)
        shutil.rmtree(target, ignore_errors=True)
        for relative in paths:
            source = workspace / relative
            if source.is_dir():
                shutil.copytree(source, target / relative, symlinks=True)
            elif source.exists():  # a file (the store's marker)
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target / relative)
        self.saved[key] = target

    def restore(self, key: str, workspace: Path) -> None:
        shutil.copytree(self.saved[key], workspace, symlinks=True, dirs_exist_ok=True)


def run_bash(script: str, *, cwd: Path, env: dict[str, str]) -> str:
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", script], cwd=cwd, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert result.returncode == 0, f"step failed ({result.returncode}):\n{script}\n{result.stdout}"
    assert "Traceback" not in result.stdout, result.stdout
    return result.stdout


# -- GitHub Actions ------------------------------------------------------------------------------------------------
class GitHubJob:
    def __init__(self, rig: Rig, job: dict, workspace: Path, *, guarded: bool) -> None:
        self.rig, self.job, self.workspace = rig, job, workspace
        self.base_env = rig.environment(guarded=guarded)
        self.outputs: dict[str, dict[str, str]] = {}
        self.github_env: dict[str, str] = {}
        self.to_save: list[tuple[str, str]] = []
        self.log: list[str] = []

    def value(self, expression: str) -> str:
        if match := re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", expression):
            return self.outputs.get(match[1], {}).get(match[2], "")
        if match := re.fullmatch(r"env\.(\w+)", expression):
            return self.env()[match[1]]
        known = {"runner.os": "Linux", "github.workspace": str(self.workspace), "github.sha": "0123abcd"}
        assert expression in known, f"the recipe uses ${{{{ {expression} }}}}, which this test cannot interpret"
        return known[expression]

    def substitute(self, text: str) -> str:
        return EXPRESSION.sub(lambda match: self.value(match[1]), text)

    def condition(self, text: str) -> bool:
        expression = EXPRESSION.sub(lambda match: match[1], text).strip()
        match = re.fullmatch(r"(\S+)\s*(==|!=)\s*'([^']*)'", expression)
        assert match, f"the recipe's condition {text!r} is not one this test can interpret"
        return (self.value(match[1]) == match[3]) == (match[2] == "==")

    def env(self) -> dict[str, str]:
        job_env = {name: self.substitute(str(value)) for name, value in (self.job.get("env") or {}).items()}
        return {**self.base_env, **job_env, **self.github_env}

    def run(self) -> str:
        for step in self.job["steps"]:
            if "if" in step and not self.condition(step["if"]):
                continue
            uses = step.get("uses", "")
            if uses.startswith(("actions/checkout@", "actions/setup-python@")):
                continue
            if uses.startswith("actions/cache@"):
                self.cache(step)
            elif "pip install" in step.get("run", ""):
                continue
            else:
                assert "run" in step, f"a step this test cannot interpret: {step}"
                self.shell(step)
        for key, path in self.to_save:  # actions/cache's post-job step
            self.rig.save(key, self.workspace, [line for line in path.splitlines() if line.strip()])
            self.log.append(f"Cache saved with key: {key}")
        return "\n".join(self.log)

    def shell(self, step: dict) -> None:
        files = {name: self.rig.tmp / f"{name.lower()}-{id(step)}" for name in ("GITHUB_OUTPUT", "GITHUB_ENV")}
        for path in files.values():
            path.write_text("")
        env = {**self.env(), **{name: str(path) for name, path in files.items()},
               **{name: self.substitute(str(v)) for name, v in (step.get("env") or {}).items()}}
        self.log.append(run_bash(self.substitute(step["run"]), cwd=self.workspace, env=env))
        pairs = dict(line.split("=", 1) for line in files["GITHUB_OUTPUT"].read_text().splitlines() if line)
        self.outputs.setdefault(step.get("id", ""), {}).update(pairs)
        self.github_env.update(line.split("=", 1) for line in files["GITHUB_ENV"].read_text().splitlines() if line)

    def cache(self, step: dict) -> None:
        options = step["with"]
        path, key = self.substitute(options["path"]), self.substitute(options["key"])
        prefixes = [self.substitute(line) for line in str(options.get("restore-keys", "")).splitlines() if line]
        hit = "false"
        if key in self.rig.saved:
            self.rig.restore(key, self.workspace)
            hit = "true"
            self.log.append(f"Cache restored from key: {key}")
        elif found := [saved for saved in self.rig.saved for p in prefixes if saved.startswith(p)]:
            self.rig.restore(found[-1], self.workspace)
            self.log.append(f"Cache restored from key: {found[-1]}")
        else:
            self.log.append(f"Cache not found for input keys: {key}")
        self.outputs.setdefault(step.get("id", ""), {})["cache-hit"] = hit
        if hit != "true":
            self.to_save.append((key, path))


# -- GitLab CI -----------------------------------------------------------------------------------------------------
class GitLabJob:
    def __init__(self, rig: Rig, job: dict, workspace: Path, *, guarded: bool) -> None:
        self.rig, self.job, self.workspace = rig, job, workspace
        self.env = {**rig.environment(guarded=guarded), "CI_PROJECT_DIR": str(workspace),
                    "CI_COMMIT_REF_SLUG": "main"}
        self.log: list[str] = []

    def expand(self, text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda match: self.env.get(match[1], ""), text)

    def cache_key(self, key: object) -> str:
        if isinstance(key, dict):  # key:files: GitLab hashes the files' last commits; their content will do here
            digest = hashlib.sha256(b"".join((self.workspace / f).read_bytes() for f in key["files"])).hexdigest()
            return f"{key.get('prefix', '')}-{digest[:16]}"
        return self.expand(str(key))

    def run(self) -> str:
        caches = [(self.cache_key(c["key"]), c["paths"]) for c in self.job["cache"]]
        for key, _ in caches:
            if key in self.rig.saved:
                self.rig.restore(key, self.workspace)
                self.log.append(f"Successfully extracted cache {key}")
            else:
                self.log.append(f"WARNING: cache {key} not found")
        exports = [f'export {name}="{value}"' for name, value in (self.job.get("variables") or {}).items()]
        lines = [line for line in self.job.get("before_script", []) if "pip install" not in line]
        self.log.append(run_bash("\n".join(exports + lines + self.job["script"]), cwd=self.workspace,
                                 env=self.env))
        for key, paths in caches:  # pull-push, the default policy: saved after every successful job
            self.rig.save(key, self.workspace, [p.rstrip("/") for p in paths])
            self.log.append(f"Created cache {key}")
        return "\n".join(self.log)


# -- the two jobs ----------------------------------------------------------------------------------------------------
def play(recipe: str, tmp_path: Path, server: LoopbackServer) -> None:
    cold = ColdRig.create(tmp_path / "pins", server, libc="debian")  # what a user's CI builds: the default flavour
    rig = Rig(cold, tmp_path)
    document = documented_recipes()[recipe]
    job_of = {"github": lambda d: (GitHubJob, d["jobs"]["build"]), "gitlab": lambda d: (GitLabJob, d["build"])}
    kind, job = job_of[recipe](document)

    # Job 1: cold. It fetches and builds the toolchain, builds the project, prunes, and saves the recipe's paths.
    first = rig.clone(tmp_path / "runner-1" / "checkout")
    log1 = kind(rig, job, first, guarded=False).run()
    (stamp,) = (first / ".wasi").glob("toolchain-*.stamp")
    key = stamp.read_text().strip()
    assert f"wasi: preparing toolchain {key}" in log1
    assert re.search(rf"wasi-prune: downloads/\w+/{re.escape(cold.standin.host_wheel)}: unpacked into the complete "
                     rf"entry {key}; removed", log1)
    assert "wasi-prune: removed 4 path(s), freed " in log1
    assert log1.count("wasi: preparing toolchain") == 1
    outputs = built_files(first)
    assert sorted(outputs) == ["build/hello.wasm", "build/hello.wasm.names", "build/lib/libutil.a", "src/hello.wasi.o",
                               "src/util.wasi.o"]
    toolchain_cache = [path for path in rig.saved.values() if (path / ".wasi-cache").exists()]
    assert len(toolchain_cache) == 1
    saved = sorted(str(p.relative_to(toolchain_cache[0])) for p in toolchain_cache[0].rglob("*") if p.is_dir()
                   and p.parent.name == "sysroots")
    assert saved == [f".wasi-cache/sysroots/{key}"]  # only the entry: no downloads, no locks, no other key
    assert not (toolchain_cache[0] / ".wasi-cache" / "downloads").exists()

    # Job 2: a fresh clone elsewhere (so another absolute WASI_CACHE_DIR), restoring only what job 1 saved.
    server.requests.clear()
    second = rig.clone(tmp_path / "elsewhere" / "runner-2" / "project")
    runner = kind(rig, job, second, guarded=True)
    log2 = runner.run()
    if isinstance(runner, GitHubJob):
        assert runner.github_env.get("WASI_OFFLINE") == "1"
        assert f"Cache restored from key: wasi-Linux-{key}" in log2
    else:
        assert f"wasi: toolchain {key} restored from the cache; building offline" in log2
    assert "preparing toolchain" not in log2 and "fetching" not in log2
    assert server.requests == []
    assert (tmp_path / "offline-guard.log").read_text() == ""
    assert "assembling the sysroot" not in log2  # no toolchain built: only the project's own steps ran
    retrieved = sorted(re.findall(r"^Retrieved `(.+)' from cache$", log2, flags=re.M))
    assert retrieved == sorted(outputs)  # and those came from the object cache
    assert "wasi: compiling" not in log2
    assert built_files(second) == outputs
    assert f"wasi-prune: sysroots/{key}: kept (a key this SConstruct uses)" in log2
    assert "wasi-prune: removed 0 path(s), freed 0.0 MB (0 bytes)" in log2


def test_the_github_actions_recipe_as_written(tmp_path: Path, server: LoopbackServer) -> None:
    play("github", tmp_path, server)


def test_the_gitlab_ci_recipe_as_written(tmp_path: Path, server: LoopbackServer) -> None:
    play("gitlab", tmp_path, server)
