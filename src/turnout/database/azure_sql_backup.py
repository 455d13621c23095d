"""Backups of an Azure SQL database before migrating: a restore point the platform keeps,
optionally a database copy, optionally the runbook's bacpac archive.

Point-in-time restore is the restore path (Microsoft: "BACPACs are not intended to be
used for backup and restore operations"), so every mode first records the restore point
and checks the database's restore window covers it: its earliestRestoreDate is before
the point and the short-term retention policy keeps it for some days. `copy` adds a
transactionally consistent database copy under a name made from the deployment, so a
resumed run follows the same copy; `bacpac` adds an export to blob storage, followed to
its end and read back.

Every setting and secret is resolved before the first request that changes anything.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from turnout.azure_sql_record import (
    AzureSqlBackup,
    BacpacArchive,
    DatabaseCopy,
    DatabaseFacts,
    RestorePoint,
)
from turnout.clock import Clock
from turnout.config.azure_sql import AzureSqlConfig
from turnout.database.azure_sql_management import SqlManagement
from turnout.database.azure_sql_place import open_credential, place_of
from turnout.database.bacpac_blob import BlobPlace
from turnout.database.driver import DatabaseError
from turnout.database.location import DatabaseLocation
from turnout.errors import ConfigError

MAX_NAME = 128
"""Longest Azure SQL database name."""


def derived_name(database: str, suffix: str) -> str:
    """`database` + `suffix`, the database part shortened to fit Azure's 128 characters."""
    return database[: MAX_NAME - len(suffix)] + suffix


def stamp(now: datetime) -> str:
    """A sortable UTC stamp for names: 20261202T153000Z."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}"


def copy_name(database: str, deployment_id: int | None, now: datetime) -> str:
    """The copy's name: from the deployment (a resumed run finds the same copy), else the time."""
    tag = f"d{deployment_id}" if deployment_id is not None else stamp(now)
    return derived_name(database, f"-copy-{tag}")


def bacpac_name(database: str, deployment_id: int | None, now: datetime) -> str:
    """The bacpac blob's name, made the same way as the copy's."""
    tag = f"d{deployment_id}" if deployment_id is not None else stamp(now)
    return f"{database}-{tag}.bacpac"


@dataclass(frozen=True)
class ExportSignIn:
    """How the export signs in to the database and to storage (secrets resolved)."""

    definition: dict[str, Any]
    """ExportDatabaseDefinition's wire fields without storageUri."""


def export_sign_in(location: DatabaseLocation) -> tuple[ExportSignIn, str | None]:
    """The export's sign-in and the storage key turnout reads the blob with (None: the
    credential); ConfigError naming the key when a secret is missing."""
    settings = _settings(location)
    file, key = location.config_file, f"{location.config_section}.azure_sql"
    storage_key = (
        settings.storage_key.resolve(file=file, key=f"{key}.storage_key")
        if settings.storage_key is not None
        else None
    )
    definition: dict[str, Any]
    if settings.export_identity is not None:
        definition = {
            "authenticationType": "ManagedIdentity",
            "administratorLogin": settings.export_identity,
        }
    else:
        login = settings.export_login or location.user
        if not login:
            raise ConfigError(
                file, f"{key}.export_login", "the bacpac export needs a login (or export_identity)"
            )
        if settings.export_password is not None:
            password = settings.export_password.resolve(file=file, key=f"{key}.export_password")
        else:
            found = location.password()
            if found is None:
                raise ConfigError(
                    file,
                    f"{key}.export_password",
                    "the bacpac export signs in with a password: set export_password (or"
                    " database.password), or export_identity",
                )
            password = found
        definition = {
            "authenticationType": "Sql",
            "administratorLogin": login,
            "administratorLoginPassword": password,
        }
    if storage_key is not None:
        definition.update(storageKeyType="StorageAccessKey", storageKey=storage_key)
    else:
        assert settings.export_identity is not None  # config requires a key or an identity
        definition.update(storageKeyType="ManagedIdentity", storageKey=settings.export_identity)
    return ExportSignIn(definition), storage_key


def _settings(location: DatabaseLocation) -> AzureSqlConfig:
    assert location.azure_sql is not None  # locate() sets it for every mssql location
    return location.azure_sql


def open_management(
    location: DatabaseLocation, clock: Clock, progress: Callable[[str], None]
) -> SqlManagement:
    """The server's management plane with the environment's credential."""
    place = place_of(location)
    return SqlManagement(
        place,
        open_credential(location),
        clock=clock,
        timeout=_settings(location).operation_timeout,
        progress=progress,
    )


