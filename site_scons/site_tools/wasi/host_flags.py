"""SCons's own flag variables, CCFLAGS, CFLAGS, CXXFLAGS and LINKFLAGS, in the WASI commands.

They reach the WASI commands only in an environment that builds for WebAssembly alone (tools=['wasi']): there they
can mean nothing else. In one that also builds for the host (tools=['default', 'wasi']: it has a host compiler, CC
or CXX), they are the host compiler's, and its WASI flags go in the WASI_* ones; a host flag set there is not
applied, and the first builder call that meets one says so (once per variable and run), naming the SConstruct line.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from wasi_toolchain.targets import buildvars

from .nodes import caller, checked

HOST_FLAGS = {"CCFLAGS": "WASI_CCFLAGS", "CFLAGS": "WASI_CFLAGS", "CXXFLAGS": "WASI_CXXFLAGS",
              "LINKFLAGS": "WASI_LINKFLAGS"}
_host_flags_reported: set[str] = set()


def builds_for_host(env: Any) -> bool:
    """Whether the environment has a host C or C++ compiler (tools=['default', 'wasi'], …)."""
    return bool(env.get("CC") or env.get("CXX"))


def check_host_flags(env: Any, names: Sequence[str]) -> None:
    """Validate the host flag variables that apply (WASI-only environment), or say once that they are not applied."""
    host = builds_for_host(env)
    for name in names:
        value = env.get(name)
        if not value:
            continue
        if not host:
            checked(buildvars.flag_list, name, value)
        elif name not in _host_flags_reported:
            _host_flags_reported.add(name)
            sys.stderr.write(
                f"\nscons: warning: {caller()}: {name}={_shown(value)} is not applied to the WASI builders: this "
                f"environment also builds for the host (it has {_host_compiler(env)}), so {name} is the host "
                f"compiler's; put WASI flags in {HOST_FLAGS[name]} (an environment with tools=['wasi'] alone applies "
                f"{name} too)\n")


def _host_compiler(env: Any) -> str:
    return f"CC={env['CC']!r}" if env.get("CC") else f"CXX={env.get('CXX')!r}"


def _shown(value: Any) -> str:
    return repr(list(value)) if not isinstance(value, str) else repr(value)


def host_flag(name: str) -> Any:
    """$CCFLAGS & co. in a WASI command: the variable in a WASI-only environment, nothing in one with a host
    compiler. Unset or empty gives nothing, so the default command lines (and their signatures) are unchanged."""

    def flags(target: Any, source: Any, env: Any, for_signature: bool) -> Any:
        return "" if builds_for_host(env) else env.get(name, "")

    return flags
