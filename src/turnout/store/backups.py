"""Records of verified database backups: where each is and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from turnout.store.base import StoreBase
from turnout.store.records import BackupRecord, BackupStatus
from turnout.store.sql import Row, document, dumps, when, when_or_none


def _backup(row: Row) -> BackupRecord:
    return BackupRecord(
        id=int(row["id"]),
        environment=row["environment"],
        deployment_id=row["deployment_id"],
        engine=row["engine"],
        location=row["location"],
        size=int(row["size"]),
        checksum=row["checksum"],
        status=BackupStatus(row["status"]),
        created_at=when(row["created_at"]),
        verified_at=when_or_none(row["verified_at"]),
        details=dict(document(row["details"]) or {}),
    )


class BackupStore(StoreBase):
    """Record, update and list backups."""

    def add_backup(
        self,
        *,
        environment: str,
        deployment_id: int | None,
        engine: str,
        location: str,
        size: int,
        checksum: str,
        status: BackupStatus | str,
        verified_at: datetime | None,
        details: dict[str, Any],
        created_at: datetime | None = None,
    ) -> BackupRecord:
        """Record a backup."""
        with self.db.transaction() as tx:
            new_id = tx.insert(
                "INSERT INTO backups (environment, deployment_id, engine, location, size,"
                " checksum, status, created_at, verified_at, details) VALUES (:environment,"
                " :deployment_id, :engine, :location, :size, :checksum, :status, :created_at,"
                " :verified_at, :details) RETURNING id",
                {
                    "environment": environment,
                    "deployment_id": deployment_id,
                    "engine": engine,
                    "location": location,
                    "size": size,
                    "checksum": checksum,
                    "status": BackupStatus(status).value,
                    "created_at": self.db.stamp(created_at or self.now()),
                    "verified_at": None if verified_at is None else self.db.stamp(verified_at),
                    "details": dumps(details),
                },
            )
            row = tx.one("SELECT * FROM backups WHERE id = :id", {"id": new_id})
        assert row is not None
        return _backup(row)

    def update_backup(
        self,
        backup_id: int,
        *,
        status: BackupStatus | str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        """Change a backup record's status or details."""
        values: dict[str, Any] = {}
        if status is not None:
            values["status"] = BackupStatus(status).value
        if details is not None:
            values["details"] = dumps(details)
        if not values:
            return
        assignments = ", ".join(f"{column} = :{column}" for column in values)
        with self.db.transaction() as tx:
            tx.run(f"UPDATE backups SET {assignments} WHERE id = :id", {**values, "id": backup_id})

    def backups(
        self, environment: str, status: BackupStatus | str | None = None
    ) -> list[BackupRecord]:
        """Backups of an environment, newest first."""
        params: dict[str, Any] = {"environment": environment}
        clause = ""
        if status:
            clause = " AND status = :status"
            params["status"] = BackupStatus(status).value
        with self.db.transaction() as tx:
            rows = tx.rows(
                f"SELECT * FROM backups WHERE environment = :environment{clause} ORDER BY id DESC",
                params,
            )
        return [_backup(row) for row in rows]

    def backup(self, backup_id: int) -> BackupRecord | None:
        """One backup by id."""
        with self.db.transaction() as tx:
            row = tx.one("SELECT * FROM backups WHERE id = :id", {"id": backup_id})
        return None if row is None else _backup(row)
