"""Reading what migration tools print: Django's plan, Alembic's history, Flyway's info JSON."""

from __future__ import annotations

import pytest

from turnout.database.commands.listing import (
    ListingError,
    alembic_status,
    django_plan,
    flyway_info,
    names,
)

# The shape `flyway -outputType=json info` prints (Flyway 10+): a document with its
# migrations, each with its state; values made up for one applied, one pending, one failed.
FLYWAY_INFO = """{
  "allSchemasEmpty": false, "database": "shop", "exception": null,
  "flywayVersion": "10.17.0", "licenseFailed": false, "operation": "info",
  "schemaName": "public", "schemaVersion": "1",
  "migrations": [
    {"category": "Versioned", "description": "create users", "executionTime": 12,
     "filepath": "/app/sql/V1__create_users.sql", "installedBy": "shop",
     "installedOnUTC": "2026-09-10T10:12:33Z", "rawVersion": "1", "state": "Success",
     "type": "SQL", "undoFilepath": "", "undoable": "No", "version": "1"},
    {"category": "Versioned", "description": "add tiers", "executionTime": 0,
     "filepath": "/app/sql/V2__add_tiers.sql", "installedBy": "", "installedOnUTC": "",
     "rawVersion": "2", "state": "Pending", "type": "SQL", "undoFilepath": "",
     "undoable": "No", "version": "2"},
    {"category": "Repeatable", "description": "refresh views", "executionTime": 0,
     "filepath": "/app/sql/R__refresh_views.sql", "installedBy": "", "installedOnUTC": "",
     "rawVersion": "", "state": "Pending", "type": "SQL", "undoFilepath": "",
     "undoable": "No", "version": ""}
  ]
}"""


def test_django_plan_splits_applied_and_pending() -> None:
    """`[X]` lines are applied, `[ ]` and `[-]` pending, in the plan's order."""
    status = django_plan(
        "[X]  shop.0001_rewards\n[ ]  shop.0002_tiers ... (shop.0001_rewards)\n[-]  shop.0003_x\n"
    )
    assert status.applied == ("shop.0001_rewards",)
    assert status.pending_names == ["shop.0002_tiers", "shop.0003_x"]


def test_django_plan_of_a_project_without_migrations_is_empty() -> None:
    """Django's `(no migrations)` means nothing applied and nothing pending; other text
    without migration lines is not its plan."""
    status = django_plan("(no migrations)\n")
    assert status.applied == () and status.pending == ()
    with pytest.raises(ListingError, match="no migration lines"):
        django_plan("Traceback (most recent call last):\n")


def test_alembic_pending_is_every_revision_not_under_current() -> None:
    """Revisions not reachable from `current` are pending, oldest first, with messages."""
    history = "a1 -> b2 (head), add tiers\n<base> -> a1, add rewards\n"
    assert alembic_status("", history).pending_names == ["a1", "b2"]
    status = alembic_status("a1\n", history)
    assert status.applied == ("a1",)
    assert [m.label() for m in status.pending] == ["b2 (add tiers)"]
    with pytest.raises(ListingError, match="zz"):
        alembic_status("zz (head)\n", history)


def test_flyway_info_json_is_read_by_state() -> None:
    """Success is applied, Pending pending (repeatables by description); an error object
    is the tool's failure."""
    status = flyway_info(FLYWAY_INFO)
    assert status.applied == ("1",)
    assert status.pending_names == ["2", "R refresh views"]
    refused = '{"error": {"errorCode": "VALIDATE_ERROR", "message": "Validate failed"}}'
    with pytest.raises(ListingError, match="VALIDATE_ERROR"):
        flyway_info(refused)
    with pytest.raises(ListingError, match="did not print JSON"):
        flyway_info("flyway: command not found")


def test_command_names_in_lines_or_json() -> None:
    """A `command` tool's list reads one name a line, or a JSON list of strings."""
    assert names("a\n\n b \n", "lines", "pending") == ["a", "b"]
    assert names('["x", "y"]', "json", "pending") == ["x", "y"]
    with pytest.raises(ListingError):
        names('{"x": 1}', "json", "pending")
