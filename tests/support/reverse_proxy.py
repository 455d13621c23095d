"""Debian's nginx as a reverse proxy in front of a local server, run as its own process in a
folder of its own (the package's service is not used), logging every request it passes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

NGINX = Path("/usr/sbin/nginx")


@dataclass
class Proxy:
    """The proxy's URL and its access log (one line per request: method, path, status)."""

    url: str
    log: Path

    def requests(self) -> list[str]:
        """Every request line it logged so far."""
        return self.log.read_text().splitlines() if self.log.exists() else []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def nginx(folder: Path, upstream: str, *, read_timeout: float) -> Iterator[Proxy]:
    """nginx on a free loopback port passing everything to `upstream` (host:port), with the
    `Host` header passed on and responses buffered as nginx does by default; it closes a
    response that sends nothing for `read_timeout` seconds."""
    folder.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    log = folder / "access.log"
    # As root, nginx's workers would run as nobody, who cannot enter the test's folders.
    user = "user root;" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""
{user}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 256; }}
http {{
    log_format line '$request_method $uri $status';
    access_log {log} line;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            proxy_read_timeout {round(read_timeout * 1000)}ms;
        }}
    }}
}}
"""
    )
    process = subprocess.Popen(
        [str(NGINX), "-c", str(conf), "-p", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    problem = process.communicate()[1]
                    raise AssertionError(f"nginx did not start: {problem!r}") from None
                time.sleep(0.05)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        process.wait(timeout=10)
