"""`python -m wasi_toolchain.symbolize MODULE [TRAP_FILE]`: the command users type, kept at its old path.

The code is in targets/symbolize.py.
"""

from __future__ import annotations

from .targets.symbolize import main

if __name__ == "__main__":
    raise SystemExit(main())
