"""`turnout db status|migrate|backup|restore|history`: the database outside a deployment."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    console,
    current_user,
    emit_json,
    say,
)
from turnout.errors import Refused

# The database layer is imported when a `db` command runs, not for every command's start.
if TYPE_CHECKING:
    from turnout.api import DatabaseOperations


class RestoreFrom(StrEnum):
    """Where an Azure SQL restore comes from (`db restore --from`)."""

    PITR = "pitr"
    COPY = "copy"
    BACPAC = "bacpac"


PackageOption = Annotated[
    Path | None, typer.Option("--package", "-p", help="Release package (zip or directory).")
]
VersionOption = Annotated[
    str | None,
    typer.Option("--version", "-v", help="Release version (finds the package by app.package)."),
]


@contextmanager
def _operations(config_path: Path | None, env: str, actor: str) -> Iterator[DatabaseOperations]:
    from turnout.api import database

    with database(
        env, actor=actor, config=config_path, progress=lambda m: console.print(f"  {m}")
    ) as operations:
        yield operations


def status(
    env: EnvOption,
    package: PackageOption = None,
    version: VersionOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What is applied, what a release would apply, and the latest backups."""
    with _operations(config, env, current_user()) as ops:
        doc = ops.status(package, version)
    if as_json:
        emit_json(doc)
        return
    if doc.get("tool"):
        say(f"[bold]{doc['database']}[/] ({env}), migrated by {doc['tool']}")
    else:
        say(f"[bold]{doc['database']}[/] ({env}), history table {doc['history_table']}")
    if doc.get("applied") is not None:
        say(f"  applied: {', '.join(doc['applied']) or 'none'}")
    if doc.get("note"):
        say(f"  {doc['note']}")
    if "pending" in doc:
        shown = doc.get("pending_descriptions") or doc["pending"]
        say(f"  pending in {doc['package']}: {', '.join(shown) or 'none'}")
    for b in doc["backups"]:
        say(
            f"  backup {b['id']}: {b['created_at']} {b['status']} {b['size']} bytes {b['location']}"
        )


def history(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The migration history table of the application database."""
    with _operations(config, env, current_user()) as ops:
        rows = [a.to_dict() for a in ops.applied()]
    if as_json:
        emit_json({"environment": env, "history_table": ops.history_table, "migrations": rows})
        return
    from rich.table import Table

    table = Table("version", "description", "applied at", "by", "ms", "checksum")
    for r in rows:
        table.add_row(
            str(r["version"]),
            str(r["description"]),
            str(r["applied_at"]),
            str(r["applied_by"]),
            str(r["execution_time_ms"]),
            str(r["checksum"])[:12],
        )
    console.print(table if rows else "no migrations applied")


def backup(
    env: EnvOption,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back up the database now, verify it, record it (retention applies)."""
    with _operations(config, env, current_user(actor)) as ops:
        record = ops.backup()
        summary = ops.backup_summary(record)
    if as_json:
        emit_json(record.to_dict())
        return
    say(f"[green]✓[/] {summary}: {record.location}")


def migrate(
    env: EnvOption,
    package: PackageOption = None,
    version: VersionOption = None,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back up, apply the release's pending migrations, verify; restore on failure."""
    with _operations(config, env, current_user(actor)) as ops:
        result = ops.migrate_release(package, version)
    if as_json:
        emit_json(result.to_dict())
        return
    if not result.versions or result.verify is None:
        say("nothing to migrate: every migration of the release is applied")
        return
    if result.tool is not None:
        say(
            f"[green]✓[/] {result.tool} applied {', '.join(result.versions)} after backup"
            f" {result.backup_id}; verified"
        )
        return
    say(
        f"[green]✓[/] applied {', '.join(result.versions)} after backup {result.backup_id};"
        f" verified ({result.verify.queries} verify.sql queries)"
    )


def restore(
    env: EnvOption,
    backup_id: Annotated[
        int | None, typer.Argument(help="Backup id (default: the newest one).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    source: Annotated[
        RestoreFrom | None,
        typer.Option(
            "--from",
            help="Azure SQL: restore from the point in time (pitr), the pre-migration copy"
            " or the bacpac (default: the copy if one was taken, else pitr).",
        ),
    ] = None,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a recorded backup (asks first; refuses a file whose checksum changed).
    Azure SQL: to a new database, verified, swapped in by rename."""
    chosen = None if source is None else source.value
    with _operations(config, env, current_user(actor)) as ops:
        record = ops.find_backup(backup_id)
        question = ops.describe_restore(record, chosen)
        if not yes:
            if not sys.stdin.isatty():
                raise Refused("restore replaces the whole database: confirm with --yes")
            say(
                f"{question} Every change since then is lost; coordinate with engineering"
                " leadership."
            )
            if not typer.confirm("Restore?", default=False):
                raise Refused("restore not confirmed; nothing changed")
        done = ops.restore(record.id, chosen)
    if as_json:
        emit_json(done.to_dict())
        return
    azure = done.result.azure_sql
    if azure is not None:
        say(
            f"[green]✓[/] restored backup {record.id} into {azure.target} ({azure.source},"
            f" verified, swapped in by rename); the database it replaced is kept as"
            f" {azure.replaced_name}"
        )
        return
    say(f"[green]✓[/] restored backup {record.id} into {env}; row counts match the backup")


def register(app: typer.Typer) -> None:
    """Add the `db` command group."""
    db = typer.Typer(
        name="db", help="Database migrations, backups and restores.", no_args_is_help=True
    )
    db.command("status")(status)
    db.command("migrate")(migrate)
    db.command("backup")(backup)
    db.command("restore")(restore)
    db.command("history")(history)
    app.add_typer(db, name="db")
