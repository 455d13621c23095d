"""Local incident records and the post-mortems emergency deployments owe."""

from __future__ import annotations

from typing import Any

from turnout.store.base import StoreBase
from turnout.store.records import IncidentRecord, PostmortemRecord
from turnout.store.sql import Row, document, dumps, when, when_or_none


def _incident(row: Row) -> IncidentRecord:
    return IncidentRecord(
        id=int(row["id"]),
        environment=row["environment"],
        title=row["title"],
        opened_by=row["opened_by"],
        opened_at=when(row["opened_at"]),
        closed_by=row["closed_by"],
        closed_at=when_or_none(row["closed_at"]),
        details=dict(document(row["details"]) or {}),
    )


def _postmortem(row: Row) -> PostmortemRecord:
    return PostmortemRecord(
        id=int(row["id"]),
        deployment_id=int(row["deployment_id"]),
        environment=row["environment"],
        reason=row["reason"],
        opened_at=when(row["opened_at"]),
        closed_by=row["closed_by"],
        closed_at=when_or_none(row["closed_at"]),
        link=row["link"],
    )


class IncidentStore(StoreBase):
    """Open, close and list incidents and post-mortems."""

    def open_incident(
        self,
        title: str,
        opened_by: str,
        environment: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> IncidentRecord:
        """Record an active incident (it freezes deployments until closed)."""
        with self.db.transaction() as tx:
            new_id = tx.insert(
                "INSERT INTO incidents (environment, title, opened_by, opened_at, details)"
                " VALUES (:environment, :title, :opened_by, :at, :details) RETURNING id",
                {
                    "environment": environment,
                    "title": title,
                    "opened_by": opened_by,
                    "at": self.db.stamp(self.now()),
                    "details": dumps(details or {}),
                },
            )
            row = tx.one("SELECT * FROM incidents WHERE id = :id", {"id": new_id})
        assert row is not None
        return _incident(row)

    def close_incident(self, incident_id: int, closed_by: str) -> IncidentRecord | None:
        """Close an incident; None when there is no such open incident."""
        with self.db.transaction() as tx:
            changed = tx.run(
                "UPDATE incidents SET closed_at = :at, closed_by = :by"
                " WHERE id = :id AND closed_at IS NULL",
                {"at": self.db.stamp(self.now()), "by": closed_by, "id": incident_id},
            )
            row = tx.one("SELECT * FROM incidents WHERE id = :id", {"id": incident_id})
        return _incident(row) if changed and row is not None else None

    def incidents(
        self, environment: str | None = None, active_only: bool = False
    ) -> list[IncidentRecord]:
        """Incidents concerning an environment (or all), newest first."""
        where: list[str] = []
        params: dict[str, Any] = {}
        if environment:
            where.append("(environment = :environment OR environment IS NULL)")
            params["environment"] = environment
        if active_only:
            where.append("closed_at IS NULL")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction() as tx:
            rows = tx.rows(f"SELECT * FROM incidents{clause} ORDER BY id DESC", params)
        return [_incident(row) for row in rows]

    def open_postmortem(
        self, deployment_id: int, environment: str, reason: str
    ) -> PostmortemRecord:
        """Open the post-mortem an emergency deployment owes."""
        with self.db.transaction() as tx:
            new_id = tx.insert(
                "INSERT INTO postmortems (deployment_id, environment, reason, opened_at)"
                " VALUES (:deployment_id, :environment, :reason, :at) RETURNING id",
                {
                    "deployment_id": deployment_id,
                    "environment": environment,
                    "reason": reason,
                    "at": self.db.stamp(self.now()),
                },
            )
            row = tx.one("SELECT * FROM postmortems WHERE id = :id", {"id": new_id})
        assert row is not None
        return _postmortem(row)

    def close_postmortem(
        self, postmortem_id: int, closed_by: str, link: str
    ) -> PostmortemRecord | None:
        """Close a post-mortem with a link to the write-up."""
        with self.db.transaction() as tx:
            changed = tx.run(
                "UPDATE postmortems SET closed_at = :at, closed_by = :by, link = :link"
                " WHERE id = :id AND closed_at IS NULL",
                {
                    "at": self.db.stamp(self.now()),
                    "by": closed_by,
                    "link": link,
                    "id": postmortem_id,
                },
            )
            row = tx.one("SELECT * FROM postmortems WHERE id = :id", {"id": postmortem_id})
        return _postmortem(row) if changed and row is not None else None

    def postmortems(
        self, environment: str | None = None, open_only: bool = False
    ) -> list[PostmortemRecord]:
        """Post-mortems, newest first."""
        where: list[str] = []
        params: dict[str, Any] = {}
        if environment:
            where.append("environment = :environment")
            params["environment"] = environment
        if open_only:
            where.append("closed_at IS NULL")
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        with self.db.transaction() as tx:
            rows = tx.rows(f"SELECT * FROM postmortems{clause} ORDER BY id DESC", params)
        return [_postmortem(row) for row in rows]
