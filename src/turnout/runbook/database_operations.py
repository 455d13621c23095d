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

from turnout.database.driver import DatabaseError
from turnout.errors import BadInput, NeedsPerson, PackageError, RolledBack
from turnout.runbook.lease import Lease
from turnout.store.records import AuditAction

if TYPE_CHECKING:
    from turnout.clock import Clock
    from turnout.config import EnvironmentConfig, LoadedConfig
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

    @property
    def versions(self) -> list[str]:
        """The applied migrations' versions, in order."""
        return [run.version for run in self.applied]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the `db migrate --json` document)."""
        doc: dict[str, Any] = {
            "environment": self.environment,
            "applied": self.versions,
            "backup_id": self.backup_id,
        }
        if self.verify is not None:
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
        if package is None and version is None:
            raise BadInput("give --package P or --version V to find the release's migrations")
        if package is None:
            assert version is not None  # one of the two is given (checked above)
            package = self.service.config.release_package(version)
        elif not package.exists():
            raise PackageError(f"{package}: release package not found")
        return self.service.load_migrations(package.resolve())

    def status(self, package: Path | None = None, version: str | None = None) -> dict[str, Any]:
        """What is applied, what a release would apply (given one), the latest backups."""
        migrations = None
        if package is not None or version is not None:
            migrations = self.migrations(package, version)
        with database_errors():
            return self.service.status(migrations)

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

    def restore(self, backup_id: int) -> RestoreDone:
        """Restore a recorded backup (refuses a file whose checksum changed)."""
        with self.lease.held(), database_errors():
            result = self.service.restore(backup_id, reason="manual restore (turnout db restore)")
        return RestoreDone(self.environment, self.actor, result)

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
