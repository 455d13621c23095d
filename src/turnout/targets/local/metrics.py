"""Per-slot, per-second request counters and their Prometheus exposition.

The router calls `record` once per request. Seconds are kept in memory for
`retention` seconds (at least an hour) for the analysis (`traffic`), and
cumulative totals per slot and version are exposed as Prometheus text.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket

_FINITE_BOUNDS = LATENCY_BOUNDS_MS[:-1]


def _latency_index(latency_ms: float) -> int:
    # bisect_left gives the first bound >= latency: the bucket `bucket_index` would pick.
    return bisect.bisect_left(_FINITE_BOUNDS, latency_ms)


@dataclass
class _Totals:
    status: dict[str, int] = field(default_factory=dict)
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    latency_sum_ms: float = 0.0


@dataclass(frozen=True)
class SlotGauge:
    """What the exposition says about a slot besides its traffic."""

    slot: str
    version: str
    up: bool


class TrafficCounters:
    """Per-second buckets per slot, plus cumulative totals per slot and version."""

    def __init__(self, retention: int = 7200, clock: Callable[[], float] = time.time) -> None:
        self.retention = retention
        self._clock = clock
        self._seconds: dict[str, deque[SecondBucket]] = {}
        self._totals: dict[tuple[str, str], _Totals] = {}

    def record(self, slot: str, version: str, status_code: int | None, latency_ms: float) -> None:
        """Count one finished request (status None: the slot gave no response)."""
        second = int(self._clock())
        buckets = self._seconds.get(slot)
        if buckets is None:
            buckets = self._seconds[slot] = deque()
        if not buckets or buckets[-1].second != second:
            buckets.append(SecondBucket(second=second))
            cutoff = second - self.retention
            while buckets[0].second < cutoff:
                buckets.popleft()
        bucket = buckets[-1]
        key = "err" if status_code is None else f"{status_code // 100}xx"
        index = _latency_index(latency_ms)
        bucket.count += 1
        bucket.status[key] = bucket.status.get(key, 0) + 1
        bucket.latency[index] += 1
        totals = self._totals.get((slot, version))
        if totals is None:
            totals = self._totals[(slot, version)] = _Totals()
        totals.status[key] = totals.status.get(key, 0) + 1
        totals.latency[index] += 1
        totals.latency_sum_ms += latency_ms

    def traffic(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        """Finished seconds in [since, until) with at least one request, oldest first."""
        now = int(self._clock())
        # The current second is still being counted; handing it out would undercount it.
        end = now if until is None else min(int(until), now)
        start = int(since) if float(since).is_integer() else int(since) + 1
        return [
            SecondBucket(b.second, b.count, dict(b.status), list(b.latency))
            for b in self._seconds.get(slot, ())
            if start <= b.second < end
        ]

    def slots(self) -> list[str]:
        """Slots that have served requests."""
        return sorted(self._seconds)

    def totals(self) -> Iterator[tuple[str, str, _Totals]]:
        """Cumulative totals: (slot, version, totals)."""
        for (slot, version), totals in sorted(self._totals.items()):
            yield slot, version, totals


class _Collector(Collector):
    def __init__(
        self, counters: TrafficCounters, gauges: Callable[[], Iterable[SlotGauge]]
    ) -> None:
        self._counters = counters
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "turnout_slot_requests",
            "Requests the router forwarded, by slot, version and status class.",
            labels=["slot", "version", "status"],
        )
        duration = HistogramMetricFamily(
            "turnout_slot_request_duration_seconds",
            "Time from request head received to response sent, by slot and version.",
            labels=["slot", "version"],
        )
        for slot, version, totals in self._counters.totals():
            for status, count in sorted(totals.status.items()):
                requests.add_metric([slot, version, status], count)
            cumulative, buckets = 0, []
            for bound, count in zip(LATENCY_BOUNDS_MS, totals.latency, strict=True):
                cumulative += count
                label = "+Inf" if bound == float("inf") else repr(bound / 1000)
                buckets.append((label, float(cumulative)))
            duration.add_metric([slot, version], buckets, totals.latency_sum_ms / 1000)
        up = GaugeMetricFamily(
            "turnout_slot_up", "1 when the slot's process is running.", labels=["slot", "version"]
        )
        for gauge in self._gauges():
            up.add_metric([gauge.slot, gauge.version], 1.0 if gauge.up else 0.0)
        yield requests
        yield duration
        yield up


def exposition(counters: TrafficCounters, gauges: Callable[[], Iterable[SlotGauge]]) -> bytes:
    """Prometheus text format of the counters and slot gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(counters, gauges))
    return generate_latest(registry)


PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
