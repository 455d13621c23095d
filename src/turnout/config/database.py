"""Database phase settings: migrations, backups, when to migrate."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Discriminator, Field, Tag, field_validator, model_validator

from turnout.config.azure_sql import AzureSqlConfig
from turnout.config.base import MAX_SECONDS, Section
from turnout.config.migration_commands import MigrationCommands
from turnout.config.secrets import Secret

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
SCHEMES = ("sqlite", "postgresql", "postgres", "postgresql+psycopg", "mssql")

# The loader leaves union branch tags written in angle brackets out of the keys it names,
# so a problem reads `database.migrations.tool`, as the user wrote it.
_FOLDER, _COMMAND = "<sql files>", "<command>"


def _migrations_kind(value: Any) -> str:
    return _COMMAND if isinstance(value, dict | MigrationCommands) else _FOLDER


Migrations = Annotated[
    Annotated[str, Tag(_FOLDER)] | Annotated[MigrationCommands, Tag(_COMMAND)],
    Discriminator(_migrations_kind),
]
"""A folder of versioned SQL files in the package, or the app's own migration command."""


class DatabaseConfig(Section):
    """The application database that migrations run against."""

    url: str | None = None
    """URL without the password, e.g. sqlite:///data/app.db (relative to turnout.toml),
    sqlite:////var/lib/app.db (absolute), postgresql://app@127.0.0.1:5432/app or
    mssql://tesoro-production-sql.database.windows.net/tesoro-production-db (Azure SQL).
    None means the app has no database and the plan has no database phase."""
    password: Secret | None = None
    """Secret reference for the database password (PostgreSQL; Azure SQL with
    azure_sql.auth = "sql"), e.g. env:APP_DB_PASSWORD."""
    azure_sql: AzureSqlConfig | None = None
    """An mssql:// database on Azure SQL: sign-in, management plane, backup mode."""
    migrations: Migrations = "migrations"
    """Folder of versioned SQL files inside the release package, or a table naming the
    app's own migration tool (`{ tool = "django" }`, see MigrationCommands)."""
    history_table: str = "__MigrationHistory"
    """Table in the application database recording applied migrations."""
    history_schema: str | None = None
    """PostgreSQL schema of the history table (created with the first migration); unset,
    the connection's default schema. SQLite has one schema per file, `main`."""
    run: Literal["before-swap", "after-swap"] = "before-swap"
    """Migrate before the swap (default: a failure stops before traffic moves) or after it
    (the runbook's literal order)."""
    backup_dir: Path | None = None
    """Where backups are written (default .turnout/backups/ENV), relative to turnout.toml."""
    retention: int = Field(default=10, ge=1, le=10_000)
    """How many verified backups to keep per environment; older files are deleted."""
    timeout_seconds: float = Field(default=10.0, gt=0, le=MAX_SECONDS)
    """How long to wait for a connection (and for a lock held by the app) before failing."""

    @field_validator("url")
    @classmethod
    def _url_has_no_password(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        # Checked first: the other messages may quote the URL, this one must not.
        if parts.password is not None:
            raise ValueError(
                "the URL must not contain a password; put a secret reference in "
                'database.password (e.g. password = "env:APP_DB_PASSWORD")'
            )
        if parts.scheme not in SCHEMES:
            raise ValueError(
                "expected a URL starting with sqlite:///, postgresql:// or mssql:// "
                f"(got scheme {parts.scheme or 'none'!r})"
            )
        if parts.scheme == "sqlite" and not parts.path.strip("/"):
            raise ValueError("a sqlite URL needs a file path, e.g. sqlite:///data/app.db")
        if parts.scheme != "sqlite" and not parts.path.strip("/"):
            raise ValueError(f"a {parts.scheme} URL needs a database name, e.g. .../app")
        if parts.scheme == "mssql" and "/" in parts.path.strip("/"):
            raise ValueError("an mssql URL names one database: mssql://SERVER/DATABASE")
        return value

    @field_validator("history_table", "history_schema")
    @classmethod
    def _plain_identifier(cls, value: str | None) -> str | None:
        if value is not None and not _IDENTIFIER.match(value):
            raise ValueError(
                "expected a plain table name (letters, digits and underscores, "
                "not starting with a digit)"
            )
        return value

    @model_validator(mode="after")
    def _schema_fits_the_engine(self) -> DatabaseConfig:
        scheme = urlsplit(self.url).scheme if self.url is not None else None
        if self.azure_sql is not None and scheme != "mssql":
            raise ValueError(
                "azure_sql: these settings belong to an Azure SQL database; set"
                ' url = "mssql://SERVER.database.windows.net/DATABASE"'
            )
        if self.azure_sql is not None:
            self._bacpac_can_sign_in(self.azure_sql)
        sqlite = scheme == "sqlite"
        if sqlite and self.history_schema not in (None, "main"):
            # An attached file would hold the history outside the backups of the database.
            raise ValueError(
                "history_schema: a SQLite database has one schema, main; the history table"
                " stays in the database file so that its backups include it"
            )
        return self

    def _bacpac_can_sign_in(self, settings: AzureSqlConfig) -> None:
        # The export signs in to the database itself: without an identity it needs a SQL
        # login and its password, known before the first backup changes anything.
        if settings.backup != "bacpac" or settings.export_identity is not None:
            return
        user = urlsplit(self.url).username if self.url is not None else None
        if settings.export_login is None and not user:
            raise ValueError(
                'azure_sql.export_login: backup = "bacpac" signs the export in with a SQL'
                " login: set export_login (or the URL's user), or export_identity"
            )
        if settings.export_password is None and self.password is None:
            raise ValueError(
                'azure_sql.export_password: backup = "bacpac" signs the export in with a'
                " password: set export_password (or database.password), or export_identity"
            )

    @field_validator("migrations")
    @classmethod
    def _relative_folder(cls, value: str | MigrationCommands) -> str | MigrationCommands:
        if isinstance(value, str):
            path = Path(value)
            if path.is_absolute() or ".." in path.parts:
                raise ValueError("expected a folder inside the release package, e.g. migrations")
        return value

    @property
    def migration_folder(self) -> str:
        """The folder of versioned SQL files (its default when a command migrates)."""
        return self.migrations if isinstance(self.migrations, str) else "migrations"

    @property
    def migration_command(self) -> MigrationCommands | None:
        """The app's own migration tool, when one is configured instead of SQL files."""
        return self.migrations if isinstance(self.migrations, MigrationCommands) else None
