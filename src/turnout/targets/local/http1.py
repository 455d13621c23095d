"""HTTP/1.x message parsing on llhttp (through httptools), strict, with size limits.

The router and the host's own endpoints read requests with `RequestParser` and
the router reads its slots' answers with `ResponseParser`. llhttp runs in its
strict mode (none of httptools' "dangerous leniencies" is switched on), so
what request smuggling lives on is refused before anything is forwarded:
`Content-Length` together with `Transfer-Encoding`, a repeated
`Content-Length`, transfer codings other than a final `chunked`, invalid
chunk sizes, header lines not ended by CRLF (bare LF or CR), obsolete line
folding, whitespace before a header's colon. On top of llhttp this module
limits the request line and the header section, requires `Host` in HTTP/1.1
and accepts HTTP/1.0 and HTTP/1.1 only.

Both parsers are push parsers: `feed` raises `BadMessage` (the status to
answer with) and calls the sink's methods as parts of a message arrive.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import httptools

REQUEST_LINE_LIMIT = 8192
"""Longest request line accepted (the target, mostly), in bytes; longer: 400."""
HEAD_LIMIT = 65536
"""Largest header section accepted (names, values and line ends), in bytes; larger: 431."""
_UNFINISHED_SLACK = 262144
# A header line that never ends is cut off once this much more than the limits was read
# without completing the head (llhttp keeps an unfinished header in memory).

Headers = list[tuple[bytes, bytes]]

REASONS = {
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    505: "HTTP Version Not Supported",
}


class BadMessage(Exception):
    """A message that is refused: answered with `status`, the connection then closed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def simple_response(
    status: int,
    body: bytes,
    *,
    close: bool,
    content_type: bytes = b"text/plain; charset=utf-8",
    reason: str | None = None,
) -> bytes:
    """A complete HTTP/1.1 response with a fixed-length body."""
    text = reason or REASONS.get(status, "Error")
    return b"".join(
        (
            b"HTTP/1.1 %d %s\r\nContent-Type: " % (status, text.encode()),
            content_type,
            b"\r\nContent-Length: %d\r\n" % len(body),
            b"Connection: close\r\n\r\n" if close else b"\r\n",
            body,
        )
    )


def tokens(headers: Headers, lname: bytes) -> list[bytes]:
    """The comma-separated tokens of every header named `lname` (lowercase), lowercased."""
    return [
        token.strip().lower()
        for name, value in headers
        if name.lower() == lname
        for token in value.split(b",")
        if token.strip()
    ]


@dataclass(slots=True)
class RequestHead:
    """A parsed request line and header section."""

    method: bytes
    target: bytes
    http10: bool
    headers: Headers
    names: list[bytes]
    """The headers' names in lowercase, in the same order."""
    connection: list[bytes]
    """The Connection header's tokens, lowercase."""
    keep_alive: bool
    chunked: bool
    length: int
    """Content-Length (0 when absent or chunked)."""
    upgrade: bool
    """Connection: upgrade with an Upgrade header (the request switches protocols)."""

    @property
    def has_body(self) -> bool:
        """Whether a body follows the head."""
        return self.chunked or self.length > 0


class RequestSink(Protocol):
    """Receives the parts of each request, in order."""

    def request_head(self, head: RequestHead) -> None: ...

    def request_body(self, data: bytes) -> None: ...

    def request_end(self, trailers: Headers) -> None: ...


@dataclass(slots=True)
class _Partial:
    target: list[bytes] = field(default_factory=list)
    target_size: int = 0
    headers: Headers = field(default_factory=list)
    head_size: int = 0
    head_done: bool = False
    trailers: Headers = field(default_factory=list)


