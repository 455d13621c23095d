"""SQL Server / Azure SQL sessions through mssql-python, Microsoft's own driver.

Sign-in is a Microsoft Entra access token from the environment's credential (scope
`https://database.windows.net/.default` by default), handed to the driver as the ODBC
pre-connect attribute SQL_COPT_SS_ACCESS_TOKEN, so no password exists anywhere; or SQL
authentication with the URL's user and the password from `database.password` (a secret
reference) as the fallback. Every session runs with SET XACT_ABORT ON: any error inside
a migration's transaction aborts the whole transaction, never only the statement.

Backups of an Azure SQL database are made by the platform (point-in-time restore, a
database copy, a bacpac export: azure_sql_backup.py), not by this driver.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from turnout.database.driver import BackupFile, DatabaseError, StatementError
from turnout.database.dump import LogicalDump, TableDigest
from turnout.database.location import DatabaseLocation
from turnout.database.sqlsplit import Dialect

SQL_COPT_SS_ACCESS_TOKEN = 1256
"""msodbcsql.h: the pre-connect attribute carrying an Entra access token."""

TokenSource = Callable[[str], str]
"""scope -> bearer token (the environment's credential)."""

_NATIVE = re.compile(r"\((\d{3,6})\)")
_BRACKETS = re.compile(r"^(?:\[[^\]]*\])+\s*")

_HINTS: dict[int, str] = {
    18456: "login failed: with Entra sign-in the principal needs a user in the database"
    " (CREATE USER [name] FROM EXTERNAL PROVIDER); with SQL sign-in check the user and"
    " database.password",
    40615: "the server's firewall refuses this client's address; add a firewall rule"
    " for it (or allow Azure services) on the logical server",
    40532: "the server name is wrong or the login names another server",
    4060: "the database does not exist on this server, or the login may not open it",
    40613: "the database is not currently available (a failover or scaling is running);"
    " try again in a minute",
}
_PHRASE_HINTS: tuple[tuple[str, int], ...] = (
    ("login failed", 18456),
    ("invalid authorization specification", 18456),
    ("is not allowed to access the server", 40615),
    ("cannot open database", 4060),
    ("is not currently available", 40613),
)
_UNREACHABLE = "the server did not answer (its name, port 1433, the network or a firewall)"


def access_token_struct(token: str) -> bytes:
    """The ACCESSTOKEN struct the ODBC driver expects: a little-endian 4-byte length, then
    the token as UTF-16-LE (each ASCII byte followed by a zero byte), no terminator."""
    data = token.encode("utf-16-le")
    return struct.pack("<I", len(data)) + data


def _escape(value: str) -> str:
    # An ODBC connection-string value in braces; a closing brace is doubled.
    return "{" + value.replace("}", "}}") + "}"


def connection_arguments(
    location: DatabaseLocation, token_source: TokenSource | None
) -> tuple[str, dict[int, int | str | bytes]]:
    """The connection string and pre-connect attributes for a location: Entra token
    (no UID/PWD in the string) or SQL authentication with the password resolved now."""
    settings = location.azure_sql
    parts = [
        f"Server=tcp:{location.host},{location.port}",
        f"Database={_escape(location.dbname)}",
        "Encrypt=yes",
        f"TrustServerCertificate={'yes' if location.trust_server_certificate else 'no'}",
    ]
    attrs: dict[int, int | str | bytes] = {}
    if settings is not None and settings.auth == "entra":
        if token_source is None:
            raise DatabaseError("Entra sign-in needs the environment's Azure credential")
        attrs[SQL_COPT_SS_ACCESS_TOKEN] = access_token_struct(token_source(settings.token_scope))
    else:
        if not location.user:
            raise DatabaseError(
                f"{location.config_file}: {location.config_section}.url: SQL sign-in needs a"
                " user in the URL (mssql://USER@SERVER/DATABASE)"
            )
        password = location.password()
        if password is None:
            raise DatabaseError(
                f"{location.config_file}: {location.config_key}: SQL sign-in needs a password"
                ' reference (e.g. password = "env:APP_DB_PASSWORD")'
            )
        parts += [f"UID={_escape(location.user)}", f"PWD={_escape(password)}"]
    return ";".join(parts), attrs


def native_error(exc: BaseException) -> int | None:
    """SQL Server's error number in a driver message ('... (18456)'), if there is one."""
    text = str(getattr(exc, "ddbc_error", "") or exc)
    found = _NATIVE.findall(text)
    return int(found[-1]) if found else None


def engine_message(exc: BaseException) -> str:
    """The server's own words without the driver's [Microsoft][ODBC ...] prefixes."""
    text = str(getattr(exc, "ddbc_error", "") or getattr(exc, "driver_error", "") or exc)
    text = _BRACKETS.sub("", text.strip())
    return " ".join(text.split()) or type(exc).__name__


def connect_error(location: DatabaseLocation, exc: BaseException) -> DatabaseError:
    """A failed sign-in or connection, naming the database and what usually causes it."""
    number = native_error(exc)
    said = f"{getattr(exc, 'driver_error', '')} {getattr(exc, 'ddbc_error', '')}".lower()
    if number not in _HINTS:
        number = next((n for phrase, n in _PHRASE_HINTS if phrase in said), number)
    hint = _HINTS.get(number or 0)
    if hint is None and ("establish connection" in said or "timeout" in said):
        hint = _UNREACHABLE
    message = f"cannot connect to {location.describe()}: {engine_message(exc)}"
    if hint:
        message += f" ({hint})"
    return DatabaseError(message, details={"database": location.describe(), "error": number})


class MssqlSession:
    """An mssql-python connection in autocommit mode; transactions are explicit."""

    dialect: Dialect = "mssql"

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        cursor = self._run(sql, params)
        try:
            if cursor.description is None:
                return []
            return [tuple(row) for row in cursor.fetchall()]
        except Exception as exc:
            raise StatementError(engine_message(exc)) from exc
        finally:
            cursor.close()

    def _run(self, sql: str, params: Sequence[Any]) -> Any:
        import mssql_python

        cursor = self.conn.cursor()
        try:
            if params:
                cursor.execute(sql, *params)
            else:
                cursor.execute(sql)
        except mssql_python.Error as exc:
            cursor.close()
            raise StatementError(engine_message(exc)) from exc
        return cursor

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[None]:
        # SQL Server has no read-only transaction: a verification runs in one that is
        # always rolled back, so a query with side effects leaves nothing behind.
        try:
            self.execute("BEGIN TRANSACTION")
        except StatementError as exc:
            raise DatabaseError(f"cannot start a transaction: {exc.engine_message}") from exc
        try:
            yield
        except BaseException:
            # XACT_ABORT may already have rolled it back; @@TRANCOUNT says whether it is open.
            self.execute("IF @@TRANCOUNT > 0 ROLLBACK TRANSACTION")
            raise
        try:
            self.execute("ROLLBACK TRANSACTION" if read_only else "COMMIT TRANSACTION")
        except StatementError as exc:
            raise DatabaseError(f"commit failed: {exc.engine_message}") from exc

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        from turnout.database.history import bracket_identifier

        qualified = bracket_identifier(name)
        if schema is not None:
            qualified = f"{bracket_identifier(schema)}.{qualified}"
        rows = self.query("SELECT OBJECT_ID(?, N'U')", (qualified,))
        return bool(rows) and rows[0][0] is not None

    def row_counts(self) -> dict[str, int]:
        return {name: rows for name, rows in _table_counts(self)}

    def close(self) -> None:
        self.conn.close()


_USER_TABLES = (
    "SELECT s.name, t.name FROM sys.tables t JOIN sys.schemas s ON s.schema_id = t.schema_id"
    " WHERE t.is_ms_shipped = 0 ORDER BY s.name, t.name"
)


def _table_counts(session: MssqlSession) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for schema, table in session.query(_USER_TABLES):
        name = f"[{str(schema).replace(']', ']]')}].[{str(table).replace(']', ']]')}]"
        rows = session.query(f"SELECT COUNT_BIG(*) FROM {name}")
        found.append((f"{schema}.{table}", int(rows[0][0])))
    return found


class MssqlDriver:
    """An Azure SQL (or SQL Server) database reached through mssql-python."""

    dialect: Dialect = "mssql"
    suffix = ".bacpac"

    def __init__(self, location: DatabaseLocation, token_source: TokenSource | None) -> None:
        self.location = location
        self.token_source = token_source

    def exists(self) -> bool:
        return True  # a database on a server is created by its owner, never by a migration

    def connect(self, *, create: bool = False) -> MssqlSession:
        try:
            import mssql_python
        except ImportError as exc:
            raise DatabaseError(
                f"the mssql engine needs {exc.name}: pip install 'turnout[azure]'"
            ) from None
        connection_string, attrs = connection_arguments(self.location, self.token_source)
        try:
            conn = mssql_python.connect(
                connection_string,
                autocommit=True,
                attrs_before=attrs,
                timeout=max(1, int(self.location.timeout)),
            )
        except (mssql_python.Error, mssql_python.ConnectionStringParseError) as exc:
            raise connect_error(self.location, exc) from None
        session = MssqlSession(conn)
        session.execute("SET XACT_ABORT ON")
        return session

    def _platform(self, what: str) -> DatabaseError:
        return DatabaseError(
            f"{self.location.describe()}: {what} is done by Azure (point-in-time restore, a"
            " database copy or a bacpac export), not from a file"
        )

    def backup(self, dest: Path) -> BackupFile:
        raise self._platform("a backup")

    def backup_row_counts(self, path: Path) -> dict[str, int]:
        raise self._platform("verifying a backup")

    def check_opens(self, path: Path) -> None:
        raise self._platform("verifying a backup")

    def restore(self, path: Path, sha256: str, row_counts: dict[str, int] | None) -> dict[str, int]:
        raise self._platform("a restore")

    def logical_dump(self) -> LogicalDump:
        session = self.connect()
        try:
            return dump_mssql(session)
        finally:
            session.close()


def dump_mssql(session: MssqlSession) -> LogicalDump:
    """Schema (every user column with its type) and each table's rows as digests."""
    schema = [
        "\t".join(str(v) for v in row)
        for row in session.query(
            "SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE,"
            " COALESCE(CHARACTER_MAXIMUM_LENGTH, -1), IS_NULLABLE"
            " FROM INFORMATION_SCHEMA.COLUMNS ORDER BY 1, 2, ORDINAL_POSITION"
        )
    ]
    tables: dict[str, TableDigest] = {}
    for name, rows in _table_counts(session):
        schema_name, table = name.split(".", 1)
        quoted = f"[{schema_name.replace(']', ']]')}].[{table.replace(']', ']]')}]"
        # CHECKSUM_AGG over BINARY_CHECKSUM: the server digests the rows without sending them.
        digest = session.query(f"SELECT CHECKSUM_AGG(BINARY_CHECKSUM(*)) FROM {quoted}")[0][0]
        tables[name] = TableDigest(rows, hashlib.sha256(repr(digest).encode()).hexdigest())
    return LogicalDump("mssql", schema, tables)
