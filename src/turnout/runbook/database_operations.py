"""The application database outside a deployment: status, history, backup, and the
backup -> migrate -> verify -> restore-on-failure flow, under the environment's lease.

Migrate and restore hold the same lease as deployments, so neither runs under a
deployment in flight; a lease left by a killed `db` command is taken over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from turnout.command_record import CommandRun
from turnout.database.driver import DatabaseError
from turnout.errors import BadInput, NeedsPerson, PackageError, RolledBack
from turnout.runbook.lease import Lease
from turnout.store.records import AuditAction

if TYPE_CHECKING:
    from turnout.azure_sql_record import RestoreSource
    from turnout.clock import Clock
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.database.commands.migrator import CommandMigrator
    from turnout.database.dump import LogicalDump
    from turnout.database.history import AppliedMigration
    from turnout.database.migrations import MigrationSet
    from turnout.database.runner import AppliedRun
    from turnout.database.service import DatabaseService, RestoreResult
    from turnout.database.verify import VerifyReport
    from turnout.store import Store
    from turnout.store.records import BackupRecord


@dataclass(frozen=True)
class MigrateResult:
    """What `db migrate` applied, after which backup, and what verification checked."""

    environment: str
    applied: tuple[AppliedRun, ...] = ()
    backup_id: int | None = None
    verify: VerifyReport | None = None
    tool: str | None = None
    """The app's migration tool, when it migrated instead of SQL files."""
    tool_applied: tuple[str, ...] = ()
    """What the tool applied, by its own names."""
    command: CommandRun | None = None

    @property
    def versions(self) -> list[str]:
        """The applied migrations' versions (SQL files) or names (a tool's), in order."""
        return list(self.tool_applied) if self.tool else [run.version for run in self.applied]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `db migrate --json` document)."""
        doc: dict[str, Any] = {
            "environment": self.environment,
            "applied": self.versions,
            "backup_id": self.backup_id,
        }
        if self.tool is not None:
            doc["tool"] = self.tool
            if self.command is not None:
                doc["command"] = self.command.model_dump(mode="json")
        if self.verify is not None:
            if self.tool is None:
                doc["files"] = [run.to_dict() for run in self.applied]
            doc["verify"] = self.verify.to_dict()
        return doc


@dataclass(frozen=True)
class RestoreDone:
    """A restore of a recorded backup and who asked for it."""

    environment: str
    by: str
    result: RestoreResult

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `db restore --json` document)."""
        return {**self.result.to_dict(), "environment": self.environment, "by": self.by}


@contextmanager
def database_errors() -> Iterator[None]:
    """A database that fails outside a known-safe path needs a person to look (exit 5)."""
    try:
        yield
    except DatabaseError as exc:
        raise NeedsPerson(exc.message, details=exc.details) from exc


