"""Restore an Azure SQL backup: to a new database, verified, swapped in by rename.

Azure cannot restore over an existing database ("You can't overwrite an existing
database during restore"), so a restore makes a new database (a point-in-time restore to
the recorded point, a copy of the pre-migration copy, or an import of the bacpac), checks
what the management plane shows of it, then renames the current database aside and the
new one into its name. Each stage is committed to the backup's record before the action
that follows it, and every action first observes whether it already happened: a run
killed at any instant is finished by the next one (`turnout resume`, or `turnout db
restore` again). A restore that fails before the original was moved leaves it untouched;
one that fails after moves the original back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from turnout.azure_sql_record import (
    AzureSqlBackup,
    AzureSqlRestore,
    DatabaseFacts,
    RestoreEvent,
    RestoreSource,
    RestoreStage,
    RestoreVerification,
)
from turnout.clock import Clock
from turnout.database.azure_sql_backup import ServerWork, derived_name, export_sign_in
from turnout.database.azure_sql_management import ONLINE, SqlManagement
from turnout.database.backups import AZURE_SQL_KEY
from turnout.database.driver import DatabaseError
from turnout.database.location import DatabaseLocation
from turnout.errors import BadInput, Refused

if TYPE_CHECKING:
    from turnout.store import Store
    from turnout.store.records import BackupRecord

RESTORES_KEY = "azure_sql_restores"
"""Details key of a backup's record: its restores (`AzureSqlRestore`), oldest first."""


def restores_of(record: BackupRecord) -> list[AzureSqlRestore]:
    """The restores recorded with a backup."""
    raw = record.details.get(RESTORES_KEY)
    return [AzureSqlRestore.model_validate(r) for r in raw] if isinstance(raw, list) else []


def unfinished_restore(record: BackupRecord) -> AzureSqlRestore | None:
    """A restore of this backup that a killed run left part-way, if there is one."""
    found = [r for r in restores_of(record) if not r.finished]
    return found[-1] if found else None


def backup_of(record: BackupRecord) -> AzureSqlBackup:
    """The Azure SQL backup a record holds; Refused when it holds none."""
    raw = record.details.get(AZURE_SQL_KEY)
    if not isinstance(raw, dict):
        raise Refused(f"backup {record.id} is not an Azure SQL backup turnout recorded")
    return AzureSqlBackup.model_validate(raw)


def default_source(taken: AzureSqlBackup) -> RestoreSource:
    """The copy when one was taken, else point-in-time restore (a bacpac only on request)."""
    return "copy" if taken.database_copy is not None else "pitr"


def describe_restore(record: BackupRecord, source: RestoreSource | None) -> str:
    """What restoring this backup would do, for the confirmation question."""
    taken = backup_of(record)
    pending = unfinished_restore(record)
    if pending is not None:
        return (
            f"continue restore {pending.number} of backup {record.id} (stopped at"
            f" {pending.stage.value}) into {pending.target}"
        )
    chosen = source or default_source(taken)
    if chosen == "copy" and taken.database_copy is not None:
        how = f"a copy of {taken.database_copy.name}"
    elif chosen == "bacpac" and taken.bacpac is not None:
        how = f"an import of {taken.bacpac.blob_url}"
    else:
        how = f"a point-in-time restore to {taken.point.at.isoformat(timespec='seconds')}"
    return (
        f"restore backup {record.id} of {taken.point.database.name} as {how} into a new"
        " database, then swap it in by rename (the current database is kept under another"
        " name)"
    )


