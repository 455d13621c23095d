"""Incident sources: is there an active incident that freezes deployments?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store


@dataclass(frozen=True)
class ActiveIncident:
    """An incident that is open right now."""

    source: str
    id: str
    title: str
    opened_at: str


def active_incidents(
    config: LoadedConfig, env: EnvironmentConfig, store: Store
) -> list[ActiveIncident]:
    """Open incidents concerning the environment, from every configured source."""
    return [
        ActiveIncident(
            source="local", id=str(row.id), title=row.title, opened_at=row.opened_at.isoformat()
        )
        for row in store.incidents(env.name, active_only=True)
    ]
