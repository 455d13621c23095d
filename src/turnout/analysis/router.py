"""Metrics from a target that counts its own traffic per slot (the local router)."""

from __future__ import annotations

from turnout.traffic import SecondBucket, TrafficSource


class RouterProvider:
    """Reads per-second buckets from a `TrafficSource` (e.g. the local target)."""

    name = "router"
    step = 1.0
    # The router hands out finished seconds only; one more second covers requests
    # that finished just before a second ended but were recorded just after.
    settle = 1.0
    by_version = True

    def __init__(self, source: TrafficSource) -> None:
        self.source = source

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        return self.source.traffic(slot, since, until)

    def version_buckets(
        self, slot: str, version: str, since: float, until: float | None = None
    ) -> list[SecondBucket]:
        return self.source.traffic(slot, since, until, version=version)

    def close(self) -> None:
        return None
