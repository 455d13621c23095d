"""The router: keep-alive, streamed and chunked bodies, headers, swaps under load."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.local_fixtures import Host, running_host
from tests.support.waiting import wait_until
from turnout.model import Release
from turnout.targets.protocol import PRODUCTION


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One host for the module: 1.0.0 in production, 2.0.0 warm in blue."""
    for running in running_host(tmp_path_factory.mktemp("router")):
        target = running.target
        target.ensure_slot("blue")
        target.deploy("blue", Release("1.0.0", running.package("1.0.0")))
        target.swap("blue")
        target.deploy("blue", Release("2.0.0", running.package("2.0.0")))
        yield running


def _address(host: Host) -> tuple[str, int]:
    url = httpx.URL(host.target.production_url())
    assert url.port is not None
    return url.host, url.port


def _connection(host: Host) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(*_address(host), timeout=10)


def _get(conn: http.client.HTTPConnection, path: str, **headers: str) -> tuple[int, Any]:
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    body = response.read()
    return response.status, json.loads(body) if body.startswith(b"{") else body


def _production_version(host: Host) -> str | None:
    return host.target.slots()[PRODUCTION].version


def test_keep_alive_connection_is_reused(host: Host) -> None:
    """Several requests travel over one client connection."""
    conn = _connection(host)
    _get(conn, "/health")
    sock = conn.sock
    for _ in range(5):
        status, _ = _get(conn, "/health")
        assert status == 200
    assert conn.sock is sock
    conn.close()


def test_swap_moves_requests_on_an_open_keep_alive_connection(host: Host) -> None:
    """After a swap the next request on the same client connection reaches the new slot."""
    conn = _connection(host)
    before = _get(conn, "/health")[1]["version"]
    sock = conn.sock
    host.target.swap("blue")
    after = _get(conn, "/health")[1]["version"]
    host.target.swap("blue")
    assert conn.sock is sock
    assert {before, after} == {"1.0.0", "2.0.0"}
    assert _get(conn, "/health")[1]["version"] == before
    conn.close()


def test_in_flight_request_finishes_on_the_old_slot(host: Host, tmp_path: Path) -> None:
    """A slow request started before a swap completes on the version it started on."""
    old = _production_version(host)
    results: dict[str, Any] = {}
    reached = tmp_path / "slow-request-reached-the-slot"

    def slow() -> None:
        results["slow"] = _get(_connection(host), f"/slow?ms=1200&marker={reached}")

    thread = threading.Thread(target=slow)
    thread.start()
    wait_until(reached.exists, what="the slow request reaching the slot")
    host.target.swap("blue")
    fresh = _get(_connection(host), "/health")[1]["version"]
    thread.join()
    host.target.swap("blue")
    assert results["slow"] == (200, {"version": old})
    assert fresh != old


def test_chunked_request_body_is_relayed(host: Host) -> None:
    """A chunked upload reaches the slot whole."""
    conn = _connection(host)
    pieces = [b"alpha-", b"beta-" * 1000, b"gamma"]
    conn.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
    response = conn.getresponse()
    assert response.status == 200
    assert response.read() == b"".join(pieces)
    conn.close()


def test_large_bodies_stream_both_ways(host: Host) -> None:
    """An 8 MB upload is echoed and a 24 MB chunked download arrives complete."""
    payload = bytes(range(256)) * (8 * 4096)
    with httpx.Client(timeout=30) as client:
        echoed = client.post(host.target.production_url() + "/echo", content=payload)
        assert echoed.status_code == 200
        assert echoed.content == payload
        size = 0
        with client.stream("GET", host.target.production_url() + "/big?bytes=25165824") as big:
            assert big.status_code == 200
            for chunk in big.iter_raw():
                size += len(chunk)
        assert size == 25165824


