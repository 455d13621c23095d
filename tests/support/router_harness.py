"""A real Router on its own event loop thread, in front of slots that record what reaches them.

The router is the production class on real sockets, on the loop the host would use
(uvloop when installed). Its slots are small asyncio servers that keep every byte
they receive, and answer each forwarded request with a canned 200 (or never, when
told to hang), so a test can say exactly what got through.
"""

from __future__ import annotations

import asyncio
import inspect
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from turnout.targets.local import eventloop
from turnout.targets.local.metrics import TrafficCounters
from turnout.targets.local.router import Route, Router, Upstream

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


@dataclass
class RecordingSlot:
    """A slot process stand-in: records bytes per connection; answers or hangs."""

    name: str
    hang: bool = False
    connections: list[bytearray] = field(default_factory=list)
    closed: int = 0
    """Connections that ended (the router closed them)."""
    server: asyncio.Server | None = None
    port: int = 0

    @property
    def received(self) -> bytes:
        """Everything any connection received, in connection order."""
        return b"".join(bytes(c) for c in self.connections)

    @property
    def requests(self) -> int:
        """Request heads the router forwarded (each request line ends in HTTP/1.1)."""
        return self.received.count(b" HTTP/1.1\r\n")

    def forget(self) -> None:
        """Start counting afresh (connections the router keeps open stay recorded)."""
        for seen in self.connections:
            del seen[:]
        self.closed = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen = bytearray()
        self.connections.append(seen)
        answered = 0
        everything = bytearray()  # `seen` may be emptied by forget(); this is not
        try:
            while piece := await reader.read(65536):
                seen += piece
                everything += piece
                due = bytes(everything).count(b" HTTP/1.1\r\n")
                if not self.hang and due > answered:
                    writer.write(ANSWER * (due - answered))
                    answered = due
        except ConnectionError:
            pass
        finally:
            self.closed += 1
            writer.close()


class RouterHarness:
    """A router and its slots on a loop in a background thread."""

    def __init__(self, **router_options: Any) -> None:
        self.counters = TrafficCounters()
        self.router_options = router_options
        name, factory = eventloop.loop_factory()
        self.loop = factory() if factory is not None else asyncio.new_event_loop()
        self.loop_name = name
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.router: Router | None = None
        self.port = 0
        self.slots: dict[str, RecordingSlot] = {}

    def call(self, make: Callable[[], Any]) -> Any:
        """Run `make()` (a coroutine or a plain call) on the loop and return its result."""

        async def run() -> Any:
            result = make()
            if inspect.iscoroutine(result):
                return await result
            return result

        future: Future[Any] = asyncio.run_coroutine_threadsafe(run(), self.loop)
        return future.result(10)

    def start(self, *slot_names: str) -> None:
        self._thread.start()
        self.router = Router(self.counters.record, **self.router_options)
        for name in slot_names:
            slot = RecordingSlot(name)
            self.call(slot.start)
            self.slots[name] = slot
        server = self.call(lambda: self._router().start("127.0.0.1", 0))
        self.port = int(server.sockets[0].getsockname()[1])

    def _router(self) -> Router:
        assert self.router is not None
        return self.router

    def route_to(self, slot: str, version: str, *, port: int | None = None) -> Route:
        """Send production traffic to `slot` (or to any port), counted under `version`."""
        target = port if port is not None else self.slots[slot].port
        route = Route(slot, version, Upstream("127.0.0.1", target))
        self.call(lambda: self._router().set_production(route))
        return route

    def stop(self) -> None:
        self.call(self._router().stop)
        for slot in self.slots.values():
            if slot.server is not None:
                self.call(slot.server.close)
        self.call(_cancel_others)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()

    def exchange(self, data: bytes, *, timeout: float = 10.0) -> bytes:
        """Send raw bytes on a new connection; everything the router sends until it closes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as sock:
            sock.sendall(data)
            return read_until_closed(sock, timeout)

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
        """Wait until `condition()` holds on the loop's state."""
        deadline = time.monotonic() + timeout
        while not self.call(condition):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.01)


async def _cancel_others() -> None:
    """End the slots' connection handlers, so the loop closes with no task pending."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)


def read_until_closed(sock: socket.socket, timeout: float) -> bytes:
    """What the peer sends until it closes (AssertionError if it keeps it open)."""
    sock.settimeout(timeout)
    data = b""
    try:
        while piece := sock.recv(65536):
            data += piece
    except ConnectionResetError:
        pass
    except TimeoutError:
        raise AssertionError(f"connection still open after {timeout} s; got {data!r}") from None
    return data


@contextmanager
def router_harness(*slots: str, **router_options: Any) -> Iterator[RouterHarness]:
    """A started harness with `slots`, stopped afterwards."""
    harness = RouterHarness(**router_options)
    harness.start(*slots)
    try:
        yield harness
    finally:
        harness.stop()