class AzureSqlRestorer(ServerWork):
    """Restores one environment's Azure SQL database from its recorded backups."""

    def __init__(
        self,
        location: DatabaseLocation,
        store: Store,
        *,
        clock: Clock,
        progress: Callable[[str], None],
        management: SqlManagement | None = None,
    ) -> None:
        super().__init__(location, clock=clock, progress=progress, management=management)
        self.store = store

    # -- planning ----------------------------------------------------------------------
    def plan(
        self,
        record: BackupRecord,
        source: RestoreSource | None,
        *,
        by: str,
        reason: str,
        deployment_id: int | None,
    ) -> AzureSqlRestore:
        """The unfinished restore of this backup, or a new one (checked and recorded)."""
        pending = unfinished_restore(record)
        if pending is not None:
            if source is not None and source != pending.source:
                raise BadInput(
                    f"restore {pending.number} of backup {record.id} from {pending.source} is"
                    f" unfinished; finish it (without --from, or --from {pending.source})"
                    " before restoring another way"
                )
            self.progress(
                f"continuing restore {pending.number} of backup {record.id}, stopped at"
                f" {pending.stage.value}"
            )
            return pending
        taken = backup_of(record)
        chosen = source or default_source(taken)
        self._check_source(record, taken, chosen)
        if chosen == "bacpac":
            export_sign_in(self.location)  # a missing secret stops here, before any change
        target = self.location.dbname
        current = self.management.database(target)
        number = len(restores_of(record)) + 1
        tag = f"-b{record.id}r{number}"
        restore = AzureSqlRestore(
            number=number,
            source=chosen,
            target=target,
            restored_name=derived_name(target, f"-restored{tag}"),
            replaced_name=derived_name(target, f"-replaced{tag}"),
            original_database_id=current.database_id if current is not None else None,
            restore_point=taken.point.at if chosen == "pitr" else None,
            by=by,
            reason=reason,
            deployment_id=deployment_id,
        )
        return self._advance(record.id, restore, RestoreStage.PLANNED, "names chosen")

    def _check_source(
        self, record: BackupRecord, taken: AzureSqlBackup, source: RestoreSource
    ) -> None:
        if source == "copy" and taken.database_copy is None:
            raise BadInput(
                f"backup {record.id} has no database copy (it was taken as {taken.mode})"
            )
        if source == "bacpac" and taken.bacpac is None:
            raise BadInput(f"backup {record.id} has no bacpac (it was taken as {taken.mode})")
        if source == "pitr" and taken.point.restorable_until < self.clock.now():
            raise Refused(
                f"backup {record.id}: the restore point"
                f" {taken.point.at.isoformat(timespec='seconds')} left point-in-time restore's"
                f" {taken.point.retention_days}-day window on"
                f" {taken.point.restorable_until.isoformat(timespec='seconds')}"
            )

    # -- running -----------------------------------------------------------------------
    def run(self, record: BackupRecord, restore: AzureSqlRestore) -> AzureSqlRestore:
        """Drive a planned or unfinished restore to its end; DatabaseError when it stopped
        (the record then says FAILED or UNDONE)."""
        taken = backup_of(record)
        try:
            if restore.stage in (RestoreStage.PLANNED, RestoreStage.CREATING):
                restore = self._create(record.id, restore, taken)
            if restore.stage == RestoreStage.ONLINE:
                restore = self._verify(record.id, restore, taken)
            if restore.stage in (RestoreStage.VERIFIED, RestoreStage.ORIGINAL_MOVED):
                restore = self._swap(record.id, restore)
        except DatabaseError as exc:
            self._stop(record.id, restore, exc)
            raise
        return restore

    def _create(
        self, backup_id: int, restore: AzureSqlRestore, taken: AzureSqlBackup
    ) -> AzureSqlRestore:
        management = self.management
        name = restore.restored_name
        if management.database(name) is None:
            restore = self._advance(backup_id, restore, RestoreStage.CREATING, self._how(restore))
            self.progress(f"{self._how(restore)} into {name}")
            if restore.source == "bacpac":
                poller = management.begin_import(self._import_body(restore, taken))
            else:
                poller = management.begin_create(name, self._create_body(restore, taken))
            management.follow(f"restore of {restore.target} into {name}", poller)
        else:
            self.progress(f"following {name}, which a previous run asked for")
        online = management.wait_online(name)
        return self._advance(
            backup_id,
            restore.model_copy(update={"restored_database_id": online.database_id}),
            RestoreStage.ONLINE,
            f"{name} is Online",
        )

    def _how(self, restore: AzureSqlRestore) -> str:
        if restore.source == "copy":
            return "copying the pre-migration copy"
        if restore.source == "bacpac":
            return "importing the bacpac"
        point = (
            restore.restore_point.isoformat(timespec="seconds") if restore.restore_point else "?"
        )
        return f"point-in-time restore to {point}"

    def _create_body(self, restore: AzureSqlRestore, taken: AzureSqlBackup) -> dict[str, Any]:
        original = taken.point.database
        properties: dict[str, Any]
        if restore.source == "copy":
            assert taken.database_copy is not None  # checked when planned
            properties = {"createMode": "Copy", "sourceDatabaseId": taken.database_copy.id}
        else:
            assert restore.restore_point is not None  # set when planned for pitr
            properties = {
                "createMode": "PointInTimeRestore",
                "sourceDatabaseId": original.id,
                "restorePointInTime": restore.restore_point.isoformat(),
            }
        body: dict[str, Any] = {"location": original.location, "properties": properties}
        if original.sku:
            body["sku"] = {"name": original.sku}
        return body

    def _import_body(self, restore: AzureSqlRestore, taken: AzureSqlBackup) -> dict[str, Any]:
        assert taken.bacpac is not None  # checked when planned
        sign_in, _key = export_sign_in(self.location)
        original = taken.point.database
        body: dict[str, Any] = {
            **sign_in.definition,
            "databaseName": restore.restored_name,
            "storageUri": taken.bacpac.blob_url,
        }
        if original.sku:
            body["serviceObjectiveName"] = original.sku
        if original.max_size_bytes:
            body["maxSizeBytes"] = str(original.max_size_bytes)
        return body

    def _verify(
        self, backup_id: int, restore: AzureSqlRestore, taken: AzureSqlBackup
    ) -> AzureSqlRestore:
        facts = self.management.database(restore.restored_name)
        if facts is None:
            raise DatabaseError(f"the restored database {restore.restored_name} is gone")
        verification = verify_restored(facts, restore, taken)
        restore = restore.model_copy(update={"verification": verification})
        if not verification.ok:
            raise DatabaseError(
                f"the restored database {restore.restored_name} does not match the backup: "
                + "; ".join(verification.problems)
            )
        return self._advance(
            backup_id, restore, RestoreStage.VERIFIED, "Online, source, SKU, size, collation"
        )

    def _swap(self, backup_id: int, restore: AzureSqlRestore) -> AzureSqlRestore:
        management = self.management
        holder = management.database(restore.target)
        if holder is not None and holder.database_id == restore.restored_database_id:
            # The last rename happened before the run that asked for it was killed.
            return self._advance(backup_id, restore, RestoreStage.SWAPPED, "found swapped in")
        if holder is not None:
            if restore.original_database_id and holder.database_id != restore.original_database_id:
                raise DatabaseError(
                    f"{restore.target} is now database {holder.database_id}, neither the one the"
                    f" restore started with ({restore.original_database_id}) nor the restored"
                    " one; someone changed it: stopping"
                )
            self.progress(f"renaming {restore.target} to {restore.replaced_name}")
            management.rename(restore.target, restore.replaced_name)
        elif restore.original_database_id and management.database(restore.replaced_name) is None:
            raise DatabaseError(
                f"neither {restore.target} nor {restore.replaced_name} exists: the database"
                " being replaced is missing; stopping"
            )
        if restore.stage != RestoreStage.ORIGINAL_MOVED:
            restore = self._advance(
                backup_id,
                restore,
                RestoreStage.ORIGINAL_MOVED,
                f"{restore.target} kept as {restore.replaced_name}",
            )
        self.progress(f"renaming {restore.restored_name} to {restore.target}")
        management.rename(restore.restored_name, restore.target)
        return self._advance(
            backup_id, restore, RestoreStage.SWAPPED, f"{restore.restored_name} is {restore.target}"
        )

    def _stop(self, backup_id: int, restore: AzureSqlRestore, exc: DatabaseError) -> None:
        """Record why the restore stopped; put the original back if it was moved aside."""
        row = self.store.backup(backup_id)
        assert row is not None  # the backup being restored is recorded
        restore = next((r for r in restores_of(row) if r.number == restore.number), restore)
        if restore.stage != RestoreStage.ORIGINAL_MOVED:
            self._advance(
                backup_id,
                restore.model_copy(update={"error": exc.message}),
                RestoreStage.FAILED,
                f"{restore.target} untouched",
            )
            return
        management = self.management
        try:
            holder = management.database(restore.target)
            if holder is None:
                management.rename(restore.replaced_name, restore.target)
            elif holder.database_id != restore.original_database_id:
                raise DatabaseError(f"{restore.target} is held by another database")
        except DatabaseError as undo:
            self._advance(
                backup_id,
                restore.model_copy(update={"error": f"{exc.message}; moving back: {undo.message}"}),
                RestoreStage.ORIGINAL_MOVED,
                "could not move the original back",
            )
            return
        self._advance(
            backup_id,
            restore.model_copy(update={"error": exc.message}),
            RestoreStage.UNDONE,
            f"{restore.replaced_name} moved back to {restore.target}",
        )

    def _advance(
        self, backup_id: int, restore: AzureSqlRestore, stage: RestoreStage, note: str
    ) -> AzureSqlRestore:
        """Commit the restore's new stage to the backup's record before anything follows."""
        event = RestoreEvent(at=self.clock.now(), stage=stage, note=note)
        moved = restore.model_copy(update={"stage": stage, "events": [*restore.events, event]})
        row = self.store.backup(backup_id)
        assert row is not None  # the backup being restored is recorded
        kept = [r for r in restores_of(row) if r.number != moved.number]
        ordered = sorted([*kept, moved], key=lambda r: r.number)
        self.store.update_backup(
            backup_id,
            details={**row.details, RESTORES_KEY: [r.model_dump(mode="json") for r in ordered]},
        )
        return moved


