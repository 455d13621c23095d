"""Phase 4: back up, migrate, verify the application database.

Pending migrations come from the release package, so a release without new
migrations skips the phase by itself ("if applicable"). The backup comes
first and is verified; each migration commits together with its history row,
so a crash leaves either applied-and-recorded migrations or untouched ones,
and `resume` continues from the history table. A failed migration restores
the backup when traffic never moved to the new version, proves the database
equals its pre-migration state, and fails the step; the engine then ends the
deployment before the swap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

from turnout.database.backups import AZURE_SQL_KEY, backup_summary
from turnout.database.commands.listing import ToolStatus
from turnout.database.commands.migrator import CommandMigrationFailed, CommandMigrator
from turnout.database.driver import DatabaseError
from turnout.database.dump import LogicalDump
from turnout.database.history import pending_migrations
from turnout.database.migrations import MigrationSet
from turnout.database.runner import MigrationFailed
from turnout.database.service import PRE_MIGRATION_KEY, DatabaseService, RestoreResult
from turnout.database.verify import raise_if_failed
from turnout.errors import NeedsPerson, StepError
from turnout.model import StepStatus
from turnout.runbook import tool_migrations
from turnout.runbook.outputs import (
    BackupOutputs,
    MigrateOutputs,
    MigrateUndoOutputs,
    ResumedCommand,
    SwapOutputs,
    VerifyDatabaseOutputs,
)
from turnout.runbook.step import ReleaseContext, Step, StepContext
from turnout.runbook.traffic import swap_moved_traffic
from turnout.store.records import BackupRecord
from turnout.targets.protocol import PRODUCTION

NOT_MOVED = {None, StepStatus.PENDING}


def service(ctx: ReleaseContext) -> DatabaseService:
    """The database service for this step's environment, acting as the deployer."""
    return DatabaseService(
        ctx.config,
        ctx.env,
        ctx.store,
        clock=ctx.clock,
        actor=ctx.deployment.deployer,
        progress=ctx.progress,
    )


def release_package(ctx: ReleaseContext) -> Path:
    """The deployment's package, or the app's package template filled in with its version."""
    if ctx.deployment.package is not None:
        return ctx.deployment.package
    return ctx.config.release_package(ctx.deployment.version)


def release_migrations(ctx: StepContext, svc: DatabaseService) -> MigrationSet:
    """The release's migration files, validated (bad ones are a MigrationFileError, exit 2)."""
    return svc.load_migrations(release_package(ctx))


def release_tool(ctx: StepContext, svc: DatabaseService) -> CommandMigrator | None:
    """The app's own migration tool for this release, or None when SQL files migrate."""
    return tool_migrations.migrator_for(ctx.config, ctx.env, svc, release_package(ctx))


def traffic_moved(ctx: StepContext) -> bool:
    """Whether production may have served the new version (then no automatic DB restore):
    its swap moved traffic, or its canary served users (their writes would be lost)."""
    if canary_served(ctx):
        return True
    status = ctx.statuses.get("swap")
    if status in NOT_MOVED:
        return False
    if status == "failed":
        # A swap that raised normally did not happen; ask the target to be sure.
        try:
            live = ctx.target.slots().get(PRODUCTION)
        except Exception:  # unknown means we must assume it moved
            return True
        return live is not None and live.version == ctx.deployment.version
    if status == StepStatus.UNDONE:
        # Undone before this step's undo: its record says whether it had to swap back (a
        # swap that failed after it started moved nothing, so the backup may come back).
        return swap_moved_traffic(status, ctx.output(SwapOutputs))
    return True


def canary_served(ctx: StepContext) -> bool:
    """Whether this deployment's canary sent any user request to the new version."""
    if ctx.statuses.get("canary") in {None, StepStatus.PENDING}:
        return False
    from turnout.runbook.canary_record import stored_record

    record = stored_record(ctx.store, ctx.env.name, ctx.deployment.id)
    return record is not None and record.exposed


