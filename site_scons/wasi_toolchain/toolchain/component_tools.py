"""The component tools entry: what turns a linked core module into a WASI preview-2 component.

A store entry of its own, apart from the toolchain entry, so the default (preview 1) cold start fetches nothing
more and its sysroot key does not change. It holds:

    tool/        Debian's wasm-tools package and its pinned runtime (libc6, libgcc-s1), unpacked, never modified
    bin/         wasm-tools: a wrapper that starts it through the pinned glibc's loader, as the debian LLVM
                 provider starts its tools (llvm.loader_tool_spec), so it runs on any glibc Linux
    adapter/     wasi_snapshot_preview1.command.wasm, from the npm tarball pinned as [wasip1-adapter]

Why the adapter: trixie's wasi-libc for wasm32-wasip2 still calls the preview-1 functions underneath (its libc.a
imports ``wasi_snapshot_preview1``), so ``wasm-tools component new`` must be told how to satisfy those imports
with preview-2 calls: ``--adapt wasi_snapshot_preview1=<adapter>``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..settings import Settings
from ..errors import HostNotSupported, ToolchainError
from ..host import build_host, emulator_for
from ..pins.toolchain_lock import ComponentToolPins, Lock
from ..store.store import STAMP, Store
from ..log import Log, log_to_stderr

RECIPE_VERSION = 1
ADAPTER_NAME = "wasi_snapshot_preview1.command.wasm"
WASM_TOOLS_BINARY = "usr/bin/wasm-tools"


@dataclass(frozen=True)
class ComponentTools:
    key: str
    host: str
    root: Path
    emulator: str | None = None  # WASI_HOST_EMULATOR, for another host's entry (WASI_HOST)

    @property
    def wasm_tools(self) -> Path:
        return self.root / "bin" / "wasm-tools"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter" / ADAPTER_NAME

    def is_complete(self) -> bool:
        return (self.root / STAMP).is_file() and self.wasm_tools.is_file() and self.adapter.is_file()


def pins(lock: Lock) -> ComponentToolPins:
    if lock.component_tools is None:
        raise ToolchainError(f"{lock.path} pins no component tools ([wasm-tools] and [wasip1-adapter]), which "
                             f"WASI_TARGET='wasm32-wasip2' needs",
                             hint="use a toolchain.lock that has them, or WASI_TARGET='wasm32-wasip1'")
    return lock.component_tools


def key_inputs(lock: Lock, host: str, emulator: str | None = None) -> dict[str, object]:
    tool_pins = pins(lock)
    files = tool_pins.wasm_tools.get(host)
    if files is None:
        raise HostNotSupported(
            f"WASI_TARGET='wasm32-wasip2' needs wasm-tools, which {lock.path} pins for "
            f"{', '.join(sorted(tool_pins.wasm_tools)) or 'no host'}, not for this host ({host})",
            hint="build preview-2 components on a pinned Linux host, or use WASI_TARGET='wasm32-wasip1'")
    return {"recipe": RECIPE_VERSION, "host": host, "wasm-tools": [a.sha256 for a in files],
            "adapter": {"tarball": tool_pins.adapter.sha256, "member": tool_pins.adapter_member,
                        "sha256": tool_pins.adapter_member_sha256},
            **({"emulator": os.path.basename(emulator)} if emulator else {})}


def plan(lock: Lock, settings: Settings, *, host: str | None = None) -> ComponentTools:
    """Key and paths of the entry; pure and cheap (reads only the parsed lock)."""
    host = host or build_host(settings.host, settings.host_emulator)
    emulator = emulator_for(host, settings.host, settings.host_emulator)
    digest = hashlib.sha256(json.dumps(key_inputs(lock, host, emulator), sort_keys=True).encode()).hexdigest()
    key = f"component-tools-{host}-{digest[:24]}"
    return ComponentTools(key=key, host=host, root=Store(settings.cache_dir).entry_path(key), emulator=emulator)


def ensure(tools: ComponentTools, lock: Lock, settings: Settings, *, log: Log = log_to_stderr) -> ComponentTools:
    """Make sure the entry exists and is complete; fetch and unpack it if not."""
    if tools.is_complete():
        return tools
    from ..store.archive import unpack
    from ..store.fetch import fetch
    from .launch import check_starts, emulated, glibc_multiarch, loader_tool_spec, wrapper_script
    from ..pins.npm import extract_member

    tool_pins = pins(lock)
    store = Store(settings.cache_dir, lock_timeout=settings.lock_timeout)
    with store.building_entry(tools.key, f"building the component tools {tools.key}", complete=tools.is_complete,
                              log=log, kill_points="component-tools") as build:
        if build is None:
            return tools
        log(f"wasi: preparing the component tools {tools.key} (wasm-tools {tool_pins.wasm_tools_version}, "
            f"the preview-1 adapter of jco {tool_pins.adapter_version})")
        adapter_tarball = fetch(tool_pins.adapter, store, settings, log=log)
        debs = [fetch(a, store, settings, log=log) for a in tool_pins.wasm_tools[tools.host]]
        temp = build.temp
        libraries = f"usr/lib/{glibc_multiarch(tools.host)}/"
        for deb in debs:
            unpack(deb, temp / "tool", include=lambda name: name == WASM_TOOLS_BINARY or name.startswith(libraries))
        if not (temp / "tool" / WASM_TOOLS_BINARY).is_file():
            raise ToolchainError(f"the pinned packages {', '.join(d.name for d in debs)} have no "
                                 f"{WASM_TOOLS_BINARY}", hint="check [wasm-tools] in toolchain.in.toml")
        (temp / "bin").mkdir()
        wrapper = temp / "bin" / "wasm-tools"
        spec = emulated(loader_tool_spec(tools.host, "tool", WASM_TOOLS_BINARY), tools.emulator)
        wrapper.write_text(wrapper_script(spec), encoding="utf-8")
        wrapper.chmod(0o755)
        check_starts(wrapper, "Debian's wasm-tools",
                     hint="add the package that ships it to `runtime` of [wasm-tools] in toolchain.in.toml and "
                          "regenerate the lock")
        extract_member(adapter_tarball, tool_pins.adapter_member, tool_pins.adapter_member_sha256,
                       temp / "adapter" / ADAPTER_NAME)
        build.publish({"key": tools.key, **key_inputs(lock, tools.host, tools.emulator)})
    return tools
