"""Verification traffic: turnout's own requests, sent when live traffic is too little to decide.

A `Prober` sends the configured requests in turn from a few worker threads
(the concurrency cap), paced to a rate that can change while it runs and never
above the rate cap: a sliding one-second window refuses a request that would
make more than `rate` in any second. Every request carries PROBE_HEADER (the
deployment it verifies) and the turnout-probe user agent.

The prober measures what it sends: per-second buckets (status, latency) it
can hand to the judge itself when no router counts the target (the staging
slot's own URL before the swap), and a `ProbeBatch` summary kept with the
deployment. After the swap the router counts the same requests as probes, so
the judge reads them with the live traffic and the evidence says how many
there were.

`ProbeRate` is the `auto` policy: only the shortfall between live traffic and
the requests the limits need within `decide_within` seconds, and the full cap
as soon as errors or slow requests run above the tolerated rate (a regression
is then decided as fast as the cap allows).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from turnout.config.analysis import ProbeConfig
from turnout.traffic import PROBE_HEADER, PROBE_USER_AGENT, SecondBucket

if TYPE_CHECKING:
    from turnout.analysis.judge import Judge
    from turnout.config import EnvironmentConfig
    from turnout.model import Verdict

WINDOW = 1.0
"""The rate cap holds over every window of this many seconds."""
CATCH_UP = 0.25
"""Seconds of sends a late worker may make up at once (never above the cap)."""
WARM_UP_SECONDS = 5.0
"""auto: until this much traffic was observed, the live rate is the baseline's."""


