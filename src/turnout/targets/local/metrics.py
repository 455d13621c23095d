"""Per-slot, per-second request counters and their Prometheus exposition.

The router calls `record` once per request. Seconds are kept in memory for
`retention` seconds (at least an hour) for the analysis (`traffic`), per slot
and per version that served them, and cumulative totals per slot and version
are exposed as Prometheus text.

Two kinds of request are told apart: turnout's own verification requests
(probes, marked by a header) are counted in every bucket and also as `probes`,
so the analysis can say how many of the judged requests were its own; and the
router's own 503s while no version is deployed (version "") are not the app's
errors: they are counted apart as `turnout_router_unavailable_total` and never
appear in a slot's traffic.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

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
_Key = TypeVar("_Key", str, tuple[str, str])


def _latency_index(latency_ms: float) -> int:
    # bisect_left gives the first bound >= latency: the bucket `bucket_index` would pick.
    return bisect.bisect_left(_FINITE_BOUNDS, latency_ms)


@dataclass
class _Totals:
    status: dict[str, int] = field(default_factory=dict)
    probes: dict[str, int] = field(default_factory=dict)
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
        self._by_version: dict[tuple[str, str], deque[SecondBucket]] = {}
        self._totals: dict[tuple[str, str], _Totals] = {}
        self.unavailable = 0
        """The router's own 503s while no version was deployed (not any app's errors)."""

    def record(
        self,
        slot: str,
        version: str,
        status_code: int | None,
        latency_ms: float,
        probe: bool = False,
    ) -> None:
        """Count one finished request (status None: the slot gave no response; version "":
        no version was deployed and the router answered itself)."""
        if not version:
            self.unavailable += 1
            return
        second = int(self._clock())
        key = "err" if status_code is None else f"{status_code // 100}xx"
        index = _latency_index(latency_ms)
        for series in (
            self._series(self._seconds, slot, second),
            self._series(self._by_version, (slot, version), second),
        ):
            bucket = series[-1]
            bucket.count += 1
            bucket.probes += int(probe)
            bucket.status[key] = bucket.status.get(key, 0) + 1
            bucket.latency[index] += 1
        totals = self._totals.get((slot, version))
        if totals is None:
            totals = self._totals[(slot, version)] = _Totals()
        totals.status[key] = totals.status.get(key, 0) + 1
        if probe:
            totals.probes[key] = totals.probes.get(key, 0) + 1
        totals.latency[index] += 1
        totals.latency_sum_ms += latency_ms

    def _series(
        self, table: dict[_Key, deque[SecondBucket]], key: _Key, second: int
    ) -> deque[SecondBucket]:
        """The deque of `key` with a bucket for `second` at its end (old ones dropped)."""
        buckets = table.get(key)
        if buckets is None:
            buckets = table[key] = deque()
        if not buckets or buckets[-1].second != second:
            buckets.append(SecondBucket(second=second))
            cutoff = second - self.retention
            while buckets[0].second < cutoff:
                buckets.popleft()
        return buckets

    def traffic(
        self, slot: str, since: float, until: float | None = None, version: str | None = None
    ) -> list[SecondBucket]:
        """Finished seconds in [since, until) with at least one request, oldest first; with
        `version`, only the requests that version answered on the slot."""
        now = int(self._clock())
        # The current second is still being counted; handing it out would undercount it.
        end = now if until is None else min(int(until), now)
        start = int(since) if float(since).is_integer() else int(since) + 1
        series = (
            self._seconds.get(slot, ())
            if version is None
            else self._by_version.get((slot, version), ())
        )
        return [_copy(b) for b in series if start <= b.second < end]

    def served_by(self, version: str, since: float) -> list[SecondBucket]:
        """Finished seconds since `since` that `version` answered, on whatever slot."""
        found = [
            bucket
            for slot, served in list(self._by_version)
            if served == version
            for bucket in self.traffic(slot, since, version=version)
        ]
        return sorted(found, key=lambda b: b.second)

    def slots(self) -> list[str]:
        """Slots that have served requests."""
        return sorted(self._seconds)

    def totals(self) -> Iterator[tuple[str, str, _Totals]]:
        """Cumulative totals: (slot, version, totals)."""
        for (slot, version), totals in sorted(self._totals.items()):
            yield slot, version, totals


def _copy(bucket: SecondBucket) -> SecondBucket:
    return SecondBucket(
        bucket.second, bucket.count, dict(bucket.status), list(bucket.latency), bucket.probes
    )


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
        probes = CounterMetricFamily(
            "turnout_slot_probe_requests",
            "Of turnout_slot_requests, turnout's own verification requests (probes).",
            labels=["slot", "version", "status"],
        )
        for slot, version, totals in self._counters.totals():
            for status, count in sorted(totals.status.items()):
                requests.add_metric([slot, version, status], count)
            for status, count in sorted(totals.probes.items()):
                probes.add_metric([slot, version, status], count)
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
        unavailable = CounterMetricFamily(
            "turnout_router_unavailable",
            "The router's own 503 answers while no version was deployed to production.",
        )
        unavailable.add_metric([], self._counters.unavailable)
        yield requests
        yield probes
        yield unavailable
        yield duration
        yield up


def exposition(counters: TrafficCounters, gauges: Callable[[], Iterable[SlotGauge]]) -> bytes:
    """Prometheus text format of the counters and slot gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(counters, gauges))
    return generate_latest(registry)


PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
