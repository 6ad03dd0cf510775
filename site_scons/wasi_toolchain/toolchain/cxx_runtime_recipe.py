"""What the C++ runtime with exceptions is built from: the sources, the flags, the libc++ configuration, and the two
small objects of our own. Data only; cxx_runtime.py builds it. Changing anything here changes the entry's key
(cxx_runtime.key_inputs records all of it).

The lists follow the upstream CMake lists of LLVM 22 (libunwind/src, libcxxabi/src and libcxx/src
CMakeLists.txt) for the options a WASI preview-1 build without threads takes: libunwind's WebAssembly unwinder
only; libc++abi with exceptions, its own operator new/delete and no thread support (so no cxa_thread_atexit.cpp);
libc++ with localization, the random device and the file system library, without threads (no atomic.cpp,
barrier.cpp, mutex.cpp, thread.cpp, …), taking new/delete from libc++abi (no new.cpp) and built on libc++abi
(LIBCXX_BUILDING_LIBCXXABI).
"""

from __future__ import annotations

import re

# Bump when the recipe changes in a way the data below does not show (the steps in cxx_runtime.py).
RECIPE_VERSION = 1

# Where the sources sit inside the pinned ziglang wheel (LLVM 22.1.8's runtimes, as zig ships them).
SOURCE_ROOT = "ziglang/lib"
SOURCE_DIRS = ("libcxx", "libcxxabi", "libunwind")

LIBUNWIND_SOURCES = ("libunwind/src/Unwind-wasm.c",)
LIBCXXABI_SOURCES = tuple(f"libcxxabi/src/{name}.cpp" for name in (
    "abort_message", "cxa_aux_runtime", "cxa_default_handlers", "cxa_demangle", "cxa_exception",
    "cxa_exception_storage", "cxa_guard", "cxa_handlers", "cxa_personality", "cxa_vector", "cxa_virtual",
    "fallback_malloc", "private_typeinfo", "stdlib_exception", "stdlib_new_delete", "stdlib_stdexcept",
    "stdlib_typeinfo"))
LIBCXX_SOURCES = tuple(f"libcxx/src/{name}.cpp" for name in (
    "algorithm", "any", "bind", "call_once", "charconv", "chrono", "error_category", "exception", "expected",
    "functional", "hash", "memory", "memory_resource", "new_handler", "new_helpers", "optional", "print",
    "random_shuffle", "ryu/d2fixed", "ryu/d2s", "ryu/f2s", "stdexcept", "string", "system_error", "typeinfo",
    "valarray", "variant", "vector", "verbose_abort",
    # LIBCXX_ENABLE_RANDOM_DEVICE
    "random",
    # LIBCXX_ENABLE_LOCALIZATION
    "fstream", "ios", "ios.instantiations", "iostream", "locale", "ostream", "regex", "strstream",
    # LIBCXX_ENABLE_FILESYSTEM
    "filesystem/directory_entry", "filesystem/directory_iterator", "filesystem/filesystem_clock",
    "filesystem/filesystem_error", "filesystem/int128_builtins", "filesystem/operations", "filesystem/path"))
LIBCXX_EXPERIMENTAL_SOURCES = ("libcxx/src/experimental/keep.cpp",
                               "libcxx/src/experimental/log_hardening_failure.cpp")

# Every compile: WASI preview 1, the optimisation of Debian's prebuilt libc++, and Wasm exception handling in the
# standard (exnref) encoding that wasmtime runs and setjmp/longjmp already uses (not the legacy `try`).
COMMON_FLAGS = ("--target=wasm32-wasip1", "-O2", "-DNDEBUG", "-fwasm-exceptions", "-mllvm",
                "-wasm-use-legacy-eh=false")
