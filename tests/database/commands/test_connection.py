"""The variables that tell an app's migration tool where an Azure SQL (SQL Server) database
is, read back by the libraries that consume them. No SQL Server runs here: what is tested
is what turnout builds."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import pytest
from sqlalchemy.engine import make_url

from turnout.config import load_config
from turnout.config.migration_commands import UrlStyle
from turnout.database.commands.connection import connection_variables, secret_values
from turnout.database.location import DatabaseLocation, locate
from turnout.errors import ConfigError

SECRET_VARIABLE = "TURNOUT_TEST_MSSQL_TOOL_PASSWORD"
PASSWORD = "p@ss;w0rd/with:odd}chars"
URL = "mssql://sqladmin@tesoro-production-sql.database.windows.net/tesoro-production-db"


def azure_sql(tmp_path: Path, *, auth: str = "sql", query: str = "") -> DatabaseLocation:
    """The database of a turnout.toml on Azure SQL whose migrations are Alembic's."""
    (tmp_path / "turnout.toml").write_text(
        '[app]\nname = "tesoro"\n\n'
        '[environments.production]\ntarget = { kind = "fake" }\n\n'
        "[environments.production.database]\n"
        f'url = "{URL}{query}"\n'
        f'password = "env:{SECRET_VARIABLE}"\n'
        'migrations = { tool = "alembic" }\n'
        f'azure_sql = {{ auth = "{auth}" }}\n'
    )
    config = load_config(tmp_path / "turnout.toml")
    return locate(config, config.env("production"))


def variables(location: DatabaseLocation, style: UrlStyle, name: str) -> dict[str, str]:
    """What the tool would get, the URL under `name`."""
    return connection_variables(location, style, name, key="database.migrations")


def test_sqlalchemy_url_names_pyodbc_and_the_sql_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Alembic gets an `mssql+pyodbc://` URL that SQLAlchemy reads back as the server,
    database, login and password, with the ODBC driver and encryption on."""
    monkeypatch.setenv(SECRET_VARIABLE, PASSWORD)
    got = variables(azure_sql(tmp_path), "sqlalchemy", "DATABASE_URL")
    url = make_url(got["DATABASE_URL"])
    assert url.drivername == "mssql+pyodbc"
    assert url.host == "tesoro-production-sql.database.windows.net" and url.port == 1433
    assert url.database == "tesoro-production-db"
    assert url.username == "sqladmin" and url.password == PASSWORD
    assert url.query == {
        "driver": "ODBC Driver 18 for SQL Server",
        "Encrypt": "yes",
        "TrustServerCertificate": "no",
    }
    assert got["SQLCMDSERVER"] == "tcp:tesoro-production-sql.database.windows.net,1433"
    assert got["SQLCMDDBNAME"] == "tesoro-production-db"
    assert got["SQLCMDUSER"] == "sqladmin" and got["SQLCMDPASSWORD"] == PASSWORD


def test_plain_url_for_django_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Django's settings get `mssql://login:password@server:1433/database`, the password
    URL-quoted so that parsing it gives it back whole."""
    monkeypatch.setenv(SECRET_VARIABLE, PASSWORD)
    got = variables(azure_sql(tmp_path), "plain", "DATABASE_URL")["DATABASE_URL"]
    parts = urlsplit(got)
    assert parts.scheme == "mssql" and parts.port == 1433
    assert parts.hostname == "tesoro-production-sql.database.windows.net"
    assert unquote(parts.path.lstrip("/")) == "tesoro-production-db"
    assert parts.username == "sqladmin" and unquote(parts.password or "") == PASSWORD
    assert PASSWORD not in got  # only in its quoted form


def test_jdbc_url_for_flyway_keeps_the_password_out_of_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Flyway gets `jdbc:sqlserver://…;databaseName=…;encrypt=true` and the login in
    FLYWAY_USER / FLYWAY_PASSWORD; a server certificate to trust says so in the URL."""
    monkeypatch.setenv(SECRET_VARIABLE, PASSWORD)
    got = variables(azure_sql(tmp_path), "jdbc", "FLYWAY_URL")
    assert got["FLYWAY_URL"] == (
        "jdbc:sqlserver://tesoro-production-sql.database.windows.net:1433"
        ";databaseName=tesoro-production-db;encrypt=true;trustServerCertificate=false"
    )
    assert got["FLYWAY_USER"] == "sqladmin" and got["FLYWAY_PASSWORD"] == PASSWORD
    assert PASSWORD not in got["FLYWAY_URL"]
    trusted = azure_sql(tmp_path, query="?trust_server_certificate=yes")
    assert variables(trusted, "jdbc", "FLYWAY_URL")["FLYWAY_URL"].endswith(
        ";trustServerCertificate=true"
    )
    sqlalchemy = make_url(variables(trusted, "sqlalchemy", "DATABASE_URL")["DATABASE_URL"])
    assert sqlalchemy.query["TrustServerCertificate"] == "yes"
    # The tool's output is scrubbed of the password as is and URL-quoted.
    assert set(secret_values(trusted)) == {PASSWORD, quote(PASSWORD, safe="")}


def test_entra_sign_in_is_refused_for_tools_naming_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Entra sign-in (the default) a tool has no password to sign in with: a
    configuration error naming azure_sql.auth, before any command runs."""
    monkeypatch.setenv(SECRET_VARIABLE, PASSWORD)
    with pytest.raises(ConfigError) as caught:
        variables(azure_sql(tmp_path, auth="entra"), "sqlalchemy", "DATABASE_URL")
    assert "environments.production.database.azure_sql.auth" in str(caught.value)
    assert caught.value.exit_code == 2
