"""Symbols the pinned parts need and the pinned libc lacks, compiled by the pinned clang and added to libc.a.

An archive member is linked only when something refers to it, so a module that needs none of these is unchanged.
"""

from __future__ import annotations

from .entry import LIB_DIR, TARGET, LibcFlavour, Timings, Toolchain, run_tool
from ..log import Log

# Debian's builtins are compiled with -fstack-protector-strong, so members such as __divmoddi4 and __udivmodti4
# refer to these two. Debian's wasi-libc defines them; the 2022 source does not. A fixed guard value keeps the
# output reproducible; the failure path traps, as musl's a_crash() does.
STACK_PROTECTOR = ("stack_protector", """\
/* Added to libc.a by scons-wasi: symbols that Debian's compiler-rt builtins need. */
#include <stdint.h>
uintptr_t __stack_chk_guard = 0x5a17c0de;
_Noreturn void __stack_chk_fail(void) { __builtin_trap(); }
""")

# C++ `thread_local` objects with a destructor register it with __cxa_thread_atexit, which Debian's libc++abi,
# built without threads, does not define (wasm-ld: undefined symbol: __cxa_thread_atexit). A preview-1 module has
# exactly one thread, whose thread-exit is the program's exit, so registering the destructor with __cxa_atexit
# runs it at the right time. wasi-sdk's libc++abi, built with threads, has its own (cxa_thread_atexit.cpp).
THREAD_ATEXIT = ("cxa_thread_atexit", """\
/* Added to libc.a by scons-wasi: single-threaded __cxa_thread_atexit for C++ thread_local destructors. */
int __cxa_atexit(void (*destructor)(void *), void *object, void *dso_handle);
int __cxa_thread_atexit(void (*destructor)(void *), void *object, void *dso_handle) {
    return __cxa_atexit(destructor, object, dso_handle);
}
""")

NEEDED: dict[LibcFlavour, tuple[tuple[str, str], ...]] = {
    "debian": (THREAD_ATEXIT,),
    "source": (STACK_PROTECTOR, THREAD_ATEXIT),
}


def add(staged: Toolchain, flavour: LibcFlavour, log: Log, timings: Timings) -> None:
    build = staged.root / "build-symbols"
    build.mkdir(parents=True, exist_ok=True)
    libc = staged.sysroot / LIB_DIR / "libc.a"
    objects = []
    with timings.phase("sysroot build"):
        for name, source in NEEDED[flavour]:
            c_file, o_file = build / f"{name}.c", build / f"{name}.o"
            c_file.write_text(source, encoding="utf-8")
            # At the level the libc itself was built at: -Oz in the -Oz libc's entry.
            level = "-Oz" if staged.libc_optimize == "size" else "-O2"
            run_tool([str(staged.clang), f"--target={TARGET}", f"--sysroot={staged.sysroot}", level, "-c",
                      c_file.name, "-o", o_file.name], f"compiling {name}.c for libc.a", cwd=build)
            objects.append(o_file.name)
        run_tool([str(staged.llvm_ar), "rs", str(libc), *objects], "adding them to libc.a", cwd=build)
    for path in build.iterdir():
        path.unlink()
    build.rmdir()
