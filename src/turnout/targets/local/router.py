"""The router: an HTTP/1.1 reverse proxy that sends every request to the production slot.

Each request is routed when its head arrives, so a swap (`set_production`)
moves new requests to the new slot at once, including those on existing
keep-alive client connections, while requests already in flight finish on the
old slot. Upstream connections are pooled per slot process. Bodies are
streamed in both directions (bodies up to 64 KiB are read whole before the
request is forwarded, so a malformed small request never reaches a slot);
hop-by-hop headers are dropped; the client's address goes into
X-Forwarded-For.

Messages are parsed by llhttp (`http1`), strictly: what the parser refuses is
answered 400, 431, 501 or 505 and the connection closed. A slot that sends
nothing for `upstream_timeout` seconds is answered 504 for it. An Upgrade
request (WebSocket) is passed to the production slot; when the slot answers
101 the connection becomes a tunnel between client and slot, otherwise the
slot's answer is relayed and the connection closed.

The proxy is written on asyncio protocols (callbacks, no task per request):
it runs on uvloop when the host has it (`eventloop`), on asyncio's own loop
otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from turnout.targets.local.http1 import (
    HEAD_LIMIT,
    REQUEST_LINE_LIMIT,
    BadMessage,
    Headers,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
    simple_response,
)
from turnout.targets.protocol import PRODUCTION, Stickiness
from turnout.traffic import PROBE_HEADER

_BUFFER_BODY = 65536
"""Request bodies up to this size are read whole before forwarding (and can be replayed
on a fresh connection when a pooled one turns out closed)."""
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
_PROBE = PROBE_HEADER.lower().encode()
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"

Recorder = Callable[[str, str, "int | None", float, bool], None]
"""(slot, version, status or None, latency ms, probe): version "" when no version is deployed
and the router answered itself; status None when the slot gave no usable response, 504 when
it did not answer in time, 101 when it accepted a protocol upgrade."""


class _Hold(enum.Enum):
    """Why the router stopped reading a client connection for now."""

    QUEUE = "a pipelined request waits for the one before it"
    CONNECT = "the request's body waits for a slot connection"
    SLOT = "the slot reads the body slower than the client sends it"
    UPGRADE = "the slot has not answered the upgrade yet"
    REFUSED = "a refused request's bytes are not read"


class Upstream:
    """A slot process's address and its pool of idle keep-alive connections."""

    def __init__(self, host: str, port: int, max_idle: int = 128) -> None:
        self.host = host
        self.port = port
        self.max_idle = max_idle
        self.inflight = 0
        self.closed = False
        self._idle: list[_UpstreamConnection] = []
        self._idle_waiters: list[asyncio.Future[None]] = []

    def take_idle(self) -> _UpstreamConnection | None:
        """A pooled connection, if one is still open."""
        while self._idle:
            connection = self._idle.pop()
            if connection.usable():
                return connection
            connection.close()
        return None

    async def connect(self) -> _UpstreamConnection:
        """A new connection to the slot process (OSError when it does not accept)."""
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_UpstreamConnection, self.host, self.port)
        return protocol

    def release(self, connection: _UpstreamConnection) -> None:
        """Give a connection whose response was read completely back to the pool."""
        if self.closed or len(self._idle) >= self.max_idle or not connection.usable():
            connection.close()
        else:
            connection.exchange = None
            if connection.transport is not None:
                # A slow client may have held its reading; the next exchange starts afresh.
                connection.transport.resume_reading()
            self._idle.append(connection)

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
            self._idle.pop().close()


@dataclass(frozen=True)
class Route:
    """Where production requests go: the slot name and version they are counted under."""

    slot: str
    version: str
    upstream: Upstream


