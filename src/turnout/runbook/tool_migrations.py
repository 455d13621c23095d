"""The database phase's steps when the app's own tool migrates (Django, Alembic, Flyway…).

The same guarantees as for SQL files, asked of the tool instead of turnout's history
table: the backup step asks what is pending (nothing: no backup, no phase), migrate runs
the tool's command behind the verified backup and restores it on failure, verify-db asks
again (nothing may be left pending) and runs verify.sql or the verify command. A run cut
off during the command is resumed by asking the tool what is applied now; the journal
keeps what it said and what the resumed run did.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from turnout.command_record import CommandRun
from turnout.database.commands.listing import ToolStatus
from turnout.database.commands.migrator import CommandMigrator, command_migrator
from turnout.database.verify import VerifyReport, run_verify_sql
from turnout.runbook.outputs import ResumedCommand

if TYPE_CHECKING:
    from pathlib import Path

    from turnout.clock import Clock
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.database.service import DatabaseService
    from turnout.store import Store

APPLIED_KEY = "database.tool_applied.{environment}"
"""Where verify-db records what the tool reported applied once verification passed (the
"migrations tested on staging" checklist item compares production's pending with it)."""


def migrator_for(
    config: LoadedConfig, env: EnvironmentConfig, svc: DatabaseService, package: Path
) -> CommandMigrator | None:
    """The environment's migration tool for this release, or None for SQL files."""
    return command_migrator(config, env, svc.location, package, svc.progress)


def tool_applied_on(store: Store, environment: str) -> list[str] | None:
    """What the tool reported applied on an environment when it was last verified there."""
    saved = store.get(APPLIED_KEY.format(environment=environment))
    applied = saved.get("applied") if isinstance(saved, dict) else None
    if isinstance(applied, list):
        return [str(name) for name in applied]
    return None


def record_verified(
    store: Store, environment: str, tool: str, status: ToolStatus, clock: Clock
) -> list[str]:
    """Remember what the tool reports applied on a verified environment (and return it).

    A tool without an `applied` listing leaves what turnout saw pending and now is not:
    the earlier record's names plus this run's."""
    applied = list(status.applied) if status.applied is not None else None
    if applied is None:
        applied = tool_applied_on(store, environment) or []
    store.put(
        APPLIED_KEY.format(environment=environment),
        {"tool": tool, "applied": applied, "at": clock.now().isoformat()},
    )
    return applied


def newly_applied(before: list[str], status: ToolStatus, pending_before: list[str]) -> list[str]:
    """What a run applied: applied now and not before (or, with no `applied` listing, what
    was pending before and is not now)."""
    if status.applied is not None:
        known = set(before)
        return [name for name in status.applied if name not in known]
    still = set(status.pending_names)
    return [name for name in pending_before if name not in still]


def resumed_record(status: ToolStatus, action: str) -> ResumedCommand:
    """The journal's record of what the tool said when a cut-off run was resumed."""
    applied = list(status.applied) if status.applied is not None else None
    return ResumedCommand(applied=applied, pending=status.pending_names, action=action)


def verify(
    svc: DatabaseService, tool: CommandMigrator
) -> tuple[VerifyReport, ToolStatus, CommandRun | None]:
    """Nothing left pending, every verify.sql query passing, the verify command passing;
    with what the tool said."""
    report = VerifyReport()
    status = tool.status()
    if status.pending:
        report.failures.append(
            f"{tool.tool} still reports pending after migrating:"
            f" {', '.join(m.label() for m in status.pending)}"
        )
    if status.failed:
        report.failures.append(f"{tool.tool} records failed migrations: {', '.join(status.failed)}")
    report.versions = list(status.applied or [])
    checks = tool.verify_sql()
    if checks is not None and report.ok:
        session = svc.driver.connect()
        try:
            run_verify_sql(session, checks, report)
        finally:
            session.close()
    run = tool.verify_command() if report.ok else None
    return report, status, run
