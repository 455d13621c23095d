"""SQLite: sessions, backups through the online backup API, restore, logical dumps."""

from __future__ import annotations

import hashlib
import sqlite3
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from turnout.database.checksums import check_checksum, file_sha256
from turnout.database.driver import BackupFile, DatabaseError, StatementError
from turnout.database.dump import LogicalDump, TableDigest
from turnout.database.leftovers import remove_side_files
from turnout.database.location import DatabaseLocation
from turnout.database.sqlsplit import Dialect


def quote(name: str) -> str:
    """A quoted SQLite identifier."""
    return '"' + name.replace('"', '""') + '"'


def _user_tables(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    # (name, sql) of real tables; virtual tables are skipped (their shadow tables hold the rows).
    rows = conn.execute(
        "SELECT name, coalesce(sql, '') FROM sqlite_master WHERE type = 'table' "
        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name"
    ).fetchall()
    return [(str(n), str(s)) for n, s in rows if not str(s).upper().startswith("CREATE VIRTUAL")]


def _counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {
        name: int(conn.execute(f"SELECT count(*) FROM {quote(name)}").fetchone()[0])
        for name, _ in _user_tables(conn)
    }


class SqliteSession:
    """A connection in autocommit mode; transactions are explicit (SQLite DDL is transactional)."""

    dialect: Dialect = "sqlite"

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        try:
            self.conn.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise StatementError(str(exc)) from exc

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return [tuple(r) for r in self.conn.execute(sql, tuple(params)).fetchall()]
        except sqlite3.Error as exc:
            raise StatementError(str(exc)) from exc

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[None]:
        try:
            if read_only:
                self.conn.execute("PRAGMA query_only = ON")
            # IMMEDIATE takes the write lock now, so a busy app fails us early, not half-way.
            self.conn.execute("BEGIN" if read_only else "BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot start a transaction: {exc}") from exc
        try:
            yield
        except BaseException:
            self.conn.rollback()
            raise
        else:
            try:
                self.conn.execute("ROLLBACK" if read_only else "COMMIT")
            except sqlite3.Error as exc:
                raise DatabaseError(f"commit failed: {exc}") from exc
        finally:
            if read_only:
                self.conn.execute("PRAGMA query_only = OFF")

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        catalog = f"{quote(schema)}.sqlite_master" if schema else "sqlite_master"
        row = self.conn.execute(
            f"SELECT 1 FROM {catalog} WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return row is not None

    def row_counts(self) -> dict[str, int]:
        try:
            return _counts(self.conn)
        except sqlite3.Error as exc:
            raise DatabaseError(f"cannot count rows: {exc}") from exc

    def close(self) -> None:
        self.conn.close()


class SqliteDriver:
    """SQLite files: the online backup API both ways, so open connections stay valid."""

    dialect: Dialect = "sqlite"
    suffix = ".sqlite3"

    def __init__(self, location: DatabaseLocation) -> None:
        assert location.path is not None
        self.location = location
        self.path: Path = location.path

    def exists(self) -> bool:
        return self.path.is_file()

    def _open(self, path: Path, *, create: bool, read_only: bool = False) -> sqlite3.Connection:
        if not create and not path.is_file():
            raise DatabaseError(f"{path}: SQLite database file not found")
        if create and not path.parent.is_dir():
            raise DatabaseError(f"{path}: the folder for the SQLite database does not exist")
        uri = path.resolve().as_uri() + ("?mode=ro" if read_only else "")
        try:
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.location.timeout, isolation_level=None
            )
            conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except sqlite3.Error as exc:
            raise DatabaseError(f"{path}: cannot open the SQLite database: {exc}") from exc
        return conn

    def connect(self, *, create: bool = False) -> SqliteSession:
        return SqliteSession(self._open(self.path, create=create))

    def backup(self, dest: Path) -> BackupFile:
        started = time.perf_counter()
        src = self._open(self.path, create=False)
        try:
            # One read transaction: the counts and the copied pages are the same snapshot.
            src.execute("BEGIN")
            counts = _counts(src)
            dst = sqlite3.connect(dest)
            try:
                src.backup(dst)
            finally:
                dst.close()
            src.execute("COMMIT")
        except sqlite3.Error as exc:
            dest.unlink(missing_ok=True)
            raise DatabaseError(f"backup of {self.path} failed: {exc}") from exc
        finally:
            src.close()
        return BackupFile(dest, dest.stat().st_size, "", counts, time.perf_counter() - started)

    def check_opens(self, path: Path) -> None:
        self._open(path, create=False, read_only=True).close()
        remove_side_files(path)  # a read-only open of a WAL file leaves -wal/-shm behind

    def backup_row_counts(self, path: Path) -> dict[str, int]:
        try:
            return self._file_counts(path, f"{path}: backup cannot be read")
        finally:
            remove_side_files(path)

    def _file_counts(self, path: Path, failure: str) -> dict[str, int]:
        """Every table's rows in a database file; DatabaseError(`failure: ...`) otherwise."""
        conn = self._open(path, create=False, read_only=True)
        try:
            return _counts(conn)
        except sqlite3.Error as exc:
            raise DatabaseError(f"{failure}: {exc}") from exc
        finally:
            conn.close()

    def restore(self, path: Path, sha256: str, row_counts: dict[str, int] | None) -> dict[str, int]:
        # The copy commits page by page; the counts are taken after it and compared by the
        # caller (the checksum already proves the file is the verified backup).
        src = self._open(path, create=False, read_only=True)
        pages = max(1, int(src.execute("PRAGMA page_count").fetchone()[0]))
        step = max(1, pages // 8)
        with ThreadPoolExecutor(max_workers=1) as pool:
            # The checksum is computed while pages are copied; the last step (which
            # commits the destination) runs only once it matched.
            digest = pool.submit(file_sha256, path)

            def before_next_step(_status: int, remaining: int, _total: int) -> None:
                if remaining <= step:
                    check_checksum(path, sha256, digest.result())

            try:
                if pages <= step:
                    check_checksum(path, sha256, digest.result())
                dst = self._open(self.path, create=True)
                try:
                    # The backup API writes through SQLite's locks: the app's connections
                    # see the restored content instead of a file swapped under them.
                    src.backup(dst, pages=step, progress=before_next_step)
                finally:
                    dst.close()
            except sqlite3.Error as exc:
                raise DatabaseError(f"restore of {self.path} from {path} failed: {exc}") from exc
            finally:
                src.close()
                remove_side_files(path)  # of the backup file, opened read-only
        return self._file_counts(self.path, f"cannot count rows in {self.path}")

    def logical_dump(self) -> LogicalDump:
        return dump_sqlite(self._open(self.path, create=False, read_only=True), close=True)


def dump_sqlite(conn: sqlite3.Connection, *, close: bool = False) -> LogicalDump:
    """Schema (sqlite_master, user_version) and every table's rows in rowid/key order."""
    try:
        conn.execute("BEGIN")
        schema = [
            f"{t}\t{n}\t{tbl}\t{' '.join(str(sql).split())}"
            for t, n, tbl, sql in conn.execute(
                "SELECT type, name, tbl_name, coalesce(sql, '') FROM sqlite_master "
                "ORDER BY type, name"
            )
        ]
        schema.append(f"user_version\t{conn.execute('PRAGMA user_version').fetchone()[0]}")
        tables: dict[str, TableDigest] = {}
        for name, sql in _user_tables(conn):
            order = "1" if "WITHOUT ROWID" in sql.upper() else "rowid"
            columns = len(conn.execute(f"PRAGMA table_info({quote(name)})").fetchall())
            if order == "1":
                order = ", ".join(str(i + 1) for i in range(columns))
            h = hashlib.sha256()
            rows = 0
            for row in conn.execute(f"SELECT * FROM {quote(name)} ORDER BY {order}"):
                h.update(repr(row).encode())
                h.update(b"\n")
                rows += 1
            tables[name] = TableDigest(rows, h.hexdigest())
        conn.execute("COMMIT")
        return LogicalDump("sqlite", schema, tables)
    except sqlite3.Error as exc:
        raise DatabaseError(f"cannot dump the database: {exc}") from exc
    finally:
        if close:
            conn.close()
