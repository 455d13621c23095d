"""Find a target backend by kind, through the `turnout.targets` entry points."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from turnout.config.plugins import load_reference, target_plugins
from turnout.errors import ConfigError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.targets.protocol import Target


class TargetFactory(Protocol):
    """What a target plugin's `factory` names."""

    def __call__(self, config: LoadedConfig, env: EnvironmentConfig) -> Target: ...


def installed_kinds() -> list[str]:
    """The kinds of every installed target backend."""
    return list(target_plugins())


def create_target(config: LoadedConfig, env: EnvironmentConfig) -> Target:
    """The target client for an environment, built by the backend its `kind` names."""
    kind = env.target.kind
    plugin = target_plugins().get(kind)
    if plugin is None:
        raise ConfigError(
            str(config.path), f"environments.{env.name}.target.kind", f"no target backend {kind!r}"
        )
    factory: TargetFactory = load_reference(plugin.factory)
    return factory(config, env)
