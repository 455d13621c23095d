"""The variables that tell a migration tool where the database is, password included.

Only variables: a process's arguments are readable by every user of the machine, its
environment only by its owner. Each engine has one builder here; an engine without one
(a new driver of engine_choice.py) is refused with a message that says so, before
anything runs.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode

from turnout.config.migration_commands import UrlStyle
from turnout.database.location import DatabaseLocation
from turnout.errors import ConfigError


def _sqlite(location: DatabaseLocation, style: UrlStyle) -> dict[str, str]:
    assert location.path is not None  # a sqlite location always has its file
    path = str(location.path.resolve())
    url = f"jdbc:sqlite:{path}" if style == "jdbc" else f"sqlite:///{path}"
    return {"url": url, "DATABASE_PATH": path}


def _postgresql(location: DatabaseLocation, style: UrlStyle) -> dict[str, str]:
    password = location.password()
    where = f"{location.host}:{location.port}/{quote(location.dbname, safe='')}"
    variables = {
        "PGHOST": location.host,
        "PGPORT": str(location.port),
        "PGDATABASE": location.dbname,
    }
    if location.user:
        variables["PGUSER"] = location.user
    if password is not None:
        variables["PGPASSWORD"] = password
    if style == "jdbc":
        variables["url"] = f"jdbc:postgresql://{where}"
        variables["FLYWAY_USER"] = location.user
        if password is not None:
            variables["FLYWAY_PASSWORD"] = password
        return variables
    scheme = "postgresql+psycopg" if style == "sqlalchemy" else "postgresql"
    user = quote(location.user, safe="")
    secret = f":{quote(password, safe='')}" if password is not None else ""
    credentials = f"{user}{secret}@" if user or secret else ""
    variables["url"] = f"{scheme}://{credentials}{where}"
    return variables


ODBC_DRIVER = "ODBC Driver 18 for SQL Server"
"""The ODBC driver a SQLAlchemy URL names (pyodbc's; Microsoft's current one)."""


def _jdbc_value(value: str) -> str:
    """A JDBC connection property's value, in braces when it holds `;`, `=` or braces."""
    return "{" + value.replace("}", "}}") + "}" if any(c in value for c in ";={}") else value


def _mssql(location: DatabaseLocation, style: UrlStyle) -> dict[str, str]:
    auth = location.azure_sql.auth if location.azure_sql is not None else "sql"
    if auth != "sql":
        # With Entra sign-in turnout holds a token, not a password; the tool's driver would
        # need that token handed to it, which no variable here does yet.
        raise ConfigError(
            location.config_file,
            f"{location.config_section}.azure_sql.auth",
            'migrations by command on Azure SQL sign in as a SQL login: set auth = "sql"'
            " (the URL's user and database.password); Entra sign-in is for SQL files",
        )
    password = location.password()
    trust = "yes" if location.trust_server_certificate else "no"
    # sqlcmd's own variables, as libpq's PG* are for PostgreSQL.
    variables = {
        "SQLCMDSERVER": f"tcp:{location.host},{location.port}",
        "SQLCMDDBNAME": location.dbname,
        "SQLCMDUSER": location.user,
    }
    if password is not None:
        variables["SQLCMDPASSWORD"] = password
    if style == "jdbc":
        properties = {
            "databaseName": location.dbname,
            "encrypt": "true",
            "trustServerCertificate": "true" if trust == "yes" else "false",
        }
        tail = "".join(f";{k}={_jdbc_value(v)}" for k, v in properties.items())
        variables["url"] = f"jdbc:sqlserver://{location.host}:{location.port}{tail}"
        variables["FLYWAY_USER"] = location.user
        if password is not None:
            variables["FLYWAY_PASSWORD"] = password
        return variables
    user = quote(location.user, safe="")
    secret = f":{quote(password, safe='')}" if password is not None else ""
    where = f"{location.host}:{location.port}/{quote(location.dbname, safe='')}"
    if style == "sqlalchemy":
        # Keywords after the driver's go into pyodbc's connection string as they are.
        odbc = {"driver": ODBC_DRIVER, "Encrypt": "yes", "TrustServerCertificate": trust}
        variables["url"] = f"mssql+pyodbc://{user}{secret}@{where}?{urlencode(odbc)}"
    else:
        # Settings that parse it (for mssql-django, ENGINE "mssql") keep their own driver
        # options: encryption, a certificate to trust.
        variables["url"] = f"mssql://{user}{secret}@{where}"
    return variables


BUILDERS: dict[str, Callable[[DatabaseLocation, UrlStyle], dict[str, str]]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
    "mssql": _mssql,
}
"""Engine -> its variables. An engine added to engine_choice.py adds its builder here."""


def connection_variables(
    location: DatabaseLocation, style: UrlStyle, url_variable: str, *, key: str
) -> dict[str, str]:
    """The variables for a tool: the URL under `url_variable`, and the engine's own
    (libpq's PG* for PostgreSQL, sqlcmd's SQLCMD* for SQL Server, FLYWAY_USER and
    FLYWAY_PASSWORD for JDBC)."""
    builder = BUILDERS.get(location.engine)
    if builder is None:
        raise ConfigError(
            location.config_file,
            key,
            f"migrations by command are not supported on {location.engine} databases yet;"
            " use SQL files there",
        )
    variables = builder(location, style)
    url = variables.pop("url")
    variables[url_variable] = url
    return variables


def secret_values(location: DatabaseLocation) -> list[str]:
    """The secrets a tool's output might echo (the password, as is and URL-quoted)."""
    password = location.password() if location.password_ref is not None else None
    if not password:
        return []
    return sorted({password, quote(password, safe="")}, key=len, reverse=True)
