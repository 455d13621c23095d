"""Find a target backend by kind, through the `turnout.targets` entry points."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from turnout.errors import ConfigError

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.targets.protocol import Target


class TargetFactory(Protocol):
    """What an entry point in the `turnout.targets` group must be."""

    def __call__(self, config: LoadedConfig, env: EnvironmentConfig) -> Target: ...


def create_target(config: LoadedConfig, env: EnvironmentConfig) -> Target:
    """The target client for an environment, built by the backend its `kind` names."""
    kind = env.target.kind
    found = [ep for ep in entry_points(group="turnout.targets") if ep.name == kind]
    if not found:
        raise ConfigError(
            str(config.path), f"environments.{env.name}.target.kind", f"no target backend {kind!r}"
        )
    factory: TargetFactory = found[0].load()
    return factory(config, env)