@dataclass(frozen=True)
class ShareRoute:
    """A share of production's traffic sent to another slot, each client kept on its slot.

    Cookie stickiness: a client without the cookie is given a slot at random (the share's
    chance of the other slot) and the answer sets the cookie to that slot's name; a client
    whose cookie names a slot keeps it. Header stickiness: the header's value is hashed into
    one of 10,000 buckets, and the first `percent` x 100 buckets go to the other slot, so a
    client keeps its slot with no state and a rising share only moves clients toward it.
    """

    route: Route
    percent: float
    stickiness: Stickiness
    name: bytes
    """The cookie's name, or the header's name in lowercase."""

    @property
    def cookie_for_slot(self) -> bytes:
        """The Set-Cookie line of a client given the share's slot."""
        return self._cookie(self.route.slot.encode())

    def _cookie(self, value: bytes) -> bytes:
        return b"Set-Cookie: " + self.name + b"=" + value + b"; Path=/; HttpOnly; SameSite=Lax\r\n"

    def pick(self, head: RequestHead, production: Route) -> tuple[Route, bytes]:
        """The route of one request and the Set-Cookie line its answer carries (or b"")."""
        if self.stickiness is Stickiness.HEADER:
            value = _header_value(head, self.name)
            if value is None:
                return (self.route if random.random() * 100 < self.percent else production), b""
            bucket = int.from_bytes(hashlib.blake2b(value, digest_size=8).digest(), "big")
            return (self.route if bucket % 10000 < self.percent * 100 else production), b""
        given = _cookie_value(head, self.name)
        if given == self.route.slot.encode():
            return self.route, b""
        if given == PRODUCTION.encode():
            return production, b""
        if random.random() * 100 < self.percent:
            return self.route, self.cookie_for_slot
        return production, self._cookie(PRODUCTION.encode())


def _header_value(head: RequestHead, name: bytes) -> bytes | None:
    for low, (_, value) in zip(head.names, head.headers, strict=True):
        if low == name:
            return value.strip()
    return None


def _cookie_value(head: RequestHead, name: bytes) -> bytes | None:
    prefix = name + b"="
    for low, (_, value) in zip(head.names, head.headers, strict=True):
        if low != b"cookie":
            continue
        for part in value.split(b";"):
            part = part.strip()
            if part.startswith(prefix):
                return part[len(prefix) :]
    return None


