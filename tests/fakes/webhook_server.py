"""Local HTTP servers for notification tests: a generic JSON webhook and Slack.

`FakeHttpServer` is the shared base of every fake here (GitHub, PagerDuty too): a
threaded server on loopback, optionally over TLS, that records each request and hands
it to `handle()`. `WebhookServer` answers like a JSON webhook (Apprise `json://`) and can
fail, or hang, on purpose. `SlackServer` is Slack's incoming-webhook contract behind a
TLS-intercepting HTTPS proxy for `hooks.slack.com`, so Apprise's own Slack plugin is used
unchanged: point `HTTPS_PROXY` at it and `REQUESTS_CA_BUNDLE` at its test CA.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

Response = tuple[int, dict[str, str], bytes]


@dataclass
class RecordedRequest:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    host: str = ""

    @property
    def text(self) -> str:
        """The body as text."""
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body or b"null")


def json_response(status: int, document: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer."""
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(document).encode(),
    )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = RecordedRequest(
            method=self.command,
            path=parts.path,
            query=parse_qs(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            host=getattr(self, "_tunnel_host", ""),
        )
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
        status, headers, payload = owner.handle(request)
        if status < 0:  # hang: hold the connection until the server stops
            owner.stopping.wait()
            self.close_connection = True
            return
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815 - stdlib names

    def do_CONNECT(self) -> None:
        owner = self.server.owner
        host = self.path.rsplit(":", 1)[0]
        context = owner.intercept.get(host)
        if context is None:
            self.send_error(403, "not intercepted")
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        tls = context.wrap_socket(self.connection, server_side=True)
        self.connection = tls
        self.rfile = tls.makefile("rb")
        self.wfile = socketserver._SocketWriter(tls)  # type: ignore[attr-defined]  # the stdlib's own socket writer, private in typeshed
        self._tunnel_host = host
        self.close_connection = False


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: FakeHttpServer
    tls: ssl.SSLContext | None = None

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        if self.tls is not None:
            # Handshake in the handler thread, so one slow client never stalls accept().
            conn = self.tls.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
        return conn, addr


class FakeHttpServer:
    """A recording HTTP(S) server on 127.0.0.1; subclasses implement `handle`."""

    def __init__(self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self.requests: list[RecordedRequest] = []
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self.intercept: dict[str, ssl.SSLContext] = {}
        self._server = _Server((host, 0), _Handler)
        self._server.owner = self
        self._server.tls = tls
        self.scheme = "https" if tls is not None else "http"
        self.host = host
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        """Base URL, e.g. http://127.0.0.1:PORT."""
        return f"{self.scheme}://{self.host}:{self.port}"

    def start(self) -> Self:
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release hanging requests."""
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def handle(self, request: RecordedRequest) -> Response:
        """Answer a request; a negative status holds the connection open (a hung service)."""
        return 404, {}, b""

    def logged_text(self) -> str:
        """Everything the server received (paths, queries, headers, bodies) as one text."""
        with self.lock:
            return "\n".join(
                f"{r.method} {r.host}{r.path} {r.query} {r.headers} {r.text}" for r in self.requests
            )

    def bodies_text(self) -> str:
        """Every request body received, as one text (what a service would store or show)."""
        with self.lock:
            return "\n".join(r.text for r in self.requests)


class WebhookServer(FakeHttpServer):
    """A generic JSON webhook (Apprise `json://host:port/path`).

    `mode`: "ok" answers 200; "fail" answers 503; "hang" never answers;
    `fail_first` answers 503 to that many requests before behaving per `mode`.
    """

    def __init__(self, mode: str = "ok", fail_first: int = 0) -> None:
        super().__init__()
        self.mode = mode
        self.fail_first = fail_first
        self.received: list[Any] = []

    def handle(self, request: RecordedRequest) -> Response:
        if request.method != "POST":
            return 405, {}, b""
        with self.lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 503, {}, b"busy"
        if self.mode == "hang":
            return -1, {}, b""
        if self.mode == "fail":
            return 503, {}, b"unavailable"
        with self.lock:
            self.received.append(request.json())
        return 200, {"Content-Type": "text/plain"}, b"ok"


class SlackServer(FakeHttpServer):
    """Slack incoming webhooks (hooks.slack.com/services/T/B/C) behind an intercepting proxy.

    The proxy terminates TLS for hooks.slack.com with a certificate from `ca` (trustme).
    Answers follow Slack's contract: 200 `ok`; 404 `no_service` for an unknown webhook;
    400 `invalid_payload` without text, blocks or attachments.
    """

    def __init__(self, ca: Any, webhook_paths: set[str]) -> None:
        super().__init__()
        certificate = ca.issue_cert("hooks.slack.com")
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self.intercept["hooks.slack.com"] = context
        self.webhook_paths = set(webhook_paths)
        self.messages: list[dict[str, Any]] = []

    @property
    def proxy_url(self) -> str:
        """Value for HTTPS_PROXY."""
        return f"http://{self.host}:{self.port}"

    def handle(self, request: RecordedRequest) -> Response:
        if request.host != "hooks.slack.com" or request.method != "POST":
            return 404, {}, b""
        if request.path not in self.webhook_paths:
            return 404, {"Content-Type": "text/plain"}, b"no_service"
        try:
            payload = request.json()
        except ValueError:
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        if not isinstance(payload, dict) or not (
            payload.get("text") or payload.get("blocks") or payload.get("attachments")
        ):
            return 400, {"Content-Type": "text/plain"}, b"invalid_payload"
        with self.lock:
            self.messages.append(payload)
        return 200, {"Content-Type": "text/plain"}, b"ok"

    def message_texts(self) -> list[str]:
        """Every text field of every message received (blocks and attachments included)."""
        found: list[str] = []

        def walk(value: Any) -> None:
            if isinstance(value, dict):
                for key, item in value.items():
                    if key in {"text", "title"} and isinstance(item, str):
                        found.append(item)
                    else:
                        walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)

        with self.lock:
            for message in self.messages:
                walk(message)
        return found


def write_ca_bundle(ca: Any, folder: Path) -> Path:
    """The test CA as a PEM file (for REQUESTS_CA_BUNDLE or a ca_bundle setting)."""
    path = folder / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
