"""The store's connection to its database: SQL with named parameters, in transactions.

A SQLite file (the default) is reached through the standard library's `sqlite3`, so a
command that only reads the store starts without SQLAlchemy's import time. Any other URL
(PostgreSQL for a team) goes through SQLAlchemy Core. Both run the same SQL text (named
`:parameters`), and both hand values back the same way: timestamps timezone-aware in UTC,
JSON columns as Python values.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from turnout.errors import BadInput

if TYPE_CHECKING:
    from sqlalchemy import Connection, Engine

Row = Mapping[str, Any]
OUT_OF_RANGE = f"a number given is out of range (ids and counts go up to {2**63 - 1})"
# How SQLAlchemy's SQLite dialect has always written DateTime columns: existing state files
# keep reading (and their audit chains keep verifying).
_SQLITE_STAMP = "%Y-%m-%d %H:%M:%S.%f"


class DuplicateKey(Exception):
    """An insert met a row with the same key (e.g. a lock already taken)."""


def when(value: Any) -> datetime:
    """A stored timestamp as an aware UTC datetime (SQLite keeps text, PostgreSQL timestamptz
    comes back in the session's time zone)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if not isinstance(moment, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def when_or_none(value: Any) -> datetime | None:
    """`when`, keeping NULL."""
    return None if value is None else when(value)


def document(value: Any) -> Any:
    """A JSON column's value (SQLite hands back text, PostgreSQL the parsed document)."""
    return json.loads(value) if isinstance(value, str | bytes) else value


def dumps(value: Any) -> str:
    """A Python value as the text of a JSON column."""
    return json.dumps(value)


class Transaction(ABC):
    """One transaction's statements."""

    @abstractmethod
    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Every row a query returns."""

    def one(self, sql: str, params: Mapping[str, Any] | None = None) -> Row | None:
        """The first row a query returns, if any."""
        found = self.rows(sql, params)
        return found[0] if found else None

    @abstractmethod
    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        """Execute a statement; the number of rows it changed."""

    def insert(self, sql: str, params: Mapping[str, Any]) -> int:
        """Execute an INSERT … RETURNING id; the new row's id."""
        row = self.one(sql, params)
        assert row is not None
        return int(row["id"])


class Database(ABC):
    """Where the store's tables are."""

    dialect: str
    url: str
    """The URL for people (no password)."""

    @abstractmethod
    def transaction(self) -> AbstractContextManager[Transaction]:
        """A transaction: committed on success, rolled back on error."""

    @abstractmethod
    def stamp(self, moment: datetime) -> Any:
        """A timestamp as this database stores it (always UTC)."""

    @abstractmethod
    def close(self) -> None:
        """Release connections."""


class _SqliteTransaction(Transaction):
    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        cursor = self._connection.execute(sql, dict(params or {}))
        names = [column[0] for column in cursor.description or ()]
        return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        return self._connection.execute(sql, dict(params or {})).rowcount


class SqliteDatabase(Database):
    """A SQLite file (or memory) through `sqlite3`: WAL mode, immediate write transactions.

    One connection per thread (reopening the file and its PRAGMAs per transaction costs
    more than the transaction); in memory, one connection that threads take turns on.
    """

    dialect = "sqlite"

    def __init__(self, path: str | None, *, read_only: bool = False) -> None:
        self.path = path
        self.read_only = read_only and path is not None
        """Open the file `mode=ro`; each transaction a deferred (read) one that takes no
        lock against writers (a page polling the store must not queue a deployment)."""
        self.url = f"sqlite:///{path}" if path else "sqlite://"
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.RLock()
        self._shared = self._connect() if path is None else None
        self._kept: list[object] = []

    def _connect(self) -> sqlite3.Connection:
        if self.read_only:
            return self._connect_read_only()
        # isolation_level=None: transactions begin where this module says, not where
        # sqlite3 guesses.
        connection = sqlite3.connect(
            self.path or ":memory:", timeout=60, isolation_level=None, check_same_thread=False
        )
        connection.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a killed process (the crash model we promise);
        # it may lose the last commits on power loss.
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
        with self._guard:
            self._all.append(connection)
        return connection

    def _connect_read_only(self) -> sqlite3.Connection:
        assert self.path is not None
        connection = sqlite3.connect(
            f"{Path(self.path).resolve().as_uri()}?mode=ro",
            uri=True,
            timeout=60,
            isolation_level=None,
            check_same_thread=False,
        )
        with self._guard:
            self._all.append(connection)
        return connection

    def connection(self) -> sqlite3.Connection:
        """This thread's connection."""
        if self._shared is not None:
            return self._shared
        found: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if found is None:
            found = self._local.connection = self._connect()
        return found

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        with self._guard if self._shared is not None else _nothing():
            connection = self.connection()
            if self.read_only:
                with self._reading(connection) as tx:
                    yield tx
                return
            try:
                # IMMEDIATE takes the write lock up front, so concurrent processes queue
                # on the busy timeout instead of failing with "database is locked" later.
                connection.execute("BEGIN IMMEDIATE")
                yield _SqliteTransaction(connection)
            except BaseException as exc:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if isinstance(exc, OverflowError):  # "Python int too large to convert"
                    raise BadInput(f"{OUT_OF_RANGE}; nothing was changed") from exc
                if isinstance(exc, sqlite3.IntegrityError):
                    raise DuplicateKey(str(exc)) from exc
                raise
            else:
                connection.execute("COMMIT")

    @staticmethod
    @contextmanager
    def _reading(connection: sqlite3.Connection) -> Iterator[Transaction]:
        # Deferred: a snapshot of the file from the first read on (WAL lets writers commit
        # meanwhile); nothing to commit, so it always ends in a rollback.
        connection.execute("BEGIN")
        try:
            yield _SqliteTransaction(connection)
        finally:
            connection.execute("ROLLBACK")

    def stamp(self, moment: datetime) -> Any:
        return moment.astimezone(UTC).strftime(_SQLITE_STAMP)

    def keep(self, owner: object) -> None:
        """Keep an object alive as long as the database (the engine that migrated the
        in-memory connection must not be collected and close it)."""
        self._kept.append(owner)

    def close(self) -> None:
        with self._guard:
            for connection in self._all:
                connection.close()
            self._all.clear()
        self._local = threading.local()
        self._kept.clear()


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _CoreTransaction(Transaction):
    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        from sqlalchemy import text

        result = self._connection.execute(text(sql), dict(params or {}))
        return [dict(row) for row in result.mappings()]

    def run(self, sql: str, params: Mapping[str, Any] | None = None) -> int:
        from sqlalchemy import text

        result = self._connection.execute(text(sql), dict(params or {}))
        return int(result.rowcount)


class CoreDatabase(Database):
    """Any other database (PostgreSQL) through a SQLAlchemy Core engine."""

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.url = engine.url.render_as_string(hide_password=True)
        self.read_only = read_only
        """Every transaction READ ONLY (PostgreSQL refuses any write in it)."""

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        from sqlalchemy import text
        from sqlalchemy.exc import DataError, IntegrityError

        try:
            with self.engine.begin() as connection:
                if self.read_only and self.dialect == "postgresql":
                    connection.execute(text("SET TRANSACTION READ ONLY"))
                yield _CoreTransaction(connection)
        except IntegrityError as exc:
            raise DuplicateKey(str(exc.orig)) from exc
        except DataError as exc:  # PostgreSQL: "bigint out of range"
            if "out of range" not in str(exc.orig):
                raise
            raise BadInput(f"{OUT_OF_RANGE}; nothing was changed") from exc
        except OverflowError as exc:
            raise BadInput(f"{OUT_OF_RANGE}; nothing was changed") from exc

    def stamp(self, moment: datetime) -> Any:
        return moment.astimezone(UTC)

    def close(self) -> None:
        self.engine.dispose()