class Router:
    """Accepts client connections and relays each request to the current production route."""

    def __init__(
        self,
        record: Recorder,
        *,
        idle_timeout: float = 75.0,
        upstream_timeout: float = 60.0,
        scheme: str = "http",
        line_limit: int = REQUEST_LINE_LIMIT,
        head_limit: int = HEAD_LIMIT,
    ) -> None:
        self._record = record
        self.idle_timeout = idle_timeout
        self.upstream_timeout = upstream_timeout
        """Seconds a slot may send nothing while a request waits on it (then 504)."""
        self.scheme = scheme.encode()
        self.line_limit = line_limit
        self.head_limit = head_limit
        self.production: Route | None = None
        self.share: ShareRoute | None = None
        """A share of production's traffic for another slot (a canary), when one is set."""
        self.unavailable = "no version is deployed to the production slot"
        self.unavailable_version = ""
        """The version of a production slot that is down ("" when none is deployed): its
        503s are that version's failures, while the router's own answers are not."""
        self._server: asyncio.Server | None = None
        self._connections: set[_ClientConnection] = set()
        self._connecting: set[asyncio.Future[None]] = set()
        self._waiting: set[_Exchange] = set()
        """Exchanges waiting on a slot: the sweep times them out."""
        self._sweep: asyncio.TimerHandle | None = None

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

    def set_share(self, share: ShareRoute | None) -> None:
        """Send a share of production's new clients to another slot (None: all to production).
        Takes effect for the next request, as a swap does."""
        self.share = share if share is not None and share.percent > 0 else None

    async def start(self, host: str, port: int) -> asyncio.Server:
        """Listen for clients."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _ClientConnection(self), host, port, backlog=1024, reuse_address=True
        )
        self._schedule_sweep()
        return self._server

    def _schedule_sweep(self) -> None:
        # One timer for all deadlines: cheaper per request than a timer per request, and
        # precise to a tenth of the shorter timeout (at most a second).
        tick = max(0.02, min(1.0, self.upstream_timeout / 10, self.idle_timeout / 10))
        self._sweep = asyncio.get_running_loop().call_later(tick, self._sweep_deadlines)

    def _sweep_deadlines(self) -> None:
        now = time.monotonic()
        timeout = self.upstream_timeout
        for exchange in [e for e in self._waiting if now - e.last_read > timeout]:
            exchange.timed_out(timeout)
        for connection in [c for c in self._connections if c.idle_expired(now)]:
            connection.close()
        self._schedule_sweep()

    async def stop(self) -> None:
        """Stop accepting and close client connections."""
        if self._server is not None:
            self._server.close()
        if self._sweep is not None:
            self._sweep.cancel()
        for connection in list(self._connections):
            connection.close()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    def record(
        self, slot: str, version: str, status: int | None, started: float, probe: bool
    ) -> None:
        """Count one finished request."""
        elapsed = (time.perf_counter() - started) * 1000
        self._record(slot, version, status, elapsed, probe)


# -- client side ----------------------------------------------------------------------
class _ClientConnection(asyncio.Protocol):
    """One client connection: parses its requests and runs their exchanges in order."""

    def __init__(self, router: Router) -> None:
        self.router = router
        self.transport: asyncio.Transport | None = None
        self.client = b"unknown"
        self.parser = RequestParser(
            self, line_limit=router.line_limit, head_limit=router.head_limit
        )
        self.current: _Exchange | None = None
        self.queue: deque[_Exchange] = deque()
        self.receiving: _Exchange | None = None
        """The exchange whose request is still arriving."""
        self.refusal: BadMessage | None = None
        self.tunnel: _UpstreamConnection | None = None
        self.upgrading = False
        self.early: list[bytes] = []
        """Bytes after an Upgrade request's head, for the slot once it accepts."""
        self.closed = False
        self.eof = False
        self.write_blocked = False
        """The client reads slower than the router writes (its transport paused us)."""
        self.paused = False
        self._holds: set[_Hold] = set()
        self.idle_since: float | None = time.monotonic()
        """When the connection last became idle (None while a request is under way)."""

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        if peer:
            self.client = str(peer[0]).encode()
        self.router._connections.add(self)
        self._arm_idle()

    def data_received(self, data: bytes) -> None:
        if self.tunnel is not None:
            self.tunnel.write(data)
            return
        if self.refusal is not None or self.closed:
            return
        if self.upgrading:
            self.early.append(data)
            return
        try:
            offset = self.parser.feed(data)
        except BadMessage as exc:
            self.refuse(exc)
            return
        if offset is not None:
            # The rest belongs to the protocol the client asked to switch to.
            self.upgrading = True
            self.hold(_Hold.UPGRADE, True)
            if offset < len(data):
                self.early.append(data[offset:])
        self.pump()

    def eof_received(self) -> bool | None:
        # A client that half-closes after its request still gets the answer.
        self.eof = True
        if self.tunnel is not None:
            self.tunnel.close()
        elif self.current is None and not self.queue:
            self.close()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.router._connections.discard(self)
        self._cancel_idle()
        if self.tunnel is not None:
            self.tunnel.close()
        for exchange in [self.current, *self.queue]:
            if exchange is not None:
                exchange.client_gone()

    def pause_writing(self) -> None:
        self.write_blocked = True
        if self.current is not None:
            self.current.client_blocked(True)
        if self.tunnel is not None and self.tunnel.transport is not None:
            self.tunnel.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_blocked = False
        if self.current is not None:
            self.current.client_blocked(False)
        if self.tunnel is not None and self.tunnel.transport is not None:
            self.tunnel.transport.resume_reading()

    # RequestSink
    def request_head(self, head: RequestHead) -> None:
        self._cancel_idle()
        upstream_head, probe, expect = self._upstream_head(head)
        exchange = _Exchange(self, head, upstream_head, probe)
        if expect and not head.http10 and head.has_body and self.router.production is not None:
            self.write(_CONTINUE)  # the router answers the expectation; the slot never sees it
        self.receiving = exchange
        if self.current is None:
            self.current = exchange
        else:
            self.queue.append(exchange)
            self.hold(_Hold.QUEUE, True)  # a pipelined request waits; its bytes stay queued

    def request_body(self, data: bytes) -> None:
        assert self.receiving is not None
        self.receiving.client_body(data)

    def request_end(self, trailers: Headers) -> None:
        assert self.receiving is not None
        exchange, self.receiving = self.receiving, None
        exchange.client_end(trailers)

    # flow
    def pump(self) -> None:
        """Start the current exchange once its request can be forwarded."""
        current = self.current
        if current is not None and not current.started and current.ready():
            current.start()

    def exchange_done(self, exchange: _Exchange, keep: bool) -> None:
        """The response of `exchange` is out; `keep`: the connection may carry more."""
        if exchange is not self.current:
            return
        if not keep or self.closed:
            self.close()
            return
        self.current = self.queue.popleft() if self.queue else None
        if not self.queue:
            self.hold(_Hold.QUEUE, False)
        if self.current is None:
            if self.refusal is not None:
                self._answer_refusal()
                return
            if self.eof and not self.parser.in_message:
                self.close()
                return
            self._arm_idle()
        self.pump()

    def become_tunnel(self, upstream: _UpstreamConnection) -> None:
        """The slot accepted the upgrade: relay raw bytes both ways from now on."""
        self.current = None
        self.tunnel = upstream
        for piece in self.early:
            upstream.write(piece)
        self.early = []
        self.upgrading = False
        self.hold(_Hold.UPGRADE, False)

    def refuse(self, exc: BadMessage) -> None:
        """Answer a request the parser refused (after the responses before it), then close."""
        self.refusal = exc
        self.hold(_Hold.REFUSED, True)
        receiving, self.receiving = self.receiving, None
        if receiving is not None and receiving is not self.current:
            self.queue.remove(receiving)
        elif receiving is not None:
            if receiving.answer is not None:
                self.close()  # the slot answered already; closing is the only signal left
                return
            # Its head may be with the slot already: cut it off there, the rest never follows.
            receiving.abort_request()
            self.current = None
        if self.current is None:
            self._answer_refusal()
        else:
            self.pump()  # the requests before the refused one are still answered

    def _answer_refusal(self) -> None:
        exc = self.refusal
        assert exc is not None
        self.write(simple_response(exc.status, (exc.message + "\n").encode(), close=True))
        self.close()

    def write(self, data: bytes) -> None:
        """Send to the client unless it went away."""
        if not self.closed and self.transport is not None:
            self.transport.write(data)

    def hold(self, reason: _Hold, on: bool) -> None:
        """Stop (or resume) reading the client for `reason`; it reads while none holds."""
        if on:
            self._holds.add(reason)
        else:
            self._holds.discard(reason)
        wanted = bool(self._holds)
        if wanted != self.paused and self.transport is not None and not self.closed:
            self.paused = wanted
            if wanted:
                self.transport.pause_reading()
            else:
                self.transport.resume_reading()

    def close(self) -> None:
        """Close the connection (what was written is still sent)."""
        if self.transport is not None and not self.closed:
            self.transport.close()
        self.closed = True
        self._cancel_idle()

    def _arm_idle(self) -> None:
        self.idle_since = time.monotonic()

    def _cancel_idle(self) -> None:
        self.idle_since = None

    def idle_expired(self, now: float) -> bool:
        """Whether the connection sat idle (or a head took) longer than the idle timeout."""
        since = self.idle_since
        return (
            since is not None
            and self.current is None
            and self.tunnel is None
            and (now - since > self.router.idle_timeout)
        )

    def _upstream_head(self, head: RequestHead) -> tuple[bytes, bool, bool]:
        """The request head as the slot gets it; whether it is a probe; whether it expects
        100-continue."""
        drop = _HOP_BY_HOP.union(head.connection) if head.connection else _HOP_BY_HOP
        if head.upgrade:
            drop = drop - {b"upgrade"}
        out = [head.method, b" ", head.target, b" HTTP/1.1\r\n"]
        forwarded_for = b""
        has_proto = probe = expect = False
        for low, (name, value) in zip(head.names, head.headers, strict=True):
            if low in drop:
                continue
            if low == b"x-forwarded-for":
                forwarded_for = value if not forwarded_for else forwarded_for + b", " + value
                continue
            if low == b"expect":
                expect = value.strip().lower() == b"100-continue"
                continue  # the router answers 100-continue itself
            if low == b"x-forwarded-proto":
                has_proto = True
            elif low == _PROBE:
                probe = True
            out += (name, b": ", value, b"\r\n")
        client = self.client
        out += (b"X-Forwarded-For: ", forwarded_for + b", " + client if forwarded_for else client)
        out.append(b"\r\n")
        if not has_proto:
            out += (b"X-Forwarded-Proto: ", self.router.scheme, b"\r\n")
        if head.upgrade:
            out.append(b"Connection: upgrade\r\n")
        elif head.chunked:
            out.append(b"Transfer-Encoding: chunked\r\n")
        out.append(b"\r\n")
        return b"".join(out), probe, expect


