"""Plugin points found through entry points: targets, metrics providers, notification channels.

A package adds one by declaring an entry point in its `pyproject.toml`:

    [project.entry-points."turnout.targets"]
    mycloud = "mypackage.turnout_plugin:TARGET"

    [project.entry-points."turnout.metrics_providers"]
    mymetrics = "mypackage.turnout_plugin:METRICS"

    [project.entry-points."turnout.notify_channels"]
    mychat = "mypackage.turnout_plugin:CHANNELS"

The entry point's name is what the configuration names (`target.kind`,
`analysis.provider`); its object describes the plugin (TargetPlugin, MetricsPlugin,
ChannelPlugin). The code that does the work is named by a `module:function` reference
and imported only when used, so reading the configuration stays cheap.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout.config.targets import TargetSettings

TARGETS_GROUP = "turnout.targets"
METRICS_GROUP = "turnout.metrics_providers"
CHANNELS_GROUP = "turnout.notify_channels"


@dataclass(frozen=True)
class TargetPlugin:
    """A target backend: its configuration model and the factory of its client."""

    kind: str
    settings: type[TargetSettings]
    """The model of `[environments.NAME.target]` for this kind (validated in a second pass,
    once `kind` is known)."""
    factory: str
    """`module:function` taking (LoadedConfig, EnvironmentConfig), returning a Target."""
    doctor: str | None = None
    """`module:function` taking (LoadedConfig, EnvironmentConfig), returning the target's
    own `turnout doctor` probes as (name, check) pairs: each check returns a line for
    people or raises TurnoutError. None: doctor only asks the target for its slots."""


@dataclass(frozen=True)
class MetricsPlugin:
    """A metrics provider: where traffic counts come from after a swap."""

    name: str
    factory: str
    """`module:function` taking (LoadedConfig, EnvironmentConfig, target), returning a
    ProviderChoice (the provider, or why there is none)."""


@dataclass(frozen=True)
class ChannelPlugin:
    """A kind of notification channel (besides the console, which is always there)."""

    name: str
    factory: str
    """`module:function` taking (LoadedConfig, EnvironmentConfig), returning the channels
    the environment configures of this kind (none when it configures none)."""


def load_reference(reference: str) -> Any:
    """The object a `module:attribute` reference names."""
    module_name, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def _plugins(group: str, kind: type[Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for point in entry_points(group=group):
        if point.name in found:
            continue  # the first installed distribution wins, as importlib lists them
        plugin = point.load()
        if not isinstance(plugin, kind):
            raise TypeError(f"entry point {group}:{point.name} is not a {kind.__name__}")
        found[point.name] = plugin
    return dict(sorted(found.items()))


@cache
def target_plugins() -> dict[str, TargetPlugin]:
    """Every installed target backend by kind."""
    return _plugins(TARGETS_GROUP, TargetPlugin)


@cache
def metrics_plugins() -> dict[str, MetricsPlugin]:
    """Every installed metrics provider by name."""
    return _plugins(METRICS_GROUP, MetricsPlugin)


@cache
def channel_plugins() -> dict[str, ChannelPlugin]:
    """Every installed kind of notification channel by name."""
    return _plugins(CHANNELS_GROUP, ChannelPlugin)
