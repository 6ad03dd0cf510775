"""Starting the pinned tools directly, without the shell and the wrapper script in between."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wasi_toolchain.toolchain.launch import direct_command, wrapper_script
from wasi_toolchain.toolchain.llvm import LlvmProvider

# The LLVM provider of each toolchain's bin/ (filled by generate()), and whether a wrapper script there is exactly
# the one that provider writes (read once per process).
providers_by_bin: dict[str, LlvmProvider] = {}
_wrapper_is_ours: dict[str, bool] = {}
# Words that sh takes as they are, and "…" as SCons puts around a word with a space (quote_spaces) or as $ESCAPE
# (commands.shell_escape) writes a literal word: nothing inside that sh would expand, and a backslash only before
# one of \ " $ `, which sh unescapes.
_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_QUOTED_WORD = re.compile(r'"((?:[^"\\$`]|\\[\\"$`])*)"', re.DOTALL)
_ESCAPED = re.compile(r'\\([\\"$`])')


def direct_spawn(spawn: Any) -> Any:
    """The environment's SPAWN, except for commands of our own wrapper scripts (bin/clang, bin/llvm-ar, …): those
    start what the wrapper would exec, directly, with the same arguments and the same controlled environment (see
    llvm.direct_command), instead of `sh -c` running the wrapper's sh running env running the tool: three
    processes fewer per compile, and the very same compiler run. Everything else, a wrapper that is not byte for
    byte the one its provider writes (an entry from another version, a stand-in), and a command line whose words
    sh would do more with than drop SCons's quotes, goes to ``spawn`` unchanged."""

    def spawn_directly(shell: str, escape: Any, command: str, args: list[str], env: dict[str, str]) -> Any:
        words = _unquoted(args)
        hinted = bool(words) and _is_our_compiler(words[0])  # type: ignore[index]
        direct = _direct_command(words[0], env) if words else None
        if words is None or direct is None:
            if hinted:  # what SCons's subprocess_spawn runs, with stderr read for the hint
                return _run_with_hint([shell, "-c", " ".join(args)], env)
            return spawn(shell, escape, command, args, env)
        argv = [*direct[0], *words[1:]]
        if hinted:
            # clang colours its diagnostics only on a terminal: keep the colours through the pipe. Output bytes
            # do not depend on it.
            return _run_with_hint([*argv, "-fcolor-diagnostics"] if sys.stderr.isatty() else argv, direct[1])
        import subprocess

        try:
            return subprocess.Popen(argv, env=direct[1], close_fds=True).wait()
        except OSError as e:  # as sh would say it, with its exit code
            print(f"scons: {argv[0]}: {e.strerror}", file=sys.stderr, flush=True)
            return 127

    spawn_directly.wasi_direct = True  # type: ignore[attr-defined]  # batching.py runs batches through run_captured
    return spawn_directly


def run_captured(words: list[str], env: Mapping[str, str]) -> tuple[int, str]:
    """Run a command of a toolchain's clang as ``spawn_directly`` would (directly when the wrapper is ours, else the
    wrapper), with its stderr read and returned rather than passed on: (exit code, stderr)."""
    direct = _direct_command(words[0], env)
    argv, environ = ([*direct[0], *words[1:]], direct[1]) if direct else (words, dict(env))
    if direct and sys.stderr.isatty():
        argv.append("-fcolor-diagnostics")  # as spawn_directly does: the colours survive the pipe
    return run_started(argv, environ)


def frontend_start(clang: str, env: Mapping[str, str]) -> tuple[list[str], dict[str, str]] | None:
    """The words and environment that start clang's -cc1 for the wrapper ``clang`` (a toolchain's bin/clang, byte
    for byte the one its provider writes), or None when its provider cannot start -cc1 itself."""
    provider = providers_by_bin.get(os.path.dirname(clang))
    spec = provider.frontend_spec() if provider is not None else None
    if spec is None or _direct_command(clang, env) is None:
        return None
    return direct_command(spec, clang, env)


def run_started(argv: list[str], environ: Mapping[str, str]) -> tuple[int, str]:
    """Run ``argv`` with exactly ``environ``, its stderr read and returned: (exit code, stderr)."""
    import subprocess

    try:
        process = subprocess.run(argv, env=dict(environ), close_fds=True, stderr=subprocess.PIPE)
    except OSError as e:  # as sh would say it, with its exit code
        return 127, f"scons: {argv[0]}: {e.strerror}\n"
    return process.returncode, process.stderr.decode("utf-8", errors="replace")


def _is_our_compiler(program: str) -> bool:
    """clang of a toolchain entry: it runs every compile and link, whose failures may get a hint."""
    return os.path.basename(program) == "clang" and os.path.dirname(program) in providers_by_bin


def _run_with_hint(argv: list[str], env: Mapping[str, str]) -> int:
    """Run a compile or link with its stderr read through a pipe and passed on as it is; when it fails, add the one
    line of advice that wasi_toolchain.targets.hints has for its text (`undefined symbol: getpid`, a header the sysroot
    lacks). stdout is left alone. A successful command costs one pipe more, nothing else."""
    import subprocess

    from wasi_toolchain.targets.hints import hint_for

    try:
        process = subprocess.Popen(argv, env=dict(env), close_fds=True, stderr=subprocess.PIPE)
    except OSError as e:  # as sh would say it, with its exit code
        print(f"scons: {argv[0]}: {e.strerror}", file=sys.stderr, flush=True)
        return 127
    _, stderr = process.communicate()
    text = stderr.decode("utf-8", errors="replace")
    if text:
        sys.stderr.write(text)
    if process.returncode != 0 and (hint := hint_for(text)) is not None:
        sys.stderr.write(("" if not text or text.endswith("\n") else "\n") + hint + "\n")
    sys.stderr.flush()
    return process.returncode


def _unquoted(args: Sequence[str]) -> list[str] | None:
    """The words sh would make of SCons's escaped arguments, or None where that takes more than removing quotes."""
    words = []
    for arg in args:
        if _PLAIN_WORD.fullmatch(arg):
            words.append(arg)
        elif quoted := _QUOTED_WORD.fullmatch(arg):
            words.append(_ESCAPED.sub(r"\1", quoted.group(1)))
        else:
            return None
    return words


def _direct_command(program: str, env: Mapping[str, str]) -> tuple[list[str], dict[str, str]] | None:
    provider = providers_by_bin.get(os.path.dirname(program))
    if provider is None:
        return None
    spec = provider.specs().get(os.path.basename(program))
    ours = _wrapper_is_ours.get(program)
    if ours is None:
        try:
            text = Path(program).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        ours = _wrapper_is_ours[program] = spec is not None and text == wrapper_script(spec)
    return direct_command(spec, program, env) if ours and spec is not None else None
