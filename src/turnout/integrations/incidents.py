"""Incident sources: is there an active incident that freezes deployments?

Local records (`turnout incident open`) always count; PagerDuty's triggered or
acknowledged incidents on the configured services count when
`integrations.incidents.pagerduty` is set. A source that cannot be asked raises
IntegrationError: a freeze gate must not pass on a guess.
"""

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
    url: str = ""


def active_incidents(
    config: LoadedConfig, env: EnvironmentConfig, store: Store
) -> list[ActiveIncident]:
    """Open incidents concerning the environment, from every configured source."""
    found = [
        ActiveIncident(
            source="local", id=str(row.id), title=row.title, opened_at=row.opened_at.isoformat()
        )
        for row in store.incidents(env.name, active_only=True)
    ]
    settings = env.integrations.incidents.pagerduty
    if settings is not None:
        from turnout.integrations import pagerduty

        key = f"environments.{env.name}.integrations.incidents.pagerduty"
        client = pagerduty.pagerduty_client(config, settings, key=key)
        try:
            incidents = pagerduty.active_incidents(client, settings.service_ids)
        finally:
            client.close()
        found.extend(
            ActiveIncident(
                source="pagerduty",
                id=incident.id,
                title=f"[{incident.status}] {incident.title}"
                + (f" ({incident.service})" if incident.service else ""),
                opened_at=incident.created_at,
                url=incident.url,
            )
            for incident in incidents
        )
    return found
