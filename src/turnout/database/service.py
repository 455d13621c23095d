"""The database phase as one API for the runbook steps and the `turnout db` commands."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.azure_sql_record import AzureSqlRestore, RestoreSource
from turnout.clock import Clock, SystemClock
from turnout.database.backups import (
    AZURE_SQL_KEY,
    LIVE_STATUSES,
    backup_file_name,
    backup_in_place,
    enforce_retention,
    usable_backup_file,
    write_verified_backup,
)
from turnout.database.driver import DatabaseError, Driver
from turnout.database.dump import LogicalDump
from turnout.database.engine_choice import open_driver
from turnout.database.history import AppliedMigration, HistoryTable, pending_migrations
from turnout.database.leftovers import remove_leftovers
from turnout.database.location import DatabaseLocation, locate
from turnout.database.migrations import Migration, MigrationSet, load_from_package
from turnout.database.runner import AppliedRun, apply_migrations
from turnout.database.verify import VerifyReport, check_history, run_verify_sql
from turnout.errors import BadInput, PackageError
from turnout.store.records import AuditAction, BackupRecord

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store

PRE_MIGRATION_KEY = "pre_migration_dump"


@dataclass
class RestoreResult:
    """What a restore did and what it proved."""

    backup: BackupRecord
    row_counts: dict[str, int]
    equal_to_expected: bool | None = None
    differences: list[str] = field(default_factory=list)
    azure_sql: AzureSqlRestore | None = None
    """An Azure SQL restore: the new database, its verification, the renames."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        doc: dict[str, Any] = {
            "backup_id": self.backup.id,
            "location": self.backup.location,
            "row_counts": self.row_counts,
            "equal_to_pre_migration": self.equal_to_expected,
            "differences": self.differences,
        }
        if self.azure_sql is not None:
            doc["azure_sql"] = self.azure_sql.model_dump(mode="json")
        return doc


def verified_key(environment: str) -> str:
    """Store key of the migration checksums last verified on an environment."""
    return f"database.verified.{environment}"