def _backup_id(ctx: StepContext) -> int | None:
    backup = ctx.output(BackupOutputs)
    return backup.backup_id if backup is not None else None


def _dep_id(ctx: StepContext) -> int:
    return ctx.deployment.id


def _manual_restore_hint(ctx: StepContext, backup_id: Any) -> str:
    return f"`turnout db restore {backup_id} --env {ctx.env.name}` is the manual path"


class _AsksTheTool:
    """Keeps what the tool said in `observe` for `run`, which follows at once with nothing
    run in between: each answer costs the tool's start-up (about a second for Alembic)."""

    _observed: ToolStatus | None = None

    def _ask(self, tool: CommandMigrator) -> ToolStatus:
        self._observed = tool.status()
        return self._observed

    def _asked(self, tool: CommandMigrator) -> ToolStatus:
        status, self._observed = self._observed, None
        return status if status is not None else tool.status()


class BackupStep(_AsksTheTool, Step):
    """Back up the database before the first pending migration, verify and record it."""

    name = "backup"
    phase = "database"

    def observe(self, ctx: StepContext) -> BackupOutputs | None:
        svc = service(ctx)
        existing = svc.deployment_backup(_dep_id(ctx))
        if existing is not None:
            return _backup_outputs(existing, summary=f"backup {existing.id} exists")
        tool = release_tool(ctx, svc)
        if tool is not None:
            if self._ask(tool).pending:
                return None
            return BackupOutputs(
                pending=[],
                backup_id=None,
                summary=f"{tool.tool} reports nothing pending; no backup needed",
            )
        migrations = release_migrations(ctx, svc)
        try:
            pending = svc.pending(migrations)
        except DatabaseError as exc:
            raise StepError(f"database {svc.location.describe()}: {exc.message}") from exc
        if not pending:
            return BackupOutputs(
                pending=[],
                backup_id=None,
                summary="no pending migrations in this release; no backup needed",
            )
        return None

    def run(self, ctx: StepContext) -> BackupOutputs:
        svc = service(ctx)
        tool = release_tool(ctx, svc)
        if tool is not None:
            status = self._asked(tool)
            record = svc.backup(
                _dep_id(ctx),
                reason=f"before migrating to {ctx.deployment.version}",
                applied=list(status.applied or []),
            )
            return _backup_outputs(
                record,
                pending=status.pending_names,
                pending_files=[m.label() for m in status.pending],
                summary=(
                    f"backup {record.id} verified ({record.size} bytes) before {tool.tool}"
                    f" applies {', '.join(status.pending_names)}"
                ),
            )
        migrations = release_migrations(ctx, svc)
        pending = svc.pending(migrations)
        record = svc.backup(_dep_id(ctx), reason=f"before migrating to {ctx.deployment.version}")
        return _backup_outputs(
            record,
            pending=[m.version for m in pending],
            pending_files=[m.filename for m in pending],
            summary=f"{backup_summary(record)} before {len(pending)} migration(s)",
        )


def _backup_outputs(
    record: BackupRecord,
    *,
    summary: str,
    pending: list[str] | None = None,
    pending_files: list[str] | None = None,
) -> BackupOutputs:
    """The backup step's record of a verified backup (pending files only when it took it)."""
    fields: dict[str, Any] = {
        "backup_id": record.id,
        "location": record.location,
        "size": record.size,
        "sha256": record.checksum,
        "row_counts": record.details.get("row_counts", {}),
        "summary": summary,
    }
    azure = record.details.get(AZURE_SQL_KEY)
    if isinstance(azure, dict):
        fields["azure_sql"] = azure
    if pending is not None:
        fields.update(pending=pending, pending_files=pending_files)
    return BackupOutputs.model_validate(fields)


