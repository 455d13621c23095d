"""The SQLite database: the base schema the app creates itself, and a small connection pool."""

from __future__ import annotations

import contextlib
import queue
import sqlite3
from collections.abc import Iterator
from pathlib import Path

# The base schema (sessions and transactions) is the app's own bootstrap: every version creates
# it when missing, so the first deployment needs no migration. Later changes to the schema ship
# as versioned files in the package's migrations/ folder, applied by turnout's database phase.
BASE_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    token TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS transactions (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    amount_cents INTEGER NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_username ON transactions (username);
"""

BUSY_TIMEOUT_MS = 5000
"""Another slot (or a migration) may hold the write lock for a moment; wait rather than fail."""


class Database:
    """A SQLite file shared by every slot of an environment, with pooled connections."""

    def __init__(self, path: Path, pool_size: int = 16) -> None:
        self.path = path
        self._pool_size = pool_size
        self._idle: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()

    def bootstrap(self) -> None:
        """Create the database file and the base schema if they are missing."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            # WAL lets the two slots (and turnout's backup) read while one of them writes.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(BASE_SCHEMA)

    def _open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection in autocommit mode; use `BEGIN IMMEDIATE` for multi-statement writes."""
        try:
            conn = self._idle.get_nowait()
        except queue.Empty:
            conn = self._open()
        try:
            yield conn
        except BaseException:
            # A connection that saw an error may be mid-transaction: never hand it out again.
            conn.close()
            raise
        if conn.in_transaction or self._idle.qsize() >= self._pool_size:
            conn.close()
        else:
            self._idle.put(conn)

    def has_table(self, name: str) -> bool:
        """Whether the table exists now.

        Not cached: a failed migration is undone by restoring the backup, which can take a
        table away again under a running slot."""
        with self.connect() as conn:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        """Close every idle connection."""
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
