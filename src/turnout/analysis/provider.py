"""Where traffic counts come from: one protocol, one module per metrics source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from turnout.traffic import SecondBucket

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig


@runtime_checkable
class MetricsProvider(Protocol):
    """Per-slot traffic as buckets of requests (count, status classes, latency histogram)."""

    name: str
    step: float
    """Width of one bucket in seconds (1 for the router)."""
    settle: float
    """Seconds after a bucket's end before its counts are final and may be folded in."""

    def buckets(self, slot: str, since: float, until: float | None = None) -> list[SecondBucket]:
        """Buckets of a slot whose start lies in [since, until) (unix time), oldest first."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


@runtime_checkable
class VersionedProvider(Protocol):
    """A provider that can count only what one version answered (the local router): then
    the second of a swap is judged by who answered it, not by a time cut."""

    by_version: bool

    def version_buckets(
        self, slot: str, version: str, since: float, until: float | None = None
    ) -> list[SecondBucket]:
        """Buckets of what `version` answered on `slot`, as `buckets` gives them."""
        ...


def by_version(provider: MetricsProvider) -> bool:
    """Whether the provider can tell the versions on a slot apart."""
    return isinstance(provider, VersionedProvider) and provider.by_version


@dataclass(frozen=True)
class ProviderChoice:
    """The provider to use, or why there is none (the analysis is then "not measured")."""

    provider: MetricsProvider | None
    note: str


def choose_provider(config: LoadedConfig, env: EnvironmentConfig, target: object) -> ProviderChoice:
    """The configured metrics provider for an environment and its target (a provider is a
    `turnout.metrics_providers` entry point; "none" is health checks only)."""
    from turnout.config.analysis import NO_PROVIDER
    from turnout.config.plugins import load_reference, metrics_plugins

    name = env.analysis.provider
    if name == NO_PROVIDER:
        return ProviderChoice(None, "analysis.provider is 'none': metrics not measured")
    plugin = metrics_plugins()[name]  # validated with the configuration
    factory: ProviderFactory = load_reference(plugin.factory)
    return factory(config, env, target)


class ProviderFactory(Protocol):
    """What a metrics plugin's `factory` names."""

    def __call__(
        self, config: LoadedConfig, env: EnvironmentConfig, target: object
    ) -> ProviderChoice: ...
