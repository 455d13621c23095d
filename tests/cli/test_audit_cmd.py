"""`turnout audit verify` on a real state file, intact and tampered with."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from tests.support.project import Project, fake_project


@pytest.fixture
def deployed(tmp_path: Path) -> Project:
    """A project whose state file holds the audit entries of one real deployment."""
    project = fake_project(tmp_path / "project")
    done = project.turnout("deploy", "--env", "web", "--version", "1.0.0", "--yes")
    assert done.returncode == 0, done.stderr[-2000:]
    return project


def _state(project: Project) -> closing[sqlite3.Connection]:
    """The project's state file, opened directly (as someone tampering with it would)."""
    return closing(sqlite3.connect(project.root / ".turnout" / "state.db", isolation_level=None))


def _entry_ids(project: Project) -> list[int]:
    with _state(project) as db:
        return [int(row[0]) for row in db.execute("SELECT id FROM audit ORDER BY id")]


def test_an_intact_audit_log_verifies(deployed: Project) -> None:
    """Every entry of a real deployment's audit log verifies: exit 0, count and newest hash."""
    done = deployed.turnout("audit", "verify", "--json")
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["intact"] is True
    assert document["entries"] == len(_entry_ids(deployed)) > 1
    human = deployed.turnout("audit", "verify")
    assert human.returncode == 0 and "audit log intact" in human.stderr


def test_an_edited_entry_is_named(deployed: Project) -> None:
    """An entry changed in the SQLite file after it was written: exit 5 naming that entry."""
    second = _entry_ids(deployed)[1]
    with _state(deployed) as db:
        db.execute("UPDATE audit SET actor = 'mallory' WHERE id = ?", (second,))
    done = deployed.turnout("audit", "verify")
    assert done.returncode == 5
    assert f"row {second} was changed after it was written" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_deleted_entry_is_named(deployed: Project) -> None:
    """An entry deleted from the middle of the log: exit 5 naming the entry after the gap."""
    first, second, third = _entry_ids(deployed)[:3]
    with _state(deployed) as db:
        db.execute("DELETE FROM audit WHERE id = ?", (second,))
    done = deployed.turnout("audit", "verify")
    assert done.returncode == 5
    assert f"row {third} does not follow row {first}: row {second} was deleted" in done.stderr