def test_hop_by_hop_headers_dropped_and_forwarding_headers_added(host: Host) -> None:
    """Connection-scoped headers stop at the router; X-Forwarded-For/-Proto are set."""
    conn = _connection(host)
    status, document = _get(
        conn,
        "/headers",
        Connection="keep-alive, X-Private-Hop",
        **{
            "X-Private-Hop": "secret",
            "Keep-Alive": "timeout=5",
            "TE": "trailers",
            "Upgrade": "websocket",
            "X-Forwarded-For": "203.0.113.9",
            "X-End-To-End": "kept",
        },
    )
    assert status == 200
    seen = {name.lower(): value for name, value in document["headers"]}
    for hop in ("connection", "x-private-hop", "keep-alive", "te", "upgrade"):
        assert hop not in seen
    assert seen["x-end-to-end"] == "kept"
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    conn.close()


def test_http10_client_gets_a_complete_close_delimited_body(host: Host) -> None:
    """An HTTP/1.0 client receives a chunked upstream answer de-chunked, then the close."""
    with socket.create_connection(_address(host), timeout=10) as sock:
        sock.sendall(b"GET /big?bytes=100000 HTTP/1.0\r\n\r\n")
        data = b""
        while piece := sock.recv(65536):
            data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding" not in head.lower()
    assert body == b"x" * 100000


def test_head_request_and_error_statuses_pass_through(host: Host) -> None:
    """HEAD gets headers only; the app's 404 and 500 reach the client unchanged."""
    with httpx.Client(base_url=host.target.production_url(), timeout=10) as client:
        head = client.head("/health")
        assert head.status_code == 200 and head.content == b""
        assert client.get("/status?code=500").status_code == 500
        assert client.get("/nowhere").status_code == 404


def test_malformed_request_gets_400(host: Host) -> None:
    """A request line the router cannot parse is answered 400 and the connection closed."""
    with socket.create_connection(_address(host), timeout=10) as sock:
        sock.sendall(b"NONSENSE\r\n\r\n")
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400")


def test_swaps_under_concurrent_keep_alive_load_lose_no_request(host: Host) -> None:
    """Eight keep-alive clients see zero failures while ten swaps happen, each between requests."""
    stop = threading.Event()
    url = host.target.production_url() + "/health"
    lock = threading.Lock()
    served = [0]

    def client_loop() -> tuple[int, int, set[str]]:
        ok = failed = 0
        seen: set[str] = set()
        with httpx.Client(timeout=10) as client:
            while not stop.is_set():
                try:
                    response = client.get(url)
                    if response.status_code == 200:
                        ok += 1
                        seen.add(response.json()["version"])
                        with lock:
                            served[0] += 1
                    else:
                        failed += 1
                except httpx.HTTPError:
                    failed += 1
        return ok, failed, seen

    def served_since(count: int, more: int) -> bool:
        with lock:
            return served[0] >= count + more

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(client_loop) for _ in range(8)]
        wait_until(lambda: served_since(0, 16), what="clients under way")
        for _ in range(10):
            # Each swap lands while the clients keep their connections busy: wait until
            # a dozen more requests were answered after it, however fast the machine is.
            with lock:
                before = served[0]
            host.target.swap("blue")
            wait_until(partial(served_since, before, 12), what="requests after a swap")
        stop.set()
        results = [f.result() for f in futures]
    assert sum(r[1] for r in results) == 0
    assert set().union(*(r[2] for r in results)) == {"1.0.0", "2.0.0"}


def test_empty_production_answers_503(tmp_path: Path) -> None:
    """With nothing deployed to production the router says 503 and why."""
    for running in running_host(tmp_path):
        response = httpx.get(running.target.production_url() + "/health", timeout=10)
        assert response.status_code == 503
        assert "no version is deployed" in response.text


def test_slow_reading_client_gets_all_and_its_connection_goes_on(host: Host) -> None:
    """A client that lets a 24 MB answer wait gets all of it, and its next request on the
    same connection is answered at once (the slot's side is not left held)."""
    conn = http.client.HTTPConnection(*_address(host), timeout=5)
    conn.request("GET", "/big?bytes=25165824")
    time.sleep(1.0)  # the router's buffers towards the client fill; it holds the slot's side
    response = conn.getresponse()
    assert len(response.read()) == 25165824
    sock = conn.sock
    for _ in range(3):
        status, document = _get(conn, "/health")
        assert status == 200 and document["status"] == "healthy"
    assert conn.sock is sock
    conn.close()
