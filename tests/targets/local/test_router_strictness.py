"""The router against request smuggling: raw byte sequences, and what reached the slot."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from tests.support.router_harness import RouterHarness, read_until_closed, router_harness

HEAD = b"POST /submit HTTP/1.1\r\nHost: shop.example\r\n"
CHUNKED = HEAD + b"Transfer-Encoding: chunked\r\n"
SMUGGLED = b"GET /admin HTTP/1.1\r\nHost: shop.example\r\n\r\n"

CASES = {
    "content-length-and-transfer-encoding": (
        HEAD + b"Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "transfer-encoding-and-content-length": (
        CHUNKED + b"Content-Length: 44\r\n\r\n0\r\n\r\n" + SMUGGLED,
        400,
    ),
    "duplicate-differing-content-length": (
        HEAD + b"Content-Length: 0\r\nContent-Length: 44\r\n\r\n" + SMUGGLED,
        400,
    ),
    "invalid-chunk-size": (CHUNKED + b"\r\n5x\r\nhello\r\n0\r\n\r\n", 400),
    "chunk-size-overflow": (CHUNKED + b"\r\n1" + b"0" * 17 + b"\r\nhello\r\n0\r\n\r\n", 400),
    "negative-chunk-size": (CHUNKED + b"\r\n-5\r\nhello\r\n0\r\n\r\n", 400),
    "chunk-data-longer-than-its-size": (CHUNKED + b"\r\n2\r\nhello\r\n0\r\n\r\n", 400),
    "header-line-ended-by-bare-lf": (
        b"GET / HTTP/1.1\r\nHost: shop.example\nContent-Length: 44\r\n\r\n" + SMUGGLED,
        400,
    ),
    "request-line-ended-by-bare-lf": (b"GET / HTTP/1.1\nHost: shop.example\r\n\r\n", 400),
    "header-line-ended-by-bare-cr": (b"GET / HTTP/1.1\r\nHost: shop.example\rX: y\r\n\r\n", 400),
    "obsolete-line-folding": (
        b"GET / HTTP/1.1\r\nHost: shop.example\r\nX-Note: a\r\n Transfer-Encoding: chunked\r\n\r\n",
        400,
    ),
    "obsolete-folding-of-transfer-encoding": (
        HEAD + b"Content-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
        400,
    ),
    "space-before-colon": (HEAD + b"Transfer-Encoding : chunked\r\n\r\n0\r\n\r\n", 400),
    "transfer-coding-other-than-chunked": (
        HEAD + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        501,
    ),
    "header-section-over-the-limit": (
        b"GET / HTTP/1.1\r\nHost: shop.example\r\n"
        + b"".join(b"X-Filler-%d: %s\r\n" % (n, b"v" * 1000) for n in range(80))
        + b"\r\n",
        431,
    ),
    "request-line-over-the-limit": (
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: shop.example\r\n\r\n",
        400,
    ),
}


@pytest.fixture(scope="module")
def harness() -> Iterator[RouterHarness]:
    """One router in front of one recording slot, production routed to it."""
    with router_harness("green") as running:
        running.route_to("green", "1.0.0")
        yield running


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer[9:12])


def test_a_valid_request_reaches_the_recording_slot(harness: RouterHarness) -> None:
    """Control: a well-formed request with a body is forwarded whole and answered."""
    harness.call(harness.slots["green"].forget)
    answer = harness.exchange(
        HEAD + b"Content-Length: 5\r\nConnection: close\r\n\r\nhello", timeout=5
    )
    assert _status(answer) == 200
    received = harness.call(lambda: harness.slots["green"].received)
    assert received.startswith(b"POST /submit HTTP/1.1\r\n") and received.endswith(b"hello")


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_request_is_refused_and_never_forwarded(
    harness: RouterHarness, case: str
) -> None:
    """Each smuggling shape gets its 4xx/5xx and a close; the slot receives not one byte."""
    data, status = CASES[case]
    harness.call(harness.slots["green"].forget)
    answer = harness.exchange(data, timeout=5)
    assert _status(answer) == status
    assert b"Connection: close" in answer.partition(b"\r\n\r\n")[0]
    assert harness.call(lambda: harness.slots["green"].received) == b""


def test_smuggled_request_after_a_valid_one_is_refused(harness: RouterHarness) -> None:
    """Pipelined: the valid request is answered, the malformed one after it is not forwarded."""
    harness.call(harness.slots["green"].forget)
    first = b"GET /first HTTP/1.1\r\nHost: shop.example\r\n\r\n"
    answer = harness.exchange(first + CASES["content-length-and-transfer-encoding"][0])
    assert answer.startswith(b"HTTP/1.1 200 OK")
    assert b"HTTP/1.1 400 Bad Request" in answer
    assert harness.call(lambda: harness.slots["green"].requests) == 1
    assert b"/admin" not in harness.call(lambda: harness.slots["green"].received)


def test_bad_chunk_in_a_streamed_body_is_cut_off_at_the_slot(harness: RouterHarness) -> None:
    """A large chunked body is streamed; a malformed chunk in it never reaches the slot,
    whose connection is closed, and the client gets 400."""
    slot = harness.slots["green"]
    harness.call(slot.forget)
    slot.hang = True  # an app answers once the body is in; this one has not yet
    big = b"a" * 70000
    with socket.create_connection(("127.0.0.1", harness.port), timeout=5) as sock:
        sock.sendall(CHUNKED + b"\r\n" + b"%x\r\n" % len(big) + big + b"\r\n")
        harness.wait_for(lambda: len(slot.received) > len(big), "the body streaming on")
        sock.sendall(b"zz\r\n" + SMUGGLED)
        answer = read_until_closed(sock, 5)
    slot.hang = False
    assert _status(answer) == 400
    harness.wait_for(lambda: slot.closed == 1, "the slot's connection closed")
    received = harness.call(lambda: slot.received)
    assert b"zz" not in received and b"/admin" not in received
    assert received.count(b" HTTP/1.1\r\n") == 1  # only the cut-off request's own head


def test_refusals_are_not_counted_against_the_slot(harness: RouterHarness) -> None:
    """A refused request is the client's fault: no slot or version counts it."""
    before = sum(
        t.status.get("4xx", 0)
        for _s, _v, t in harness.call(lambda: list(harness.counters.totals()))
    )
    harness.exchange(CASES["invalid-chunk-size"][0])
    after = sum(
        t.status.get("4xx", 0)
        for _s, _v, t in harness.call(lambda: list(harness.counters.totals()))
    )
    assert after == before
