"""Building a store entry: the LLVM providers, the sysroot recipe and its steps (libc flavours, libc++, extra
symbols), and the host tools (wasm-opt, the component tools)."""
