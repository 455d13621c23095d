"""HTTP plumbing: a threading HTTP/1.1 server with keep-alive that speaks JSON."""

from __future__ import annotations

import json
import sys
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from . import release
from .service import HttpError, JsonBody, Regression, Request, Response, Service

MAX_BODY = 1 << 20
IDLE_TIMEOUT = 75.0
"""Seconds an idle keep-alive connection is kept; a proxy's pool must expect it to close."""


class TesoroServer(ThreadingHTTPServer):
    """One thread per connection; the service is shared."""

    daemon_threads = True
    # The default listen backlog (5) drops connections when a load generator opens many at once.
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], service: Service) -> None:
        super().__init__(address, TesoroHandler)
        self.service = service


class TesoroHandler(BaseHTTPRequestHandler):
    """Parses requests, calls the service, writes JSON with a Content-Length."""

    protocol_version = "HTTP/1.1"
    server_version = f"tesoro/{release.VERSION}"
    sys_version = ""
    # Headers and body go out in separate writes; without this, Nagle's algorithm and the
    # client's delayed ACK add 40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT
    server: TesoroServer

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            response = self.server.service.handle(self._request())
        except HttpError as exc:
            response = Response(exc.status, {"error": exc.message})
        except Exception as exc:
            # An unexpected error is the app's bug: log it, answer 500, keep serving.
            self.log_error("%s %s failed: %s", self.command, self.path, exc)
            # The injected regression is expected: a traceback for each would flood the log.
            if not isinstance(exc, Regression):
                traceback.print_exc(file=sys.stderr)
            response = Response(500, {"error": "internal error", "detail": str(exc)})
        self._send(response.status, response.body)

    def _request(self) -> Request:
        url = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        raw = self._read_body(headers)
        body: JsonBody = {}
        if raw.strip():
            try:
                parsed: Any = json.loads(raw)
            except (ValueError, UnicodeDecodeError):
                raise HttpError(400, "request body is not valid JSON") from None
            if not isinstance(parsed, dict):
                raise HttpError(400, "request body must be a JSON object")
            body = parsed
        return Request(
            method=self.command,
            path=url.path.rstrip("/") or "/",
            query=dict(parse_qsl(url.query)),
            headers=headers,
            body=body,
        )

    def _read_body(self, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            self.close_connection = True
            raise HttpError(400, "bad Content-Length") from None
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                raise HttpError(400, "bad chunked encoding") from None
            if size == 0:
                # Trailer section: skip header lines up to the empty one.
                while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_BODY:
                self.close_connection = True
                raise HttpError(413, f"request body larger than {MAX_BODY} bytes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(8)

    def _send(self, status: int, body: JsonBody) -> None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Steady traffic is hundreds of requests a second: log only server errors.
        if isinstance(code, int) and code >= 500:
            super().log_request(code, size)

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"tesoro {release.VERSION}: {format % args}\n")