def verify_restored(
    facts: DatabaseFacts, restore: AzureSqlRestore, taken: AzureSqlBackup
) -> RestoreVerification:
    """What the management plane can prove about a restored database: Online, made from
    the expected source, the original's SKU, maximum size and collation. (Its data can be
    compared only through SQL.)"""
    original = taken.point.database
    problems: list[str] = []
    online = (facts.status or "").lower() == ONLINE.lower()
    if not online:
        problems.append(f"status {facts.status}, not Online")
    expected_source: str | None = None
    if restore.source == "copy" and taken.database_copy is not None:
        expected_source = taken.database_copy.id
    elif restore.source == "pitr":
        expected_source = original.id
    source_matches: bool | None = None
    if expected_source is not None and facts.source_database_id is not None:
        source_matches = facts.source_database_id.lower() == expected_source.lower()
        if not source_matches:
            problems.append(f"made from {facts.source_database_id}, not {expected_source}")

    def same(what: str, found: object, wanted: object) -> bool | None:
        if found is None or wanted is None:
            return None
        if found != wanted:
            problems.append(f"{what} {found}, the original's was {wanted}")
        return found == wanted

    return RestoreVerification(
        online=online,
        source_matches=source_matches,
        same_sku=same("SKU", facts.sku, original.sku),
        same_max_size=same("maximum size", facts.max_size_bytes, original.max_size_bytes),
        same_collation=same("collation", facts.collation, original.collation),
        problems=problems,
    )
