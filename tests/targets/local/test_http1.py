"""The parser layer: requests and responses as llhttp reads them, strictness and limits."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from turnout.targets.local.http1 import (
    BadMessage,
    Headers,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
)


@dataclass
class Requests:
    """A RequestSink that keeps what it was told."""

    heads: list[RequestHead] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    ends: list[Headers] = field(default_factory=list)

    def request_head(self, head: RequestHead) -> None:
        self.heads.append(head)
        self.bodies.append(b"")

    def request_body(self, data: bytes) -> None:
        self.bodies[-1] += data

    def request_end(self, trailers: Headers) -> None:
        self.ends.append(trailers)


@dataclass
class Responses:
    """A ResponseSink that keeps what it was told."""

    heads: list[ResponseHead] = field(default_factory=list)
    body: bytes = b""
    ended: int = 0

    def response_head(self, head: ResponseHead) -> None:
        self.heads.append(head)

    def response_body(self, data: bytes) -> None:
        self.body += data

    def response_end(self) -> None:
        self.ended += 1


def _parse(data: bytes, **limits: int) -> Requests:
    sink = Requests()
    RequestParser(sink, **limits).feed(data)
    return sink


def _refused(data: bytes, **limits: int) -> tuple[BadMessage, Requests]:
    sink = Requests()
    with pytest.raises(BadMessage) as caught:
        RequestParser(sink, **limits).feed(data)
    return caught.value, sink


def test_request_head_fields_and_pipelined_requests() -> None:
    """Two pipelined requests arrive as two heads with method, target, version and framing."""
    sink = _parse(
        b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /p HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc"
    )
    first, second = sink.heads
    assert (first.method, first.target, first.http10, first.keep_alive) == (
        b"GET",
        b"/a?b=1",
        False,
        True,
    )
    assert first.headers == [(b"Host", b"x")]
    assert (second.method, second.http10, second.keep_alive, second.length) == (
        b"POST",
        True,
        False,
        3,
    )
    assert sink.bodies == [b"", b"abc"]
    assert len(sink.ends) == 2


def test_request_split_across_reads() -> None:
    """A request fed one byte at a time parses like one fed whole."""
    data = b"PUT /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    sink = Requests()
    parser = RequestParser(sink)
    for index in range(len(data)):
        parser.feed(data[index : index + 1])
    assert sink.heads[0].chunked and sink.heads[0].target == b"/x"
    assert sink.bodies == [b"abc"]


def test_chunked_body_is_decoded_and_trailers_kept() -> None:
    """Chunk sizes and extensions are consumed; the data and the trailers come out."""
    sink = _parse(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-Sum: 5\r\n\r\n"
    )
    assert sink.bodies == [b"abcde"]
    assert sink.ends == [[(b"X-Sum", b"5")]]


def test_upgrade_request_returns_where_the_new_protocol_begins() -> None:
    """After an Upgrade request's head, feed returns the offset of the bytes that follow."""
    head = b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    sink = Requests()
    offset = RequestParser(sink).feed(head + b"\x81\x00")
    assert offset == len(head)
    assert sink.heads[0].upgrade


@pytest.mark.parametrize(
    ("data", "status", "words"),
    [
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            400,
            "Content-Length",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 3\r\n\r\n0\r\n\r\n",
            400,
            "Transfer-Encoding",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
            400,
            "Content-Length",
        ),
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd", 400, "Content-Length"),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n",
            400,
            "chunk size",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"fffffffffffffffffff\r\n",
            400,
            "chunk size",
        ),
        (
            b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\nabc\r\n",
            400,
            "chunk size",
        ),
        (b"GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n", 400, "CR"),
        (b"GET / HTTP/1.1\nHost: x\n\n", 400, "CRLF"),
        (b"GET / HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n", 400, "LF"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n", 400, "whitespace"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n", 400, "header"),
        (b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "chunked"),
        (b"GET / HTTP/1.1\r\n\r\n", 400, "Host"),
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/1.0 and HTTP/1.1"),
        (b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n", 501, "CONNECT"),
        (b"NONSENSE\r\n\r\n", 400, "method"),
    ],
    ids=[
        "content-length-then-transfer-encoding",
        "transfer-encoding-then-content-length",
        "duplicate-differing-content-length",
        "content-length-list",
        "invalid-chunk-size",
        "chunk-size-overflow",
        "space-after-chunk-size",
        "bare-lf-in-headers",
        "bare-lf-everywhere",
        "bare-cr",
        "obsolete-line-folding",
        "space-before-colon",
        "coding-before-chunked",
        "missing-host",
        "http-2-request-line",
        "connect",
        "garbage",
    ],
)
def test_malformed_requests_are_refused(data: bytes, status: int, words: str) -> None:
    """Each smuggling shape is refused with its status and a message saying what is wrong."""
    refused, sink = _refused(data)
    assert refused.status == status
    assert words.lower() in refused.message.lower()
    assert not sink.ends  # no request was completed


