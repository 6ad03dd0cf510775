"""What a build of the user's targets uses: compiler and linker flags, hints for link and compile errors, running
modules in wasmtime and naming their traps."""
