"""A stand-in toolchain that a cold `scons wasi-toolchain` can fetch and build in a second or two, offline.

It exercises the real code path end to end -- lock, fetch (loopback HTTP or pip from a file:// index), archive,
the ziglang provider's layout and wrappers, `make` of a wasi-libc-like Makefile, the stack-protector step, the
manifest, atomic publication -- with generated pins:

- a ziglang-style wheel whose ``ziglang/zig`` is a small Python script that answers like clang/ar (it writes
  placeholder objects; tests/test_e2e.py is where real clang runs), plus a filler member so the download spans many
  network chunks;
- a Debian package holding a placeholder ``libclang_rt.builtins-wasm32.a``;
- a Debian-like wasi-libc package with the files the default flavour (WASI_LIBC='debian') copies and checks;
- a wasi-libc-like source tarball (WASI_LIBC='source') whose Makefile compiles four files through $(CC), pauses,
  and archives them. It appends a line to a counter file per build (so tests can count sysroot builds) and touches
  ``$(OBJDIR)/.make-midway`` before its pause (so a test can kill the build in the middle of make).
"""

from __future__ import annotations

import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import tarfile

from .helpers import (BUILTINS_MEMBER, LIBCXX_HEADERS, LIBCXX_LIBRARIES, artifact_toml, make_deb, make_tar, make_zip,
                     sha256)
from wasi_toolchain.host import KNOWN_HOSTS, detect_host

BUILTINS_NAME = "libclang-rt-22-dev-wasm32_22.1.8-1~deb13u5_all.deb"
BUILTINS_POOL = f"pool/main/l/llvm-toolchain-22/{BUILTINS_NAME}"
LIBCXX_NAME = "libc++-22-dev-wasm32_22.1.8-1~deb13u5_all.deb"
LIBCXX_POOL = f"pool/main/l/llvm-toolchain-22/{LIBCXX_NAME}"
LIBC_DEB_NAME = "wasi-libc_0.0~git20241209.574b88d-2_all.deb"
LIBC_DEB_POOL = f"pool/main/w/wasi-libc/{LIBC_DEB_NAME}"
LIBC_NAME = "wasi-libc_0.0~git20220510.9886d3d.orig.tar.xz"
LIBC_POOL = f"pool/main/w/wasi-libc/{LIBC_NAME}"
WHEEL_TAGS = {
    "linux-x86_64": "manylinux_2_12_x86_64",
    "linux-aarch64": "manylinux_2_17_aarch64",
    "macos-x86_64": "macosx_13_0_x86_64",
    "macos-arm64": "macosx_13_0_arm64",
}

FAKE_ZIG = '''#!{python}
# Stand-in zig: answers the few clang/ar calls the sysroot recipe makes.
import hashlib, os, sys
tool, args = sys.argv[1], sys.argv[2:]
if tool == "clang":
    if "-print-libgcc-file-name" in args:
        resource = os.path.normpath(args[args.index("-resource-dir") + 1])
        print(os.path.join(resource, "lib", "wasm32-unknown-wasip1", "libclang_rt.builtins.a"))
    elif "-o" in args:
        sources = [a for a in args if a.endswith(".c")]
        digest = hashlib.sha256(b"".join(open(s, "rb").read() for s in sources)).digest()
        with open(args[args.index("-o") + 1], "wb") as out:
            # A valid module (what the tool reads after a link): the digest in a custom section.
            out.write(b"\\0asm\\1\\0\\0\\0\\0" + bytes([8 + len(digest)]) + b"\\7standin" + digest)
elif tool == "ar":
    archive, members = args[1], args[2:]
    with open(archive, "ab") as out:
        if out.tell() == 0:
            out.write(b"!<arch>\\n")
        for member in members:
            out.write(os.path.basename(member).encode() + b"\\n" + open(member, "rb").read())
elif tool not in ("ranlib", "wasm-ld"):
    sys.exit("stand-in zig: unexpected " + " ".join(sys.argv[1:]))
'''

