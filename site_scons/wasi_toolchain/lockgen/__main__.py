"""`python -m wasi_toolchain.lockgen`: write toolchain.lock from toolchain.in.toml, or --check that it is current."""

from __future__ import annotations

import sys

from .generate import main

sys.exit(main())
