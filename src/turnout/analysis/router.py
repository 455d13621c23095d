"""Metrics from a target that counts its own traffic per slot (the local router)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.analysis.provider import ProviderChoice
from turnout.traffic import SecondBucket, TrafficSource

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


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


def router_provider(config: LoadedConfig, env: EnvironmentConfig, target: object) -> ProviderChoice:
    """The `router` metrics provider: the target's own per-slot counters, when it keeps them."""
    if isinstance(target, TrafficSource):
        return ProviderChoice(RouterProvider(target), "the target's router counters")
    return ProviderChoice(
        None,
        f"the {env.target.kind} target counts no traffic (analysis.provider = 'router'):"
        " metrics not measured",
    )