@dataclass(frozen=True)
class ProbeRequest:
    """One request the prober sends (from [analysis.probe] requests or the checks)."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    expect_status: int = 200


def probe_requests(env: EnvironmentConfig) -> list[ProbeRequest]:
    """The configured requests, or by default the GET health and smoke checks (each path once)."""
    configured = env.analysis.probe.requests
    if configured:
        return [
            ProbeRequest(r.method.upper(), r.path, tuple(r.headers.items()), r.expect_status)
            for r in configured
        ]
    seen: set[str] = set()
    out: list[ProbeRequest] = []
    for check in [*env.checks.health, *env.checks.smoke]:
        if check.method.upper() != "GET" or check.path in seen:
            continue
        seen.add(check.path)
        out.append(ProbeRequest("GET", check.path, (), check.expect_status))
    return out or [ProbeRequest("GET", env.checks.warmup.path)]


@dataclass
class ProbeBatch:
    """What one run of the prober sent and got back (JSON-ready via to_dict)."""

    phase: str
    """before-swap (the staging slot's own URL), after-swap (production) or watch."""
    url: str
    rate_cap: float
    concurrency: int
    started_at: float
    ended_at: float | None = None
    sent: int = 0
    failed: int = 0
    """No answer, or not the expected status."""
    by_status: dict[str, int] = field(default_factory=dict)
    peak_per_second: int = 0
    """Most requests sent in one second of the clock (never above the rate cap)."""
    problems: list[str] = field(default_factory=list)
    """The first few distinct failures, for people."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        span = (self.ended_at or self.started_at) - self.started_at
        return {
            "phase": self.phase,
            "url": self.url,
            "rate_cap": self.rate_cap,
            "concurrency": self.concurrency,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "seconds": round(span, 3),
            "sent": self.sent,
            "failed": self.failed,
            "by_status": dict(self.by_status),
            "rate_rps": round(self.sent / span, 2) if span > 0 else None,
            "peak_per_second": self.peak_per_second,
            "problems": list(self.problems),
        }


class Prober:
    """Sends probe requests to one base URL at a settable rate until stopped."""

    def __init__(
        self,
        base_url: str,
        requests: list[ProbeRequest],
        config: ProbeConfig,
        *,
        deployment: str,
        phase: str,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not requests:
            raise ValueError("a prober needs at least one request")
        self.base_url = base_url
        self.requests = requests
        self.cap = config.rate
        self.concurrency = config.concurrency
        self.timeout = config.timeout
        self.deployment = deployment
        self.transport = transport
        self._clock = clock
        self._rate = 0.0
        self._lock = threading.Condition()
        self._stop = threading.Event()
        self._next_at = 0.0
        self._sent_at: deque[float] = deque()
        self._turn = 0
        self._threads: list[threading.Thread] = []
        self._buckets: dict[int, SecondBucket] = {}
        self._per_second: dict[int, int] = {}
        self.batch = ProbeBatch(phase, base_url, self.cap, self.concurrency, clock())

    # -- control ----------------------------------------------------------------------
    @property
    def rate(self) -> float:
        """Requests per second asked for now (0: idle)."""
        return self._rate

    def set_rate(self, rps: float) -> None:
        """Send at this rate from now on (clamped to [0, rate cap])."""
        with self._lock:
            self._rate = min(max(rps, 0.0), self.cap)
            self._lock.notify_all()

    def start(self, rps: float | None = None) -> Prober:
        """Start the workers (at `rps`, default the cap)."""
        self.set_rate(self.cap if rps is None else rps)
        for index in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"turnout-probe-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> ProbeBatch:
        """Stop sending, wait for requests in flight; the batch summary."""
        self._stop.set()
        with self._lock:
            self._lock.notify_all()
        for thread in self._threads:
            thread.join(self.timeout + 2.0)
        with self._lock:
            self.batch.ended_at = self._clock()
            self.batch.peak_per_second = max(self._per_second.values(), default=0)
        return self.batch

    def __enter__(self) -> Prober:
        return self

    def __exit__(self, *_exc: object) -> None:
        if not self._stop.is_set():
            self.stop()

    # -- what it measured -------------------------------------------------------------
    def buckets(self, since: float, until: float | None = None) -> list[SecondBucket]:
        """Its own measurements: finished seconds in [since, until), oldest first."""
        now = int(self._clock())
        end = now if until is None else min(int(until), now)
        start = math.ceil(since)
        with self._lock:
            return [
                SecondBucket.from_dict(b.to_dict())
                for second, b in sorted(self._buckets.items())
                if start <= second < end
            ]

    # -- the workers --------------------------------------------------------------------
    def _work(self) -> None:
        headers = {PROBE_HEADER: self.deployment, "User-Agent": PROBE_USER_AGENT}
        options: dict[str, Any] = {"timeout": self.timeout, "headers": headers}
        if self.transport is not None:
            options["transport"] = self.transport
        with httpx.Client(base_url=self.base_url, **options) as client:
            while True:
                request = self._take()
                if request is None:
                    return
                self._send(client, request)

    def _take(self) -> ProbeRequest | None:
        """Wait for the next permitted send time; the request to send (None: stopped)."""
        with self._lock:
            while not self._stop.is_set():
                if self._rate <= 0:
                    self._lock.wait(0.5)
                    continue
                now = time.monotonic()
                while self._sent_at and self._sent_at[0] <= now - WINDOW:
                    self._sent_at.popleft()
                at = max(self._next_at, now)
                if len(self._sent_at) >= max(math.floor(self._rate), 1):
                    at = max(at, self._sent_at[0] + WINDOW)
                if at > now:
                    self._lock.wait(at - now)
                    continue
                # Late wake-ups may catch up a little; the window above still holds the cap.
                self._next_at = max(self._next_at, now - CATCH_UP) + 1 / self._rate
                self._sent_at.append(now)
                second = int(self._clock())
                self._per_second[second] = self._per_second.get(second, 0) + 1
                request = self.requests[self._turn % len(self.requests)]
                self._turn += 1
                return request
        return None

    def _send(self, client: httpx.Client, request: ProbeRequest) -> None:
        started = time.perf_counter()
        status: int | None = None
        problem = ""
        try:
            response = client.request(request.method, request.path, headers=dict(request.headers))
            status = response.status_code
            if status != request.expect_status:
                problem = f"{request.method} {request.path}: {status}, expected"
                problem += f" {request.expect_status}"
        except httpx.HTTPError as exc:
            problem = f"{request.method} {request.path}: {type(exc).__name__}: {exc}"
        elapsed_ms = (time.perf_counter() - started) * 1000
        second = int(self._clock())
        with self._lock:
            bucket = self._buckets.get(second)
            if bucket is None:
                bucket = self._buckets[second] = SecondBucket(second=second)
            # A wrong answer is a failed request of the probe, whatever its status class.
            bucket.add(None if problem else status, elapsed_ms, probe=True)
            batch = self.batch
            batch.sent += 1
            key = "err" if status is None else f"{status // 100}xx"
            batch.by_status[key] = batch.by_status.get(key, 0) + 1
            if problem:
                batch.failed += 1
                if len(batch.problems) < 5 and problem not in batch.problems:
                    batch.problems.append(problem)


class ProberProvider:
    """A prober's own measurements as a metrics provider (for the staging slot's URL,
    which no router counts)."""

    name = "probe"
    step = 1.0
    settle = 1.0

    def __init__(self, prober: Prober) -> None:
        self.prober = prober

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        return self.prober.buckets(since, until)

    def close(self) -> None:
        return None


class ProbeRate:
    """The probe's rate after each look, by mode: auto fills only the shortfall."""

    def __init__(
        self,
        prober: Prober,
        config: ProbeConfig,
        judge: Judge,
        *,
        live_rate_hint: float = 0.0,
    ) -> None:
        self.prober = prober
        self.config = config
        self.judge = judge
        self.live_rate_hint = live_rate_hint
        self.history: list[tuple[float, float]] = []
        """(seconds observed, rate asked) at every change, for the record."""

    def wanted(self, verdict: Verdict) -> float:
        """Probe requests per second wanted after this verdict."""
        if self.config.mode == "off":
            return 0.0
        if self.config.mode == "always":
            return self.config.rate
        ev = verdict.evidence
        count = int(ev.get("requests") or 0)
        probes = int(ev.get("probe_requests") or 0)
        elapsed = float(ev.get("observed_seconds") or 0.0)
        error_rate = float(ev.get("error_rate") or 0.0)
        slow_rate = float(ev.get("slow_rate") or 0.0)
        if error_rate > self.judge.tests["errors"].p0 or slow_rate > self.judge.tests["latency"].p0:
            # Signs of a regression: decide it as fast as the cap allows.
            return self.config.rate
        remaining = max(self.judge.requests_needed(error_rate, slow_rate) - count, 0)
        if remaining == 0:
            return 0.0
        live = (count - probes) / elapsed if elapsed >= WARM_UP_SECONDS else self.live_rate_hint
        time_left = max(self.config.decide_within - elapsed, 1.0)
        return min(max(remaining / time_left - live, 0.0), self.config.rate)

    def __call__(self, verdict: Verdict) -> None:
        rate = self.wanted(verdict)
        if not math.isclose(rate, self.prober.rate, rel_tol=0.05, abs_tol=0.5):
            self.prober.set_rate(rate)
            elapsed = float(verdict.evidence.get("observed_seconds") or 0.0)
            self.history.append((round(elapsed, 1), round(rate, 2)))


def stop_and_record(prober: Prober | None, rate: ProbeRate | None = None) -> dict[str, Any] | None:
    """Stop a prober if there is one; its batch (and the rates asked) as a record."""
    if prober is None:
        return None
    record = prober.stop().to_dict()
    if rate is not None:
        record["rates"] = [list(change) for change in rate.history]
    return record
