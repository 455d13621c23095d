"""`turnout db status|migrate|backup|restore|history`: the database outside a deployment."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from turnout.cli.common import (
    AsOption,
    ConfigOption,
    EnvOption,
    JsonOption,
    console,
    current_user,
    emit_json,
    load,
    open_store,
    say,
)
from turnout.errors import BadInput, LockHeld, NeedsPerson, PackageError, Refused, RolledBack

# The database layer is imported when a `db` command runs, not for every command's start.
if TYPE_CHECKING:
    from turnout.config import LoadedConfig
    from turnout.database.dump import LogicalDump
    from turnout.database.migrations import MigrationSet
    from turnout.database.service import DatabaseService
    from turnout.store import Store

PackageOption = Annotated[
    Path | None, typer.Option("--package", "-p", help="Release package (zip or directory).")
]
VersionOption = Annotated[
    str | None,
    typer.Option("--version", "-v", help="Release version (finds the package by app.package)."),
]


@contextmanager
def _service(config_path: Path | None, env: str, actor: str) -> Iterator[DatabaseService]:
    from turnout.database.service import DatabaseService

    loaded = load(config_path)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        yield DatabaseService(
            loaded, environment, store, actor=actor, progress=lambda m: console.print(f"  {m}")
        )


@contextmanager
def _database_errors() -> Iterator[None]:
    # A database that fails outside a known-safe path needs a person to look (exit 5).
    from turnout.database.driver import DatabaseError

    try:
        yield
    except DatabaseError as exc:
        raise NeedsPerson(exc.message, details=exc.details) from exc


@contextmanager
def _locked(store: Store, environment: str, actor: str) -> Iterator[None]:
    # The same lock as deployments: no migrate or restore under a running deployment.
    from turnout.store import holder_identity

    holder = holder_identity(actor)
    try:
        store.acquire_lock(environment, None, holder)
    except LockHeld:
        if not _take_over_dead_db_lock(store, environment, holder, actor):
            raise
    try:
        yield
    finally:
        store.release_lock(environment, holder)


def _take_over_dead_db_lock(store: Store, environment: str, holder: str, actor: str) -> bool:
    # A killed `turnout db` command leaves its lock behind; deployments' locks are left to
    # `turnout resume`, which knows how to finish them.
    lock = store.lock(environment)
    if lock is None or lock.deployment_id is not None or lock.host != socket.gethostname():
        return False
    try:
        os.kill(lock.pid, 0)
        return False
    except ProcessLookupError:
        pass
    except PermissionError:
        return False
    if not store.take_over_lock(environment, lock.holder, holder):
        return False
    store.audit(actor, "lock.take-over", environment=environment, previous_holder=lock.holder)
    return True


def _package(config: LoadedConfig, package: Path | None, version: str | None) -> Path:
    if package is None and version is None:
        raise BadInput("give --package P or --version V to find the release's migrations")
    if package is None:
        app = config.root.app
        package = config.resolve_path(app.package.format(name=app.name, version=version))
    if not package.exists():
        raise PackageError(f"{package}: release package not found")
    return package.resolve()


def _migrations(svc: DatabaseService, package: Path | None, version: str | None) -> MigrationSet:
    return svc.load_migrations(_package(svc.config, package, version))


def status(
    env: EnvOption,
    package: PackageOption = None,
    version: VersionOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """What is applied, what a release would apply, and the latest backups."""
    with _service(config, env, current_user()) as svc, _database_errors():
        migrations = None
        if package is not None or version is not None:
            migrations = _migrations(svc, package, version)
        doc = svc.status(migrations)
    if as_json:
        emit_json(doc)
        return
    say(f"[bold]{doc['database']}[/] ({env}), history table {doc['history_table']}")
    say(f"  applied: {', '.join(doc['applied']) or 'none'}")
    if "pending" in doc:
        say(f"  pending in {doc['package']}: {', '.join(doc['pending']) or 'none'}")
    for b in doc["backups"]:
        say(
            f"  backup {b['id']}: {b['created_at']} {b['status']} {b['size']} bytes {b['location']}"
        )


def history(env: EnvOption, config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """The migration history table of the application database."""
    with _service(config, env, current_user()) as svc, _database_errors():
        rows = [a.to_dict() for a in svc.applied()]
    if as_json:
        emit_json({"environment": env, "history_table": svc.history.display, "migrations": rows})
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
    user = current_user(actor)
    with _service(config, env, user) as svc, _database_errors():
        record = svc.backup(None, reason="manual backup")
        svc.store.audit(user, "db.backup", environment=env, backup_id=record.id)
    doc = record.to_dict()
    if as_json:
        emit_json(doc)
        return
    say(f"[green]✓[/] backup {record.id} verified: {record.location} ({record.size} bytes)")


def migrate(
    env: EnvOption,
    package: PackageOption = None,
    version: VersionOption = None,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Back up, apply the release's pending migrations, verify; restore on failure."""
    user = current_user(actor)
    with _service(config, env, user) as svc, _locked(svc.store, env, user):
        doc = _migrate(svc, _migrations(svc, package, version), user)
    if as_json:
        emit_json(doc)
        return
    if not doc["applied"]:
        say("nothing to migrate: every migration of the release is applied")
        return
    say(
        f"[green]✓[/] applied {', '.join(doc['applied'])} after backup {doc['backup_id']};"
        f" verified ({doc['verify']['queries']} verify.sql queries)"
    )


