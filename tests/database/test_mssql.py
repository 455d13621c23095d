"""The SQL Server / Azure SQL engine around the server: sign-in hand-off, error mapping,
the history table's T-SQL, the per-file transaction. (No SQL Server runs here; the live
test at the end runs when TURNOUT_TEST_MSSQL_URL names one.)"""

from __future__ import annotations

import json
import os
import stat
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mssql_python.exceptions import sqlstate_to_exception

from turnout.clock import FrozenClock
from turnout.config.azure_sql import SQL_SCOPE, AzureSqlConfig
from turnout.config.secrets import SecretRef
from turnout.database.azure_sql_place import token_source
from turnout.database.driver import DatabaseError, StatementError
from turnout.database.history import HistoryTable
from turnout.database.location import DatabaseLocation
from turnout.database.migrations import build_set
from turnout.database.mssql import (
    SQL_COPT_SS_ACCESS_TOKEN,
    MssqlDriver,
    access_token_struct,
    connect_error,
    connection_arguments,
    engine_message,
)
from turnout.database.runner import MigrationFailed, apply_migrations
from turnout.database.sqlsplit import Dialect
from turnout.errors import ConfigError

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.payload.signature"


def _location(**changes: Any) -> DatabaseLocation:
    values: dict[str, Any] = {
        "engine": "mssql",
        "host": "tesoro-production-sql.database.windows.net",
        "port": 1433,
        "dbname": "tesoro-production-db",
        "azure_sql": AzureSqlConfig(),
        "config_key": "environments.production.database.password",
        "config_section": "environments.production.database",
    }
    values.update(changes)
    return DatabaseLocation(**values)


def _decode(blob: bytes) -> str:
    (length,) = struct.unpack("<I", blob[:4])
    assert length == len(blob) - 4
    return blob[4:].decode("utf-16-le")


def test_access_token_struct_is_length_prefixed_utf16() -> None:
    """The token struct is a little-endian length then UTF-16-LE bytes (each byte + zero)."""
    blob = access_token_struct("ab")
    assert blob == b"\x04\x00\x00\x00a\x00b\x00"
    assert _decode(access_token_struct(TOKEN)) == TOKEN