MAKEFILE = """\
# Stand-in for wasi-libc's Makefile: the same variables (CC, SYSROOT, OBJDIR, EXTRA_CFLAGS), AR derived from CC.
AR = $(dir $(CC))llvm-ar
LIB = $(SYSROOT)/lib/wasm32-wasi
OBJS = $(OBJDIR)/a.o $(OBJDIR)/b.o $(OBJDIR)/c.o $(OBJDIR)/d.o

$(LIB)/libc.a: $(OBJS)
\ttouch $(OBJDIR)/.make-midway
\tsleep {pause}
\techo built >> {counter}
\tmkdir -p $(LIB) $(SYSROOT)/include
\tcp stdio.h $(SYSROOT)/include/
\t$(AR) rcs $@ $(OBJS)
\tcp $(OBJDIR)/a.o $(LIB)/crt1.o

$(OBJDIR)/%.o: %.c
\t@mkdir -p $(OBJDIR)
\t$(CC) $(EXTRA_CFLAGS) -c $< -o $@

check-symbols:
\tfalse
"""


@dataclass
class Standin:
    """Generated pins: file bodies by name, and a lock that points at them."""

    files: dict[str, bytes]  # file name -> bytes
    lock: str
    counter: Path  # one line per sysroot build
    host: str

    def builds(self) -> int:
        return len(self.counter.read_text().splitlines()) if self.counter.exists() else 0

    @property
    def host_wheel(self) -> str:
        return wheel_name(self.host)

    def sha(self, name: str) -> str:
        return sha256(self.files[name])


def wheel_name(host: str) -> str:
    return f"ziglang-0.17.1-py3-none-{WHEEL_TAGS[host]}.whl"


def standin_wheel(host: str, *, full: bool, filler_bytes: int = 2_500_000) -> bytes:
    tag = WHEEL_TAGS[host]
    members: list[tuple[str, bytes] | tuple[str, bytes, int]] = [
        ("ziglang/__init__.py", b""),
        ("ziglang-0.17.1.dist-info/METADATA", b"Metadata-Version: 2.1\nName: ziglang\nVersion: 0.17.1\n"),
        ("ziglang-0.17.1.dist-info/WHEEL", f"Wheel-Version: 1.0\nRoot-Is-Purelib: false\nTag: py3-none-{tag}\n"
                                            .encode()),
        ("ziglang-0.17.1.dist-info/RECORD", b""),
    ]
    if full:
        members.append(("ziglang/zig", FAKE_ZIG.format(python=sys.executable).encode(), 0o100755))
        members.append(("ziglang/lib/include/stddef.h", b"/* stand-in */\n"))
        members += [(f"ziglang/lib/include/h{i:02}.h", f"/* {i} */\n".encode()) for i in range(60)]
        # Incompressible, never unpacked (the provider takes only zig and lib/include): it makes the download long.
        members.append(("ziglang/lib/libc/filler.bin", random.Random(host).randbytes(filler_bytes)))
    else:
        members.append(("ziglang/placeholder", f"stand-in for {host}\n".encode()))
    return make_zip(members)


def debian_libc_members() -> list[tarfile.TarInfo | tuple[str, bytes]]:
    """The layout of Debian's wasi-libc package, with placeholder files: what libc_debian copies and checks."""
    members: list[tarfile.TarInfo | tuple[str, bytes]] = []
    for name in ("stdio.h", "setjmp.h"):
        members.append((f"./usr/include/wasm32-wasi/{name}", b"/* stand-in */\n"))
        members.append((f"./usr/include/wasm32-wasip2/{name}", b"/* stand-in */\n"))
    for name in ("libc.a", "libsetjmp.a", "crt1-command.o", "crt1-reactor.o", "libwasi-emulated-signal.a"):
        members.append((f"./usr/lib/wasm32-wasi/{name}", b"!<arch>\n"))
        members.append((f"./usr/lib/wasm32-wasip2/{name}", b"!<arch>\n"))
    for directory in ("include", "lib"):
        link = tarfile.TarInfo(f"./usr/{directory}/wasm32-wasip1")
        link.type, link.linkname = tarfile.SYMTYPE, "wasm32-wasi"
        members.append(link)
    members.append(("./usr/share/doc/wasi-libc/copyright", b"stand-in\n"))
    return members


