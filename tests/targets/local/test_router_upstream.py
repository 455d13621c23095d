"""The router towards its slot: a slot that hangs is answered 504 and counted; a dead one 502."""

from __future__ import annotations

import socket
import time

from tests.support.router_harness import read_until_closed, router_harness

REQUEST = b"GET /orders HTTP/1.1\r\nHost: shop.example\r\n\r\n"


def test_hung_slot_is_answered_504_after_the_read_timeout_and_counted() -> None:
    """A slot that accepts the request and sends nothing gets the client a 504 in time,
    counted as a 5xx of that slot's version."""
    with router_harness("green", upstream_timeout=0.5) as harness:
        harness.slots["green"].hang = True
        harness.route_to("green", "1.0.0")
        began = time.monotonic()
        answer = harness.exchange(REQUEST, timeout=10)
        waited = time.monotonic() - began
        assert answer.startswith(b"HTTP/1.1 504 Gateway Timeout")
        assert b"slot green (1.0.0) sent no answer within 0.5 s" in answer
        assert 0.4 < waited < 5
        assert harness.call(lambda: harness.slots["green"].requests) == 1
        totals = harness.call(lambda: list(harness.counters.totals()))
        assert [(slot, version, t.status) for slot, version, t in totals] == [
            ("green", "1.0.0", {"5xx": 1})
        ]


def test_slot_that_keeps_sending_is_not_timed_out() -> None:
    """The timeout is between reads: an answer slower than it in total still arrives."""
    with router_harness(upstream_timeout=0.4) as harness:
        slow = socket.socket()
        slow.bind(("127.0.0.1", 0))
        slow.listen()
        harness.route_to("green", "1.0.0", port=slow.getsockname()[1])
        with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as client:
            client.sendall(REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"))
            upstream, _ = slow.accept()
            with upstream:
                upstream.recv(65536)
                upstream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n")
                for piece in (b"ab", b"cd", b"ef"):
                    time.sleep(0.25)
                    upstream.sendall(piece)
                answer = read_until_closed(client, 10)
        slow.close()
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"abcdef")


def test_slot_that_does_not_listen_is_answered_502() -> None:
    """A production process that is gone: 502 naming the slot and the version."""
    with router_harness() as harness:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
        closed.close()
        harness.route_to("green", "2.0.0", port=port)
        answer = harness.exchange(REQUEST)
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway")
    assert b"slot green (2.0.0)" in answer and b"cannot connect" in answer


def test_slot_that_stalls_mid_body_is_cut_off_and_counted_as_no_answer() -> None:
    """Once the status line is out, a slot that stops sending gets the client's connection
    closed after the read timeout, and the request counts as `err` for its version."""
    with router_harness(upstream_timeout=0.4) as harness:
        stalling = socket.socket()
        stalling.bind(("127.0.0.1", 0))
        stalling.listen()
        harness.route_to("green", "3.0.0", port=stalling.getsockname()[1])
        with socket.create_connection(("127.0.0.1", harness.port), timeout=10) as client:
            client.sendall(REQUEST)
            upstream, _ = stalling.accept()
            with upstream:
                upstream.recv(65536)
                upstream.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
                answer = read_until_closed(client, 10)
        stalling.close()
        totals = harness.call(lambda: list(harness.counters.totals()))
    assert answer.startswith(b"HTTP/1.1 200 OK") and answer.endswith(b"partial")
    assert [(slot, version, t.status) for slot, version, t in totals] == [
        ("green", "3.0.0", {"err": 1})
    ]


def test_probe_requests_are_counted_apart_and_forwarded() -> None:
    """A request carrying X-Turnout-Probe reaches the slot with it and counts as a probe."""
    with router_harness("green") as harness:
        harness.route_to("green", "1.0.0")
        harness.exchange(b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        harness.exchange(
            b"GET /b HTTP/1.1\r\nHost: x\r\nX-Turnout-Probe: 7\r\nConnection: close\r\n\r\n"
        )
        totals = harness.call(lambda: list(harness.counters.totals()))
        received = harness.call(lambda: harness.slots["green"].received)
    assert [(t.status, t.probes) for _slot, _version, t in totals] == [({"2xx": 2}, {"2xx": 1})]
    assert b"X-Turnout-Probe: 7\r\n" in received
