"""Each tool's commands, with the configuration's overrides: what applies, what lists.

A preset names its program, its project file, the command that applies every pending
migration, the commands that list migrations, and how to read what they print. The
configuration may replace any command; `pending`/`applied` commands given there are read
as names (one a line, or a JSON list), since their format is the user's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from turnout.config.migration_commands import PLACEHOLDER, MigrationCommands, UrlStyle
from turnout.database.commands import listing
from turnout.database.commands.listing import ToolMigration, ToolStatus

Argv = tuple[str, ...]


@dataclass(frozen=True)
class Listing:
    """Commands whose stdout, read together, tell what is applied and pending."""

    commands: tuple[Argv, ...]
    read: Callable[[Sequence[str]], ToolStatus]


@dataclass(frozen=True)
class ToolCommands:
    """A tool's resolved commands (placeholders filled in) and how it finds the database."""

    tool: str
    apply: Argv
    listing: Listing
    verify: Argv | None
    url_variable: str
    url_style: UrlStyle

    def describe(self) -> str:
        """The apply command as people read it."""
        return " ".join(self.apply)


def _django(project: str) -> tuple[Argv, Listing]:
    apply = ("{program}", project, "migrate", "--noinput", "--no-color")
    plan = ("{program}", project, "showmigrations", "--plan", "--no-color")
    return apply, Listing((plan,), lambda out: listing.django_plan(out[0]))


def _alembic(project: str) -> tuple[Argv, Listing]:
    base = ("{program}", "-m", "alembic", "-c", project)
    return (*base, "upgrade", "heads"), Listing(
        ((*base, "current"), (*base, "history")),
        lambda out: listing.alembic_status(out[0], out[1]),
    )


def _flyway(project: str | None) -> tuple[Argv, Listing]:
    base = ("{program}", f"-configFiles={project}") if project else ("{program}",)
    return (*base, "migrate"), Listing(
        ((*base, "-outputType=json", "info"),), lambda out: listing.flyway_info(out[0])
    )


DEFAULT_PROJECT = {"django": "manage.py", "alembic": "alembic.ini", "flyway": None, "command": None}
DEFAULT_STYLE: dict[str, UrlStyle] = {
    "django": "plain",
    "alembic": "sqlalchemy",
    "flyway": "jdbc",
    "command": "plain",
}


def default_program(tool: str, package: Path) -> str:
    """The preset's program: the release's own virtual environment's python when it ships
    one, else python3 on PATH; flyway on PATH."""
    if tool == "flyway":
        return "flyway"
    if tool == "command":
        return ""
    for venv in (".venv", "venv"):
        python = package / venv / "bin" / "python"
        if python.exists():
            return str(python)
    return "python3"


def _custom_listing(settings: MigrationCommands) -> Listing:
    assert settings.pending is not None
    pending = tuple(settings.pending)
    fmt = settings.list_format
    if settings.applied is None:
        return Listing(
            (pending,),
            lambda out: ToolStatus(
                tuple(ToolMigration(n) for n in listing.names(out[0], fmt, "pending"))
            ),
        )
    return Listing(
        (pending, tuple(settings.applied)),
        lambda out: ToolStatus(
            tuple(ToolMigration(n) for n in listing.names(out[0], fmt, "pending")),
            tuple(listing.names(out[1], fmt, "applied")),
        ),
    )


def resolve(settings: MigrationCommands, package: Path) -> ToolCommands:
    """The commands for this tool in this unpacked release, placeholders filled in."""
    project = settings.project or DEFAULT_PROJECT[settings.tool]
    if settings.tool == "django":
        apply, found = _django(project or "manage.py")
    elif settings.tool == "alembic":
        apply, found = _alembic(project or "alembic.ini")
    elif settings.tool == "flyway":
        apply, found = _flyway(project)
    else:
        apply, found = (), _custom_listing(settings)
    if settings.apply is not None:
        apply = tuple(settings.apply)
    if settings.pending is not None:
        found = _custom_listing(settings)
    values = {
        "program": settings.program or default_program(settings.tool, package),
        "project": project or "",
        "package": str(package),
    }

    def fill(argv: Sequence[str]) -> Argv:
        return tuple(PLACEHOLDER.sub(lambda m: values[m.group(1)], arg) for arg in argv)

    url_variable = settings.url_variable or (
        "FLYWAY_URL" if settings.tool == "flyway" else "DATABASE_URL"
    )
    return ToolCommands(
        tool=settings.tool,
        apply=fill(apply),
        listing=Listing(tuple(fill(c) for c in found.commands), found.read),
        verify=fill(settings.verify) if settings.verify is not None else None,
        url_variable=url_variable,
        url_style=settings.url_style or DEFAULT_STYLE[settings.tool],
    )
