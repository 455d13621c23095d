"""The live version's recent traffic before the swap: error rate, quantiles, throughput."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from turnout.analysis.provider import MetricsProvider
from turnout.traffic import LATENCY_BOUNDS_MS, SecondBucket, count_over, merge, quantile_ms


@dataclass(frozen=True)
class Baseline:
    """Totals of one slot over a look-back window (the runbook's pre-deployment snapshot)."""

    slot: str
    since: float
    until: float
    requests: int
    errors: int
    latency: list[int] = field(default_factory=lambda: [0] * len(LATENCY_BOUNDS_MS))
    """Latency histogram (counts per LATENCY_BOUNDS_MS bucket)."""

    @property
    def error_rate(self) -> float | None:
        """Failed share of requests; None without traffic."""
        return self.errors / self.requests if self.requests else None

    @property
    def throughput_rps(self) -> float:
        """Requests per second over the window."""
        span = self.until - self.since
        return self.requests / span if span > 0 else 0.0

    def quantile_ms(self, q: float) -> float | None:
        """Estimated latency quantile in ms; None without traffic."""
        return quantile_ms(self.latency, q)

    def share_over(self, limit_ms: float) -> float | None:
        """Share of requests slower than limit_ms (buckets wholly above it)."""
        return count_over(self.latency, limit_ms) / self.requests if self.requests else None

    def trusted(self, min_requests: int) -> bool:
        """Whether there is enough traffic to compare against."""
        return self.requests >= min_requests

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, with the derived figures for people."""
        p50, p95, p99 = (self.quantile_ms(q) for q in (0.5, 0.95, 0.99))
        return {
            "slot": self.slot,
            "since": self.since,
            "until": self.until,
            "requests": self.requests,
            "errors": self.errors,
            "error_rate": self.error_rate,
            "p50_ms": _round(p50),
            "p95_ms": _round(p95),
            "p99_ms": _round(p99),
            "throughput_rps": round(self.throughput_rps, 3),
            "latency": list(self.latency),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Baseline:
        """Inverse of to_dict (derived figures are recomputed)."""
        latency = [int(v) for v in data.get("latency", [])]
        if len(latency) != len(LATENCY_BOUNDS_MS):
            latency = [0] * len(LATENCY_BOUNDS_MS)
        return cls(
            slot=str(data.get("slot", "production")),
            since=float(data["since"]),
            until=float(data["until"]),
            requests=int(data["requests"]),
            errors=int(data["errors"]),
            latency=latency,
        )

    @classmethod
    def from_buckets(
        cls, slot: str, since: float, until: float, buckets: list[SecondBucket]
    ) -> Baseline:
        """Totals of the given buckets; `since` moves up to the first bucket when the
        history is shorter than the look-back (so throughput is per second of data)."""
        total = merge(buckets)
        if buckets:
            since = max(since, float(min(b.second for b in buckets)))
        return cls(slot, since, until, total.count, total.errors, list(total.latency))


def measure_baseline(
    provider: MetricsProvider, slot: str, until: float, lookback: float
) -> Baseline:
    """The slot's traffic over [until - lookback, until)."""
    since = until - lookback
    return Baseline.from_buckets(slot, since, until, provider.buckets(slot, since, until))


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
