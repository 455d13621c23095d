"""The local target: a slot host per environment (slot processes, router, metrics, admin).

`create` is the `turnout.targets` entry point for `kind = "local"`;
`start_host` / `stop_host` / `host_status` manage the host from Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.targets.local.control import host_status, start_host, stop_host
from turnout.targets.local.target import LocalTarget

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig

__all__ = ["LocalTarget", "create", "host_status", "start_host", "stop_host"]


def create(config: LoadedConfig, env: EnvironmentConfig) -> LocalTarget:
    """Entry point for `kind = "local"`."""
    return LocalTarget(config, env)
