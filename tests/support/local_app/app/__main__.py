"""Serve on $PORT: /health, /headers, POST (echo), /big, /slow, /env, /status, /exit, /ws.

/ws is a WebSocket endpoint: each text message comes back as "VERSION: message".

The version comes from app/VERSION. When app/CRASH exists the app fails at start
(exit code 3), as a broken release would; when app/HANG exists it never listens;
IGNORE_SIGTERM=1 makes it ignore SIGTERM.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).parent
VERSION = (HERE / "VERSION").read_text().strip() if (HERE / "VERSION").exists() else "dev"


class Handler(BaseHTTPRequestHandler):
    """One request at a time per connection, HTTP/1.1 keep-alive."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: tests send thousands of requests."""

    def _send(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Slot-Version", VERSION)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: object) -> None:
        self._send(status, json.dumps(data).encode())

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/health":
            self._json(200, {"status": "healthy", "version": VERSION, "pid": os.getpid()})
        elif url.path == "/headers":
            self._json(200, {"headers": [[k, v] for k, v in self.headers.items()]})
        elif url.path == "/env":
            self._json(200, {"value": os.environ.get(query.get("name", ""))})
        elif url.path == "/status":
            self._json(int(query.get("code", "200")), {"version": VERSION})
        elif url.path == "/slow":
            if "marker" in query:  # tells a test the request has reached this slot
                Path(query["marker"]).touch()
            time.sleep(int(query.get("ms", "100")) / 1000)
            self._json(200, {"version": VERSION})
        elif url.path == "/big":
            self._big(int(query.get("bytes", "1000000")))
        elif url.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            self._websocket()
        elif url.path == "/exit":
            self._json(200, {"exiting": True})
            self.wfile.flush()
            threading.Timer(0.05, os._exit, args=(int(query.get("code", "7")),)).start()
        else:
            self._json(404, {"error": "not found", "path": url.path})

    def do_POST(self) -> None:
        body = self._body()
        self._send(200, body, self.headers.get("Content-Type", "application/octet-stream"))

    def _websocket(self) -> None:
        # RFC 6455, just enough for an echo: unfragmented text frames, then close.
        key = self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        accept = base64.b64encode(hashlib.sha1(key.encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.end_headers()
        self.wfile.flush()
        while True:
            head = self.rfile.read(2)
            if len(head) < 2 or head[0] & 0x0F == 0x8:  # gone, or a close frame
                break
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(self.rfile.read(2), "big")
            mask = self.rfile.read(4)
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(self.rfile.read(size)))
            reply = f"{VERSION}: {data.decode()}".encode()
            self.wfile.write(bytes([0x81, len(reply)]) + reply)
            self.wfile.flush()
        self.close_connection = True

    def _big(self, size: int) -> None:
        # Chunked and generated piece by piece: the router must stream it.
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        piece = b"x" * 65536
        left = size
        while left:
            chunk = piece[: min(left, len(piece))]
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            left -= len(chunk)
        self.wfile.write(b"0\r\n\r\n")


def main() -> None:
    """Start serving, or fail like a broken release when asked to."""
    if (HERE / "CRASH").exists():
        print(f"boom: release {VERSION} cannot start (missing DATABASE_URL)", file=sys.stderr)
        sys.exit(3)
    if (HERE / "HANG").exists():
        print(f"release {VERSION} waits for ever before listening", flush=True)
        threading.Event().wait()
    if os.environ.get("IGNORE_SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a stubborn app: only SIGKILL stops it
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler)
    server.daemon_threads = True
    print(f"app {VERSION} listening on {server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