def test_request_line_over_the_limit_is_400() -> None:
    """A target longer than the request-line limit is refused 400, even unfinished."""
    refused, _ = _refused(b"GET /" + b"a" * 200, line_limit=100)
    assert refused.status == 400 and "request line" in refused.message
    refused, _ = _refused(b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n", line_limit=100)
    assert refused.status == 400


def test_header_section_over_the_limit_is_431() -> None:
    """Header bytes beyond the limit are refused 431; a section just under it is accepted."""
    many = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 40) for i in range(30))
    refused, sink = _refused(b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", head_limit=1000)
    assert refused.status == 431 and not sink.heads
    accepted = _parse(b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n", head_limit=2000)
    assert len(accepted.heads[0].headers) == 31


def test_header_line_that_never_ends_is_cut_off() -> None:
    """An endless header value is refused 431 once far past the limits, before it ends."""
    sink = Requests()
    parser = RequestParser(sink, line_limit=100, head_limit=1000)
    parser.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: ")
    with pytest.raises(BadMessage) as caught:
        for _ in range(100):
            parser.feed(b"v" * 65536)
    assert caught.value.status == 431


def _response(data: bytes, *, no_body: bool = False) -> tuple[Responses, int | None]:
    sink = Responses()
    parser = ResponseParser(sink, no_body=no_body)
    return sink, parser.feed(data)


def test_response_framings() -> None:
    """Content-Length, chunked and close-delimited answers are told apart."""
    fixed, _ = _response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
    assert fixed.heads[0].length == 2 and fixed.body == b"hi" and fixed.ended == 1
    chunked, _ = _response(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
    )
    assert chunked.heads[0].chunked and chunked.body == b"hi" and chunked.ended == 1
    sink = Responses()
    parser = ResponseParser(sink, no_body=False)
    parser.feed(b"HTTP/1.1 200 OK\r\n\r\nuntil the end")
    assert sink.heads[0].until_close
    ended_before_close = sink.ended
    assert parser.finish_at_close()
    assert (ended_before_close, sink.ended) == (0, 1)
    assert sink.body == b"until the end"


def test_interim_answers_are_skipped_and_head_answers_end_at_their_head() -> None:
    """100 Continue is not relayed; the answer to HEAD ends with its head despite a length."""
    sink, _ = _response(
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"
    )
    assert [head.status for head in sink.heads] == [201] and sink.ended == 1
    head, _ = _response(b"HTTP/1.1 200 OK\r\nContent-Length: 512\r\n\r\n", no_body=True)
    assert head.ended == 1 and head.heads[0].length is None


def test_switching_protocols_answer_returns_the_tunnel_offset() -> None:
    """A 101 answer ends the HTTP part; feed says where the slot's own bytes begin."""
    head = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
    sink, offset = _response(head + b"\x81\x02hi")
    assert offset == len(head) and sink.heads[0].status == 101


@pytest.mark.parametrize(
    "data",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        b"HTTP/1.1 2000 OK\r\n\r\n",
    ],
    ids=["duplicate-length", "folding", "bare-lf", "bad-status"],
)
def test_malformed_responses_are_502(data: bytes) -> None:
    """A slot's answer llhttp refuses becomes 502 for the client, never relayed."""
    sink = Responses()
    with pytest.raises(BadMessage) as caught:
        ResponseParser(sink, no_body=False).feed(data)
    assert caught.value.status == 502
    assert not sink.ended


def test_next_response_reuses_the_parser_except_after_a_head_answer() -> None:
    """Responses on one kept-alive connection share a parser; after HEAD a fresh one starts."""
    first = Responses()
    parser = ResponseParser(first, no_body=False)
    parser.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\na")
    second = Responses()
    reused = parser.next_response(second, no_body=True)
    assert reused is parser
    reused.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n")
    assert second.ended == 1 and first.ended == 1
    third = Responses()
    fresh = reused.next_response(third, no_body=False)
    assert fresh is not parser
    fresh.feed(b"HTTP/1.1 204 No Content\r\n\r\n")
    assert third.ended == 1 and third.heads[0].status == 204
