"""A real nginx WebDAV server on a free loopback port, with a generated config, for the remote-cache tests.

Debian's ``nginx-light`` has the DAV module (``.ci/run`` installs it where apt is usable). Three locations share one
data directory:

- ``/cache/``: open, read and write;
- ``/token/``: only with ``Authorization: Bearer <TOKEN>``, else 401;
- ``/basic/``: HTTP basic auth for ``USER``/``PASSWORD``.

The access log records the method, path and status of every request.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

TOKEN = "t0ken-for-the-loopback-test"
USER, PASSWORD = "builder", "pa55-for-the-loopback-test"

CONFIG = """\
{user}daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log;
events {{ worker_connections 64; }}
http {{
  log_format methods '$request_method $uri $status';
  access_log {dir}/access.log methods;
  client_body_temp_path {dir}/tmp/body;
  proxy_temp_path {dir}/tmp/proxy;
  fastcgi_temp_path {dir}/tmp/fastcgi;
  uwsgi_temp_path {dir}/tmp/uwsgi;
  scgi_temp_path {dir}/tmp/scgi;
  server {{
    listen 127.0.0.1:{port};
    root {dir}/data;
    location /cache/ {{
      dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 1g;
    }}
    location /token/ {{
      if ($http_authorization != "Bearer {token}") {{ return 401; }}
      dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 1g;
    }}
    location /basic/ {{
      auth_basic "cache"; auth_basic_user_file {dir}/htpasswd;
      dav_methods PUT DELETE; create_full_put_path on; client_max_body_size 1g;
    }}
  }}
}}
"""


def nginx_binary() -> str | None:
    found = shutil.which("nginx")
    if found:
        return found
    return "/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Nginx:
    binary: str
    directory: Path
    port: int = 0
    process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.directory / "data"

    def url(self, location: str = "cache") -> str:
        return f"http://127.0.0.1:{self.port}/{location}"

    def start(self) -> None:
        for sub in ("data/cache", "data/token", "data/basic", "tmp"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        (self.directory / "htpasswd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        last_error = ""
        for _ in range(5):  # a free port can be taken by someone else before nginx binds it
            self.port = free_port()
            config = self.directory / "nginx.conf"
            config.write_text(CONFIG.format(user="user root;\n" if os.geteuid() == 0 else "",
                                            dir=self.directory, port=self.port, token=TOKEN))
            self.process = subprocess.Popen([self.binary, "-p", str(self.directory), "-e",
                                             str(self.directory / "error.log"), "-c", str(config)],
                                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if self._wait_until_listening():
                return
            self.process.kill()
            _, err = self.process.communicate()
            last_error = err.decode(errors="replace") + _tail(self.directory / "error.log")
        raise RuntimeError(f"nginx did not start: {last_error}")

    def _wait_until_listening(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop nginx and wait until it no longer answers (a fast shutdown: SIGTERM)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def access_log(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request so far, oldest first."""
        log = self.directory / "access.log"
        entries = []
        for line in log.read_text().splitlines() if log.exists() else []:
            method, path, code = line.split()
            entries.append((method, path, int(code)))
        return entries

    def entries(self, location: str = "cache") -> dict[str, bytes]:
        """The files nginx holds under ``location``, by path relative to it."""
        root = self.data / location
        return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:] if path.exists() else ""