def make_standin(workdir: Path, *, llvm_locator: str, pause: float = 0.3) -> Standin:
    """Pins for every known host (only this host's wheel is a working stand-in); ``llvm_locator`` is a format
    string given the wheel's file name, e.g. ``http://127.0.0.1:PORT/wheels/{name}`` or ``pypi:ziglang==0.17.1``."""
    workdir.mkdir(parents=True, exist_ok=True)
    counter = workdir / "make-runs.log"
    host = detect_host()
    files: dict[str, bytes] = {
        BUILTINS_NAME: make_deb([(f"./{BUILTINS_MEMBER}", b"!<arch>\nstand-in builtins\n")]),
        LIBCXX_NAME: make_deb([(f"./{LIBCXX_HEADERS}/{header}", b"/* stand-in */\n")
                               for header in ("__config", "__config_site", "cxxabi.h")]
                              + [(f"./{LIBCXX_LIBRARIES}/{lib}", b"!<arch>\n") for lib in ("libc++.a", "libc++abi.a")]),
        LIBC_DEB_NAME: make_deb(debian_libc_members()),
        LIBC_NAME: make_tar([
            ("wasi-libc-standin/Makefile", MAKEFILE.format(pause=pause, counter=counter).encode()),
            *[(f"wasi-libc-standin/{n}.c", f"int {n}(void) {{ return 0; }}\n".encode()) for n in "abcd"],
            ("wasi-libc-standin/stdio.h", b"/* stand-in */\n"),
        ]),
    }
    llvm = {}
    for known in KNOWN_HOSTS:
        name = wheel_name(known)
        files[name] = standin_wheel(known, full=known == host)
        llvm[known] = artifact_toml(name, files[name], [llvm_locator.format(name=name)])
    from .helpers import lock_text

    lock = lock_text(llvm=llvm,
                     builtins=artifact_toml(BUILTINS_NAME, files[BUILTINS_NAME], [f"debian:{BUILTINS_POOL}"]),
                     wasi_libc=artifact_toml(LIBC_DEB_NAME, files[LIBC_DEB_NAME], [f"debian:{LIBC_DEB_POOL}"]),
                     wasi_libc_source=artifact_toml(LIBC_NAME, files[LIBC_NAME], [f"debian:{LIBC_POOL}"]),
                     libcxx=[artifact_toml(LIBCXX_NAME, files[LIBCXX_NAME], [f"debian:{LIBCXX_POOL}"])])
    return Standin(files=files, lock=lock, counter=counter, host=host)


def serve_debian(server_files: dict[str, bytes], standin: Standin, prefix: str = "/debian") -> None:
    server_files[f"{prefix}/{BUILTINS_POOL}"] = standin.files[BUILTINS_NAME]
    server_files[f"{prefix}/{LIBC_POOL}"] = standin.files[LIBC_NAME]
    server_files[f"{prefix}/{LIBC_DEB_POOL}"] = standin.files[LIBC_DEB_NAME]
    server_files[f"{prefix}/{LIBCXX_POOL}"] = standin.files[LIBCXX_NAME]


def simple_index(root: Path, standin: Standin) -> str:
    """A PEP 503 index on disk holding every host's stand-in wheel, for pip through file://."""
    project = root / "simple" / "ziglang"
    project.mkdir(parents=True, exist_ok=True)
    links = []
    for host in KNOWN_HOSTS:
        name = wheel_name(host)
        (project / name).write_bytes(standin.files[name])
        links.append(f'<a href="{name}#sha256={sha256(standin.files[name])}">{name}</a>')
    (project / "index.html").write_text("<html><body>" + "".join(links) + "</body></html>")
    return (root / "simple").as_uri() + "/"


def write_project(root: Path, standin: Standin) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "SConstruct").write_text("env = Environment(tools=['wasi'])\n")
    (root / "toolchain.lock").write_text(standin.lock)
    return root


def scons_environment(cache: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "WASI_CACHE_DIR": str(cache), "WASI_JOBS": "2", **extra}