class RequestParser:
    """Parses a client connection's bytes into requests for a `RequestSink`."""

    def __init__(
        self,
        sink: RequestSink,
        *,
        line_limit: int = REQUEST_LINE_LIMIT,
        head_limit: int = HEAD_LIMIT,
    ) -> None:
        self._sink = sink
        self.line_limit = line_limit
        self.head_limit = head_limit
        self._parser = httptools.HttpRequestParser(self)
        self._partial: _Partial | None = None
        self._unfinished = 0
        """Bytes fed while the current head was incomplete (upper bound)."""
        self._error: BadMessage | None = None

    @property
    def in_message(self) -> bool:
        """Whether a request has begun and not ended (its head or body still arriving)."""
        return self._partial is not None

    def feed(self, data: bytes) -> int | None:
        """Parse `data`; the offset where a switched protocol's bytes begin after an
        Upgrade request (None otherwise). BadMessage when the request is refused."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._error is not None:
                raise self._error from None
            return int(exc.args[0])
        except httptools.HttpParserCallbackError:
            assert self._error is not None
            raise self._error from None
        except httptools.HttpParserError as exc:
            raise BadMessage(400, f"malformed request: {exc}") from None
        partial = self._partial
        if partial is not None and not partial.head_done:
            self._unfinished += len(data)
            if partial.target_size > self.line_limit:
                raise BadMessage(400, f"request line longer than {self.line_limit} bytes")
            if self._unfinished > self.line_limit + self.head_limit + _UNFINISHED_SLACK:
                raise BadMessage(431, f"request head larger than {self.head_limit} bytes")
        return None

    def _fail(self, status: int, message: str) -> None:
        self._error = BadMessage(status, message)
        raise self._error

    # -- llhttp callbacks (httptools looks them up by name) ------------------------------
    def on_message_begin(self) -> None:
        self._partial = _Partial()
        self._unfinished = 0

    def on_url(self, url: bytes) -> None:
        partial = self._partial
        assert partial is not None
        partial.target.append(url)
        partial.target_size += len(url)
        if partial.target_size > self.line_limit:
            self._fail(400, f"request line longer than {self.line_limit} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        partial = self._partial
        assert partial is not None
        partial.head_size += len(name) + len(value) + 4
        if partial.head_size > self.head_limit:
            self._fail(431, f"header section larger than {self.head_limit} bytes")
        if partial.head_done:
            partial.trailers.append((name, value))
        else:
            partial.headers.append((name, value))

    def on_headers_complete(self) -> None:
        partial = self._partial
        assert partial is not None
        partial.head_done = True
        parser = self._parser
        version = parser.get_http_version()
        if version not in ("1.1", "1.0"):
            self._fail(505, "only HTTP/1.0 and HTTP/1.1 are supported")
        http10 = version == "1.0"
        method = parser.get_method()
        headers = partial.headers
        if method == b"CONNECT":
            self._fail(501, "CONNECT is not supported")
        chunked = False
        length = 0
        has_host = False
        names = []
        connection: list[bytes] = []
        for name, value in headers:
            low = name.lower()
            names.append(low)
            if low == b"host":
                has_host = True
            elif low == b"connection":
                connection += tokens([(name, value)], low)
            elif low == b"transfer-encoding":
                # llhttp accepts codings ending in chunked; only chunked alone is relayed.
                if tokens([(name, value)], low) != [b"chunked"] or chunked:
                    self._fail(501, "only the chunked transfer coding is supported")
                chunked = True
            elif low == b"content-length":
                length = int(value)  # llhttp checked it: digits, given once
        if not http10 and not has_host:
            self._fail(400, "missing Host header")
        self._sink.request_head(
            RequestHead(
                method=method,
                target=b"".join(partial.target),
                http10=http10,
                headers=headers,
                names=names,
                connection=connection,
                keep_alive=parser.should_keep_alive(),
                chunked=chunked,
                length=length,
                upgrade=parser.should_upgrade(),
            )
        )

    def on_body(self, body: bytes) -> None:
        self._sink.request_body(body)

    def on_message_complete(self) -> None:
        partial = self._partial
        assert partial is not None
        self._partial = None
        self._sink.request_end(partial.trailers)


@dataclass(slots=True)
class ResponseHead:
    """A parsed status line and header section."""

    status: int
    reason: bytes
    http10: bool
    headers: Headers
    names: list[bytes]
    """The headers' names in lowercase, in the same order."""
    connection: list[bytes]
    """The Connection header's tokens, lowercase."""
    keep_alive: bool
    """Whether the connection can carry another request after this response."""
    chunked: bool
    length: int | None
    """Content-Length (None when absent)."""
    until_close: bool
    """The body ends when the connection closes (no length, not chunked)."""


