"""Batched compiles in SCons: WasiObject's actions, with a batch_key (as SCons's own MSVC tool has).

With WASI_BATCH_SIZE > 1 (the default is 16), objects of one environment, one action (C or C++) and one output
directory share an SCons batch executor of at most WASI_BATCH_SIZE members; when one of them is out of date, SCons
runs the action once for all, and it compiles only the changed members ($CHANGED_TARGETS), in one clang -cc1 process
where it can (wasi_toolchain.targets.frontend_batch), else in one clang driver run (wasi_toolchain.targets.batch,
which also says how each object stays byte-identical to a one-file compile). WASI_BATCH_SIZE=1 gives SCons's plain
executors, one per object. With a CacheDir, BatchCacheDir retrieves a batch's members as one.

Two things are the same whichever the batch size, so switching it rebuilds nothing and a CacheDir or remote cache
serves both: an object's action signature (the command without its target and source, which are in the object's
own path and its dependency on its source's path, see commands._object_emitter), and its implicit dependencies
(each member gets the headers its own source includes; SCons's batch executor would give every member those of the
whole batch, see _BatchExecutor).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import SCons.Action
import SCons.CacheDir
import SCons.Errors
import SCons.Executor
import SCons.Node
import SCons.Subst

from wasi_toolchain.errors import WasiError
from wasi_toolchain.targets import batch

# Which out-of-date members of each batch executor came from the cache (BatchCacheDir), by id(executor): "all", or
# the set of those retrieved (the others compile).
_from_cache: dict[int, Any] = {}
# How many objects each (action, environment, directory) has put into batches so far; the batch key's last part
# is that count // size, so a batch closes when full.
_counts: dict[tuple[int, int, int, str], int] = {}


class _BatchExecutor(SCons.Executor.Executor):
    """An executor whose members each get the implicit dependencies of their own source only ("TODO(batch): scan
    by batches" in SCons.Executor). With --implicit-cache, SCons hands every member the stored dependencies of the
    first member it scans, so there the union stays, as SCons computes it."""

    __slots__ = ()

    def scan_sources(self, scanner: Any) -> None:
        if SCons.Node.implicit_cache or not self.batches[0].sources:
            super().scan_sources(scanner)
            return
        env = self.get_build_env()
        path = self.get_build_scanner_path
        kw = self.get_kw()
        command_deps = self.get_implicit_deps()
        for member in self.batches:
            deps: list[Any] = []
            for node in member.sources:
                node.disambiguate()
                deps.extend(node.get_implicit_deps(env, scanner, path, kw))
            deps.extend(command_deps)
            for target in member.targets:
                target.add_to_implicit(deps)


class BatchCacheDir(SCons.CacheDir.CacheDir):
    """A CacheDir (the tool's CACHEDIR_CLASS) that retrieves a batch's out-of-date members as one.

    SCons's Task.execute retrieves a task's targets in order and, at the first miss, deletes the ones it retrieved
    and runs the action. For a batch the targets are all its members, and the action compiles only the out-of-date
    ones ($CHANGED_TARGETS): an up-to-date member retrieved before the miss was deleted and not compiled again, and
    the link then failed (`no such file or directory: 'src/a.wasi.o'`). So the first target's retrieval speaks for
    the batch: it retrieves every out-of-date member it can, and says "retrieved" only if it got all of them (the
    other members then say the same, copying nothing: the up-to-date ones are there already). A miss is therefore
    always the first target's, SCons deletes nothing, and the action compiles the members the cache did not have
    (see _changed)."""

    def retrieve(self, node: Any) -> bool:
        executor = node.get_executor()
        if executor is None or len(executor.batches) < 2:
            return self.retrieve_one(node)
        if node is not executor.get_all_targets()[0]:
            return _from_cache.get(id(executor)) == "all"
        changed = [target for target, _ in _changed(executor) or []]
        retrieved = [target for target in changed if self.retrieve_one(target)]
        _from_cache[id(executor)] = "all" if len(retrieved) == len(changed) else set(retrieved)
        return len(retrieved) == len(changed)

    def retrieve_one(self, node: Any) -> bool:
        """SCons's retrieval of one target (a subclass adds a level behind it)."""
        return super().retrieve(node)


class _MemberError(SCons.Errors.BuildError):
    """A failed batch, naming the member that failed (`scons: *** [src/bad.wasi.o] Error 1`, as a one-file compile
    says). SCons's Node.build sets the error's node to the batch's first target; this error keeps its own."""

    def __init__(self, node: Any, status: int, action: Any, command: Any = None) -> None:
        self._member = node
        super().__init__(node=node, errstr=f"Error {status}", status=status, exitstatus=status, action=action,
                         command=command)

    @property  # type: ignore[override]
    def node(self) -> Any:
        return self._member

    @node.setter
    def node(self, value: Any) -> None:
        pass


class CompileAction(SCons.Action.CommandAction):
    """$WASI_CCCOM or $WASI_CXXCOM, for one object or for a batch of them."""

    def batch_key(self, env: Any, target: list[Any], source: list[Any]) -> Any:
        try:
            size = batch.batch_size(env.get("WASI_BATCH_SIZE"))
        except WasiError as e:
            raise SCons.Errors.UserError(str(e)) from None
        if size <= 1 or len(target) != 1 or len(source) != 1:
            return None
        if not issubclass(env.get("CACHEDIR_CLASS", SCons.CacheDir.CacheDir), BatchCacheDir):
            return None  # a CacheDir class of the user's own would not retrieve batches all or none
        from .distcc import distributing

        if distributing(env):  # distcc distributes one-source compiles only: keep each object a job of its own
            return None
        node = target[0]
        key = getattr(node.attributes, "wasi_batch", None)
        if key is not None:  # the same object asked for again (two programs listing one source): the same batch
            return key
        # The suffix too: SCons refuses one action for sources of two suffixes (.cc and .cpp) in one executor.
        group = (id(self), id(env), id(node.dir), os.path.splitext(str(source[0]))[1])
        count = _counts.get(group, 0)
        _counts[group] = count + 1
        key = node.attributes.wasi_batch = (*group, count // size)
        if count % size:  # the batch's executor exists (unless its first call failed): let it scan per member
            try:
                SCons.Executor.GetBatchExecutor(key).__class__ = _BatchExecutor
            except KeyError:
                pass
        return key

    def get_presig(self, target: Any, source: Any, env: Any, executor: Any = None) -> Any:
        """The command without its target and sources: the same for every member of a batch and for a one-file
        compile. What they leave out is in the object's own path and in its dependency on its source's path."""
        return env.subst_target_source(str(self.cmd_list), SCons.Subst.SUBST_SIG, [], [])

    def strfunction(self, target: Any, source: Any, env: Any, executor: Any = None, overrides: Any = None) -> Any:
        """One line per object compiled ("wasi: compiling a.c"), as without batches."""
        members = _changed(executor)
        if members is None:
            return super().strfunction(target, source, env, executor, overrides)
        lines = [super(CompileAction, self).strfunction([t], [s], env, None, overrides) for t, s in members]
        return "\n".join(line for line in lines if line)

    def execute(self, target: Any, source: Any, env: Any, executor: Any = None) -> Any:
        members = _changed(executor)
        if members is None:
            return super().execute(target, source, env, executor)
        if not members:
            return 0
        if len(members) == 1:
            return self._one(*members[0], env)
        return self._batch(members, env)

    def _one(self, target: Any, source: Any, env: Any) -> Any:
        status = super().execute([target], [source], env)
        if isinstance(status, SCons.Errors.BuildError):
            return _MemberError(target, status.status, self, status.command)
        return status

    def _batch(self, members: list[tuple[Any, Any]], env: Any) -> Any:
        import shutil  # lazily: a null build never gets here
        import tempfile

        top = env["WASI_TOPDIR"]
        # Each member's one-file command, its target and its source as they appear in it. Members whose command
        # differs from the first's in more than those two words (a flag made from $SOURCE, say) compile alone.
        commands: list[tuple[list[str], str, str, list[str]] | None] = []
        for target, source in members:
            lines = env.subst_list(self.cmd_list, SCons.Subst.SUBST_CMD, [target], [source])
            named = env.subst_list("$TARGET $SOURCE", SCons.Subst.SUBST_CMD, [target], [source])
            if len(lines) != 1 or len(named) != 1 or len(named[0]) != 2:
                commands.append(None)
                continue
            words = [str(w) for w in lines[0]]
            target_word, source_word = str(named[0][0]), str(named[0][1])
            shape = ["\0target" if w == target_word else "\0source" if w == source_word else w for w in words]
            commands.append((words, target_word, source_word, shape))
        first = commands[0]
        if first is None:
            return self._each(members, env)
        same = [i for i, c in enumerate(commands) if c is not None and c[3] == first[3]]
        different = [i for i in range(len(members)) if i not in same]
        work_dir = tempfile.mkdtemp(prefix=".wasi-batch-", dir=members[0][0].dir.get_abspath())
        try:
            found = batch.plan(first[0], first[1], [commands[i][2] for i in same],  # type: ignore[index]
                               top=top, work_dir=work_dir)
            if found is None:
                return self._each(members, env)
            if len(found.batched) > 1:
                done = self._frontend(found, members, same, different, env, top, work_dir)
                if done is not None:
                    return done
            if not _provider(env).driver_batches:
                return self._each(members, env)
            status = _run(found.argv, env, top)
            failed = []
            for index, name in found.batched:
                produced = os.path.join(work_dir, name)
                if os.path.exists(produced):
                    os.replace(produced, members[same[index]][0].get_abspath())
                else:
                    failed.append(same[index])
            if status:
                # clang goes on after a failing source: the ones without an object are the ones that failed.
                node = members[failed[0]][0] if failed else [t for t, _ in members]
                return _MemberError(node, status, self)
            # Not batched, or no object although clang succeeded (a flag that renames it): one file at a time.
            alone = sorted({*different, *(same[i] for i in found.alone), *failed})
            return self._each([members[i] for i in alone], env)
        finally:
            shutil.rmtree(work_dir, ignore_errors=True)

    def _frontend(self, found: batch.BatchPlan, members: list[tuple[Any, Any]], same: list[int],
                  different: list[int], env: Any, top: str, work_dir: str) -> Any:
        """The batch compiled by one clang -cc1 (wasi_toolchain.targets.frontend_batch): one compiler process
        instead of one per source. None when it cannot be: the driver batch runs instead, and also when the -cc1
        batch fails, so that clang's messages and SCons's name the file that failed as a one-file compile would."""
        from wasi_toolchain.targets import frontend_batch

        from .spawn import frontend_start, run_captured, run_started

        if not getattr(env["SPAWN"], "wasi_direct", False):  # a user's own SPAWN gets the driver's command
            return None
        environ = _environ(env)
        start = frontend_start(found.argv[0], environ)
        if start is None:
            return None
        status, printed = run_captured([*found.argv, "-###"], environ)
        jobs = frontend_batch.jobs(printed) if status == 0 else None
        overlay = os.path.join(work_dir, "overlay.json")
        plan = frontend_batch.command(jobs, found.inputs, top=top, work_dir=work_dir, overlay_path=overlay) \
            if jobs else None
        if plan is None:
            return None
        with open(overlay, "w", encoding="utf-8") as f:
            f.write(plan.overlay)
        for directory in plan.directories:
            os.makedirs(os.path.join(work_dir, directory), exist_ok=True)
        status, text = run_started([*start[0], *plan.argv[1:]], start[1])
        produced = [os.path.join(work_dir, name) for name in plan.objects]
        if status or not all(os.path.isfile(path) for path in produced):
            return None
        for (index, _), path in zip(found.batched, produced):
            os.replace(path, members[same[index]][0].get_abspath())
        if text:  # warnings: name the files as a one-file compile from the top directory does
            tree = os.path.join(work_dir, frontend_batch.TREE)
            sys.stderr.write(batch.relative_diagnostics(batch.relative_diagnostics(text, tree), top))
            sys.stderr.flush()
        return self._each([members[i] for i in sorted({*different, *(same[i] for i in found.alone)})], env)

    def _each(self, members: list[tuple[Any, Any]], env: Any) -> Any:
        for target, source in members:
            status = self._one(target, source, env)
            if status:
                return status
        return 0


def _environ(env: Any) -> dict[str, str]:
    """The environment a command of ``env`` runs with (its ENV, as strings), as SCons's spawn gets it."""
    return {k: str(v) for k, v in env["ENV"].items()}


def _provider(env: Any) -> Any:
    from wasi_toolchain.toolchain.llvm import provider_class

    return provider_class(env["WASI_TOOLCHAIN"].provider)




def _changed(executor: Any) -> list[tuple[Any, Any]] | None:
    """The (target, source) of each member to compile, when ``executor`` is a batch; else None. Not the ones the
    cache gave (BatchCacheDir)."""
    if executor is None or len(executor.batches) < 2:
        return None
    changed = set(executor.get_lvars()["CHANGED_TARGETS"].func())
    retrieved = _from_cache.get(id(executor))
    if isinstance(retrieved, set):
        changed -= retrieved
    seen: set[Any] = set()
    members = []
    for member in executor.batches:
        target = member.targets[0]
        if target in changed and target not in seen:
            seen.add(target)
            members.append((target, member.sources[0]))
    return members


def _run(argv: list[str], env: Any, top: str) -> int:
    """Run a batch's command. Through the tool's own spawn, clang's messages are read and the absolute paths of
    the batch spelled as a one-file compile spells them; another SPAWN gets the command as it is."""
    from .spawn import run_captured

    spawn = env["SPAWN"]
    environ = _environ(env)
    if not getattr(spawn, "wasi_direct", False):
        escape = env.get("ESCAPE", lambda x: x)
        escaped = SCons.Subst.escape_list([SCons.Subst.CmdStringHolder(word, None) for word in argv], escape)
        return spawn(env["SHELL"], escape, escaped[0], escaped, environ)
    status, text = run_captured(argv, environ)
    if text:
        sys.stderr.write(batch.relative_diagnostics(text, top))
    if status:
        from wasi_toolchain.targets.hints import hint_for

        if (hint := hint_for(text)) is not None:
            sys.stderr.write(("" if text.endswith("\n") else "\n") + hint + "\n")
    sys.stderr.flush()
    return status
