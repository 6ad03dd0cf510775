"""scons-wasi core: pinned LLVM + wasi-libc built from source -> hermetic WASI sysroot. Never imports SCons."""
