"""The lock generator (`python -m wasi_toolchain.lockgen`): resolves toolchain.in.toml against the upstream
indexes into toolchain.lock. Nothing a build imports lives here."""