class MigrateStep(_AsksTheTool, Step):
    """Apply the release's pending migrations: each SQL file in a transaction with its
    history row, or the app's own tool's command."""

    name = "migrate"
    phase = "database"
    undoable = True

    def observe(self, ctx: StepContext) -> MigrateOutputs | None:
        svc = service(ctx)
        tool = release_tool(ctx, svc)
        before = list(_backup_details(ctx, svc).get("applied_versions", []))
        if tool is not None:
            return self._observe_tool(ctx, tool, before)
        migrations = release_migrations(ctx, svc)
        applied = svc.applied()
        if pending_migrations(migrations, applied):
            return None  # not started, or a crash between two migrations: run continues
        known = set(before)
        mine = [a.version for a in applied if a.version not in known]
        summary = f"migrations {', '.join(mine)} applied" if mine else "no pending migrations"
        return MigrateOutputs(applied=mine, backup_id=_backup_id(ctx), summary=summary)

    def _observe_tool(
        self, ctx: StepContext, tool: CommandMigrator, before: list[str]
    ) -> MigrateOutputs | None:
        status = self._ask(tool)
        if status.pending:
            return None  # not started, or cut off mid-way: run continues
        backup = ctx.output(BackupOutputs)
        mine = tool_migrations.newly_applied(
            before, status, list(backup.pending or []) if backup else []
        )
        resumed = None
        if self.name in ctx.cut_off:
            resumed = tool_migrations.resumed_record(status, "done")
            ctx.progress(f"{tool.tool} reports everything applied by the run that was cut off")
        return MigrateOutputs(
            applied=mine,
            backup_id=_backup_id(ctx),
            tool=tool.tool,
            resumed=resumed,
            summary=(f"{tool.tool} applied {', '.join(mine)}" if mine else "no pending migrations"),
        )

    def run(self, ctx: StepContext) -> MigrateOutputs:
        svc = service(ctx)
        tool = release_tool(ctx, svc)
        if tool is not None:
            return self._run_tool(ctx, svc, tool)
        migrations = release_migrations(ctx, svc)
        pending = svc.pending(migrations)
        if not pending:
            return MigrateOutputs(applied=[], summary="no pending migrations")
        backup = self._backup(ctx, svc)
        expected = svc.remember_pre_migration_state(backup)
        try:
            done = svc.migrate(pending)
        except MigrationFailed as failure:
            self._after_failure(
                ctx,
                svc,
                backup.id,
                failure,
                expected,
                f"migration failed: {failure.migration.filename}",
            )
        return MigrateOutputs(
            applied=[r.version for r in done],
            files=[r.to_dict() for r in done],
            backup_id=backup.id,
            summary=f"applied {', '.join(r.filename for r in done)}",
        )

    def _backup(self, ctx: StepContext, svc: DatabaseService) -> BackupRecord:
        backup = svc.deployment_backup(_dep_id(ctx))
        if backup is None:
            raise StepError(
                "no verified backup of this deployment is on disk; refusing to migrate "
                "(the backup step must run first)"
            )
        return backup

    def _run_tool(
        self, ctx: StepContext, svc: DatabaseService, tool: CommandMigrator
    ) -> MigrateOutputs:
        status = self._asked(tool)
        if not status.pending:
            return MigrateOutputs(applied=[], tool=tool.tool, summary="no pending migrations")
        backup = self._backup(ctx, svc)
        expected = svc.remember_pre_migration_state(backup)
        resumed: ResumedCommand | None = None
        if self.name in ctx.cut_off:
            # Killed during the command: the tool knows what it applied before it stopped.
            resumed = tool_migrations.resumed_record(status, "continued")
            ctx.progress(
                f"resuming: {tool.tool} reports {', '.join(status.applied or []) or 'nothing'}"
                f" applied, {', '.join(status.pending_names)} pending; running it again"
            )
        try:
            run = tool.apply()
        except CommandMigrationFailed as failure:
            self._after_failure(
                ctx,
                svc,
                backup.id,
                failure,
                expected,
                f"migration command failed: {tool.tool}",
                resumed=resumed,
            )
        after = tool.status()
        before = list(backup.details.get("applied_versions", []))
        taken = ctx.output(BackupOutputs)
        pending_before = list(taken.pending or []) if taken else status.pending_names
        mine = tool_migrations.newly_applied(before, after, pending_before)
        return MigrateOutputs(
            applied=mine,
            backup_id=backup.id,
            tool=tool.tool,
            command=run,
            resumed=resumed,
            summary=f"{tool.tool} applied {', '.join(mine) or 'nothing'} in {run.seconds:.1f} s",
        )

    def _after_failure(
        self,
        ctx: StepContext,
        svc: DatabaseService,
        backup_id: int,
        failure: DatabaseError,
        expected: LogicalDump,
        reason: str,
        *,
        resumed: ResumedCommand | None = None,
    ) -> NoReturn:
        evidence = {**failure.details, "backup_id": backup_id}
        if resumed is not None:
            # A cut-off run ran again and failed (a half-applied migration, say): the
            # journal keeps what the tool said then, and what became of it.
            evidence["resumed"] = resumed.model_dump()
        if traffic_moved(ctx):
            raise StepError(
                f"{failure.message}; the failed migration was rolled back, earlier ones stay"
                f" applied; traffic already moved to {ctx.deployment.version}, so the database"
                f" is not restored automatically: {_manual_restore_hint(ctx, backup_id)}",
                details={**evidence, "restored": False},
            ) from failure
        ctx.progress(f"migration failed; restoring backup {backup_id}")
        try:
            result = svc.restore(
                backup_id, reason=reason, expected=expected, deployment_id=_dep_id(ctx)
            )
        except Exception as exc:
            raise NeedsPerson(
                f"{failure.message}; restoring backup {backup_id} failed too: {exc};"
                f" {_manual_restore_hint(ctx, backup_id)}",
                details={**evidence, "restored": False, "restore_error": str(exc)},
            ) from exc
        if resumed is not None:
            evidence["resumed"] = resumed.model_copy(update={"action": "restored"}).model_dump()
        raise StepError(
            f"{failure.message}; database restored from backup {backup_id} and checked equal"
            " to its pre-migration state",
            details={**evidence, "restored": True, "restore": result.to_dict()},
        ) from failure

    def undo(self, ctx: StepContext) -> MigrateUndoOutputs:
        svc = service(ctx)
        backup_id = _backup_id(ctx)
        if backup_id is not None and svc.restore_in_progress(backup_id):
            # An Azure SQL restore a killed run left part-way: the database may not even
            # be under its name now, so finish the restore before asking it anything.
            return _restored(
                svc.restore(
                    backup_id,
                    reason=f"deployment {ctx.deployment.id}: finishing the interrupted restore",
                    deployment_id=_dep_id(ctx),
                ),
                None,
            )
        restoring_failure = _failure_that_restored(ctx)
        if backup_id is not None and restoring_failure is not None:
            said = restoring_failure.get("resumed")
            return MigrateUndoOutputs(
                restored=False,
                backup_id=int(backup_id),
                resumed=ResumedCommand.model_validate(said) if isinstance(said, dict) else None,
                summary=f"restored from backup {backup_id} when the migration failed;"
                " nothing more to undo",
            )
        details = _backup_details(ctx, svc)
        tool = release_tool(ctx, svc)
        resumed: ResumedCommand | None = None
        if tool is not None:
            status = tool.status()
            # Without an `applied` listing, unknown counts as changed: restoring is safe.
            applied: list[str] | None = list(status.applied) if status.applied is not None else None
            if self.name in ctx.cut_off:
                resumed = tool_migrations.resumed_record(status, "restored")
        else:
            applied = [a.version for a in svc.applied()]
        if backup_id is None or applied == list(details.get("applied_versions", [])):
            return MigrateUndoOutputs(
                restored=False, summary="no migration was applied; nothing to restore"
            )
        if traffic_moved(ctx):
            return MigrateUndoOutputs(
                restored=False,
                summary=(
                    "the database stays migrated: traffic moved to the new version, and"
                    f" restoring would lose its writes; {_manual_restore_hint(ctx, backup_id)}"
                ),
            )
        backup = svc.find_backup(int(backup_id))
        expected = backup.details.get(PRE_MIGRATION_KEY)
        failed = ctx.failure_record.step if ctx.failure_record is not None else "?"
        result = svc.restore(
            backup.id,
            reason=f"deployment {ctx.deployment.id} compensating ({failed} failed)",
            expected=LogicalDump.from_dict(expected) if isinstance(expected, dict) else None,
            deployment_id=_dep_id(ctx),
        )
        return _restored(result, resumed)


