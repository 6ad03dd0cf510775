"""Batched compiles: many sources in one clang run, each object byte-identical to a one-file compile.

This module makes the driver's batch command. Where it can, the batch then runs as one -cc1 process made from that
command (targets/frontend_batch.py, the fast way); the driver batch below is what runs where it cannot (debug
info) and what names the failing file when a -cc1 batch fails.

One clang driver given N sources with ``-c`` compiles them all, in order, and goes on after a failing one; it saves
the driver process of each source but not its -cc1 process (clang runs -cc1 in-process only for a command with one
job). clang names each object after its source's base name (``a.c`` -> ``a.o``) in its working directory, and
``-o`` is refused with more than one input. So a batch runs with ``-working-directory=<a private temp dir>`` and the
objects are moved to their targets.

What the working directory changes, and how the batch command puts it back (checked byte for byte, with and
without ``-g``, against the one-file command run from the top directory, which is what SCons does):
- relative paths would resolve against the temp dir: sources and -I/-iquote/-isystem/-idirafter/-include/-imacros
  paths under the top directory are made absolute, and ``-ffile-prefix-map=<top>/=`` spells them as before
  (``lib/a.c``, not ``/home/…/lib/a.c``) in __FILE__, assert messages and debug info;
- the debug info's compilation directory would be the temp dir: ``-ffile-compilation-dir=<top>`` keeps it.
A command that could not be put back exactly is not batched (``plan`` returns None and each file compiles on its
own): a relative path outside those flags, a path leaving the top directory, a prefix map of a path under it,
flags that write files beside the object (-MD, -save-temps, -ftime-trace, --coverage, …), or flags that set what
the batch sets.

This module never imports SCons; ``site_tools/wasi/batching.py`` wires it into a batch builder.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence

from ..errors import ConfigError

# Sources per clang run unless WASI_BATCH_SIZE says otherwise. A batch runs as one clang -cc1 process where it can
# (targets/frontend_batch.py): 200 small C files built in 0.66-0.84 x the time of make -j2 running one-file commands,
# against 0.93-1.08 x without batches (bench/full_build.py). 16 gives one directory of 200 files 13 batches, enough
# for -jN to spread. Debian's clang makes -cc1 batches only (toolchain/llvm.py, DebianProvider.driver_batches).
DEFAULT_BATCH_SIZE = 16
MAX_BATCH_SIZE = 1024
VARIABLE = "WASI_BATCH_SIZE"

# Flags taking a path, joined (-Iinc) or as the next word (-I inc): made absolute in a batch.
_PATH_FLAGS = ("-iquote", "-isystem", "-idirafter", "-include", "-imacros", "-I")
# Flags that write files named after the object or into the working directory, or that set what the batch sets.
_NOT_BATCHABLE = ("-M", "-Wp,-M", "-save-temps", "-ftime-trace", "-gsplit-dwarf", "--coverage", "-ftest-coverage",
                  "-fprofile-arcs", "-working-directory", "-ffile-compilation-dir", "-fdebug-compilation-dir",
                  "-fcoverage-compilation-dir", "-E", "-S", "-emit-llvm", "-fsyntax-only", "-###", "-o")
_SOURCES = "\0sources"  # where the batch's sources go in the command being built
_PREFIX_MAPS = ("-ffile-prefix-map=", "-fdebug-prefix-map=", "-fmacro-prefix-map=", "-fcoverage-prefix-map=")


def batch_size(value: object, environ: Mapping[str, str] | None = None) -> int:
    """WASI_BATCH_SIZE: the construction variable's ``value`` if set (not None), else the environment variable,
    else DEFAULT_BATCH_SIZE. 1 turns batching off."""
    if value is None or value == "":
        value = (os.environ if environ is None else environ).get(VARIABLE, "").strip() or DEFAULT_BATCH_SIZE
    try:
        size = 0 if isinstance(value, bool) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        size = 0
    if not 1 <= size <= MAX_BATCH_SIZE or (isinstance(value, float) and value != size):
        raise ConfigError(f"{VARIABLE}: expected a whole number from 1 to {MAX_BATCH_SIZE}, got {value!r}",
                          hint=f"set {VARIABLE}=1 to compile each file on its own, or e.g. {DEFAULT_BATCH_SIZE} "
                               "(the default)")
    return size


def object_name(source: str) -> str:
    """The object clang writes for ``source`` given ``-c`` and no ``-o``: its base name, last suffix replaced."""
    base = posixpath.basename(source)
    stem = base[:base.rfind(".")] if "." in base else base
    return f"{stem}.o"


class BatchPlan:
    """What a batch runs. A plain class, not a dataclass: this module is imported by every build, even a null one
    (the batch size is read when the SConstruct calls a builder), and a dataclass costs about a millisecond to make."""

    __slots__ = ("argv", "batched", "alone", "inputs")

    def __init__(self, argv: list[str], batched: list[tuple[int, str]], alone: list[int], inputs: list[str]) -> None:
        self.argv = argv  # the batch's command
        self.batched = batched  # (member index, object file name in the work dir)
        self.alone = alone  # members compiled on their own (a source outside the top dir, a clashing object name)
        self.inputs = inputs  # the absolute source of each of ``batched``, as ``argv`` names it


def plan(words: Sequence[str], target: str, sources: Sequence[str], *, top: str, work_dir: str) -> BatchPlan | None:
    """The batch command for members whose one-file commands differ only in ``-o <target>`` and their source.

    ``words`` is the first member's one-file command, ``target`` its target as it appears there after ``-o``,
    ``sources`` every member's source as it appears in its own command (``sources[0]`` in ``words``). None when the
    command cannot be batched exactly (see the module docstring)."""
    top = top.rstrip("/")
    try:
        o = _only_index(words, "-o")
        s = _only_index(words, sources[0])
    except ValueError:
        return None
    if o + 1 >= len(words) or words[o + 1] != target or s in (o, o + 1) or s == 0:
        return None
    flags: list[str] = [words[0]]
    expect_path = False
    for i, word in enumerate(words):
        if i == s:
            flags.append(_SOURCES)
        if i in (0, o, o + 1, s):
            continue
        if expect_path:
            absolute = _absolute_under(word, top)
            if absolute is None:
                return None
            flags.append(absolute)
            expect_path = False
            continue
        if word == "-fdebug-compilation-dir=.":
            # Every compile has it (for distcc workers, see commands._prefix_maps). The batch's own
            # -ffile-compilation-dir=<top>, under the -ffile-prefix-map=<top>=. that every compile has too, gives
            # the debug info the same "." as the one-file command does.
            continue
        if word.startswith(_NOT_BATCHABLE):
            return None
        if word.startswith(_PREFIX_MAPS):
            origin = word.split("=", 1)[1].split("=", 1)[0]
            if not origin.startswith("/") or origin.startswith(f"{top}/"):
                return None
            flags.append(word)
            continue
        path_flag = next((f for f in _PATH_FLAGS if word.startswith(f)), None)
        if path_flag is not None:
            if word == path_flag:
                expect_path = True
                flags.append(word)
                continue
            absolute = _absolute_under(word[len(path_flag):], top)
            if absolute is None:
                return None
            flags.append(path_flag + absolute)
            continue
        if _names_relative_path(word, top):
            return None  # some other flag names a file relative to the top dir: it would resolve elsewhere
        flags.append(word)
    if expect_path:
        return None
    batched: list[tuple[int, str]] = []
    alone: list[int] = []
    inputs: list[str] = []
    names: set[str] = set()
    for index, source in enumerate(sources):
        absolute = _absolute_under(source, top)
        name = object_name(source)
        if absolute is None or name in names:
            alone.append(index)
            continue
        names.add(name)
        inputs.append(absolute)
        batched.append((index, name))
    # The sources go where the one source was (a -x before them still applies); the batch's own flags go last, so
    # its prefix map is the one clang tries first for debug info.
    at = flags.index(_SOURCES)
    argv = [*flags[:at], *inputs, *flags[at + 1:], f"-ffile-prefix-map={top}/=", f"-ffile-compilation-dir={top}",
            f"-working-directory={work_dir}"]
    return BatchPlan(argv, batched, alone, inputs)


def _only_index(words: Sequence[str], word: str) -> int:
    indexes = [i for i, w in enumerate(words) if w == word]
    if len(indexes) != 1:
        raise ValueError(word)
    return indexes[0]


def _absolute_under(path: str, top: str) -> str | None:
    """``path`` as an absolute path if it is absolute or under ``top``; None if it leaves ``top``."""
    if path.startswith("/"):
        return path
    normal = posixpath.normpath(path)
    if normal == ".." or normal.startswith("../") or not path:
        return None
    return f"{top}/{normal}" if normal != "." else top


def _names_relative_path(word: str, top: str) -> bool:
    """Whether ``word``, or its value after '=', is a relative path that exists under ``top``."""
    for candidate in (word, word.split("=", 1)[1] if "=" in word else ""):
        if candidate and not candidate.startswith("/") and os.path.lexists(os.path.join(top, candidate)):
            return True
    return False


def relative_diagnostics(text: str, top: str) -> str:
    """clang's messages about a batch name sources by absolute path; spell the ones under ``top`` as a one-file
    compile run from ``top`` would (``lib/a.c:3:1: error: …``)."""
    return re.sub(rf"(?<![\w./-]){re.escape(top.rstrip('/'))}/", "", text)
