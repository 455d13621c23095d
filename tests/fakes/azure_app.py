"""Packages of a small web app for the azure tests and benchmarks, with a release that
fails a share of its API requests (a regression only live traffic shows).

`/health` is always healthy (warm-up and smoke tests pass); `/api/...` answers 500 for
every n-th request when the package was built with `error_every=n`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

APP = '''"""Serve on $PORT: /health and /api/..., failing every ERROR_EVERY-th API request."""

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HERE = Path(__file__).parent
VERSION = (HERE / "VERSION").read_text().strip()
ERROR_EVERY = int((HERE / "ERROR_EVERY").read_text()) if (HERE / "ERROR_EVERY").exists() else 0
LOCK = threading.Lock()
SEEN = [0]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_GET(self):
        status = 200
        if self.path.startswith("/api/") and ERROR_EVERY:
            with LOCK:
                SEEN[0] += 1
                status = 500 if SEEN[0] % ERROR_EVERY == 0 else 200
        elif self.path.split("?")[0] != "/health" and not self.path.startswith("/api/"):
            status = 404
        body = json.dumps({"status": "healthy", "version": VERSION}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
server.daemon_threads = True
server.serve_forever()
'''


def app_package(folder: Path, version: str, *, error_every: int = 0) -> Path:
    """A zip of the app reporting `version`; `error_every=20` fails 5 % of API requests."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / f"app-{version}.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("app/__init__.py", "")
        zipped.writestr("app/__main__.py", APP)
        zipped.writestr("app/VERSION", version)
        if error_every:
            zipped.writestr("app/ERROR_EVERY", str(error_every))
    return archive
