"""The host's own small HTTP endpoints and its health checks, on the router's parser.

`serve_endpoints` answers GET (and HEAD) requests with a handler's `Reply`,
keep-alive, through the same llhttp-based `http1` layer as the router, with
its strictness and limits. `fetch_status` is the host's health check of a
slot process: one GET, the status code read by the same parser.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

from turnout.targets.local.http1 import (
    BadMessage,
    Headers,
    RequestHead,
    RequestParser,
    ResponseHead,
    ResponseParser,
    simple_response,
)


@dataclass(frozen=True)
class Reply:
    """What an endpoint answers."""

    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"


Handler = Callable[[str], Reply]
"""The request's path (without the query) -> the reply."""


class _EndpointConnection(asyncio.Protocol):
    def __init__(self, handler: Handler, idle_timeout: float) -> None:
        self.handler = handler
        self.idle_timeout = idle_timeout
        self.parser = RequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.head: RequestHead | None = None
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        self._arm()
        try:
            if self.parser.feed(data) is not None:
                raise BadMessage(400, "protocol upgrades are not served here")
        except BadMessage as exc:
            self._send(simple_response(exc.status, (exc.message + "\n").encode(), close=True))
            self._close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()

    def request_head(self, head: RequestHead) -> None:
        self.head = head

    def request_body(self, data: bytes) -> None:
        pass  # bodies are read and ignored: these endpoints only answer GET

    def request_end(self, trailers: Headers) -> None:
        head = self.head
        assert head is not None
        keep = head.keep_alive
        if head.method not in (b"GET", b"HEAD"):
            reply = Reply(405, b"only GET and HEAD are served here\n")
        else:
            path = head.target.split(b"?", 1)[0].decode("latin-1")
            reply = self.handler(path)
        response = simple_response(
            reply.status, reply.body, close=not keep, content_type=reply.content_type.encode()
        )
        if head.method == b"HEAD":
            response = response[: len(response) - len(reply.body)]
        self._send(response)
        if not keep:
            self._close()

    def _send(self, data: bytes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def _arm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        self.timer = asyncio.get_running_loop().call_later(self.idle_timeout, self._close)


async def serve_endpoints(
    handler: Handler, host: str, port: int, *, idle_timeout: float = 30.0
) -> asyncio.Server:
    """Listen on host:port and answer each GET with `handler(path)`."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: _EndpointConnection(handler, idle_timeout), host, port, reuse_address=True
    )


class _StatusReader(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = ResponseParser(self, no_body=False)
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed(data)
        except BadMessage as exc:
            if not self.status.done():
                self.status.set_exception(OSError(exc.message))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_exception(OSError("closed before answering"))

    def response_head(self, head: ResponseHead) -> None:
        if not self.status.done():
            self.status.set_result(head.status)

    def response_body(self, data: bytes) -> None:
        pass

    def response_end(self) -> None:
        pass


async def fetch_status(host: str, port: int, path: str, timeout: float) -> int:
    """GET `path` from host:port and return the status code (OSError/TimeoutError if none)."""
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(timeout):
        transport, reader = await loop.create_connection(_StatusReader, host, port)
        try:
            transport.write(
                f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Connection: close\r\nUser-Agent: turnout-host\r\n\r\n".encode()
            )
            return await reader.status
        finally:
            transport.close()
