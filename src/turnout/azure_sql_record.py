"""What turnout records about an Azure SQL backup and restore: typed, JSON in the journal.

A backup of an Azure SQL database is a restore point the platform keeps (point-in-time
restore), optionally a database copy, optionally a bacpac archive in blob storage. A
restore is a sequence of stages, each committed to the state store before the next
action, so that a run killed at any instant is finished (or undone) from the record.

Kept apart from the database package so that step outputs (runbook/outputs.py) can type
their records with these without importing the database layer.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict

BackupMode = Literal["pitr", "copy", "bacpac"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class DatabaseFacts(_Record):
    """What the management plane says about one database (no data: that needs SQL)."""

    name: str
    id: str
    database_id: str | None = None
    """The database's GUID: it stays the same across a rename, so it says which database
    holds a name now."""
    status: str | None = None
    location: str | None = None
    sku: str | None = None
    max_size_bytes: int | None = None
    collation: str | None = None
    source_database_id: str | None = None
    creation_date: datetime | None = None
    earliest_restore_date: datetime | None = None


class RestorePoint(_Record):
    """The moment a restore brings the database back to, and the window that covers it."""

    at: datetime
    """The restore point (UTC), taken just before migrating."""
    earliest_restore_date: datetime
    """The oldest point the platform can restore to when the point was recorded."""
    retention_days: int
    """The short-term retention policy's days."""
    restorable_until: datetime
    """When the point falls out of the retention window."""
    database: DatabaseFacts
    """The database as it was at the restore point."""


class DatabaseCopy(_Record):
    """A transactionally consistent copy (`createMode: Copy`) taken before migrating."""

    name: str
    id: str
    database_id: str | None = None
    status: str
    seconds: float


class BacpacArchive(_Record):
    """A .bacpac export in blob storage, read back after the export finished."""

    blob_url: str
    """The blob's URL (no SAS, no key)."""
    size: int
    etag: str
    content_md5: str | None = None
    last_modified: datetime | None = None
    export_status: str | None = None
    seconds: float


class AzureSqlBackup(_Record):
    """One backup of an Azure SQL database as turnout took it."""

    mode: BackupMode
    point: RestorePoint
    database_copy: DatabaseCopy | None = None
    bacpac: BacpacArchive | None = None

    @property
    def location(self) -> str:
        """What the backup is, for listings: the copy, the archive, or the restore point."""
        if self.database_copy is not None:
            return self.database_copy.id
        if self.bacpac is not None:
            return self.bacpac.blob_url
        return f"{self.point.database.id}@{self.point.at.isoformat(timespec='seconds')}"


RestoreSource = Literal["pitr", "copy", "bacpac"]
RESTORE_SOURCES: dict[str, RestoreSource] = {"pitr": "pitr", "copy": "copy", "bacpac": "bacpac"}
"""Each restore source by its name (what `db restore --from` takes)."""


class RestoreStage(StrEnum):
    """Where a restore stands; each is committed before the action that follows it."""

    PLANNED = "planned"
    """Names chosen, nothing asked of Azure yet."""
    CREATING = "creating"
    """The new database was asked for (point-in-time restore, copy or import)."""
    ONLINE = "online"
    VERIFIED = "verified"
    ORIGINAL_MOVED = "original-moved"
    """The database under the original name was renamed aside."""
    SWAPPED = "swapped"
    """The restored database carries the original name: done."""
    FAILED = "failed"
    """Stopped before anything was renamed: the original database is untouched."""
    UNDONE = "undone"
    """Stopped after the original was moved aside; it was moved back."""


FINISHED = frozenset({RestoreStage.SWAPPED, RestoreStage.FAILED, RestoreStage.UNDONE})


class RestoreEvent(_Record):
    """One committed transition of a restore."""

    at: datetime
    stage: RestoreStage
    note: str = ""


class RestoreVerification(_Record):
    """What the management plane shows of the restored database before it is swapped in."""

    online: bool
    source_matches: bool | None
    """Whether the new database names the expected source (None: an import has none)."""
    same_sku: bool | None
    same_max_size: bool | None
    same_collation: bool | None
    problems: list[str] = []

    @property
    def ok(self) -> bool:
        """No check failed."""
        return not self.problems


class AzureSqlRestore(_Record):
    """A restore of a recorded backup to a new database, swapped in by rename."""

    number: int
    """1 for the first restore of this backup, 2 for the next..."""
    source: RestoreSource
    target: str
    """The database name the restore puts back (the original's)."""
    restored_name: str
    """The new database's name until it is swapped in."""
    replaced_name: str
    """The name the database being replaced is kept under."""
    original_database_id: str | None
    """GUID of the database under the target name when the restore started."""
    restored_database_id: str | None = None
    restore_point: datetime | None = None
    stage: RestoreStage = RestoreStage.PLANNED
    events: list[RestoreEvent] = []
    verification: RestoreVerification | None = None
    error: str | None = None
    by: str
    reason: str
    deployment_id: int | None = None

    @property
    def finished(self) -> bool:
        """Whether nothing is left to do (done, failed, or undone)."""
        return self.stage in FINISHED