class DatabaseService:
    """One environment's application database: migrations, history, backups, restore."""

    def __init__(
        self,
        config: LoadedConfig,
        env: EnvironmentConfig,
        store: Store,
        *,
        clock: Clock | None = None,
        actor: str = "turnout",
        progress: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.env = env
        self.store = store
        self.clock = clock or SystemClock()
        self.actor = actor
        self.progress = progress or (lambda _m: None)
        self.location: DatabaseLocation = locate(config, env)
        self.driver: Driver = open_driver(self.location)
        self.history = HistoryTable(env.database.history_table, env.database.history_schema)
        # A run killed during a backup left its partial file and password folder behind.
        for path in remove_leftovers(self.backup_dir()):
            self.progress(f"removed {path}, left by a run that was killed")

    # -- migrations -----------------------------------------------------------------------
    def load_migrations(self, package: Path) -> MigrationSet:
        """The release package's migrations (MigrationFileError, exit 2, when they are bad)."""
        if not package.exists():
            raise PackageError(f"{package}: release package not found")
        return load_from_package(package, self.env.database.migration_folder, self.driver.dialect)

    def applied(self) -> list[AppliedMigration]:
        """The history table's rows (none when the database or the table does not exist yet)."""
        if self.location.engine == "sqlite" and not self.driver.exists():
            return []
        session = self.driver.connect()
        try:
            return self.history.applied(session)
        finally:
            session.close()

    def pending(self, migrations: MigrationSet) -> list[Migration]:
        """Migrations to apply; refuses files changed after being applied."""
        return pending_migrations(migrations, self.applied())

    def migrate(self, pending: list[Migration]) -> list[AppliedRun]:
        """Apply migrations in order, each in its own transaction with its history row."""
        session = self.driver.connect(create=True)
        try:
            return apply_migrations(
                session,
                self.history,
                pending,
                actor=self.actor,
                clock=self.clock,
                progress=self.progress,
            )
        finally:
            session.close()

    def verify(self, migrations: MigrationSet) -> VerifyReport:
        """History shows every version with its checksum; every verify.sql query passes."""
        report = VerifyReport()
        check_history(migrations, self.applied(), report)
        session = self.driver.connect()
        try:
            run_verify_sql(session, migrations, report)
        finally:
            session.close()
        if report.ok:
            self.store.put(
                verified_key(self.env.name),
                {"checksums": migrations.checksums(), "at": self.clock.now().isoformat()},
            )
        return report

    # -- backups --------------------------------------------------------------------------
    def backup_dir(self) -> Path:
        """Where this environment's backups are written."""
        configured = self.env.database.backup_dir
        if configured is None:
            return self.config.state_dir / "backups" / self.env.name
        return self.config.resolve_path(configured)

    def backup(
        self,
        deployment_id: int | None = None,
        *,
        reason: str = "",
        applied: list[str] | None = None,
    ) -> BackupRecord:
        """Write, verify and record a backup; then enforce retention. `applied`: what the
        app's migration tool reports applied (default: turnout's history table)."""
        if self.location.engine == "mssql":
            return self._azure_backup(deployment_id, reason=reason, applied=applied)
        folder = self.backup_dir()
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o700)  # backups hold the application's data
        if self.location.engine == "sqlite" and not self.driver.exists():
            # A first release may create the database: back up the empty file it starts from.
            self.driver.connect(create=True).close()
        if applied is None:
            applied = [a.version for a in self.applied()]
        dest = folder / backup_file_name(
            self.env.name, self.clock.now(), deployment_id, self.driver.suffix
        )
        self.progress(f"backing up {self.location.describe()} to {dest}")
        written, seconds = write_verified_backup(self.driver, dest)
        dest.chmod(0o600)
        now = self.clock.now()
        row = self.store.add_backup(
            environment=self.env.name,
            deployment_id=deployment_id,
            engine=self.location.engine,
            location=str(dest),
            size=written.size,
            checksum=written.sha256,
            status="verified",
            created_at=now,
            verified_at=now,
            details={
                "database": self.location.describe(),
                "row_counts": written.row_counts,
                "applied_versions": applied,
                "seconds": {k: round(v, 3) for k, v in seconds.items()},
                "reason": reason,
                "by": self.actor,
            },
        )
        removed = enforce_retention(self.store, self.env.name, self.env.database.retention)
        if removed:
            self.progress(f"retention: deleted backups {', '.join(map(str, removed))}")
        found = self.store.backup(row.id)
        assert found is not None
        return found

    def _azure_backup(
        self, deployment_id: int | None, *, reason: str, applied: list[str] | None
    ) -> BackupRecord:
        """Azure SQL: the restore point (checked), and the copy or bacpac if configured."""
        from turnout.database.azure_sql_backup import AzureSqlBackups

        if applied is None:
            # Asked first: a database SQL cannot reach fails here, before a copy or export.
            applied = [a.version for a in self.applied()]
        taken = AzureSqlBackups(self.location, clock=self.clock, progress=self.progress).take(
            deployment_id
        )
        now = self.clock.now()
        archive = taken.bacpac
        row = self.store.add_backup(
            environment=self.env.name,
            deployment_id=deployment_id,
            engine=self.location.engine,
            location=taken.location,
            size=archive.size if archive is not None else 0,
            checksum=(archive.content_md5 or archive.etag) if archive is not None else "",
            status="verified",
            created_at=now,
            verified_at=now,
            details={
                "database": self.location.describe(),
                "row_counts": {},
                "applied_versions": applied,
                AZURE_SQL_KEY: taken.model_dump(mode="json"),
                "reason": reason,
                "by": self.actor,
            },
        )
        found = self.store.backup(row.id)
        assert found is not None
        return found

    def backups(self) -> list[BackupRecord]:
        """Recorded backups of this environment, newest first."""
        return list(self.store.backups(self.env.name))

    def find_backup(self, backup_id: int | None = None) -> BackupRecord:
        """A backup of this environment by id, or the newest usable one."""
        if backup_id is None:
            for row in self.store.backups(self.env.name):
                if row.status in LIVE_STATUSES:
                    return row
            raise BadInput(f"no backup recorded for environment {self.env.name}")
        found = self.store.backup(backup_id)
        if found is None or found.environment != self.env.name:
            raise BadInput(f"no backup {backup_id} for environment {self.env.name}")
        return found

    def deployment_backup(self, deployment_id: int) -> BackupRecord | None:
        """The verified backup taken for a deployment, if its file is still there."""
        for row in self.store.backups(self.env.name):
            if (
                row.deployment_id == deployment_id
                and row.status in LIVE_STATUSES
                and backup_in_place(row)
            ):
                return row
        return None

    def remember_pre_migration_state(self, backup: BackupRecord) -> LogicalDump:
        """The logical dump taken just before migrating, stored with the backup (resume-safe)."""
        saved = backup.details.get(PRE_MIGRATION_KEY)
        if isinstance(saved, dict):
            return LogicalDump.from_dict(saved)
        self.progress("recording the pre-migration state (schema and every table's rows)")
        dump = self.logical_dump()
        self.store.update_backup(
            backup.id, details={**backup.details, PRE_MIGRATION_KEY: dump.to_dict()}
        )
        return dump

    def restore(
        self,
        backup_id: int | None = None,
        *,
        reason: str,
        expected: LogicalDump | None = None,
        deployment_id: int | None = None,
        source: RestoreSource | None = None,
    ) -> RestoreResult:
        """Restore a backup after checking its checksum; prove the result; record and audit.
        Azure SQL: to a new database from `source` (default: the copy, else point-in-time),
        swapped in by rename; an unfinished restore of the backup is finished first."""
        record = self.find_backup(backup_id)
        row = self.store.backup(record.id)
        assert row is not None
        if self.location.engine == "mssql":
            result = self._azure_restore(row, source, reason=reason, deployment_id=deployment_id)
        else:
            if source is not None:
                raise BadInput(
                    f"--from {source}: only an Azure SQL backup is restored from a copy,"
                    " a bacpac or a point in time"
                )
            result = self._file_restore(row)
        if expected is not None:
            after = self.logical_dump()
            result.differences += expected.differences(after)
            result.equal_to_expected = not result.differences
        row = self.store.backup(record.id)
        assert row is not None
        record = row
        restores = [
            *record.details.get("restores", []),
            {
                "at": self.clock.now().isoformat(),
                "by": self.actor,
                "reason": reason,
                "deployment_id": deployment_id,
                "equal_to_pre_migration": result.equal_to_expected,
            },
        ]
        self.store.update_backup(
            record.id, status="restored", details={**record.details, "restores": restores}
        )
        self.store.audit(
            self.actor,
            AuditAction.DB_RESTORE,
            environment=self.env.name,
            deployment_id=deployment_id,
            backup_id=record.id,
            location=record.location,
            sha256=record.checksum,
            reason=reason,
            equal_to_pre_migration=result.equal_to_expected,
            differences=result.differences[:10],
        )
        if result.differences:
            raise DatabaseError(
                f"restored backup {record.id}, but the database does not match: "
                + "; ".join(result.differences[:5]),
                details=result.to_dict(),
            )
        return result

    def _file_restore(self, record: BackupRecord) -> RestoreResult:
        """SQLite, PostgreSQL: replace the database's content with the backup file's."""
        path = usable_backup_file(record)
        self.progress(f"restoring backup {record.id} ({path}) into {self.location.describe()}")
        wanted = dict(record.details.get("row_counts", {}))
        counts = self.driver.restore(path, record.checksum, wanted)
        result = RestoreResult(record, counts)
        if counts != wanted:
            result.differences.append(
                f"row counts after restore {counts} differ from the backup's {wanted}"
            )
        return result

    def _azure_restore(
        self,
        record: BackupRecord,
        source: RestoreSource | None,
        *,
        reason: str,
        deployment_id: int | None,
    ) -> RestoreResult:
        """Azure SQL: restore to a new database, verify it, swap it in by rename."""
        from turnout.database.azure_sql_restore import AzureSqlRestorer

        restorer = AzureSqlRestorer(
            self.location, self.store, clock=self.clock, progress=self.progress
        )
        planned = restorer.plan(
            record, source, by=self.actor, reason=reason, deployment_id=deployment_id
        )
        done = restorer.run(record, planned)
        # The data itself is compared through SQL, by the caller's `expected` dump.
        return RestoreResult(record, {}, azure_sql=done)

    def restore_in_progress(self, backup_id: int) -> bool:
        """Whether an Azure SQL restore of this backup was left part-way by a killed run."""
        from turnout.database.azure_sql_restore import unfinished_restore

        row = self.store.backup(backup_id)
        return row is not None and unfinished_restore(row) is not None

    # -- inspection -----------------------------------------------------------------------
    def logical_dump(self) -> LogicalDump:
        """Schema and every table's rows, as digests."""
        return self.driver.logical_dump()

    def status(self, migrations: MigrationSet | None = None) -> dict[str, Any]:
        """Reachability, history, pending migrations (when a package is given), backups."""
        doc: dict[str, Any] = {
            "environment": self.env.name,
            "database": self.location.describe(),
            "engine": self.location.engine,
            "history_table": self.history.display,
            "run": self.env.database.run,
        }
        applied = self.applied()
        doc["reachable"] = True
        doc["applied"] = [a.version for a in applied]
        doc["current_version"] = applied[-1].version if applied else None
        if migrations is not None:
            doc["package"] = migrations.source
            doc["pending"] = [m.filename for m in pending_migrations(migrations, applied)]
            doc["verify_sql"] = migrations.verify_sql is not None
        doc["backups"] = [b.to_dict() for b in self.backups()[:5]]
        return doc
