"""Local incident records (an open one freezes deployments), and the incident sources'
active incidents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from turnout.api.context import ConfigSource, acting_user, load, open_store
from turnout.errors import BadInput
from turnout.store.records import AuditAction


@dataclass(frozen=True)
class IncidentOpened:
    """An incident just recorded; deployments to its environment (None: all) are frozen."""

    id: int
    title: str
    environment: str | None
    opened_by: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout incident open --json` prints)."""
        return {
            "id": self.id,
            "title": self.title,
            "environment": self.environment,
            "opened_by": self.opened_by,
        }


@dataclass(frozen=True)
class IncidentClosed:
    """An incident just closed."""

    id: int
    title: str
    environment: str | None
    closed_by: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout incident close --json` prints)."""
        return {"id": self.id, "title": self.title, "closed_by": self.closed_by}


@dataclass(frozen=True)
class Incident:
    """One incident from a source: turnout's own records ("local") or PagerDuty."""

    source: str
    id: str
    title: str
    environment: str | None
    opened_at: str
    active: bool
    opened_by: str | None = None
    closed_at: str | None = None
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: a local record has who opened and when it closed, a remote
        one its URL."""
        document: dict[str, Any] = {
            "source": self.source,
            "id": self.id,
            "title": self.title,
            "environment": self.environment,
            "opened_at": self.opened_at,
            "active": self.active,
        }
        if self.source == "local":
            document.update({"opened_by": self.opened_by, "closed_at": self.closed_at})
        else:
            document["url"] = self.url
        return document


@dataclass(frozen=True)
class IncidentList:
    """Incidents, newest first (local records, then the sources' active ones)."""

    incidents: tuple[Incident, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout incident list --json` prints)."""
        return {"incidents": [i.to_dict() for i in self.incidents]}


def open_incident(
    title: str, *, env: str | None = None, actor: str | None = None, config: ConfigSource = None
) -> IncidentOpened:
    """Record an active incident (audited); deployments to `env` (None: all) are frozen."""
    if not title.strip():
        raise BadInput("incident open: the title must not be empty")
    loaded = load(config)
    if env is not None:
        loaded.env(env)  # an unknown environment is bad input, before anything is written
    user = acting_user(actor)
    with open_store(loaded) as store:
        row = store.open_incident(title.strip(), user, env)
        store.audit(
            user, AuditAction.INCIDENT_OPEN, environment=env, incident=row.id, title=row.title
        )
    return IncidentOpened(row.id, row.title, env, user)


def close_incident(
    incident_id: int, *, actor: str | None = None, config: ConfigSource = None
) -> IncidentClosed:
    """Close an open incident (audited)."""
    loaded = load(config)
    user = acting_user(actor)
    with open_store(loaded) as store:
        row = store.close_incident(incident_id, user)
        if row is None:
            raise BadInput(f"incident close: no open incident {incident_id}")
        store.audit(user, AuditAction.INCIDENT_CLOSE, environment=row.environment, incident=row.id)
    return IncidentClosed(row.id, row.title, row.environment, user)


def incidents(
    env: str | None = None, *, active_only: bool = False, config: ConfigSource = None
) -> IncidentList:
    """Local incident records, newest first; with `env`, PagerDuty's active ones too."""
    loaded = load(config)
    environment = loaded.env(env) if env is not None else None
    with open_store(loaded) as store:
        found = [
            Incident(
                source="local",
                id=str(row.id),
                title=row.title,
                environment=row.environment,
                opened_at=row.opened_at.isoformat(),
                active=row.closed_at is None,
                opened_by=row.opened_by,
                closed_at=row.closed_at.isoformat() if row.closed_at else None,
            )
            for row in store.incidents(env, active_only=active_only)
        ]
        if environment is not None and environment.integrations.incidents.pagerduty is not None:
            from turnout.integrations.incidents import active_incidents

            found += [
                Incident(
                    source=active.source,
                    id=active.id,
                    title=active.title,
                    environment=env,
                    opened_at=active.opened_at,
                    active=True,
                    url=active.url,
                )
                for active in active_incidents(loaded, environment, store)
                if active.source != "local"
            ]
    return IncidentList(tuple(found))