# -nostdinc++ and the entry's own headers come in front of these (cxx_runtime.py): the sysroot's libc++ headers
# carry Debian's __config_site.
CXX_FLAGS = ("-std=c++23", "-fvisibility=hidden", "-fvisibility-inlines-hidden")
# NDEBUG also matters to libunwind: without it, Unwind-wasm.c's logging calls logAPIs(), which is not defined.
LIBUNWIND_FLAGS = ("-D_LIBUNWIND_HIDE_SYMBOLS", "-D_LIBUNWIND_HAS_NO_THREADS", "-D_LIBUNWIND_IS_NATIVE_ONLY",
                   "-fvisibility=hidden", "-I", "libunwind/include")
LIBCXXABI_FLAGS = ("-D_LIBCXXABI_BUILDING_LIBRARY", "-DLIBCXXABI_USE_LLVM_UNWINDER", "-D_LIBCXXABI_HAS_NO_THREADS",
                   "-D_LIBCPP_BUILDING_LIBRARY", "-I", "libcxxabi/include", "-I", "libcxx/src")
# libc++'s charconv parses floats with LLVM libc's shared code, which zig ships as libcxx/libc.
LIBCXX_FLAGS = ("-D_LIBCPP_BUILDING_LIBRARY", "-DLIBCXX_BUILDING_LIBCXXABI", "-D_LIBCPP_REMOVE_TRANSITIVE_INCLUDES",
                "-DLIBC_NAMESPACE=__llvm_libc_common_utils", "-I", "libcxx/src", "-I", "libcxx/libc", "-I",
                "libcxxabi/include")

# The libc++ configuration: Debian's __config_site (the one user code compiles against without the switch), with
# these values changed. Each line must be there, spelled `#define NAME VALUE`.
CONFIG_SITE = {
    # <fstream> and <filesystem>: Debian's wasm32 build leaves them out. Over WASI they work on preopened dirs.
    "_LIBCPP_HAS_FILESYSTEM": "1",
    # With the musl flag on, LLVM 22's filesystem/operations.cpp calls copy_file_range(), which wasi-libc (musl
    # without Linux syscalls) does not declare: https://github.com/llvm/llvm-project/issues/181543. wasi-sdk turns the
    # flag off for the same reason (WebAssembly/wasi-sdk#585); it only picks how <__mbstate_t.h> finds mbstate_t.
    "_LIBCPP_HAS_MUSL_LIBC": "0",
}


def config_site(debian_text: str) -> str | None:
    """Debian's __config_site with CONFIG_SITE applied; None if a line to change is not there."""
    text = debian_text
    for name, value in CONFIG_SITE.items():
        text, count = re.subn(rf"^#define {re.escape(name)} \S+$", f"#define {name} {value}", text, flags=re.M)
        if count != 1:
            return None
    return text


# The tag every C++ throw and catch names. clang 22 expects it from compiler-rt's builtins
# (builtins/wasm/__cpp_exception.S), which Debian's 22.1.8 builtins archive, the pinned one, lacks. Written as C with
# top-level asm, not as a .S file: Debian's clang runs through the glibc loader, and from there the driver cannot
# start its separate assembler process (cc1as); -fintegrated-cc1 keeps only cc1 in-process.
TAG_SOURCE = """\
/* Written by scons-wasi (toolchain/cxx_runtime_recipe.py): the Wasm tag of C++ exceptions. */
__asm__(".globl __cpp_exception\\n.tagtype __cpp_exception i32\\n__cpp_exception:\\n");
"""

# An exception that leaves main() must end in std::terminate, whose handler prints "libc++abi: terminating due to
# uncaught exception of type …: what()". Wasm exception handling has no search phase, so __cxa_throw cannot learn
# that no handler exists: the exception would leave _start and the host would see only "thrown Wasm exception".
# Programs are linked with --wrap=__main_void (the function wasi-libc's _start calls), so main runs inside this.
MAIN_WRAPPER_SOURCE = """\
// Written by scons-wasi (toolchain/cxx_runtime_recipe.py): an uncaught exception ends in std::terminate.
#include <exception>
extern "C" int __real___main_void(void);
extern "C" int __wrap___main_void(void) {
  try {
    return __real___main_void();
  } catch (...) {
    std::terminate();
  }
}
"""
MAIN_WRAPPER_LINK_FLAG = "-Wl,--wrap=__main_void"
