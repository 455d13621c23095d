"""Incident sources: is there an active incident that freezes deployments?

Local records (`turnout incident open`) always count; PagerDuty's triggered or
acknowledged incidents on the configured services count when
`integrations.incidents.pagerduty` is set; Azure Service Health events and Resource
Health availability of the app count when `integrations.incidents.azure` is set. A
source that cannot be asked raises IntegrationError: a freeze gate must not pass on a
guess. Only an Azure source configured with `on_unknown = "warn"` is reported instead
as an `unknown` entry, which callers show and do not count as an incident.
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
    unknown: bool = False
    """Not an incident: a source that could not be asked and is configured to warn
    (`title` says why)."""


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
    azure = env.integrations.incidents.azure
    if azure is not None:
        from turnout.errors import IntegrationError
        from turnout.integrations.azure_health import health_issues

        try:
            issues = health_issues(config, env, azure)
        except IntegrationError as exc:
            if azure.on_unknown == "block":
                raise IntegrationError(
                    f"{exc.message} (status unknown)", details=exc.details
                ) from exc
            found.append(
                ActiveIncident(
                    source="azure", id="unknown", title=exc.message, opened_at="", unknown=True
                )
            )
        else:
            found.extend(
                ActiveIncident(source="azure", id=i.id, title=i.title, opened_at=i.started_at)
                for i in issues
            )
    return found


def split_unknown(
    incidents: list[ActiveIncident],
) -> tuple[list[ActiveIncident], list[ActiveIncident]]:
    """(incidents, sources whose status is unknown and only warn)."""
    return [i for i in incidents if not i.unknown], [i for i in incidents if i.unknown]
