"""Production's traffic around a swap as a short series of intervals (error rate, p95),
kept with the verification so the report can draw each deployment."""

from __future__ import annotations

import math

from turnout.analysis.provider import MetricsProvider
from turnout.errors import IntegrationError
from turnout.store.deployment_data import TrafficPoint
from turnout.traffic import SecondBucket, merge, quantile_ms

BEFORE_SWAP_S = 60.0
"""How much of the old version's traffic before the swap the series shows."""
MAX_POINTS = 120
"""Intervals are widened so that a long verification still keeps a small record."""


def traffic_series(
    provider: MetricsProvider, slot: str, since: float, until: float
) -> tuple[TrafficPoint, ...]:
    """The slot's traffic in [since, until) as at most MAX_POINTS intervals; empty when the
    provider cannot be read (the series illustrates, it never decides anything)."""
    if until <= since:
        return ()
    step = provider.step
    width = max(step, math.ceil((until - since) / MAX_POINTS / step) * step)
    try:
        buckets = provider.buckets(slot, since, until)
    except IntegrationError:
        return ()
    grouped: dict[int, list[SecondBucket]] = {}
    for bucket in buckets:
        grouped.setdefault(int((bucket.second - since) // width), []).append(bucket)
    points = []
    for index in sorted(grouped):
        total = merge(grouped[index])
        points.append(
            TrafficPoint(
                at=since + index * width,
                seconds=width,
                requests=total.count,
                errors=total.errors,
                p95_ms=quantile_ms(total.latency, 0.95),
            )
        )
    return tuple(points)
