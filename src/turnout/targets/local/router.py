"""The router: a small HTTP/1.1 reverse proxy that sends every request to the production slot.

Each request is routed when its head arrives, so a swap (`set_production`)
moves new requests to the new slot at once, including those on existing
keep-alive client connections, while requests already in flight finish on the
old slot. Upstream connections are pooled per slot process. Bodies are
streamed in both directions; hop-by-hop headers are dropped; the client's
address goes into X-Forwarded-For.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from turnout.targets.protocol import PRODUCTION
from turnout.traffic import PROBE_HEADER

_PIECE = 65536
_HEAD_LIMIT = 65536
_BUFFER_BODY = 65536
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"proxy-authenticate",
        b"proxy-authorization",
    }
)
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"PUT", b"DELETE", b"TRACE"})
_REASONS = {
    400: "Bad Request",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

# Body framings
_NONE, _FIXED, _CHUNKED, _UNTIL_CLOSE = 0, 1, 2, 3

_PROBE = PROBE_HEADER.lower().encode()

Recorder = Callable[[str, str, "int | None", float, bool], None]
"""(slot, version, status or None, latency ms, probe): version "" when no version is deployed
and the router answered itself."""


class BadMessage(Exception):
    """A request the router refuses to forward (answered with `status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class UpstreamFailed(Exception):
    """The slot process gave no usable response."""


class Upstream:
    """A slot process's address and its pool of idle keep-alive connections."""

    def __init__(self, host: str, port: int, max_idle: int = 128) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.inflight = 0
        self.closed = False
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._idle_waiters: list[asyncio.Future[None]] = []

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bool]:
        """A connection (reader, writer, reused) to the slot process."""
        while self._idle:
            reader, writer = self._idle.pop()
            # A connection the slot closed while idle shows up here as EOF; skip it.
            if reader.at_eof() or writer.is_closing():
                writer.close()
                continue
            return reader, writer, True
        reader, writer = await asyncio.open_connection(self.host, self.port, limit=_HEAD_LIMIT)
        return reader, writer, False

    def release(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Give a connection whose response was read completely back to the pool."""
        if self.closed or len(self._idle) >= self.max_idle or reader.at_eof():
            writer.close()
        else:
            self._idle.append((reader, writer))

    def begin(self) -> None:
        """A request was dispatched to this process."""
        self.inflight += 1

    def end(self) -> None:
        """A request dispatched to this process finished."""
        self.inflight -= 1
        if self.inflight == 0 and self._idle_waiters:
            waiters, self._idle_waiters = self._idle_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def drained(self, timeout: float) -> bool:
        """Wait until no request is in flight here (True) or the timeout passed (False)."""
        if self.inflight == 0:
            return True
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._idle_waiters.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            return False
        return True

    def close(self) -> None:
        """Close pooled connections and stop pooling (in-flight requests finish)."""
        self.closed = True
        while self._idle:
            self._idle.pop()[1].close()


@dataclass(frozen=True)
class Route:
    """Where production requests go: the slot name and version they are counted under."""

    slot: str
    version: str
    upstream: Upstream


@dataclass
class _Request:
    method: bytes
    keep_alive: bool
    http10: bool
    framing: int
    length: int
    expect_continue: bool
    head: bytes
    """The request head to send upstream."""
    probe: bool = False
    """turnout's own verification request (it carries PROBE_HEADER)."""


class Router:
    """Accepts client connections and relays each request to the current production route."""

    def __init__(
        self, record: Recorder, *, idle_timeout: float = 75.0, scheme: str = "http"
    ) -> None:
        self._record = record
        self.idle_timeout = idle_timeout
        self.scheme = scheme.encode()
        self.production: Route | None = None
        self.unavailable = "no version is deployed to the production slot"
        self.unavailable_version = ""
        """The version of a production slot that is down ("" when none is deployed): its
        503s are that version's failures, while the router's own answers are not."""
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    def set_production(
        self, route: Route | None, unavailable: str = "", version: str = ""
    ) -> Route | None:
        """Switch production traffic to `route` (None: answer 503, counted under `version`
        when a deployed version is down); the previous route."""
        previous, self.production = self.production, route
        if unavailable:
            self.unavailable = unavailable
        self.unavailable_version = version if route is None else ""
        return previous

    async def start(self, host: str, port: int) -> asyncio.Server:
        """Listen for clients."""
        self._server = await asyncio.start_server(
            self._serve_client, host, port, limit=_HEAD_LIMIT, backlog=1024, reuse_address=True
        )
        return self._server

    async def stop(self) -> None:
        """Stop accepting and close idle client connections."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._connections):
            writer.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    # -- client side ----------------------------------------------------------------
    async def _serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        peer = writer.get_extra_info("peername")
        client = str(peer[0]).encode() if peer else b"unknown"
        self._connections.add(writer)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.LimitOverrunError:
                    await self._answer(writer, 431, "request head too large", close=True)
                    break
                except (asyncio.IncompleteReadError, TimeoutError, ConnectionError):
                    break
                if not await self._exchange(head, reader, writer, client):
                    break
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._connections.discard(writer)
            writer.close()

    async def _exchange(
        self,
        head: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        client: bytes,
    ) -> bool:
        """Relay one request; whether the client connection stays open."""
        started = time.perf_counter()
        try:
            request = _parse_request(head, client, self.scheme)
        except BadMessage as exc:
            await self._answer(writer, exc.status, str(exc), close=True)
            return False
        if request.expect_continue and not request.http10 and request.framing != _NONE:
            # The router answers the expectation itself; the slot never sees Expect.
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = b""
        if request.framing == _FIXED and request.length <= _BUFFER_BODY:
            body = await reader.readexactly(request.length)
            request.framing = _NONE
        route = self.production
        if route is None:
            keep = request.keep_alive and request.framing == _NONE
            await self._answer(writer, 503, self.unavailable, close=not keep)
            elapsed = (time.perf_counter() - started) * 1000
            self._record(PRODUCTION, self.unavailable_version, 503, elapsed, request.probe)
            return keep
        upstream = route.upstream
        upstream.begin()
        status: int | None = None
        try:
            status, keep = await self._forward(request, body, reader, writer, upstream)
            return keep
        except UpstreamFailed as exc:
            await self._answer(
                writer, 502, f"slot {route.slot} ({route.version}) gave no response: {exc}", True
            )
            return False
        finally:
            upstream.end()
            elapsed = (time.perf_counter() - started) * 1000
            self._record(route.slot, route.version, status, elapsed, request.probe)

    async def _forward(
        self,
        request: _Request,
        body: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: Upstream,
    ) -> tuple[int | None, bool]:
        """Send the request to the slot and relay its response: (status, client keep-alive)."""
        replayable = request.framing == _NONE
        for attempt in (0, 1):
            try:
                up_reader, up_writer, reused = await upstream.connect()
            except OSError as exc:
                raise UpstreamFailed(f"cannot connect: {exc}") from exc
            try:
                up_writer.write(request.head + body if body else request.head)
                if request.framing == _FIXED:
                    await _copy_fixed(reader, up_writer, request.length)
                elif request.framing == _CHUNKED:
                    await _copy_chunked(reader, up_writer, rechunk=True)
                response_head = await _read_response_head(up_reader)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
                up_writer.close()
                nothing_back = not getattr(exc, "partial", b"")
                # A pooled connection the slot had just closed: safe to try once more.
                retry_safe = request.method in _IDEMPOTENT or isinstance(exc, ConnectionError)
                if reused and attempt == 0 and replayable and nothing_back and retry_safe:
                    continue
                raise UpstreamFailed(str(exc) or type(exc).__name__) from exc
            return await self._relay_response(
                request, response_head, up_reader, up_writer, writer, upstream
            )
        raise UpstreamFailed("no response")  # pragma: no cover - the loop always returns

    async def _relay_response(
        self,
        request: _Request,
        head: bytes,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
        writer: asyncio.StreamWriter,
        upstream: Upstream,
    ) -> tuple[int | None, bool]:
        try:
            status, framing, length, upstream_keep, out_head = _parse_response(head, request)
        except BadMessage as exc:
            up_writer.close()
            raise UpstreamFailed(str(exc)) from exc
        keep = request.keep_alive
        rechunk = False
        if framing in (_CHUNKED, _UNTIL_CLOSE):
            if request.http10:
                keep = False
            else:
                rechunk = True
                out_head.append(b"Transfer-Encoding: chunked\r\n")
        if not keep:
            out_head.append(b"Connection: close\r\n")
        elif request.http10:
            out_head.append(b"Connection: keep-alive\r\n")
        out_head.append(b"\r\n")
        response_head = b"".join(out_head)
        try:
            if framing == _NONE:
                writer.write(response_head)
            elif framing == _FIXED and length <= _BUFFER_BODY:
                writer.write(response_head + await up_reader.readexactly(length))
            else:
                writer.write(response_head)
                if framing == _FIXED:
                    await _copy_fixed(up_reader, writer, length)
                elif framing == _CHUNKED:
                    await _copy_chunked(up_reader, writer, rechunk=rechunk)
                else:
                    await _copy_until_close(up_reader, writer, rechunk=rechunk)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            # Mid-body: the status line is already out, so the only signal left is closing.
            # A client that went away got what the slot said; a slot that broke off did not.
            client_gone = writer.is_closing()
            up_writer.close()
            writer.close()
            return (status if client_gone else None), False
        if upstream_keep and framing != _UNTIL_CLOSE:
            upstream.release(up_reader, up_writer)
        else:
            up_writer.close()
        return status, keep

    async def _answer(
        self, writer: asyncio.StreamWriter, status: int, message: str, close: bool
    ) -> None:
        body = (message + "\n").encode()
        reason = _REASONS.get(status, "Error")
        head = (
            f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\n"
            f"{'Connection: close' + chr(13) + chr(10) if close else ''}\r\n"
        )
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()


# -- parsing ------------------------------------------------------------------------
def _headers(lines: list[bytes]) -> list[tuple[bytes, bytes, bytes]]:
    out = []
    for line in lines:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip() or line[:1] in (b" ", b"\t"):
            raise BadMessage(400, "malformed header line")
        out.append((name, name.lower(), value.strip()))
    return out


def _tokens(headers: list[tuple[bytes, bytes, bytes]], lname: bytes) -> list[bytes]:
    return [
        token.strip().lower()
        for name, low, value in headers
        if low == lname
        for token in value.split(b",")
        if token.strip()
    ]


def _content_length(headers: list[tuple[bytes, bytes, bytes]]) -> int | None:
    values = {value for _, low, value in headers if low == b"content-length"}
    if not values:
        return None
    parts = {part.strip() for value in values for part in value.split(b",")}
    if len(parts) != 1:
        raise BadMessage(400, "conflicting Content-Length")
    (text,) = parts
    if not text.isdigit():
        raise BadMessage(400, "invalid Content-Length")
    return int(text)


def _parse_request(head: bytes, client: bytes, scheme: bytes) -> _Request:
    lines = head.lstrip(b"\r\n")[:-4].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise BadMessage(400, "malformed request line")
    method, target, version = parts
    if version == b"HTTP/1.1":
        http10 = False
    elif version == b"HTTP/1.0":
        http10 = True
    else:
        raise BadMessage(505, "only HTTP/1.0 and HTTP/1.1 are supported")
    headers = _headers(lines[1:])
    connection = _tokens(headers, b"connection")
    keep_alive = (b"keep-alive" in connection) if http10 else (b"close" not in connection)
    codings = _tokens(headers, b"transfer-encoding")
    length = _content_length(headers)
    if codings:
        if length is not None:
            raise BadMessage(400, "both Transfer-Encoding and Content-Length")
        if codings[-1] != b"chunked" or len(codings) > 1:
            raise BadMessage(400, "only the chunked transfer coding is supported")
        framing = _CHUNKED
    elif length:
        framing = _FIXED
    else:
        framing = _NONE
    if not http10 and not any(low == b"host" for _, low, _ in headers):
        raise BadMessage(400, "missing Host header")
    drop = _HOP_BY_HOP.union(connection)
    out = [method, b" ", target, b" HTTP/1.1\r\n"]
    forwarded_for = b""
    has_proto = False
    expect_continue = False
    probe = False
    for name, low, value in headers:
        if low == _PROBE:
            probe = True
        if low in drop:
            continue
        if low == b"x-forwarded-for":
            forwarded_for = value if not forwarded_for else forwarded_for + b", " + value
            continue
        if low == b"expect":
            expect_continue = value.lower() == b"100-continue"
            continue
        if low == b"x-forwarded-proto":
            has_proto = True
        out += (name, b": ", value, b"\r\n")
    out += (b"X-Forwarded-For: ", forwarded_for + b", " + client if forwarded_for else client)
    out.append(b"\r\n")
    if not has_proto:
        out += (b"X-Forwarded-Proto: ", scheme, b"\r\n")
    if framing == _CHUNKED:
        out.append(b"Transfer-Encoding: chunked\r\n")
    out.append(b"\r\n")
    return _Request(
        method=method,
        keep_alive=keep_alive,
        http10=http10,
        framing=framing,
        length=length or 0,
        expect_continue=expect_continue,
        head=b"".join(out),
        probe=probe,
    )


async def _read_response_head(reader: asyncio.StreamReader) -> bytes:
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        # Interim answers (103 Early Hints, a stray 100) are not relayed.
        if head.startswith(b"HTTP/1.") and head[9:10] == b"1" and head[9:12] != b"101":
            continue
        return head


def _parse_response(head: bytes, request: _Request) -> tuple[int, int, int, bool, list[bytes]]:
    lines = head[:-4].split(b"\r\n")
    version, _, rest = lines[0].partition(b" ")
    code_text, _, reason = rest.partition(b" ")
    if version not in (b"HTTP/1.1", b"HTTP/1.0") or not code_text.isdigit():
        raise BadMessage(502, "malformed status line")
    status = int(code_text)
    if status == 101:
        raise BadMessage(502, "protocol upgrades are not supported")
    headers = _headers(lines[1:])
    connection = _tokens(headers, b"connection")
    if version == b"HTTP/1.1":
        upstream_keep = b"close" not in connection
    else:
        upstream_keep = b"keep-alive" in connection
    length = 0
    if request.method == b"HEAD" or status in (204, 304):
        framing = _NONE
    elif _tokens(headers, b"transfer-encoding"):
        framing = _CHUNKED
    else:
        found = _content_length(headers)
        if found is None:
            framing = _UNTIL_CLOSE
        else:
            framing, length = (_FIXED, found) if found else (_NONE, 0)
    drop = _HOP_BY_HOP.union(connection)
    out = [b"HTTP/1.1 ", code_text, b" ", reason, b"\r\n"]
    for name, low, value in headers:
        if low not in drop:
            out += (name, b": ", value, b"\r\n")
    return status, framing, length, upstream_keep, [b"".join(out)]


# -- body copying ---------------------------------------------------------------------
async def _copy_fixed(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, length: int
) -> None:
    remaining = length
    while remaining:
        piece = await source.read(min(remaining, _PIECE))
        if not piece:
            raise asyncio.IncompleteReadError(b"", remaining)
        remaining -= len(piece)
        sink.write(piece)
        await sink.drain()


async def _copy_chunked(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, rechunk: bool
) -> None:
    """Relay a chunked body; rechunk=False writes the decoded bytes (HTTP/1.0 clients)."""
    while True:
        size_line = await source.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise asyncio.IncompleteReadError(size_line, None) from None
        if size == 0:
            trailers = b""
            while (line := await source.readuntil(b"\r\n")) != b"\r\n":
                trailers += line
            if rechunk:
                sink.write(b"0\r\n" + trailers + b"\r\n")
            return
        if rechunk:
            sink.write(b"%x\r\n" % size)
        await _copy_fixed(source, sink, size)
        if await source.readexactly(2) != b"\r\n":
            raise asyncio.IncompleteReadError(b"", None)
        if rechunk:
            sink.write(b"\r\n")


async def _copy_until_close(
    source: asyncio.StreamReader, sink: asyncio.StreamWriter, *, rechunk: bool
) -> None:
    while piece := await source.read(_PIECE):
        sink.write(b"%x\r\n%s\r\n" % (len(piece), piece) if rechunk else piece)
        await sink.drain()
    if rechunk:
        sink.write(b"0\r\n\r\n")
