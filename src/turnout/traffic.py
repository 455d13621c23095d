"""Per-second traffic counters shared by the local router (producer) and analysis (consumer).

Latency is kept as a histogram with fixed bounds, so seconds can be merged
and quantiles estimated from any window without keeping every request.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

PROBE_HEADER = "X-Turnout-Probe"
"""Header every verification request of turnout carries (value: the deployment it verifies);
the local router counts such requests apart from live traffic."""
PROBE_USER_AGENT = "turnout-probe/1"
"""User-Agent of verification requests, so an app's own logs can tell them apart too."""

# Upper bounds (milliseconds) of the latency histogram buckets; the last is +inf.
LATENCY_BOUNDS_MS: tuple[float, ...] = (
    1,
    2,
    3,
    5,
    7.5,
    10,
    15,
    20,
    30,
    40,
    50,
    75,
    100,
    150,
    200,
    250,
    300,
    400,
    500,
    600,
    750,
    1000,
    1500,
    2000,
    3000,
    5000,
    10000,
    math.inf,
)


def bucket_index(latency_ms: float) -> int:
    """Index of the histogram bucket a latency falls in."""
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BOUNDS_MS) - 1


@dataclass
class SecondBucket:
    """Requests that finished during one second (unix epoch `second`) on one slot."""

    second: int
    count: int = 0
    status: dict[str, int] = field(default_factory=dict)
    """Counts by status class: "2xx", "3xx", "4xx", "5xx" (and "err" for no response)."""
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    """Counts per LATENCY_BOUNDS_MS bucket."""
    probes: int = 0
    """How many of `count` were turnout's own verification requests (marked probes)."""

    @property
    def errors(self) -> int:
        """Failed requests: 5xx answers and requests that got no answer."""
        return self.status.get("5xx", 0) + self.status.get("err", 0)

    def add(self, status_code: int | None, latency_ms: float, *, probe: bool = False) -> None:
        """Count one request (status None: no response)."""
        self.count += 1
        self.probes += int(probe)
        key = "err" if status_code is None else f"{status_code // 100}xx"
        self.status[key] = self.status.get(key, 0) + 1
        self.latency[bucket_index(latency_ms)] += 1

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the wire format of the local host's admin interface)."""
        return {
            "second": self.second,
            "count": self.count,
            "status": dict(self.status),
            "latency": list(self.latency),
            "probes": self.probes,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SecondBucket:
        """Inverse of to_dict."""
        return cls(
            second=int(data["second"]),
            count=int(data["count"]),
            status={str(k): int(v) for k, v in data.get("status", {}).items()},
            latency=[int(v) for v in data["latency"]],
            probes=int(data.get("probes", 0)),
        )


def merge(buckets: Iterable[SecondBucket]) -> SecondBucket:
    """Totals of several seconds (its `second` is the first one's)."""
    total = SecondBucket(second=0)
    first = True
    for bucket in buckets:
        if first:
            total.second, first = bucket.second, False
        total.count += bucket.count
        total.probes += bucket.probes
        for key, value in bucket.status.items():
            total.status[key] = total.status.get(key, 0) + value
        for index, value in enumerate(bucket.latency):
            total.latency[index] += value
    return total


def quantile_ms(histogram: list[int], q: float) -> float | None:
    """Estimated q-quantile (0..1) in ms, interpolated inside the bucket; None if empty."""
    total = sum(histogram)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            upper = LATENCY_BOUNDS_MS[index]
            lower = LATENCY_BOUNDS_MS[index - 1] if index > 0 else 0.0
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - seen) / count)
        seen += count
    return LATENCY_BOUNDS_MS[-2]


def count_over(histogram: list[int], limit_ms: float) -> int:
    """Requests whose bucket lies wholly above `limit_ms` (a conservative count of slow ones)."""
    return sum(
        c
        for i, c in enumerate(histogram)
        if (LATENCY_BOUNDS_MS[i - 1] if i > 0 else 0.0) >= limit_ms
    )


@runtime_checkable
class TrafficSource(Protocol):
    """A target that counts the traffic of its slots (the local router does)."""

    def traffic(
        self, slot: str, since: float, until: float | None = None, version: str | None = None
    ) -> list[SecondBucket]:
        """Per-second buckets of a slot for seconds in [since, until) (unix time); with
        `version`, only the requests that version served (so the second of a swap is split
        by who answered, not by a time cut)."""
        ...