def _fake_az(folder: Path, log: Path) -> None:
    """An `az` that logs its arguments and answers get-access-token with TOKEN."""
    folder.mkdir(parents=True, exist_ok=True)
    answer = json.dumps(
        {
            "accessToken": TOKEN,
            "expiresOn": "2099-01-01 00:00:00.000000",
            "expires_on": 4070908800,
            "tokenType": "Bearer",
            "subscription": "s",
            "tenant": "00000000-0000-0000-0000-0000000000aa",
        }
    )
    script = folder / "az"
    script.write_text(f"#!/bin/sh\necho \"$@\" >> {log}\ncat <<'JSON'\n{answer}\nJSON\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_entra_sign_in_hands_the_credentials_token_to_the_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Entra sign-in, DefaultAzureCredential is asked for the database scope and its
    token goes in SQL_COPT_SS_ACCESS_TOKEN; the connection string has no user or password."""
    log = tmp_path / "az.log"
    _fake_az(tmp_path / "bin", log)
    monkeypatch.setenv("AZURE_TOKEN_CREDENTIALS", "AzureCliCredential")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    location = _location()
    connection_string, attrs = connection_arguments(location, token_source(location))
    blob = attrs[SQL_COPT_SS_ACCESS_TOKEN]
    assert isinstance(blob, bytes)
    assert _decode(blob) == TOKEN
    assert "UID=" not in connection_string and "PWD=" not in connection_string
    assert "Server=tcp:tesoro-production-sql.database.windows.net,1433" in connection_string
    assert "Encrypt=yes" in connection_string
    assert f"--resource {SQL_SCOPE.removesuffix('/.default')}" in log.read_text()


def test_sql_sign_in_reads_the_password_reference_at_use(monkeypatch: pytest.MonkeyPatch) -> None:
    """SQL sign-in puts the URL's user and the secret's value (braced) in the string, and
    sends no token."""
    monkeypatch.setenv("APP_DB_PASSWORD", "p;w}d")
    location = _location(
        user="sqladmin",
        password_ref=SecretRef("env:APP_DB_PASSWORD"),
        azure_sql=AzureSqlConfig(auth="sql"),
    )
    connection_string, attrs = connection_arguments(location, None)
    assert attrs == {}
    assert "UID={sqladmin}" in connection_string
    assert "PWD={p;w}}d}" in connection_string


def test_sql_sign_in_without_the_secret_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset password reference is a ConfigError naming database.password."""
    monkeypatch.delenv("APP_DB_PASSWORD", raising=False)
    location = _location(
        user="sqladmin",
        password_ref=SecretRef("env:APP_DB_PASSWORD"),
        azure_sql=AzureSqlConfig(auth="sql"),
    )
    with pytest.raises(ConfigError) as caught:
        connection_arguments(location, None)
    assert "environments.production.database.password" in str(caught.value)


@pytest.mark.parametrize(
    ("sqlstate", "ddbc", "words"),
    [
        (
            "28000",
            "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Login failed for user"
            " '<token-identified principal>'.",
            "FROM EXTERNAL PROVIDER",
        ),
        (
            "42000",
            "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Cannot open server"
            " 'tesoro-production-sql' requested by the login. Client with IP address '203.0.113.9'"
            " is not allowed to access the server.",
            "firewall",
        ),
        (
            "08001",
            "[Microsoft][ODBC Driver 18 for SQL Server]TCP Provider: Error code 0x2749",
            "did not answer",
        ),
    ],
)
def test_driver_errors_become_database_errors_that_say_why(
    sqlstate: str, ddbc: str, words: str
) -> None:
    """The driver's own exceptions for a SQLSTATE become a DatabaseError naming the
    database, the server's words without the driver's prefixes, and the usual cause."""
    exc = sqlstate_to_exception(sqlstate, ddbc)
    assert exc is not None
    error = connect_error(_location(), exc)
    assert isinstance(error, DatabaseError)
    assert "mssql://tesoro-production-sql.database.windows.net:1433/tesoro-production-db" in (
        error.message
    )
    assert words in error.message
    assert "[Microsoft]" not in error.message


def test_statement_error_keeps_the_servers_message() -> None:
    """A statement's error text is the server's sentence, prefixes removed."""
    exc = sqlstate_to_exception(
        "42S02", "[Microsoft][ODBC Driver 18 for SQL Server][SQL Server]Invalid object name 'x'."
    )
    assert exc is not None
    assert engine_message(exc) == "Invalid object name 'x'."


def test_unreachable_server_is_a_database_error_from_the_real_driver() -> None:
    """Connecting through mssql-python to a closed port ends in a DatabaseError, not a
    driver exception, with the token handed over as a pre-connect attribute."""
    location = _location(host="127.0.0.1", port=1, timeout=1.0)
    driver = MssqlDriver(location, lambda _scope: TOKEN)
    with pytest.raises(DatabaseError) as caught:
        driver.connect()
    assert "cannot connect to mssql://127.0.0.1:1/tesoro-production-db" in caught.value.message
    assert "did not answer" in caught.value.message


def test_history_table_ddl_has_the_runbooks_applied_on_column() -> None:
    """SQL Server's history table is created only when missing, bracket-quoted, with
    AppliedOn defaulting to the server's UTC time."""
    sql = HistoryTable("__MigrationHistory").create_sql_mssql()
    assert sql.startswith("IF OBJECT_ID(N'[__MigrationHistory]', N'U') IS NULL CREATE TABLE")
    assert "AppliedOn DATETIME2(3) NOT NULL CONSTRAINT [DF___MigrationHistory_AppliedOn]" in sql
    assert "DEFAULT SYSUTCDATETIME()" in sql
    odd = HistoryTable("odd]name", "app's").create_sql_mssql()
    assert "N'[app''s].[odd]]name]'" in odd
    assert "CREATE TABLE [app's].[odd]]name]" in odd


class RecordingSession:
    """A stand-in for a SQL Server connection: records what turnout sends, fails on cue."""

    dialect: Dialect = "mssql"

    def __init__(self, fail_on: str | None = None) -> None:
        self.sent: list[str] = []
        self.fail_on = fail_on

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.sent.append(" ".join(sql.split()))
        if self.fail_on is not None and self.fail_on in sql:
            raise StatementError("Invalid column name 'nope'.")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        self.execute(sql, params)
        return []

    @contextmanager
    def transaction(self, *, read_only: bool = False) -> Iterator[None]:
        self.sent.append("BEGIN")
        try:
            yield
        except BaseException:
            self.sent.append("ROLLBACK")
            raise
        self.sent.append("COMMIT")

    def table_exists(self, name: str, schema: str | None = None) -> bool:
        return False

    def row_counts(self) -> dict[str, int]:
        return {}

    def close(self) -> None:
        pass


def _migrations() -> Any:
    body = b"CREATE TABLE dbo.Rewards (id INT)\nGO\nALTER TABLE dbo.Rewards ADD nope INT\nGO\n"
    return build_set(
        [("V001__add_rewards_table.sql", "m/V001__add_rewards_table.sql", body)], "m", "mssql"
    )


def test_a_file_runs_batch_by_batch_in_one_transaction_with_its_history_row() -> None:
    """Each GO batch is sent in order inside one transaction that ends with the history
    insert and a commit."""
    session = RecordingSession()
    done = apply_migrations(
        session, HistoryTable(), _migrations().migrations, actor="ana", clock=FrozenClock()
    )
    assert [r.statements for r in done] == [2]
    assert session.sent[0] == "BEGIN"
    assert session.sent[1].startswith("IF OBJECT_ID(N'[__MigrationHistory]'")
    assert session.sent[2:4] == [
        "CREATE TABLE dbo.Rewards (id INT)",
        "ALTER TABLE dbo.Rewards ADD nope INT",
    ]
    assert session.sent[4].startswith("INSERT INTO [__MigrationHistory]")
    assert session.sent[5] == "COMMIT"


def test_a_failing_batch_rolls_back_the_file_and_names_its_line() -> None:
    """A failing batch rolls the whole file back (no history row) and the error names the
    file, the batch's line and the server's message."""
    session = RecordingSession(fail_on="ADD nope")
    with pytest.raises(MigrationFailed) as caught:
        apply_migrations(
            session, HistoryTable(), _migrations().migrations, actor="ana", clock=FrozenClock()
        )
    assert session.sent[-1] == "ROLLBACK"
    assert not any(s.startswith("INSERT") for s in session.sent)
    assert "m/V001__add_rewards_table.sql: statement 2 (line 3)" in caught.value.message
    assert "Invalid column name 'nope'." in caught.value.message


LIVE_URL = os.environ.get("TURNOUT_TEST_MSSQL_URL")


@pytest.mark.skipif(
    not LIVE_URL,
    reason="no SQL Server here: set TURNOUT_TEST_MSSQL_URL=mssql://USER@HOST:PORT/DB"
    "[?trust_server_certificate=yes] and TURNOUT_TEST_MSSQL_PASSWORD to run the T-SQL"
    " runner against one",
)
def test_live_server_applies_records_and_verifies() -> None:
    """Against a real SQL Server: the migration applies, `SELECT * FROM __MigrationHistory
    ORDER BY AppliedOn DESC` shows it, a failing file leaves nothing, verify.sql passes."""
    from urllib.parse import parse_qs, urlsplit

    assert LIVE_URL is not None
    parts = urlsplit(LIVE_URL)
    location = _location(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 1433,
        user=parts.username or "sa",
        dbname=parts.path.strip("/"),
        password_ref=SecretRef("env:TURNOUT_TEST_MSSQL_PASSWORD"),
        azure_sql=AzureSqlConfig(auth="sql"),
        trust_server_certificate=parse_qs(parts.query).get("trust_server_certificate") == ["yes"],
    )
    session = MssqlDriver(location, None).connect()
    try:
        table = "turnout_live_test"
        history = HistoryTable(f"__MigrationHistory_{table}")
        session.execute(f"DROP TABLE IF EXISTS {table}")
        session.execute(f"DROP TABLE IF EXISTS {history.bracketed()}")
        good = f"CREATE TABLE {table} (id INT)\nGO\nINSERT {table} VALUES (1)\nGO 2\n".encode()
        bad = f"INSERT {table} VALUES (3)\nGO\nSELECT nope FROM {table}\n".encode()
        migrations = build_set(
            [("V001__a.sql", "V001__a.sql", good), ("V002__b.sql", "V002__b.sql", bad)],
            "live",
            "mssql",
        )
        with pytest.raises(MigrationFailed):
            apply_migrations(
                session, history, migrations.migrations, actor="t", clock=FrozenClock()
            )
        rows = session.query(f"SELECT version FROM {history.bracketed()} ORDER BY AppliedOn DESC")
        assert rows == [("1",)]
        assert session.query(f"SELECT COUNT(*) FROM {table}") == [(2,)]
    finally:
        session.close()