def _restored(result: RestoreResult, resumed: ResumedCommand | None) -> MigrateUndoOutputs:
    """The undo's record of a restore it made."""
    fields: dict[str, Any] = {
        **result.to_dict(),
        "restored": True,
        "summary": f"database restored from backup {result.backup.id}",
    }
    if result.azure_sql is not None:
        fields["summary"] += (
            f" ({result.azure_sql.source}, swapped in by rename; the migrated database is"
            f" kept as {result.azure_sql.replaced_name})"
        )
    if resumed is not None:
        fields["resumed"] = resumed
    return MigrateUndoOutputs.model_validate(fields)


def _failure_that_restored(ctx: StepContext) -> dict[str, Any] | None:
    """The migrate step's failure evidence when that failure already restored the backup
    (and proved it equal); None otherwise."""
    record = ctx.failure_record
    if record is None or record.step != MigrateStep.name or record.details is None:
        return None
    evidence = record.details.get("evidence")
    if isinstance(evidence, dict) and evidence.get("restored") is True:
        return evidence
    return None


def _backup_details(ctx: StepContext, svc: DatabaseService) -> dict[str, Any]:
    backup = svc.deployment_backup(_dep_id(ctx))
    return backup.details if backup is not None else {}


class VerifyDatabaseStep(Step):
    """The migrations are in place (history or tool), every verify.sql query passes."""

    name = "verify-db"
    phase = "database"

    def observe(self, ctx: StepContext) -> VerifyDatabaseOutputs | None:
        backup = ctx.output(BackupOutputs)
        if backup is not None and backup.backup_id is None and not backup.pending:
            return VerifyDatabaseOutputs(summary="no migrations in this release; nothing to verify")
        return None

    def run(self, ctx: StepContext) -> VerifyDatabaseOutputs:
        svc = service(ctx)
        tool = release_tool(ctx, svc)
        if tool is not None:
            return self._run_tool(ctx, svc, tool)
        migrations = release_migrations(ctx, svc)
        report = svc.verify(migrations)
        raise_if_failed(report)
        return VerifyDatabaseOutputs.model_validate(
            {
                **report.to_dict(),
                "checksums": migrations.checksums(),
                "summary": (
                    f"history shows {len(report.versions)} version(s); {report.queries}"
                    f" verify.sql quer{'y' if report.queries == 1 else 'ies'} passed"
                ),
            }
        )

    def _run_tool(
        self, ctx: StepContext, svc: DatabaseService, tool: CommandMigrator
    ) -> VerifyDatabaseOutputs:
        try:
            report, status, run = tool_migrations.verify(svc, tool)
        except CommandMigrationFailed as failure:
            raise StepError(
                f"database verification failed: {failure.message}", details=failure.details
            ) from failure
        raise_if_failed(report)
        applied = tool_migrations.record_verified(
            ctx.store, ctx.env.name, tool.tool, status, ctx.clock
        )
        checks = f"; {report.queries} verify.sql quer{'y' if report.queries == 1 else 'ies'} passed"
        return VerifyDatabaseOutputs.model_validate(
            {
                **report.to_dict(),
                "versions": applied,
                "tool": tool.tool,
                "command": run,
                "summary": (
                    f"{tool.tool} reports nothing pending ({len(applied)} applied)"
                    + (checks if report.queries else "")
                    + ("; the verify command passed" if run is not None else "")
                ),
            }
        )
