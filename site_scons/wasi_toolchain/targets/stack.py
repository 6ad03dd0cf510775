"""The two stacks of a running module, and what to say when one runs out.

- **The C stack** lives in the module's linear memory; its size is fixed at link time (WASI_STACK_SIZE,
  buildvars.DEFAULT_STACK_SIZE). wasm-ld places it first, below the static data (``--stack-first``, its default), so
  the stack pointer starts at the stack's top and an overflow takes it below address 0: the access that overflows
  wraps to just under 4 GiB and faults (``memory fault at wasm address 0xffffff78 in linear memory of size …``)
  instead of overwriting data.
- **wasmtime's call stack** holds the frames of the compiled code, whatever the C code keeps in linear memory; its
  limit is the engine's ``max_wasm_stack`` (wasmtime's default 512 KiB), and running past it traps with ``call
  stack exhausted``. wasmtime-py 50 refuses (aborting the process) a ``max_wasm_stack`` above its async stack size,
  2 MiB, which it does not let an embedder raise: so 2 MiB is the most a run can have.
"""

from __future__ import annotations

import re

from ..errors import RunError
from ..wasm_binary import sections, sleb128, uleb128

DEFAULT_MAX_WASM_STACK_KB = 512  # wasmtime's own default
MAX_WASM_STACK_KB = 2048  # wasmtime-py 50: max_wasm_stack may not exceed the async stack size (2 MiB)
_FAULT = re.compile(r"memory fault at wasm address (0x[0-9a-f]+) in linear memory of size (0x[0-9a-f]+)")
# How far below address 0 a fault still counts as the C stack's: the stack pointer wraps to 2**32 - n after an
# overflow by n bytes, and an access is at most a frame away from it.
_BELOW_ZERO_WINDOW = 64 << 20
_GLOBAL_SECTION = 6
_I32, _I32_CONST, _END = 0x7F, 0x41, 0x0B


def check_max_wasm_stack_kb(value: object) -> int:
    if value is None:
        return DEFAULT_MAX_WASM_STACK_KB
    if isinstance(value, bool) or not isinstance(value, int) or not 64 <= value <= MAX_WASM_STACK_KB:
        raise RunError(f"WasiRun max_wasm_stack_kb: expected a whole number of KiB from 64 to {MAX_WASM_STACK_KB} "
                       f"(wasmtime-py's limit), got {value!r}",
                       hint=f"leave it out for wasmtime's default ({DEFAULT_MAX_WASM_STACK_KB} KiB)")
    return value


def initial_stack_pointer(module: bytes) -> int | None:
    """The start value of the module's first global when it is a mutable i32 set by i32.const: wasm-ld's
    __stack_pointer, the C stack's top (with the stack first, its size). None for anything else."""
    try:
        for section_id, _, start, end in sections(module):
            if section_id != _GLOBAL_SECTION:
                continue
            _, pos = uleb128(module, start + 1)  # the section's size
            count, pos = uleb128(module, pos)
            if count == 0 or module[pos] != _I32 or module[pos + 1] != 1 or module[pos + 2] != _I32_CONST:
                return None
            value, pos = sleb128(module, pos + 3)
            return value if pos < end and module[pos] == _END else None
    except (ValueError, IndexError):
        return None
    return None


def stack_hint(module: bytes, trap_message: str, max_wasm_stack_kb: int) -> str | None:
    """What to do about a trap that is a stack overflow, or None for any other trap."""
    if "call stack exhausted" in trap_message:
        if max_wasm_stack_kb < MAX_WASM_STACK_KB:
            return (f"wasmtime's call stack ran out (WasiRun max_wasm_stack_kb={max_wasm_stack_kb}): raise "
                    f"max_wasm_stack_kb= in the WasiRun call, up to {MAX_WASM_STACK_KB} (wasmtime-py's limit), or "
                    f"make the recursion shallower")
        return (f"wasmtime's call stack ran out at its limit (max_wasm_stack_kb={MAX_WASM_STACK_KB}, the most "
                f"wasmtime-py allows): make the recursion shallower")
    fault = _FAULT.search(trap_message)
    if fault is None:
        return None
    address, memory_size = int(fault.group(1), 16), int(fault.group(2), 16)
    if not (1 << 32) - _BELOW_ZERO_WINDOW <= address < (1 << 32) + _BELOW_ZERO_WINDOW or address < memory_size:
        return None
    top = initial_stack_pointer(module)
    size = f" (this module's: {_size(top)})" if top else ""
    return (f"stack overflow: raise WASI_STACK_SIZE{size}: the fault is just below address 0, where the C stack "
            f"ends (wasm-ld puts it first), e.g. WASI_STACK_SIZE=8 * 1024 * 1024 for the program")


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n % (1 << 20) == 0 else f"{n >> 10} KiB" if n % 1024 == 0 else f"{n} bytes"