class DatabaseOperations:
    """One environment's application database, operated by one person outside deployments."""

    def __init__(
        self,
        config: LoadedConfig,
        env: EnvironmentConfig,
        store: Store,
        *,
        actor: str,
        clock: Clock | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        from turnout.database.service import DatabaseService

        self.actor = actor
        self.lease = Lease(store, env.name, actor, clock=clock)
        with database_errors():
            self.service: DatabaseService = DatabaseService(
                config, env, store, clock=clock, actor=actor, progress=progress
            )

    @property
    def environment(self) -> str:
        """The environment's name."""
        return self.service.env.name

    def describe(self) -> str:
        """Where the database is, for people (no secrets)."""
        return self.service.location.describe()

    @property
    def history_table(self) -> str:
        """The migration history table's name as shown to people."""
        return self.service.history.display

    # -- reading --------------------------------------------------------------------------
    def migrations(self, package: Path | None, version: str | None) -> MigrationSet:
        """The migrations of a release package (given, or found by version)."""
        return self.service.load_migrations(self.release_package(package, version))

    def release_package(self, package: Path | None, version: str | None) -> Path:
        """The release package given, or the one a version deploys from."""
        if package is None and version is None:
            raise BadInput("give --package P or --version V to find the release's migrations")
        if package is None:
            assert version is not None  # one of the two is given (checked above)
            package = self.service.config.release_package(version)
        elif not package.exists():
            raise PackageError(f"{package}: release package not found")
        return package.resolve()

    def tool(self, package: Path) -> CommandMigrator | None:
        """The app's own migration tool for a release, or None when SQL files migrate."""
        from turnout.runbook.tool_migrations import migrator_for

        svc = self.service
        return migrator_for(svc.config, svc.env, svc, package)

    def status(self, package: Path | None = None, version: str | None = None) -> dict[str, Any]:
        """What is applied, what a release would apply (given one), the latest backups."""
        if self.service.env.database.migration_command is not None:
            return self._tool_status(package, version)
        migrations = None
        if package is not None or version is not None:
            migrations = self.migrations(package, version)
        with database_errors():
            return self.service.status(migrations)

    def _tool_status(self, package: Path | None, version: str | None) -> dict[str, Any]:
        settings = self.service.env.database.migration_command
        assert settings is not None  # only called for an app's own tool
        svc = self.service
        doc: dict[str, Any] = {
            "environment": self.environment,
            "database": svc.location.describe(),
            "engine": svc.location.engine,
            "tool": settings.tool,
            "history_table": None,
            "run": svc.env.database.run,
        }
        if package is not None or version is not None:
            release = self.release_package(package, version)
            tool = self.tool(release)
            assert tool is not None  # a tool is configured (checked above)
            with database_errors():
                found = tool.status()
            doc.update(
                package=str(release),
                reachable=True,
                applied=list(found.applied) if found.applied is not None else None,
                pending=found.pending_names,
                pending_descriptions=[m.label() for m in found.pending],
                failed=list(found.failed),
            )
        else:
            # The tool's project is in the release: without one, nothing can ask it.
            doc["applied"] = None
            doc["note"] = f"give --package or --version to ask {settings.tool} what is applied"
        doc["backups"] = [b.to_dict() for b in svc.backups()[:5]]
        return doc

    def applied(self) -> list[AppliedMigration]:
        """The migration history table's rows."""
        with database_errors():
            return self.service.applied()

    def find_backup(self, backup_id: int | None) -> BackupRecord:
        """A recorded backup (the newest one when no id is given)."""
        return self.service.find_backup(backup_id)

    # -- changing -------------------------------------------------------------------------
    def backup(self) -> BackupRecord:
        """Back up now, verify and record it (retention applies); audited."""
        with database_errors():
            record = self.service.backup(None, reason="manual backup")
        self.service.store.audit(
            self.actor, AuditAction.DB_BACKUP, environment=self.environment, backup_id=record.id
        )
        return record

    def migrate(self, migrations: MigrationSet) -> MigrateResult:
        """Back up, apply the pending migrations, verify; restore the backup on failure.

        Exit 4 (RolledBack) when the database was restored and proven equal to its state
        before; exit 5 (NeedsPerson) when the restore failed too.
        """
        svc = self.service
        with self.lease.held():
            with database_errors():
                pending = svc.pending(migrations)
                if not pending:
                    return MigrateResult(self.environment)
                record = svc.backup(None, reason=f"before migrating {migrations.source}")
                expected = svc.remember_pre_migration_state(svc.find_backup(record.id))
            self.lease.keep(f"db migrate of {self.environment}")
            try:
                done = svc.migrate(pending)
                report = svc.verify(migrations)
            except DatabaseError as exc:  # MigrationFailed names the file, statement and error
                self._restore_after_failure(record.id, expected, exc.message, exc)
            if not report.ok:
                self._restore_after_failure(
                    record.id, expected, "verification failed: " + "; ".join(report.failures)
                )
        result = MigrateResult(self.environment, tuple(done), record.id, report)
        svc.store.audit(
            self.actor,
            AuditAction.DB_MIGRATE,
            environment=self.environment,
            versions=result.versions,
            backup_id=record.id,
        )
        return result

    def migrate_release(self, package: Path | None, version: str | None) -> MigrateResult:
        """`db migrate` of a release: its SQL files, or its app's own tool."""
        release = self.release_package(package, version)
        tool = self.tool(release)
        if tool is None:
            return self.migrate(self.migrations(release, None))
        return self.migrate_with_tool(tool)

    def migrate_with_tool(self, tool: CommandMigrator) -> MigrateResult:
        """Back up, run the tool's command, verify; restore the backup on failure (exit 4)."""
        from turnout.runbook.tool_migrations import newly_applied, record_verified, verify

        svc = self.service
        with self.lease.held():
            with database_errors():
                status = tool.status()
                if not status.pending:
                    return MigrateResult(self.environment, tool=tool.tool)
                before = list(status.applied or [])
                record = svc.backup(None, reason=f"before {tool.tool} migrates", applied=before)
                expected = svc.remember_pre_migration_state(svc.find_backup(record.id))
            self.lease.keep(f"db migrate of {self.environment}")
            try:
                run = tool.apply()
                report, after, _ = verify(svc, tool)
            except DatabaseError as exc:  # the command, or asking the tool, failed
                self._restore_after_failure(record.id, expected, exc.message, exc)
            if not report.ok:
                self._restore_after_failure(
                    record.id, expected, "verification failed: " + "; ".join(report.failures)
                )
            record_verified(svc.store, self.environment, tool.tool, after, svc.clock)
        mine = newly_applied(before, after, status.pending_names)
        result = MigrateResult(
            self.environment,
            backup_id=record.id,
            verify=report,
            tool=tool.tool,
            tool_applied=tuple(mine),
            command=run,
        )
        svc.store.audit(
            self.actor,
            AuditAction.DB_MIGRATE,
            environment=self.environment,
            versions=mine,
            backup_id=record.id,
        )
        return result

    def restore(self, backup_id: int, source: str | None = None) -> RestoreDone:
        """Restore a recorded backup (refuses a file whose checksum changed). Azure SQL:
        to a new database from `source` (pitr, copy or bacpac), swapped in by rename."""
        chosen = _restore_source(source)
        with self.lease.held(), database_errors():
            result = self.service.restore(
                backup_id, reason="manual restore (turnout db restore)", source=chosen
            )
        return RestoreDone(self.environment, self.actor, result)

    def describe_restore(self, record: BackupRecord, source: str | None) -> str:
        """What restoring this backup does, for the person asked to confirm it."""
        if self.service.location.engine == "mssql":
            from turnout.database.azure_sql_restore import describe_restore

            return describe_restore(record, _restore_source(source)) + "."
        return (
            f"Restore backup {record.id} ({record.created_at.isoformat(timespec='seconds')},"
            f" {record.location}) into {self.describe()}?"
        )

    def backup_summary(self, record: BackupRecord) -> str:
        """What a recorded backup is, in one phrase (the file, or Azure SQL's restore point)."""
        from turnout.database.backups import backup_summary

        return backup_summary(record)

    def _restore_after_failure(
        self,
        backup_id: int,
        expected: LogicalDump,
        problem: str,
        cause: BaseException | None = None,
    ) -> NoReturn:
        try:
            self.service.restore(
                backup_id, reason=f"migrate failed: {problem[:200]}", expected=expected
            )
        except Exception as exc:
            raise NeedsPerson(
                f"{problem}; restoring backup {backup_id} failed too: {exc}; run `turnout db"
                f" restore {backup_id} --env {self.environment}` once the cause is fixed"
            ) from exc
        raise RolledBack(
            f"{problem}; database restored from backup {backup_id} and checked equal to its"
            " pre-migration state"
        ) from cause


def _restore_source(name: str | None) -> RestoreSource | None:
    """A restore source by name; BadInput naming the choices for any other."""
    from turnout.azure_sql_record import RESTORE_SOURCES

    if name is None:
        return None
    found = RESTORE_SOURCES.get(name)
    if found is None:
        raise BadInput(f"--from {name}: expected one of {', '.join(RESTORE_SOURCES)}")
    return found
