"""The azure target: an App Service app and its deployment slots.

`create` is the `turnout.targets` entry point for `kind = "azure"`. The Azure SDKs
are the optional extra `turnout[azure]`; without them the configuration is refused
with a message saying how to install them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.targets.azure.sdk import open_session

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.targets.azure.target import AzureTarget

__all__ = ["create"]


def create(config: LoadedConfig, env: EnvironmentConfig) -> AzureTarget:
    """Entry point for `kind = "azure"`."""
    from turnout.config.azure import AzureTargetConfig
    from turnout.targets.azure.target import AzureTarget

    settings = env.target
    assert isinstance(settings, AzureTargetConfig)
    key = f"environments.{env.name}.target"
    session = open_session(settings, file=str(config.path), key=key)
    target = AzureTarget(env.name, session, health_path=env.checks.warmup.path)
    if env.staging_environment:
        staging = config.env(env.staging_environment).target
        if isinstance(staging, AzureTargetConfig):
            # Runbook 1.3 "confirm staging environment healthy": its app is read too.
            target.staging_app = (staging.resource_group, staging.app)
    return target