def check_restore_window(
    management: SqlManagement, facts: DatabaseFacts, now: datetime
) -> RestorePoint:
    """The restore point `now`, checked covered by point-in-time restore; else DatabaseError."""
    name = facts.name
    earliest = facts.earliest_restore_date
    if earliest is None:
        raise DatabaseError(
            f"Azure SQL database {name} has no point-in-time restore point yet (its"
            " earliestRestoreDate is empty: a new database's first full backup has not run);"
            ' wait for it, or set azure_sql.backup = "copy"'
        )
    at = now.astimezone(UTC)
    if earliest.astimezone(UTC) > at:
        raise DatabaseError(
            f"Azure SQL database {name}: its earliest restore date {earliest.isoformat()} is"
            f" after this machine's time {at.isoformat()}; check the clock"
        )
    days = management.retention_days(name)
    if days < 1:
        raise DatabaseError(
            f"Azure SQL database {name}: short-term retention keeps {days} days; point-in-time"
            " restore cannot bring the database back to this point"
        )
    return RestorePoint(
        at=at,
        earliest_restore_date=earliest,
        retention_days=days,
        restorable_until=at + timedelta(days=days),
        database=facts,
    )


class ServerWork:
    """Work on one Azure SQL database through its server's management plane, which is
    opened (credential, client) at first use."""

    def __init__(
        self,
        location: DatabaseLocation,
        *,
        clock: Clock,
        progress: Callable[[str], None],
        management: SqlManagement | None = None,
    ) -> None:
        self.location = location
        self.settings = _settings(location)
        self.clock = clock
        self.progress = progress
        self._management = management

    @property
    def management(self) -> SqlManagement:
        """The management plane, opened at first use."""
        if self._management is None:
            self._management = open_management(self.location, self.clock, self.progress)
        return self._management


class AzureSqlBackups(ServerWork):
    """Takes the configured backup of one Azure SQL database."""

    def take(self, deployment_id: int | None) -> AzureSqlBackup:
        """Record and check the restore point; then the copy or the export, if configured."""
        mode = self.settings.backup
        sign_in: ExportSignIn | None = None
        blob: BlobPlace | None = None
        now = self.clock.now()
        if mode == "bacpac":
            # Secrets first: a missing one stops here, before anything is asked of Azure.
            sign_in, storage_key = export_sign_in(self.location)
            assert self.settings.storage_account_url is not None  # config requires it
            blob = BlobPlace(
                self.settings.storage_account_url,
                self.settings.container,
                bacpac_name(self.location.dbname, deployment_id, now),
                storage_key,
                None if storage_key is not None else open_credential(self.location),
            )
        management = self.management
        name = self.location.dbname
        facts = management.database(name)
        if facts is None:
            raise DatabaseError(
                f"Azure SQL database {name} not found on server {management.place.server}"
                f" (resource group {management.place.resource_group})"
            )
        point = check_restore_window(management, facts, now)
        self.progress(
            f"restore point {point.at.isoformat(timespec='seconds')} recorded: point-in-time"
            f" restore reaches back to {point.earliest_restore_date.isoformat(timespec='seconds')}"
            f" and keeps {point.retention_days} days"
        )
        backup = AzureSqlBackup(mode=mode, point=point)
        if mode == "copy":
            backup = backup.model_copy(update={"database_copy": self._copy(facts, deployment_id)})
        if blob is not None and sign_in is not None:
            backup = backup.model_copy(update={"bacpac": self._export(blob, sign_in)})
        return backup

    def _copy(self, source: DatabaseFacts, deployment_id: int | None) -> DatabaseCopy:
        management = self.management
        name = copy_name(source.name, deployment_id, self.clock.now())
        started = time.monotonic()
        existing = management.database(name)
        if existing is not None:
            if existing.source_database_id and existing.source_database_id.lower() != (
                source.id.lower()
            ):
                raise DatabaseError(
                    f"database {name} exists but is not a copy of {source.name}"
                    f" (its source is {existing.source_database_id}); refusing to use it"
                )
            self.progress(f"following the copy {name} a previous run started")
        else:
            self.progress(f"copying {source.name} to {name}")
            poller = management.begin_create(
                name,
                {
                    "location": source.location,
                    "properties": {"createMode": "Copy", "sourceDatabaseId": source.id},
                },
            )
            management.follow(f"copy of {source.name} to {name}", poller)
        online = management.wait_online(name)
        return DatabaseCopy(
            name=name,
            id=online.id,
            database_id=online.database_id,
            status=online.status or "",
            seconds=round(time.monotonic() - started, 3),
        )

    def _export(self, blob: BlobPlace, sign_in: ExportSignIn) -> BacpacArchive:
        started = time.monotonic()
        name = self.location.dbname
        if blob.exists():
            # A run killed after the export wrote the blob: read it back instead of exporting.
            self.progress(f"the bacpac {blob.url} a previous run exported is there")
            return blob.read_back(started, "found")
        blob.ensure_container()
        self.progress(f"exporting {name} to {blob.url}")
        result = self.management.export(name, {**sign_in.definition, "storageUri": blob.url})
        status = getattr(result, "status", None)
        if status is not None and str(status).lower() not in ("completed", "succeeded"):
            raise DatabaseError(
                f"the bacpac export of {name} ended {status}:"
                f" {getattr(result, 'error_message', None) or 'no reason given'}"
            )
        return blob.read_back(started, None if status is None else str(status))
