"""Steady background traffic for the demo: keep-alive clients at a fixed total rate."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx


@dataclass
class TrafficCounts:
    """What the clients saw: answers by who gave them, and requests that got no answer."""

    sent: int = 0
    ok: int = 0
    server_errors: int = 0
    """5xx answers from the app (or the router on its behalf: a slot that failed)."""
    no_answer: int = 0
    router_unavailable: int = 0
    """The router's own 503s while no version is deployed to production: not the app's."""
    by_second: dict[int, list[int]] = field(default_factory=dict)
    """Unix second -> [requests, failures]."""
    app_errors_by_second: dict[int, int] = field(default_factory=dict)
    """Unix second -> the app's server errors in it (kept for the whole run)."""


class TrafficDriver:
    """Sends GET requests to a URL from a few keep-alive clients at `rate` requests/s total."""

    def __init__(
        self, url: str, rate: float = 100.0, clients: int = 4, *, new_clients: bool = False
    ) -> None:
        self.url = url
        self.rate = rate
        self.clients = clients
        self.new_clients = new_clients
        """Each request as a new client: no cookie kept (a canary's share then applies to
        requests, as it does to many users each sending a few)."""
        self.counts = TrafficCounts()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), name=f"demo-traffic-{i}", daemon=True)
            for i in range(clients)
        ]

    def start(self) -> None:
        """Begin sending."""
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop sending and wait for the clients to finish their last request."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)

    def snapshot(self) -> TrafficCounts:
        """A copy of the counts so far."""
        with self._lock:
            return TrafficCounts(
                self.counts.sent,
                self.counts.ok,
                self.counts.server_errors,
                self.counts.no_answer,
                self.counts.router_unavailable,
                dict(self.counts.by_second),
                dict(self.counts.app_errors_by_second),
            )

    def _record(self, failed: bool, status: int | None, by_router: bool = False) -> None:
        second = int(time.time())
        with self._lock:
            self.counts.sent += 1
            if status is None:
                self.counts.no_answer += 1
            elif by_router:
                self.counts.router_unavailable += 1
            elif status >= 500:
                self.counts.server_errors += 1
                errors = self.counts.app_errors_by_second
                errors[second] = errors.get(second, 0) + 1
            else:
                self.counts.ok += 1
            bucket = self.counts.by_second.setdefault(second, [0, 0])
            bucket[0] += 1
            bucket[1] += int(failed)
            for old in [s for s in self.counts.by_second if s < second - 600]:
                del self.counts.by_second[old]

    def _client(self, index: int) -> None:
        interval = self.clients / self.rate
        # Stagger the clients so the requests are spread evenly over each interval.
        next_at = time.monotonic() + interval * index / self.clients
        with httpx.Client(timeout=5.0) as client:
            while not self._stop.is_set():
                delay = next_at - time.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    return
                next_at = max(next_at + interval, time.monotonic() - interval)
                by_router = False
                if self.new_clients:
                    client.cookies.clear()
                try:
                    response = client.get(self.url)
                    status: int | None = response.status_code
                    by_router = _unavailable(response)
                except httpx.HTTPError:
                    status = None
                self._record(status is None or status >= 500, status, by_router)


def _unavailable(response: httpx.Response) -> bool:
    """Whether this is the router's own 503 while no version is deployed: plain text, not
    an answer any slot gave (the app answers JSON)."""
    return response.status_code == 503 and response.headers.get("content-type", "").startswith(
        "text/plain"
    )
