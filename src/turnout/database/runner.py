"""Apply pending migrations: each file in its own transaction together with its history row."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from turnout.clock import Clock
from turnout.database.driver import DatabaseError, Session, StatementError
from turnout.database.history import HistoryTable
from turnout.database.migrations import Migration
from turnout.database.sqlsplit import Statement


class MigrationFailed(DatabaseError):
    """A statement of a migration failed; its transaction (and history row) rolled back."""

    def __init__(self, migration: Migration, statement: Statement, engine_message: str) -> None:
        message = (
            f"{migration.location}: statement {statement.index} (line {statement.line})"
            f" `{statement.excerpt()}` failed: {engine_message}"
        )
        super().__init__(
            message,
            details={
                "file": migration.location,
                "version": migration.version,
                "statement_index": statement.index,
                "line": statement.line,
                "statement": statement.excerpt(400),
                "database_error": engine_message,
            },
        )
        self.migration = migration
        self.statement = statement
        self.engine_message = engine_message


@dataclass(frozen=True)
class AppliedRun:
    """One migration applied by this run."""

    version: str
    filename: str
    statements: int
    execution_time_ms: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "version": self.version,
            "file": self.filename,
            "statements": self.statements,
            "execution_time_ms": self.execution_time_ms,
        }


def apply_migrations(
    session: Session,
    history: HistoryTable,
    pending: list[Migration],
    *,
    actor: str,
    clock: Clock,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[AppliedRun]:
    """Apply `pending` in order; stops at the first failure (MigrationFailed)."""
    done: list[AppliedRun] = []
    for migration in pending:
        statements = migration.statements(session.dialect)
        progress(f"applying {migration.filename} ({len(statements)} statements)")
        started = clock.monotonic()
        with session.transaction():
            history.ensure(session)
            for statement in statements:
                try:
                    session.execute(statement.text)
                except StatementError as exc:
                    raise MigrationFailed(migration, statement, exc.engine_message) from exc
            elapsed_ms = int((clock.monotonic() - started) * 1000)
            try:
                history.record(
                    session,
                    migration,
                    applied_at=clock.now(),
                    applied_by=actor,
                    execution_time_ms=elapsed_ms,
                )
            except StatementError as exc:
                raise DatabaseError(
                    f"{migration.location}: recording it in {history.display} failed"
                    f" (another run applied it?): {exc.engine_message}"
                ) from exc
        done.append(AppliedRun(migration.version, migration.filename, len(statements), elapsed_ms))
    return done
