"""The demo's traffic driver counts the router's own 503s apart from the app's errors."""

from __future__ import annotations

import http.server
import json
import threading
import time
from collections.abc import Iterator

import pytest

from turnout.demo.traffic import TrafficDriver


class _Answers(http.server.BaseHTTPRequestHandler):
    """/router answers like the router with no version deployed; /app like a failing app."""

    def do_GET(self) -> None:
        if self.path == "/router":
            body, kind, status = b"no version is deployed\n", "text/plain; charset=utf-8", 503
        else:
            body, kind, status = json.dumps({"error": "boom"}).encode(), "application/json", 500
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def server() -> Iterator[str]:
    """A local HTTP server with both kinds of failure."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _drive(url: str) -> TrafficDriver:
    driver = TrafficDriver(url, rate=50.0, clients=1)
    driver.start()
    deadline = time.monotonic() + 10
    while driver.snapshot().sent < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    driver.stop()
    return driver


def test_router_503s_are_not_counted_as_the_apps_errors(server: str) -> None:
    """Plain-text 503s count as the router's answers, never as server errors of the app."""
    counts = _drive(server + "/router").snapshot()
    assert counts.sent >= 5 and counts.router_unavailable == counts.sent
    assert counts.server_errors == 0 and counts.app_errors_by_second == {}


def test_the_apps_500s_are_server_errors_kept_by_second(server: str) -> None:
    """The app's JSON 500s are server errors, each kept under the second it happened in."""
    counts = _drive(server + "/app").snapshot()
    assert counts.sent >= 5 and counts.server_errors == counts.sent
    assert counts.router_unavailable == 0
    assert sum(counts.app_errors_by_second.values()) == counts.server_errors