# -- one request and its response -------------------------------------------------------
class _Exchange:
    """Relays one request to the production slot and its response back."""

    __slots__ = (
        "answer",
        "attempt",
        "client",
        "client_left",
        "connection",
        "finished",
        "head",
        "keep",
        "last_read",
        "out",
        "out_size",
        "probe",
        "rechunk",
        "relay",
        "request_done",
        "response",
        "reused",
        "route",
        "sent",
        "set_cookie",
        "started",
        "started_at",
        "status",
        "upgrade",
        "waiting_for_connection",
    )

    def __init__(
        self, client: _ClientConnection, head: RequestHead, upstream_head: bytes, probe: bool
    ) -> None:
        self.client = client
        self.head = head
        self.upgrade = head.upgrade
        self.started_at = time.perf_counter()
        self.probe = probe
        self.out: list[bytes] = [upstream_head]
        """Request bytes not yet written to a slot connection (the head first)."""
        self.out_size = 0
        self.sent: list[bytes] | None = []
        """What was written, while it can still be replayed on a fresh connection."""
        self.request_done = False
        self.started = False
        self.finished = False
        self.route: Route | None = None
        self.connection: _UpstreamConnection | None = None
        self.reused = False
        self.attempt = 0
        self.response: ResponseParser | None = None
        self.answer: ResponseHead | None = None
        """The slot's response head, once it came."""
        self.relay: list[bytes] = []
        self.rechunk = False
        self.keep = False
        self.status: int | None = None
        self.client_left = False
        self.last_read = 0.0
        self.waiting_for_connection = False
        self.set_cookie = b""
        """A Set-Cookie line the answer carries (the slot a traffic share gave the client)."""

    # -- request side ------------------------------------------------------------------
    def ready(self) -> bool:
        """Whether the request may go to the slot now: small bodies are read whole first."""
        head = self.head
        if self.request_done or self.upgrade:
            return True
        if head.chunked:
            return self.out_size >= _BUFFER_BODY
        return head.length > _BUFFER_BODY

    def client_body(self, data: bytes) -> None:
        piece = b"%x\r\n%s\r\n" % (len(data), data) if self.head.chunked else data
        self._send(piece)

    def client_end(self, trailers: Headers) -> None:
        self.request_done = True
        if self.head.chunked:
            lines = b"".join(name + b": " + value + b"\r\n" for name, value in trailers)
            self._send(b"0\r\n" + lines + b"\r\n")

    def _send(self, piece: bytes) -> None:
        self.out.append(piece)
        self.out_size += len(piece)
        if self.connection is not None:
            self._flush()
        elif self.out_size > _BUFFER_BODY and self.client.current is self:
            self.client.hold(_Hold.CONNECT, True)  # until the slot connection is there
            self.waiting_for_connection = True

    def _flush(self) -> None:
        connection = self.connection
        assert connection is not None
        if not self.out:
            return
        data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
        self.out = []
        self.out_size = 0
        if self.sent is not None:
            if sum(map(len, self.sent)) + len(data) <= _BUFFER_BODY + 65536:
                self.sent.append(data)
            else:
                self.sent = None  # too big to replay
        connection.write(data)

    def abort_request(self) -> None:
        """The rest of the request is malformed: the slot never gets it (a request whose
        head went ahead is cut off; nothing is counted, the slot did nothing wrong)."""
        self.out = []
        self._abandon_connection()
        self._cancel_timer()
        if self.started and not self.finished and self.route is not None:
            self.route.upstream.end()
        self.finished = True

    def client_blocked(self, blocked: bool) -> None:
        """The client reads slower than the slot answers: hold the slot's side."""
        connection = self.connection
        if connection is not None and connection.transport is not None:
            if blocked:
                connection.transport.pause_reading()
            else:
                connection.transport.resume_reading()

    def client_gone(self) -> None:
        """The client closed: the response has nobody to go to."""
        self.client_left = True
        if not self.started or self.finished:
            return
        if not self.request_done or self.answer is not None or self.upgrade:
            # Mid-request or mid-response: the slot connection cannot be reused.
            if self.connection is not None:
                self.connection.close()
            self._finish(self.status if self.answer is not None else None, False)

    # -- dispatch ----------------------------------------------------------------------
    def start(self) -> None:
        self.started = True
        router = self.client.router
        route = router.production
        if route is None:
            keep = self.head.keep_alive and self.request_done and not self.upgrade
            message = (router.unavailable + "\n").encode()
            self.client.write(simple_response(503, message, close=not keep))
            router.record(PRODUCTION, router.unavailable_version, 503, self.started_at, self.probe)
            self.finished = True
            self.client.exchange_done(self, keep)
            return
        share = router.share
        if share is not None:
            route, self.set_cookie = share.pick(self.head, route)
        self.route = route
        route.upstream.begin()
        self._dispatch()

    def _dispatch(self) -> None:
        assert self.route is not None
        connection = self.route.upstream.take_idle()
        if connection is not None:
            self._attach(connection, reused=True)
        else:
            task = asyncio.ensure_future(self._connect())
            # The loop keeps only weak references to tasks: hold it until it is done.
            tasks = self.client.router._connecting
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    async def _connect(self) -> None:
        assert self.route is not None
        try:
            connection = await self.route.upstream.connect()
        except OSError as exc:
            self._bad_gateway(f"cannot connect: {exc}")
            return
        if self.finished:
            connection.close()
            return
        self._attach(connection, reused=False)

    def _attach(self, connection: _UpstreamConnection, reused: bool) -> None:
        self.connection = connection
        self.reused = reused
        connection.exchange = self
        no_body = self.head.method == b"HEAD"
        previous = connection.parser
        self.response = connection.parser = (
            ResponseParser(self, no_body=no_body)
            if previous is None
            else previous.next_response(self, no_body=no_body)
        )
        if self.client.write_blocked:
            self.client_blocked(True)  # the client is still behind on the last response
        if self.waiting_for_connection:
            self.waiting_for_connection = False
            self.client.hold(_Hold.CONNECT, False)
        self._flush()
        self.last_read = time.monotonic()
        self.client.router._waiting.add(self)

    # -- slot side ---------------------------------------------------------------------
    def upstream_data(self, data: bytes) -> None:
        self.last_read = time.monotonic()
        response = self.response
        assert response is not None
        try:
            offset = response.feed(data)
        except BadMessage as exc:
            self._abandon_connection()
            self._slot_failed(exc.message)
            return
        if offset is not None:
            if not self.upgrade:
                self._abandon_connection()
                self._slot_failed("switched protocols though none was asked for")
                return
            self._upgraded(data[offset:])
            return
        self._relay()

    def upstream_blocked(self, blocked: bool) -> None:
        """The slot reads slower than the client sends."""
        self.client.hold(_Hold.SLOT, blocked)

    def upstream_lost(self, exc: Exception | None) -> None:
        self.connection = None
        if self.finished:
            return
        response = self.response
        if response is not None and response.finish_at_close():
            self._relay()
            return
        if self.answer is not None:
            # Mid-body: the status line is out, so the only signal left is closing.
            self.client.close()
            self._finish(None, False)
            return
        retry_safe = self.head.method in _IDEMPOTENT or isinstance(exc, ConnectionError)
        replayable = self.sent is not None and self.request_done and not self.out
        if self.reused and self.attempt == 0 and replayable and retry_safe:
            # A pooled connection the slot had just closed: safe to try once more.
            self.attempt = 1
            self.out = list(self.sent or []) or self.out
            self.sent = []
            self._cancel_timer()
            self._dispatch()
            return
        self._slot_failed(str(exc) if exc else "connection closed")

    # ResponseSink
    def response_head(self, head: ResponseHead) -> None:
        self.answer = head
        self.status = head.status
        if head.status == 101:
            return  # relayed when the upgrade completes
        request = self.head
        keep = request.keep_alive and not self.upgrade
        self.rechunk = False
        if head.chunked or head.until_close:
            if request.http10:
                keep = False
            else:
                self.rechunk = True
        self.keep = keep
        self.relay.append(
            _response_head(
                head, rechunk=self.rechunk, keep=keep, request=request, extra=self.set_cookie
            )
        )

    def response_body(self, data: bytes) -> None:
        if self.rechunk:
            self.relay += (b"%x\r\n" % len(data), data, b"\r\n")
        else:
            self.relay.append(data)

    def response_end(self) -> None:
        if self.rechunk:
            self.relay.append(b"0\r\n\r\n")
        self.relay.append(b"")  # marks the end for _relay

    def _relay(self) -> None:
        relay = self.relay
        if not relay:
            return
        ended = relay[-1] == b""
        self.relay = []
        self.client.write(b"".join(relay))
        if ended:
            head = self.answer
            assert head is not None
            connection = self.connection
            if connection is not None:
                if head.keep_alive and self.request_done and not head.until_close:
                    assert self.route is not None
                    self._cancel_timer()
                    self.connection = None
                    self.route.upstream.release(connection)
                else:
                    self._abandon_connection()
            # The client may keep its connection only if its request was read whole.
            self._finish(head.status, self.keep and self.request_done)

    def _upgraded(self, rest: bytes) -> None:
        head = self.answer
        connection = self.connection
        assert head is not None and connection is not None and self.route is not None
        self._cancel_timer()
        self.client.write(
            _response_head(head, rechunk=False, keep=True, request=self.head, upgrade=True)
        )
        if rest:
            self.client.write(rest)
        connection.exchange = None
        connection.tunnel = self.client
        self.finished = True
        self.route.upstream.end()  # a long-lived tunnel does not hold up a drain
        self.client.router.record(
            self.route.slot, self.route.version, 101, self.started_at, self.probe
        )
        self.client.become_tunnel(connection)

    # -- endings -----------------------------------------------------------------------
    def _slot_failed(self, reason: str) -> None:
        if self.answer is not None and self.answer.status != 101:
            self.client.close()
            self._finish(None, False)
            return
        assert self.route is not None
        self._bad_gateway(f"gave no response: {reason}")

    def _bad_gateway(self, detail: str) -> None:
        assert self.route is not None
        route = self.route
        message = f"slot {route.slot} ({route.version}) {detail}\n".encode()
        self.client.write(simple_response(502, message, close=True))
        self._finish(None, False)

    def timed_out(self, timeout: float) -> None:
        """The slot sent nothing for `timeout` seconds."""
        self._cancel_timer()
        if self.finished:
            return
        self._abandon_connection()
        route = self.route
        assert route is not None
        if self.answer is not None:
            self.client.close()  # mid-body: closing is the only signal left
            self._finish(None, False)
            return
        message = f"slot {route.slot} ({route.version}) sent no answer within {timeout:g} s\n"
        self.client.write(simple_response(504, message.encode(), close=True))
        self._finish(504, False)

    def _finish(self, status: int | None, keep: bool) -> None:
        if self.finished:
            return
        self.finished = True
        self._cancel_timer()
        # A slot that was slow to read the body no longer holds the client's reading.
        self.client.hold(_Hold.SLOT, False)
        route = self.route
        if route is not None:
            route.upstream.end()
            self.client.router.record(
                route.slot, route.version, status, self.started_at, self.probe
            )
        self.client.exchange_done(self, keep)

    def _abandon_connection(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.exchange = None
            connection.close()

    def _cancel_timer(self) -> None:
        self.client.router._waiting.discard(self)


def _response_head(
    head: ResponseHead,
    *,
    rechunk: bool,
    keep: bool,
    request: RequestHead,
    upgrade: bool = False,
    extra: bytes = b"",
) -> bytes:
    drop = _HOP_BY_HOP.union(head.connection) if head.connection else _HOP_BY_HOP
    if upgrade:
        drop = drop - {b"upgrade"}
    out = [b"HTTP/1.1 %d " % head.status, head.reason, b"\r\n"]
    for low, (name, value) in zip(head.names, head.headers, strict=True):
        if low not in drop:
            out += (name, b": ", value, b"\r\n")
    if extra:
        out.append(extra)
    if upgrade:
        out.append(b"Connection: upgrade\r\n")
    else:
        if rechunk:
            out.append(b"Transfer-Encoding: chunked\r\n")
        if not keep:
            out.append(b"Connection: close\r\n")
        elif request.http10:
            out.append(b"Connection: keep-alive\r\n")
    out.append(b"\r\n")
    return b"".join(out)


# -- slot side connection ---------------------------------------------------------------
class _UpstreamConnection(asyncio.Protocol):
    """A connection to a slot process: carries one exchange at a time, or a tunnel."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.exchange: _Exchange | None = None
        self.tunnel: _ClientConnection | None = None
        self.lost = False
        self.parser: ResponseParser | None = None
        """The parser of the responses on this connection (kept from one to the next)."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.exchange is not None:
            self.exchange.upstream_data(data)
        elif self.tunnel is not None:
            self.tunnel.write(data)
        else:
            self.close()  # an idle connection has nothing to say

    def eof_received(self) -> bool | None:
        return None  # close: the exchange hears it in connection_lost

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        exchange, self.exchange = self.exchange, None
        if exchange is not None:
            exchange.upstream_lost(exc)
        if self.tunnel is not None:
            self.tunnel.close()

    def pause_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_blocked(True)
        elif self.tunnel is not None:
            self.tunnel.hold(_Hold.SLOT, True)

    def resume_writing(self) -> None:
        if self.exchange is not None:
            self.exchange.upstream_blocked(False)
        elif self.tunnel is not None:
            self.tunnel.hold(_Hold.SLOT, False)

    def usable(self) -> bool:
        """Open and not closing (a slot that closed an idle connection shows up here)."""
        return not self.lost and self.transport is not None and not self.transport.is_closing()

    def write(self, data: bytes) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