def _migrate(svc: DatabaseService, migrations: MigrationSet, user: str) -> dict[str, Any]:
    from turnout.database.driver import DatabaseError

    env = svc.env.name
    with _database_errors():
        pending = svc.pending(migrations)
        if not pending:
            return {"environment": env, "applied": [], "backup_id": None}
        record = svc.backup(None, reason=f"before migrating {migrations.source}")
        expected = svc.remember_pre_migration_state(svc.find_backup(record.id))
    try:
        done = svc.migrate(pending)
        report = svc.verify(migrations)
    except DatabaseError as exc:  # MigrationFailed names the file, statement and error
        _restore_after_failure(svc, record.id, expected, exc.message)
    if not report.ok:
        _restore_after_failure(
            svc, record.id, expected, "verification failed: " + "; ".join(report.failures)
        )
    versions = [r.version for r in done]
    svc.store.audit(user, "db.migrate", environment=env, versions=versions, backup_id=record.id)
    return {
        "environment": env,
        "applied": versions,
        "files": [r.to_dict() for r in done],
        "backup_id": record.id,
        "verify": report.to_dict(),
    }


def _restore_after_failure(
    svc: DatabaseService, backup_id: int, expected: LogicalDump, problem: str
) -> NoReturn:
    try:
        svc.restore(backup_id, reason=f"migrate failed: {problem[:200]}", expected=expected)
    except Exception as exc:
        raise NeedsPerson(
            f"{problem}; restoring backup {backup_id} failed too: {exc}; "
            f"run `turnout db restore {backup_id} --env {svc.env.name}` once the cause is fixed"
        ) from exc
    raise RolledBack(
        f"{problem}; database restored from backup {backup_id} and checked equal to its"
        " pre-migration state"
    )


def restore(
    env: EnvOption,
    backup_id: Annotated[
        int | None, typer.Argument(help="Backup id (default: the newest one).")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    actor: AsOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Restore a recorded backup (asks first; refuses a file whose checksum changed)."""
    user = current_user(actor)
    with _service(config, env, user) as svc:
        record = svc.find_backup(backup_id)
        if not yes:
            if not sys.stdin.isatty():
                raise Refused("restore replaces the whole database: confirm with --yes")
            say(
                f"Restore backup {record.id} ({record.created_at}, {record.location}) into"
                f" {svc.location.describe()}? Every change since then is lost; coordinate"
                " with engineering leadership."
            )
            if not typer.confirm("Restore?", default=False):
                raise Refused("restore not confirmed; nothing changed")
        with _locked(svc.store, env, user), _database_errors():
            result = svc.restore(record.id, reason="manual restore (turnout db restore)")
    doc = {**result.to_dict(), "environment": env, "by": user}
    if as_json:
        emit_json(doc)
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
