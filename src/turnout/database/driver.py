"""What every engine driver offers: sessions, backups, verification, restore, logical dumps.

One module per engine (sqlite.py, postgresql.py); `engine_choice.open_driver` picks one from
the configured location. Engine errors become `DatabaseError` (a StepError)
at this boundary, with the engine's own message kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from turnout.database.dump import LogicalDump
from turnout.database.location import DatabaseLocation
from turnout.database.sqlsplit import Dialect
from turnout.errors import StepError


class DatabaseError(StepError):
    """The application database refused or failed an operation (unreachable, SQL error...)."""


class StatementError(DatabaseError):
    """One statement failed; carries the engine's message for the caller to place in context."""

    def __init__(self, engine_message: str) -> None:
        super().__init__(engine_message)
        self.engine_message = engine_message


@dataclass(frozen=True)
class BackupFile:
    """A backup as written: where, how big, its sha256 (empty until hashed), the source's
    row counts at the backup's snapshot and, when the driver read the backup's own bytes
    back while writing them, the rows per table found there (None: not read back yet)."""

    path: Path
    size: int
    sha256: str
    row_counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    archive_counts: dict[str, int] | None = None


class Session(Protocol):
    """An open connection to the application database."""

    dialect: Dialect

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (`?` placeholders); StatementError on failure."""

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement and return all its rows."""

    def transaction(self, *, read_only: bool = False) -> AbstractContextManager[None]:
        """Commit on success, roll back on error."""

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        """Whether a table of this name exists (in `schema`, else the default schema)."""

    def row_counts(self) -> dict[str, int]:
        """Rows of every user table, keyed as backups name them."""

    def close(self) -> None:
        """Close the connection."""


class Driver(Protocol):
    """An engine: connect, back up, verify a backup, restore, dump logically."""

    location: DatabaseLocation
    dialect: Dialect
    suffix: str
    """File name suffix of this engine's backups."""

    def exists(self) -> bool:
        """Whether the database exists (SQLite: the file; PostgreSQL: reachable)."""

    def connect(self, *, create: bool = False) -> Session:
        """A session; DatabaseError when unreachable."""

    def backup(self, dest: Path) -> BackupFile:
        """Write a consistent backup to `dest`, with the source's row counts at that snapshot
        (and its sha256 and archive_counts if the driver verifies while writing)."""

    def backup_row_counts(self, path: Path) -> dict[str, int]:
        """Open a backup file and count every table's rows (verification)."""

    def check_opens(self, path: Path) -> None:
        """DatabaseError unless the written backup file opens (a cheap check)."""

    def restore(self, path: Path, sha256: str, row_counts: dict[str, int] | None) -> dict[str, int]:
        """Replace the database's whole content with the backup's, atomically; Refused (and
        nothing changed) when the file's sha256 is not `sha256`. Returns every table's row
        count after it (PostgreSQL commits only when they equal `row_counts`, if given)."""

    def logical_dump(self) -> LogicalDump:
        """Schema and every table's rows, as digests."""


def iter_chunks(handle: Any, size: int = 1 << 20) -> Iterator[bytes]:
    """Read a binary stream in chunks."""
    while True:
        chunk = handle.read(size)
        if not chunk:
            return
        yield chunk
