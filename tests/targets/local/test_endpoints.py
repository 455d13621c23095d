"""The host's own endpoints (/metrics, /health) and its health check, on the router's parser."""

from __future__ import annotations

import asyncio
import http.client
import socket
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.support.local_fixtures import free_port, running_host
from tests.support.router_harness import read_until_closed
from turnout.model import Release
from turnout.targets.local.endpoints import Reply, fetch_status, serve_endpoints
from turnout.targets.protocol import PRODUCTION


def _answer(path: str) -> Reply:
    if path == "/here":
        return Reply(200, b"here\n")
    return Reply(404, b"not here\n")


async def _with_server(check: Callable[[int], None]) -> None:
    server = await serve_endpoints(_answer, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        await asyncio.to_thread(check, port)
    finally:
        server.close()


def _keep_alive_and_statuses(port: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/here?x=1")
    first = conn.getresponse()
    assert (first.status, first.read()) == (200, b"here\n")
    sock = conn.sock
    conn.request("GET", "/elsewhere")
    second = conn.getresponse()
    assert (second.status, second.read()) == (404, b"not here\n")
    conn.request("POST", "/here", body=b"data")
    third = conn.getresponse()
    assert third.status == 405 and third.read().startswith(b"only GET")
    assert conn.sock is sock
    conn.close()


def test_endpoint_server_answers_keep_alive_with_the_handler() -> None:
    """Paths go to the handler (query dropped), several requests share one connection, and
    methods other than GET/HEAD are 405."""
    asyncio.run(_with_server(_keep_alive_and_statuses))


def _malformed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /here HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n")
        answer = read_until_closed(sock, 5)
    assert answer.startswith(b"HTTP/1.1 400") and b"Connection: close" in answer


def test_endpoint_server_refuses_malformed_requests_like_the_router() -> None:
    """The same strict parser: obsolete folding gets 400 and the connection closed."""
    asyncio.run(_with_server(_malformed))


async def _statuses() -> tuple[int, int]:
    server = await serve_endpoints(_answer, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    try:
        return (
            await fetch_status("127.0.0.1", port, "/here", 2.0),
            await fetch_status("127.0.0.1", port, "/gone", 2.0),
        )
    finally:
        server.close()


def test_health_check_reads_the_status_code() -> None:
    """fetch_status gives the answer's status; a port nobody listens on is an OSError."""
    assert asyncio.run(_statuses()) == (200, 404)
    closed = free_port()
    try:
        asyncio.run(fetch_status("127.0.0.1", closed, "/", 2.0))
    except OSError:
        pass
    else:
        raise AssertionError("no error from a closed port")


def test_host_serves_its_health_beside_metrics(tmp_path: Path) -> None:
    """The metrics address answers /health with the host's slots and their states."""
    port = free_port()
    for host in running_host(tmp_path, metrics_address=f"127.0.0.1:{port}"):
        host.target.deploy(PRODUCTION, Release("1.0.0", host.package("1.0.0")))
        health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
        assert health.status_code == 200
        assert health.json()["slots"][PRODUCTION] == "running"
        assert health.json()["status"] == "ok"
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
        assert "turnout_slot_up" in metrics.text
