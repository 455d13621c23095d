"""The migration history table in the application database (default `__MigrationHistory`).

It lives with the app's own tables (an app that publishes every table shows it), in the
connection's default schema unless `database.history_schema` names another (PostgreSQL:
a schema created with the first migration; SQLite has only `main`).

A row is written in the same transaction as its migration, so a migration is
either applied and recorded or neither; there is no in-between to repair.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from turnout.database.driver import Session
from turnout.database.migrations import Migration, MigrationSet, version_key
from turnout.errors import MigrationFileError


def quote_identifier(name: str) -> str:
    """A double-quoted identifier (both engines), preserving case."""
    return '"' + name.replace('"', '""') + '"'


def bracket_identifier(name: str) -> str:
    """A [bracketed] SQL Server identifier."""
    return "[" + name.replace("]", "]]") + "]"


@dataclass(frozen=True)
class AppliedMigration:
    """A row of the history table."""

    version: str
    description: str
    checksum: str
    applied_at: str
    applied_by: str
    execution_time_ms: int
    success: bool

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "version": self.version,
            "description": self.description,
            "checksum": self.checksum,
            "applied_at": self.applied_at,
            "applied_by": self.applied_by,
            "execution_time_ms": self.execution_time_ms,
            "success": self.success,
        }


class HistoryTable:
    """Reads and writes the history table through a session."""

    def __init__(self, name: str = "__MigrationHistory", schema: str | None = None) -> None:
        self.name = name
        self.schema = schema
        self.quoted = quote_identifier(name)
        if schema is not None:
            self.quoted = f"{quote_identifier(schema)}.{self.quoted}"

    @property
    def display(self) -> str:
        """The table's name as people write it (`schema.name` when a schema is set)."""
        return f"{self.schema}.{self.name}" if self.schema else self.name

    def table_in(self, session: Session) -> str:
        """The quoted table name in the session's dialect."""
        return self.bracketed() if session.dialect == "mssql" else self.quoted

    def bracketed(self) -> str:
        """The table's name quoted the SQL Server way ([schema].[name])."""
        name = bracket_identifier(self.name)
        return f"{bracket_identifier(self.schema)}.{name}" if self.schema else name

    def create_sql_mssql(self) -> str:
        """DDL for SQL Server / Azure SQL: the same columns plus the runbook's `AppliedOn`
        (the server's UTC time of the insert), so `SELECT * FROM __MigrationHistory ORDER BY
        AppliedOn DESC` works as written. SQL Server has no CREATE TABLE IF NOT EXISTS."""
        table = self.bracketed()
        literal = table.replace("'", "''")
        default = bracket_identifier(f"DF_{self.name}_AppliedOn")
        return (
            f"IF OBJECT_ID(N'{literal}', N'U') IS NULL CREATE TABLE {table} ("
            "version NVARCHAR(50) NOT NULL PRIMARY KEY, "
            "description NVARCHAR(200) NOT NULL, "
            "checksum VARCHAR(64) NOT NULL, "
            "applied_at VARCHAR(40) NOT NULL, "
            "applied_by NVARCHAR(100) NOT NULL, "
            "execution_time INT NOT NULL, "
            "success BIT NOT NULL, "
            f"AppliedOn DATETIME2(3) NOT NULL CONSTRAINT {default} DEFAULT SYSUTCDATETIME())"
        )

    def create_sql(self) -> str:
        """DDL of the table (portable across SQLite and PostgreSQL)."""
        return (
            f"CREATE TABLE IF NOT EXISTS {self.quoted} ("
            "version VARCHAR(50) PRIMARY KEY, "
            "description VARCHAR(200) NOT NULL, "
            "checksum VARCHAR(64) NOT NULL, "
            "applied_at VARCHAR(40) NOT NULL, "
            "applied_by VARCHAR(100) NOT NULL, "
            "execution_time INTEGER NOT NULL, "
            "success BOOLEAN NOT NULL)"
        )

    def ensure(self, session: Session) -> None:
        """Create the table if missing (call inside the first migration's transaction)."""
        if session.dialect == "mssql":
            # The schema must exist already: CREATE SCHEMA has to be alone in its batch.
            session.execute(self.create_sql_mssql())
            return
        if self.schema is not None and session.dialect == "postgresql":
            session.execute(f"CREATE SCHEMA IF NOT EXISTS {quote_identifier(self.schema)}")
        session.execute(self.create_sql())

    def applied(self, session: Session) -> list[AppliedMigration]:
        """Every recorded migration in version order (empty when the table does not exist)."""
        if not session.table_exists(self.name, self.schema):
            return []
        rows = session.query(
            "SELECT version, description, checksum, applied_at, applied_by, execution_time, "
            f"success FROM {self.table_in(session)}"
        )
        found = [
            AppliedMigration(
                str(r[0]), str(r[1]), str(r[2]), str(r[3]), str(r[4]), int(r[5]), bool(r[6])
            )
            for r in rows
        ]
        return sorted(found, key=lambda a: version_key(a.version))

    def record(
        self,
        session: Session,
        migration: Migration,
        *,
        applied_at: datetime,
        applied_by: str,
        execution_time_ms: int,
    ) -> None:
        """Insert the migration's row (inside the migration's transaction)."""
        session.execute(
            f"INSERT INTO {self.table_in(session)} (version, description, checksum, applied_at, "
            "applied_by, execution_time, success) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                migration.version,
                migration.description[:200],
                migration.checksum,
                applied_at.isoformat(timespec="seconds"),
                applied_by[:100],
                execution_time_ms,
                True,
            ),
        )


def pending_migrations(
    migrations: MigrationSet, applied: list[AppliedMigration]
) -> list[Migration]:
    """Migrations not yet applied, in order; a changed applied file is refused (exit 2)."""
    done = {a.version: a for a in applied if a.success}
    for migration in migrations.migrations:
        record = done.get(migration.version)
        if record is not None and record.checksum != migration.checksum:
            raise MigrationFileError(
                f"{migration.location}: changed after it was applied (version {migration.version}"
                f" applied {record.applied_at} by {record.applied_by}, checksum"
                f" {record.checksum[:12]}, file now {migration.checksum[:12]}); add a new"
                " migration instead of editing an applied one",
                details={"file": migration.location, "version": migration.version},
            )
    pending = [m for m in migrations.migrations if m.version not in done]
    newest = max((version_key(v) for v in done), default=())
    for migration in pending:
        if migration.key < newest:
            # Applying an older version after a newer one would run history in a new order.
            latest = ".".join(str(p) for p in newest)
            raise MigrationFileError(
                f"{migration.location}: version {migration.version} is older than the applied"
                f" version {latest}; give it a version above {latest}",
                details={"file": migration.location, "version": migration.version},
            )
    return pending
