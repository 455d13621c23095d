"""`database.migrations` as a table: the app's own migration tool instead of SQL files.

`{ tool = "django" }` is enough for a Django app whose `manage.py` is at the package's
root; Alembic and Flyway have presets too, and `tool = "command"` runs anything given its
`apply` and `pending` commands. Commands are argument lists (no shell). The database's
location and password reach them as environment variables only: an argument that is a
secret reference is refused, since process arguments are visible to every user.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Literal

from pydantic import Field, field_validator, model_validator

from turnout.config.base import MAX_SECONDS, Section
from turnout.config.secrets import SecretOrText

Tool = Literal["django", "alembic", "flyway", "command"]
ListFormat = Literal["lines", "json"]
UrlStyle = Literal["plain", "sqlalchemy", "jdbc"]

PLACEHOLDERS = ("program", "project", "package")
"""What an argument may name in braces: the tool's program, its project file, the
unpacked release package's folder."""

_VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
"""A placeholder in an argument: `{name}`."""


class MigrationCommands(Section):
    """How the app's own tool applies migrations, lists them, and finds the database."""

    tool: Tool
    """A preset (`django`, `alembic`, `flyway`) or `command` (give apply and pending)."""
    project: str | None = None
    """The tool's project file inside the package: manage.py (Django, the default),
    alembic.ini (Alembic, the default), a Flyway configuration file (none by default)."""
    program: str | None = None
    """The interpreter (Django, Alembic: the package's .venv/bin/python when it has one,
    else python3) or executable (Flyway: flyway) the commands start."""
    apply: list[str] | None = None
    """The command that applies every pending migration (replaces the preset's)."""
    pending: list[str] | None = None
    """A command that lists what is pending, one name a line (or a JSON list of names with
    list_format = "json"); nothing printed means nothing pending. Presets ask their tool."""
    applied: list[str] | None = None
    """A command that lists what is applied, in the same format (optional for `command`;
    resuming and the staging comparison then rely on what turnout saw pending)."""
    list_format: ListFormat = "lines"
    """How the configured `pending` and `applied` commands print names (a preset's own
    listing is read in its tool's format)."""
    verify: list[str] | None = None
    """A command run after migrating; any exit but 0 fails verification (and restores)."""
    verify_sql: str | None = None
    """A verify.sql file inside the package, run as for SQL migrations."""
    workdir: str = "."
    """Where the commands run, inside the unpacked release package."""
    timeout_seconds: float = Field(default=900.0, gt=0, le=MAX_SECONDS)
    """How long the apply command may run before it is stopped and the backup restored."""
    url_variable: str | None = None
    """The variable that carries the database URL (password included): DATABASE_URL;
    Flyway: FLYWAY_URL (a JDBC URL, with FLYWAY_USER and FLYWAY_PASSWORD beside it)."""
    url_style: UrlStyle | None = None
    """How the URL is written: plain (postgresql://…, sqlite:////path; Django), sqlalchemy
    (postgresql+psycopg://…; Alembic), jdbc (Flyway). Default: the preset's."""
    env: dict[str, SecretOrText] = Field(default_factory=dict)
    """More variables for the commands; a value may be a secret reference (env:NAME)."""

    @field_validator("apply", "pending", "applied", "verify")
    @classmethod
    def _argument_list(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if not value or not value[0].strip():
            raise ValueError('expected a command as a list of arguments, e.g. ["make", "migrate"]')
        for argument in value:
            if "env:" in argument:
                raise ValueError(
                    "a secret reference may not be a command-line argument (every user can"
                    " read those): name it in database.migrations.env, the command gets it"
                    " as a variable"
                )
            for name in PLACEHOLDER.findall(argument):
                if name not in PLACEHOLDERS:
                    raise ValueError(
                        f"unknown placeholder {{{name}}} in {argument!r}; arguments may name"
                        f" {', '.join('{' + p + '}' for p in PLACEHOLDERS)}"
                    )
        return value

    @field_validator("project", "verify_sql", "workdir")
    @classmethod
    def _inside_the_package(cls, value: str | None) -> str | None:
        if value is not None:
            path = PurePosixPath(value)
            if path.is_absolute() or ".." in path.parts or not value.strip():
                raise ValueError("expected a path inside the release package, e.g. manage.py")
        return value

    @field_validator("url_variable")
    @classmethod
    def _variable_name(cls, value: str | None) -> str | None:
        if value is not None and not _VARIABLE.match(value):
            raise ValueError("expected an environment variable name, e.g. DATABASE_URL")
        return value

    @field_validator("env")
    @classmethod
    def _variable_names(cls, value: dict[str, SecretOrText]) -> dict[str, SecretOrText]:
        for name in value:
            if not _VARIABLE.match(name):
                raise ValueError(f"{name!r} is not an environment variable name")
        return value

    @model_validator(mode="after")
    def _command_needs_its_commands(self) -> MigrationCommands:
        if self.tool == "command":
            missing = [key for key in ("apply", "pending") if getattr(self, key) is None]
            if missing:
                raise ValueError(
                    f'tool = "command" needs {" and ".join(missing)}: the command that'
                    " applies migrations and the one that lists what is pending"
                )
        return self
