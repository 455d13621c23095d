"""Parse cost per message of the two maintained HTTP/1.1 parsers: llhttp (httptools) and h11.

The router parses every request from a client and every response from a slot; this
measures one of each, as the router sees them, fed whole: a browser-like GET with
eight headers and a small JSON answer with a Content-Length. It prints the median
of five runs of each parser and their ratio. h11 comes with httpx (turnout's HTTP
client). Usage: .venv/bin/python benchmarks/http_parsers.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import statistics
import time
from collections.abc import Callable

import h11
import httptools

REQUEST = (
    b"GET /api/orders?page=2 HTTP/1.1\r\nHost: shop.example\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\nAccept: application/json\r\n"
    b"Accept-Encoding: gzip, deflate\r\nAccept-Language: en-GB,en;q=0.9\r\n"
    b"Cookie: session=6a1f0c; theme=dark\r\nX-Request-Id: 3f0c2a9e\r\n"
    b"Connection: keep-alive\r\n\r\n"
)
BODY = b'{"status":"healthy","version":"1.0.0"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
    + BODY
)


class _Sink:
    """The callbacks the router uses, doing as little as the router does with them."""

    def __init__(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.done = 0

    def on_url(self, url: bytes) -> None:
        self.url = url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_body(self, body: bytes) -> None:
        self.body = body

    def on_message_complete(self) -> None:
        self.done += 1
        self.headers = []


def _head(first: bytes, headers: list[tuple[bytes, bytes]]) -> bytes:
    out = [first]
    for name, value in headers:
        out += (name, b": ", value, b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def _httptools(messages: int) -> None:
    sink = _Sink()
    requests = httptools.HttpRequestParser(sink)
    for _ in range(messages):
        requests.feed_data(REQUEST)
        _head(b"GET / HTTP/1.1\r\n", [(b"Host", b"x")])  # the slot's request, as h11 sends it
        httptools.HttpResponseParser(sink).feed_data(RESPONSE)
        _head(b"HTTP/1.1 200 OK\r\n", [(b"Content-Length", b"0")])  # the client's response
    assert sink.done == 2 * messages


def _h11(messages: int) -> None:
    server = h11.Connection(h11.SERVER)
    client = h11.Connection(h11.CLIENT)
    done = 0
    for _ in range(messages):
        server.receive_data(REQUEST)
        while not isinstance(server.next_event(), h11.EndOfMessage):
            pass
        client.send(h11.Request(method="GET", target="/", headers=[("Host", "x")]))
        client.send(h11.EndOfMessage())
        client.receive_data(RESPONSE)
        while not isinstance(client.next_event(), h11.EndOfMessage):
            pass
        # The server side answers so that the connection can take the next request.
        server.send(h11.Response(status_code=200, headers=[("Content-Length", "0")]))
        server.send(h11.EndOfMessage())
        server.start_next_cycle()
        client.start_next_cycle()
        done += 2
    assert done == 2 * messages


def _time(run: Callable[[int], None], messages: int) -> float:
    """Median microseconds per request+response pair over five runs."""
    runs = []
    for _ in range(5):
        began = time.perf_counter()
        run(messages)
        runs.append((time.perf_counter() - began) / messages * 1e6)
    return statistics.median(runs)


def main() -> None:
    """Print both parsers' cost per request and response."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    messages = parser.parse_args().messages
    llhttp = _time(_httptools, messages)
    pure = _time(_h11, messages)
    print(f"one request + one response parsed, median of 5 runs of {messages}:")
    print(f"  httptools {httptools.__version__} (llhttp): {llhttp:7.2f} us")
    print(f"  h11 {importlib.metadata.version('h11')}:                {pure:7.2f} us")
    print(f"  h11 / httptools: {pure / llhttp:.1f}x")
    print("(each side also writes a small request and response head, as a proxy does)")


if __name__ == "__main__":
    main()
