"""What a release's database phase would apply, for `turnout plan`: the pending SQL
files, or what the app's own tool says is pending, by its own names. Only reads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from turnout.config import EnvironmentConfig, LoadedConfig
    from turnout.store import Store


@dataclass(frozen=True)
class PlannedDatabase:
    """The database phase's work for a release, as the plan shows it."""

    database: str
    """Where the database is (no secrets)."""
    tool: str | None
    """The app's migration tool, or None for SQL files."""
    pending: tuple[str, ...] = ()
    """Pending migrations: SQL file names, or the tool's own names."""
    labels: tuple[str, ...] = ()
    """The same, with the tool's descriptions where it gives them."""
    error: str | None = None
    """Why the database or the tool could not be asked (the plan goes on without it)."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`plan --json`'s `database`)."""
        return {
            "database": self.database,
            "tool": self.tool,
            "pending": list(self.pending),
            "labels": list(self.labels),
            "backup": bool(self.pending),
            "error": self.error,
        }

    def lines(self) -> list[str]:
        """For people."""
        if self.error is not None:
            return [f"{self.database}: could not ask what is pending: {self.error}"]
        source = f"{self.tool} reports" if self.tool else "SQL files:"
        if not self.pending:
            return [f"{self.database}: {source} nothing pending; no backup, no migration"]
        return [
            f"{self.database}: {source} {len(self.pending)} pending, applied after a verified"
            " backup:",
            *(f"  {label}" for label in self.labels),
        ]


def planned_database(
    config: LoadedConfig, env: EnvironmentConfig, store: Store, package: Path
) -> PlannedDatabase:
    """What the release would migrate now (asked of the database or the tool)."""
    from turnout.database.driver import DatabaseError
    from turnout.database.service import DatabaseService
    from turnout.runbook.tool_migrations import migrator_for

    svc = DatabaseService(config, env, store)
    where = svc.location.describe()
    tool = migrator_for(config, env, svc, package)
    try:
        if tool is not None:
            status = tool.status()
            return PlannedDatabase(
                where,
                tool.tool,
                tuple(status.pending_names),
                tuple(m.label() for m in status.pending),
            )
        files = [m.filename for m in svc.pending(svc.load_migrations(package))]
        return PlannedDatabase(where, None, tuple(files), tuple(files))
    except DatabaseError as exc:
        return PlannedDatabase(where, tool.tool if tool else None, error=exc.message)
