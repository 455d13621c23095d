"""WebSocket and other Upgrade requests through the router, across a swap."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from tests.support.local_fixtures import Host, running_host
from tests.support.router_harness import read_until_closed
from tests.support.websocket import close_websocket, open_websocket, receive_text, send_text
from turnout.model import Release


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    """One host: 1.0.0 in production, 2.0.0 warm in blue."""
    for running in running_host(tmp_path_factory.mktemp("upgrade")):
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


def _upgrades(host: Host) -> dict[str, int]:
    """turnout_slot_requests 1xx per version, from the host's exposition."""
    found: dict[str, int] = {}
    for line in host.target.prometheus().splitlines():
        if line.startswith("turnout_slot_requests_total{") and 'status="1xx"' in line:
            version = line.split('version="')[1].split('"')[0]
            found[version] = int(float(line.rsplit(" ", 1)[1]))
    return found


def test_websocket_echo_through_a_swap(host: Host) -> None:
    """An open WebSocket keeps talking to its version across a swap; a new one reaches the
    new version; each accepted upgrade is counted for the version that accepted it."""
    before = _upgrades(host)
    old_socket, head = open_websocket(*_address(host))
    assert head.startswith(b"HTTP/1.1 101")
    assert b"sec-websocket-accept" in head.lower()
    send_text(old_socket, "before")
    old = receive_text(old_socket).split(":")[0]
    host.target.swap("blue")
    try:
        send_text(old_socket, "after the swap")
        assert receive_text(old_socket) == f"{old}: after the swap"
        new_socket, head = open_websocket(*_address(host))
        assert head.startswith(b"HTTP/1.1 101")
        send_text(new_socket, "hello")
        new = receive_text(new_socket)
        close_websocket(new_socket)
    finally:
        close_websocket(old_socket)
        host.target.swap("blue")
    assert {old, new.split(":")[0]} == {"1.0.0", "2.0.0"}
    after = _upgrades(host)
    assert sum(after.values()) - sum(before.values()) == 2
    assert after.get(old, 0) - before.get(old, 0) == 1


def test_upgrade_the_app_does_not_answer_is_relayed_and_closed(host: Host) -> None:
    """An app that answers an Upgrade request with a plain response: that status reaches
    the client, and the connection is closed (its next bytes are no HTTP)."""
    with socket.create_connection(_address(host), timeout=10) as sock:
        sock.sendall(
            b"GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
            b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        answer = read_until_closed(sock, 10)
    assert answer.startswith(b"HTTP/1.1 404")
    assert b"connection: close" in answer.lower()
