"""A batch as one compiler process: clang's -cc1 given every source of the batch, each object byte-identical to a
one-file compile.

Why: a compile of a small file is mostly starting the compiler (mapping the 185 MB static `zig`, reading the libc
headers' first pages). clang's driver runs -cc1 inside its own process only for a command with one job; given N
sources it starts N -cc1 processes ("If we have more than one job, then disable integrated-cc1", clang's
Driver::BuildJobs; https://reviews.llvm.org/D74447), so a driver batch saves nothing (bench/batch_cpu.py). -cc1
itself compiles every input it is given, one after the other in one process (CompilerInstance::ExecuteAction loops
over FrontendOptions::Inputs): 32 small files cost 9.5 ms of CPU each that way against 22 ms one by one.

How, from the driver batch's command (``batch.plan``):
1. ``clang -### <the batch command>`` prints one -cc1 job per source. The jobs must be the same but for
   ``-main-file-name``, ``-o`` and the source, or there is no -cc1 batch (the driver batch runs instead).
2. Without ``-o``, -cc1 writes each object beside its source as spelled (``src/a.c`` -> ``src/a.o``), which would
   be the user's tree. So the sources are spelled under ``<work dir>/tree/``, a real, empty directory tree that a
   VFS overlay (``-ivfsoverlay``, kind ``directory-remap``) maps onto the top directory: every read of
   ``tree/src/a.c`` or of ``tree/src/a.h`` (a quoted include beside its includer, as before) reads the project's
   file, while the objects are written through the real file system into ``tree/``. A ``-fmacro-prefix-map`` of
   ``tree/`` (last, so clang tries it first) spells ``__FILE__`` and assert messages as before.
3. ``-main-file-name`` only names the debug info's compile unit: a -cc1 batch is not made when the jobs carry debug
   info or anything else named after the main file (see _NAMED_AFTER_THE_MAIN_FILE); the driver batch does those.

tests/test_e2e_batch.py compares every object, C and C++, with the one-file compile's.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Sequence

from .batch import object_name

# cc1 flags whose output depends on the main file's name (-main-file-name, which a -cc1 batch cannot give each
# source) or that write a file per source.
_NAMED_AFTER_THE_MAIN_FILE = ("-debug-info-kind", "-dwarf-debug-flags", "-record-command-line", "-split-dwarf",
                              "-coverage-notes-file", "-coverage-data-file", "-fprofile", "-dependency-file",
                              "-header-include-file", "-stats-file", "-ftime-trace", "-gcodeview")
TREE = "tree"  # the directory of the work dir under which the sources are spelled
# A job line of `clang -###`: words in double quotes, each ", \ and $ in them after a backslash.
_QUOTED = re.compile(r'"((?:[^"\\]|\\.)*)"')
_JOB_LINE = re.compile(r'(?: "(?:[^"\\]|\\.)*")+')
_ESCAPED = re.compile(r"\\(.)")


def jobs(text: str) -> list[list[str]] | None:
    """The jobs ``clang -###`` printed: each line that starts with a quoted word. clang quotes every word in double
    quotes and escapes ", \\ and $ in it with a backslash (llvm::sys::printArg); None if a line is not that."""
    found = []
    for line in text.splitlines():
        if not line.startswith(' "'):
            continue
        if not _JOB_LINE.fullmatch(line):
            return None
        found.append([_ESCAPED.sub(r"\1", word) for word in _QUOTED.findall(line)])
    return found


class FrontendBatch:
    """What a -cc1 batch runs: ``argv``, the ``overlay`` file's text, the ``directories`` to make under the work dir
    (relative to it), and each member's ``objects`` path relative to the work dir, in the order of the sources."""

    __slots__ = ("argv", "overlay", "directories", "objects")

    def __init__(self, argv: list[str], overlay: str, directories: list[str], objects: list[str]) -> None:
        self.argv, self.overlay, self.directories, self.objects = argv, overlay, directories, objects


def command(printed: Sequence[Sequence[str]], sources: Sequence[str], *, top: str, work_dir: str,
            overlay_path: str) -> FrontendBatch | None:
    """The -cc1 batch for the driver jobs ``printed`` (``clang -###`` of a batch command), whose sources are
    ``sources`` (absolute, under ``top``, in the order of the jobs). None when there is no exact -cc1 batch."""
    top = top.rstrip("/")
    if len(printed) != len(sources) or len(sources) < 2:
        return None
    template: list[str] | None = None
    for job, source in zip(printed, sources):
        if len(job) < 4 or job[1] != "-cc1" or job[-1] != source or not source.startswith(f"{top}/"):
            return None
        shape = _without_per_file_words(list(job[:-1]))
        if shape is None or (template is not None and shape != template):
            return None
        template = shape
    assert template is not None
    if "-emit-obj" not in template or any(word.startswith(_NAMED_AFTER_THE_MAIN_FILE) for word in template):
        return None
    # -disable-free: clang leaks each source's AST and preprocessor at exit to save the time freeing them; in a
    # batch they would pile up (226 MB against 146 MB for 16 small C++ files), so a batch frees them. Same bytes.
    template = [word for word in template if word != "-disable-free"]
    tree = f"{work_dir.rstrip('/')}/{TREE}"
    relative = [source[len(top) + 1:] for source in sources]
    objects = [posixpath.join(TREE, posixpath.dirname(path), object_name(path)) for path in relative]
    if len(set(objects)) != len(objects):
        return None
    directories = sorted({posixpath.dirname(path) for path in objects})
    overlay = json.dumps({"version": 0, "case-sensitive": True, "roots": [
        {"type": "directory-remap", "name": tree, "external-contents": top, "use-external-name": False}]})
    argv = [*template, "-ivfsoverlay", overlay_path, f"-fmacro-prefix-map={tree}/=",
            f"-fcoverage-prefix-map={tree}/=", *(f"{tree}/{path}" for path in relative)]
    return FrontendBatch(argv, overlay, directories, objects)


def _without_per_file_words(words: list[str]) -> list[str] | None:
    """A job without its ``-main-file-name X`` and ``-o X`` (each exactly once); None if either is not there."""
    for flag in ("-main-file-name", "-o"):
        indexes = [i for i, word in enumerate(words) if word == flag]
        if len(indexes) != 1 or indexes[0] + 1 >= len(words):
            return None
        del words[indexes[0]:indexes[0] + 2]
    return words

