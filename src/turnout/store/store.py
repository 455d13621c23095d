"""The state store: deployments, the step journal, locks, approvals, audit and records.

Every method is its own transaction, committed before it returns, so the journal
on disk is always at least as new as anything the engine did. What comes back are frozen
records (`turnout.store.records`) with timestamps aware in UTC.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

from turnout.clock import Clock
from turnout.errors import Unavailable
from turnout.store import schema
from turnout.store.approvals import ApprovalStore
from turnout.store.audit import AuditStore
from turnout.store.backups import BackupStore
from turnout.store.deployments import DeploymentStore
from turnout.store.incidents import IncidentStore
from turnout.store.locks import LockStore
from turnout.store.named import NamedRecordStore


class Store(
    DeploymentStore,
    LockStore,
    ApprovalStore,
    AuditStore,
    IncidentStore,
    BackupStore,
    NamedRecordStore,
):
    """turnout's state in SQLite (default) or PostgreSQL."""

    @classmethod
    def open(
        cls,
        state_dir: Path,
        clock: Clock | None = None,
        url: str | None = None,
        *,
        create: bool = True,
    ) -> Store:
        """Open (and upgrade) the store for a configuration's state directory. With
        `create=False`, a project without one gets an empty store in memory instead."""
        if not create and url is None and not schema.state_exists(state_dir):
            return cls(schema.empty_database(), clock)
        database = schema.open_database(url or schema.state_url(state_dir))
        try:
            schema.upgrade(database)
        except Exception as exc:
            if not _unreachable(exc):
                raise
            database.close()
            # Nothing was read or written: the person makes it reachable and runs again (exit 3).
            reason = getattr(exc, "orig", None) or exc
            raise Unavailable(
                f"state database {database.url!r} unavailable: {reason}; nothing was changed"
            ) from exc
        return cls(database, clock)

    def close(self) -> None:
        """Release database connections."""
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _unreachable(exc: BaseException) -> bool:
    """Whether opening failed because the database cannot be reached or opened."""
    if isinstance(exc, sqlite3.OperationalError):
        return True
    # Only a store that is not a SQLite file has imported SQLAlchemy.
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy.exc import OperationalError

    return isinstance(exc, OperationalError)