class ResponseSink(Protocol):
    """Receives the parts of one response."""

    def response_head(self, head: ResponseHead) -> None: ...

    def response_body(self, data: bytes) -> None: ...

    def response_end(self) -> None: ...


class ResponseParser:
    """Parses one response (after any interim 1xx answers, which are skipped) for a sink.

    `no_body`: the request was HEAD, so the response ends with its head whatever its
    headers say (llhttp cannot be told so; the parser is not used past it)."""

    def __init__(self, sink: ResponseSink, *, no_body: bool, head_limit: int = HEAD_LIMIT) -> None:
        self._sink = sink
        self._no_body = no_body
        self.head_limit = head_limit
        self._parser = httptools.HttpResponseParser(self)
        self._reason: list[bytes] = []
        self._headers: Headers = []
        self._head_size = 0
        self._interim = False
        self.head: ResponseHead | None = None
        self.done = False
        self.upgraded = False
        self._error: BadMessage | None = None

    def next_response(self, sink: ResponseSink, *, no_body: bool) -> ResponseParser:
        """A parser for the next response on the same connection: this one, reset, when
        the previous response ended cleanly (llhttp carries on), else a fresh one."""
        if not self.done or self._no_body or self.upgraded or self._error is not None:
            return ResponseParser(sink, no_body=no_body, head_limit=self.head_limit)
        self._sink = sink
        self._no_body = no_body
        self._reason = []
        self._headers = []
        self._head_size = 0
        self.head = None
        self.done = False
        return self

    def feed(self, data: bytes) -> int | None:
        """Parse `data`; after a 101 answer, the offset where the switched protocol's bytes
        begin (None otherwise). BadMessage(502) for a response the router cannot relay."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            if self._error is not None:
                raise self._error from None
            self.upgraded = True
            return int(exc.args[0])
        except httptools.HttpParserCallbackError:
            if self._error is not None:
                raise self._error from None
            raise
        except httptools.HttpParserError as exc:
            if self.done:  # bytes after a HEAD answer's head: not this response's
                return None
            raise BadMessage(502, f"malformed response: {exc}") from None
        if not self.done and self._head_size > self.head_limit:
            raise BadMessage(502, f"response head larger than {self.head_limit} bytes")
        return None

    def on_status(self, reason: bytes) -> None:
        self._reason.append(reason)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size > self.head_limit:
            self._error = BadMessage(502, f"response head larger than {self.head_limit} bytes")
            raise self._error
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        parser = self._parser
        status = parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            self._interim = True  # 100 Continue, 103 Early Hints: not relayed
            return
        self._interim = False
        headers = self._headers
        chunked = False
        length: int | None = None
        names = []
        connection: list[bytes] = []
        for name, value in headers:
            low = name.lower()
            names.append(low)
            if low == b"transfer-encoding":
                chunked = chunked or b"chunked" in tokens([(name, value)], low)
            elif low == b"content-length":
                length = int(value)
            elif low == b"connection":
                connection += tokens([(name, value)], low)
        no_body = self._no_body or status in (204, 304) or status == 101
        head = ResponseHead(
            status=status,
            reason=b"".join(self._reason),
            http10=parser.get_http_version() == "1.0",
            headers=headers,
            names=names,
            connection=connection,
            keep_alive=parser.should_keep_alive(),
            chunked=chunked and not no_body,
            length=None if no_body else length,
            until_close=not no_body and not chunked and length is None,
        )
        self.head = head
        self._sink.response_head(head)
        if self._no_body and not self.done:
            self.done = True
            self._sink.response_end()

    def on_body(self, body: bytes) -> None:
        if not self._interim and not self.done:
            self._sink.response_body(body)

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self._reason = []
            self._headers = []
            self._head_size = 0
            return
        if not self.done:
            self.done = True
            self._sink.response_end()

    def finish_at_close(self) -> bool:
        """The slot closed the connection: whether the response is complete (it was, or
        its body was delimited by the close)."""
        head = self.head
        if not self.done and head is not None and head.until_close and not self._interim:
            self.done = True
            self._sink.response_end()
        return self.done
