"""The local slot host of an environment (local target only): start, stop, status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from turnout.api.context import ConfigSource, load


@dataclass(frozen=True)
class HostResult:
    """Whether the host runs, and its status document when it does (pid, router address,
    admin socket, swaps, and each slot's version, state, health and traffic)."""

    environment: str
    running: bool
    already_running: bool = False
    """For `host_up`: it was running before the call."""
    status: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout host up|status --json` prints)."""
        if not self.status:
            return {"environment": self.environment, "running": self.running}
        return {**self.status, "running": self.running}


def host_up(env: str, *, foreground: bool = False, config: ConfigSource = None) -> HostResult:
    """Start the slot host (detached, or in this process until it stops), restoring its slots."""
    from turnout.targets.local import start_host

    loaded = load(config)
    environment = loaded.env(env)
    status = start_host(loaded, environment, foreground=foreground)
    return HostResult(
        environment.name,
        running=not foreground or bool(status.get("already_running")),
        already_running=bool(status.get("already_running")),
        status=status,
    )


@dataclass(frozen=True)
class HostStopped:
    """The host is not running now; `was_running` says whether it ran before the call."""

    environment: str
    was_running: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout host down --json` prints)."""
        return {"environment": self.environment, "was_running": self.was_running, "running": False}


def host_down(env: str, *, config: ConfigSource = None) -> HostStopped:
    """Stop the slot host: its slot processes get SIGTERM, then SIGKILL after stop_grace."""
    from turnout.targets.local import stop_host

    loaded = load(config)
    environment = loaded.env(env)
    was_running = stop_host(loaded, environment)
    return HostStopped(environment.name, was_running)


def host_status(env: str, *, config: ConfigSource = None) -> HostResult:
    """The running host's status, or `running` False."""
    from turnout.targets.local import host_status as read_status

    loaded = load(config)
    environment = loaded.env(env)
    status = read_status(loaded, environment)
    if status is None:
        return HostResult(environment.name, running=False)
    return HostResult(environment.name, running=True, status=status)


def host_metrics(env: str, *, config: ConfigSource = None) -> str:
    """The host's Prometheus text exposition."""
    from turnout.targets.local import LocalTarget

    loaded = load(config)
    return LocalTarget(loaded, loaded.env(env)).prometheus()
