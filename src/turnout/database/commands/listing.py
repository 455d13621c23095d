"""What a migration tool says is applied and pending, read from its own output."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from turnout.database.driver import DatabaseError


class ListingError(DatabaseError):
    """A tool's listing could not be read (not its format, or the tool failed)."""


@dataclass(frozen=True)
class ToolMigration:
    """One migration as its tool names it (`shop.0002_tier`, an Alembic revision, `V2`)."""

    name: str
    description: str = ""

    def label(self) -> str:
        """The name, and the description when the tool gives one."""
        return f"{self.name} ({self.description})" if self.description else self.name

    def to_dict(self) -> dict[str, str]:
        """JSON-ready form."""
        return {"name": self.name, "description": self.description}


@dataclass(frozen=True)
class ToolStatus:
    """Applied and pending migrations in the tool's order; applied is None when the tool
    was not asked (a `command` tool without an `applied` command)."""

    pending: tuple[ToolMigration, ...]
    applied: tuple[str, ...] | None = None
    failed: tuple[str, ...] = ()
    """Migrations the tool records as failed (Flyway), which it will not apply again."""

    @property
    def pending_names(self) -> list[str]:
        """The pending migrations' names."""
        return [m.name for m in self.pending]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "pending": [m.to_dict() for m in self.pending],
            "applied": list(self.applied) if self.applied is not None else None,
            "failed": list(self.failed),
        }


_DJANGO_LINE = re.compile(r"^\[(?P<mark>[X\- ])\]\s+(?P<name>\S+)")


def django_plan(output: str) -> ToolStatus:
    """`manage.py showmigrations --plan`: `[X]  app.0001_initial` applied, `[ ]` pending
    (`[-]`, a squashed migration partly applied, is pending too)."""
    applied: list[str] = []
    pending: list[ToolMigration] = []
    for line in output.splitlines():
        match = _DJANGO_LINE.match(line.strip())
        if match is None:
            continue
        name = match.group("name")
        if match.group("mark") == "X":
            applied.append(name)
        else:
            pending.append(ToolMigration(name))
    # A project without any migration yet: Django says so instead of listing none.
    if not applied and not pending and output.strip() not in ("", "(no migrations)"):
        raise ListingError("showmigrations --plan printed no migration lines: " + _excerpt(output))
    return ToolStatus(tuple(pending), tuple(applied))


_ALEMBIC_HISTORY = re.compile(
    r"^(?P<down>.+?) -> (?P<rev>[0-9A-Za-z_]+)(?: \((?:head|branchpoint|mergepoint)\))*"
    r"(?:, (?P<message>.*))?$"
)
_ALEMBIC_CURRENT = re.compile(r"^(?P<rev>[0-9A-Za-z_]+)(?: \((?:head|effective head)\))*$")


def alembic_status(current: str, history: str) -> ToolStatus:
    """`alembic current` and `alembic history`: applied is every ancestor of the current
    revisions (themselves included), pending every other revision, oldest first."""
    parents: dict[str, list[str]] = {}
    messages: dict[str, str] = {}
    order: list[str] = []  # history prints the newest first
    for line in history.splitlines():
        match = _ALEMBIC_HISTORY.match(line.strip())
        if match is None:
            continue
        rev = match.group("rev")
        downs = [d.strip() for d in match.group("down").split(",")]
        parents[rev] = [d for d in downs if d and d != "<base>"]
        messages[rev] = (match.group("message") or "").strip()
        order.append(rev)
    if not order and history.strip():
        raise ListingError("alembic history printed no revision lines: " + _excerpt(history))
    heads = []
    for line in current.splitlines():
        match = _ALEMBIC_CURRENT.match(line.strip())
        if match is not None:
            heads.append(match.group("rev"))
    unknown = [rev for rev in heads if rev not in parents]
    if unknown:
        raise ListingError(
            f"the database is at revision {', '.join(unknown)}, which this release's"
            " migrations do not have (a newer release migrated it?)"
        )
    applied: set[str] = set()
    stack = list(heads)
    while stack:
        rev = stack.pop()
        if rev not in applied:
            applied.add(rev)
            stack.extend(parents.get(rev, []))
    oldest_first = list(reversed(order))
    return ToolStatus(
        tuple(ToolMigration(r, messages[r]) for r in oldest_first if r not in applied),
        tuple(r for r in oldest_first if r in applied),
    )


FLYWAY_APPLIED = frozenset({"Success", "Baseline", "Out of Order", "Future", "Superseded"})
FLYWAY_PENDING = frozenset({"Pending", "Outdated"})
FLYWAY_FAILED = frozenset({"Failed", "Future Failed", "Missing Failed", "Outdated Failed"})


def flyway_info(output: str) -> ToolStatus:
    """`flyway -outputType=json info`: its `migrations` with their `state`; an `error`
    object (what Flyway prints instead when it refuses) is the tool's failure."""
    document = _json(output, "flyway info")
    if not isinstance(document, dict):
        raise ListingError("flyway info did not print a JSON object: " + _excerpt(output))
    error = document.get("error")
    if isinstance(error, dict):
        raise ListingError(
            f"flyway info failed: {error.get('errorCode', 'error')}: {error.get('message', '')}"
        )
    migrations = document.get("migrations")
    if not isinstance(migrations, list):
        raise ListingError("flyway info printed no migrations list: " + _excerpt(output))
    applied: list[str] = []
    pending: list[ToolMigration] = []
    failed: list[str] = []
    for entry in migrations:
        if not isinstance(entry, dict):
            continue
        version = str(entry.get("version") or "")
        description = str(entry.get("description") or "")
        # Versioned migrations are named by version, repeatable ones by their description.
        name = version or f"R {description}"
        state = str(entry.get("state") or "")
        if state in FLYWAY_APPLIED:
            applied.append(name)
        elif state in FLYWAY_PENDING:
            pending.append(ToolMigration(name, description if version else ""))
        elif state in FLYWAY_FAILED:
            failed.append(name)
    return ToolStatus(tuple(pending), tuple(applied), tuple(failed))


def names(output: str, list_format: str, what: str) -> list[str]:
    """A `command` tool's list: one name a line (blank lines ignored) or a JSON list."""
    if list_format == "json":
        document = _json(output, what) if output.strip() else []
        if not isinstance(document, list) or not all(isinstance(n, str) for n in document):
            raise ListingError(f"{what} did not print a JSON list of names: " + _excerpt(output))
        return [n for n in document if n.strip()]
    return [line.strip() for line in output.splitlines() if line.strip()]


def _json(output: str, what: str) -> Any:
    try:
        return json.loads(output)
    except ValueError as exc:
        raise ListingError(f"{what} did not print JSON ({exc}): {_excerpt(output)}") from None


def _excerpt(text: str, limit: int = 300) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit] + "…"
