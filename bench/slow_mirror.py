"""How long a build waits on a mirror that is slow to answer, with a good second mirror configured: one file
fetched from two loopback mirrors, the first sending its response headers a byte every 0.5 s, with the header bound
(WASI_FETCH_HEADER_TIMEOUT, default 5 s) and without it (86400 s: only the rate bound, WASI_FETCH_GRACE=30 s,
cuts the slow mirror off, as before the bound existed). Medians of RUNS fetches each, alternating.

    python bench/slow_mirror.py [RUNS]
"""

from __future__ import annotations

import hashlib
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from common import fmt_seconds, machine_line, markdown_table, median

from wasi_toolchain.pins.toolchain_lock import Artifact
from wasi_toolchain.settings import Settings
from wasi_toolchain.store import fetch as fetch_module
from wasi_toolchain.store.fetch import fetch
from wasi_toolchain.store.store import Store

PAYLOAD = bytes(range(251)) * 4200
POOL = "pool/main/s/slow/slow_1.0_all.deb"


class Mirror(BaseHTTPRequestHandler):
    slow = False

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(PAYLOAD)}\r\nX-Padding: {'x' * 100}\r\n\r\n".encode()
        self.close_connection = True
        try:
            if self.slow:
                for byte in head:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(0.5)
            else:
                self.wfile.write(head)
            self.wfile.write(PAYLOAD)
        except OSError:
            pass  # the client hung up: what a cut-off looks like


def serve(slow: bool) -> str:
    handler = type("Handler", (Mirror,), {"slow": slow})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


def one_fetch(mirrors: str, header_timeout: str) -> float:
    fetch_module._SLOW_SERVERS.clear()  # each run a fresh build
    with tempfile.TemporaryDirectory() as cache:
        settings = Settings.from_environ({"WASI_CACHE_DIR": cache, "WASI_DEBIAN_MIRROR": mirrors,
                                          "WASI_FETCH_HEADER_TIMEOUT": header_timeout})
        artifact = Artifact(name=POOL.rsplit("/", 1)[1], sha256=hashlib.sha256(PAYLOAD).hexdigest(),
                            size=len(PAYLOAD), locators=(f"debian:{POOL}",), where="bench")
        started = time.monotonic()
        fetch(artifact, Store(Path(cache)), settings, log=lambda message: None)
        return time.monotonic() - started


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    mirrors = f"{serve(slow=True)} {serve(slow=False)}"
    bounded: list[float] = []
    unbounded: list[float] = []
    for _ in range(runs):
        bounded.append(one_fetch(mirrors, "5"))
        unbounded.append(one_fetch(mirrors, "86400"))
    print(machine_line())
    print(markdown_table(["WASI_FETCH_HEADER_TIMEOUT", f"one file, median of {runs}", "runs"], [
        ["5 (the default)", fmt_seconds(median(bounded)), ", ".join(fmt_seconds(v) for v in bounded)],
        ["86400 (only the rate bound)", fmt_seconds(median(unbounded)), ", ".join(fmt_seconds(v) for v in unbounded)],
    ]))


if __name__ == "__main__":
    main()
