"""Verification after migrating: the history shows every version; verify.sql queries pass.

The verify.sql convention: each statement is a query that passes when it returns
no rows, or exactly one row whose first column is true (true, 1, 't', 'true',
'yes'). Anything else fails and the rows it returned are the evidence. The
queries run in a read-only transaction that is rolled back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from turnout.database.driver import Session, StatementError
from turnout.database.history import AppliedMigration
from turnout.database.migrations import MigrationSet
from turnout.database.sqlsplit import split_statements
from turnout.errors import StepError

_TRUE = {"1", "t", "true", "yes", "y", "on"}


def passes(rows: list[tuple[Any, ...]]) -> bool:
    """The verify.sql rule for one query's result."""
    if not rows:
        return True
    if len(rows) != 1 or not rows[0]:
        return False
    value = rows[0][0]
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return str(value).strip().lower() in _TRUE


@dataclass
class VerifyReport:
    """What was checked and what failed."""

    versions: list[str] = field(default_factory=list)
    queries: int = 0
    failures: list[str] = field(default_factory=list)
    evidence: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every check passed."""
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "versions": self.versions,
            "queries": self.queries,
            "failures": self.failures,
            "evidence": self.evidence,
            "ok": self.ok,
        }


def check_history(
    migrations: MigrationSet, applied: list[AppliedMigration], report: VerifyReport
) -> None:
    """Every migration of the set is recorded, successful, with the file's checksum."""
    recorded = {a.version: a for a in applied}
    for m in migrations.migrations:
        row = recorded.get(m.version)
        if row is None or not row.success:
            report.failures.append(f"{m.location}: version {m.version} is not in the history table")
        elif row.checksum != m.checksum:
            report.failures.append(f"{m.location}: recorded checksum differs from the file")
        else:
            report.versions.append(m.version)


def run_verify_sql(session: Session, migrations: MigrationSet, report: VerifyReport) -> None:
    """Run every query of verify.sql and apply the pass rule."""
    if migrations.verify_sql is None:
        return
    location = migrations.verify_location or "verify.sql"
    statements = split_statements(migrations.verify_sql, session.dialect)
    try:
        with session.transaction(read_only=True):
            for statement in statements:
                report.queries += 1
                try:
                    rows = session.query(statement.text)
                except StatementError as exc:
                    report.failures.append(
                        f"{location}: query {statement.index} (line {statement.line})"
                        f" `{statement.excerpt()}` failed: {exc.engine_message}"
                    )
                    # The transaction is unusable after an error on PostgreSQL.
                    raise _Stop() from exc
                if not passes(rows):
                    shown = [list(map(_plain, r)) for r in rows[:3]]
                    report.failures.append(
                        f"{location}: query {statement.index} (line {statement.line})"
                        f" `{statement.excerpt()}` returned {len(rows)} row(s), expected none"
                        f" or a single true: {shown}"
                    )
                    report.evidence.append(
                        {"line": statement.line, "rows": len(rows), "first_rows": shown}
                    )
    except _Stop:
        pass


class _Stop(Exception):
    pass


def _plain(value: Any) -> Any:
    return value if isinstance(value, int | float | str | bool) or value is None else str(value)


def raise_if_failed(report: VerifyReport) -> None:
    """StepError naming every failure."""
    if report.failures:
        raise StepError(
            "database verification failed: " + "; ".join(report.failures),
            details=report.to_dict(),
        )
