"""Refusals before the first side effect: nothing announced, no tracking issue, slots untouched."""

from __future__ import annotations

import json
import sqlite3
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.webhook_server import WebhookServer
from tests.support.local_fixtures import free_port
from tests.support.project import Project, fake_project
from turnout.store import Store

HOOK = "/hooks/PREFLIGHT"
NO_CHECKS = {"TURNOUT__CHECKS__SMOKE": "[]", "TURNOUT__CHECKS__HEALTH": "[]"}
V001 = "CREATE TABLE rewards (id INTEGER PRIMARY KEY, points INTEGER NOT NULL);\n"
V003 = "CREATE TABLE tiers (id INTEGER PRIMARY KEY);\n"


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """A JSON webhook that records every announcement."""
    with WebhookServer() as server:
        yield server


def _project(root: Path, webhook: WebhookServer, extra: str = "") -> Project:
    notify = '\n[integrations.notify]\nurls = ["env:PREFLIGHT_HOOK"]\n'
    return fake_project(root, extra=notify + extra)


def _environ(webhook: WebhookServer) -> dict[str, str]:
    """Variables of the `turnout` processes: no HTTP checks, the webhook's URL."""
    return {**NO_CHECKS, "PREFLIGHT_HOOK": f"json://127.0.0.1:{webhook.port}{HOOK}"}


def _deploy(project: Project, webhook: WebhookServer, version: str, *more: str) -> tuple[int, str]:
    done = project.turnout(
        "deploy",
        "--env",
        project.env,
        "--version",
        version,
        "--yes",
        *more,
        env=_environ(webhook),
    )
    return done.returncode, done.stderr


def _latest(project: Project) -> tuple[str, int | None, dict[str, str]]:
    store = Store.open(project.root / ".turnout")
    try:
        row = store.deployments(project.env)[0]
        return row.status, row.exit_code, {s.name: s.status for s in store.steps(row.id)}
    finally:
        store.close()


def test_unsafe_package_is_refused_before_anything_is_announced(
    tmp_path: Path, webhook: WebhookServer
) -> None:
    """A zip with a `..` entry: exit 2 naming the entry, no announcement, no slot touched."""
    project = _project(tmp_path, webhook)
    project.set_slots({"production": "1.0.0", "blue": None})
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("VERSION", "1.1.0")
        archive.writestr("../outside.txt", "escaped")
    code, stderr = _deploy(project, webhook, "1.1.0", "--package", str(evil))
    assert code == 2, stderr
    assert "../outside.txt" in stderr
    assert webhook.received == []
    assert project.slots() == {"production": "1.0.0", "blue": None}
    status, exit_code, steps = _latest(project)
    assert (status, exit_code) == ("refused", 2)
    assert steps["preflight"] == "failed" and steps["announce"] == steps["track"] == "pending"


def test_version_already_live_is_refused_before_anything_is_announced(
    tmp_path: Path, webhook: WebhookServer
) -> None:
    """Deploying the live version again: exit 3, no "Deployment Starting", warm slot kept."""
    project = _project(tmp_path, webhook)
    project.set_slots({"production": "1.1.0", "blue": "1.0.0"})
    code, stderr = _deploy(project, webhook, "1.1.0")
    assert code == 3, stderr
    assert "1.1.0 is already live" in stderr
    assert webhook.received == []
    assert project.slots() == {"production": "1.1.0", "blue": "1.0.0"}


def test_silent_target_is_refused_before_anything_is_announced(
    tmp_path: Path, webhook: WebhookServer
) -> None:
    """A local target whose slot host is not running: exit 3 saying how to start it, no message."""
    extra = (
        f'\n[environments.local]\ntarget = {{ kind = "local", address = "127.0.0.1:{free_port()}"'
        " }\n"
    )
    project = _project(tmp_path, webhook, extra)
    done = project.turnout(
        "deploy", "--env", "local", "--version", "1.1.0", "--yes", env=_environ(webhook)
    )
    assert done.returncode == 3, done.stderr
    assert "turnout host up --env local" in done.stderr
    assert webhook.received == []


def _sqlite_project(root: Path, webhook: WebhookServer) -> Project:
    project = _project(root, webhook, '\n[database]\nurl = "sqlite:///app.db"\n')
    conn = sqlite3.connect(root / "app.db")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.commit()
    conn.close()
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _migrations(project: Project, version: str, files: dict[str, str]) -> None:
    folder = project.add_package(version) / "migrations"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        (
            {"V001__rewards.sql": V001 + "-- edited\n", "V003__tiers.sql": V003},
            "V001__rewards.sql: changed after it was applied",
        ),
        (
            {"V001__rewards.sql": V001, "V003__tiers.sql": V003, "V002__late.sql": V003},
            "V002__late.sql: version 2 is older than the applied version 3",
        ),
    ],
    ids=["changed-applied-file", "older-than-applied"],
)
def test_migration_history_conflict_is_refused_before_staging(
    tmp_path: Path, webhook: WebhookServer, files: dict[str, str], problem: str
) -> None:
    """A release whose files contradict the history: exit 2 before any announcement or slot
    change, so the warm previous version stays in the staging slot for a swap back."""
    project = _sqlite_project(tmp_path, webhook)
    _migrations(project, "1.1.0", {"V001__rewards.sql": V001, "V003__tiers.sql": V003})
    code, stderr = _deploy(project, webhook, "1.1.0")
    assert code == 0, stderr
    assert project.slots() == {"production": "1.1.0", "blue": "1.0.0"}
    announced = len(webhook.received)
    _migrations(project, "1.2.0", files)
    code, stderr = _deploy(project, webhook, "1.2.0")
    assert code == 2, stderr
    assert problem in stderr
    assert project.slots() == {"production": "1.1.0", "blue": "1.0.0"}
    assert len(webhook.received) == announced
    assert _latest(project)[:2] == ("refused", 2)


def test_plan_shows_what_preflight_would_refuse(tmp_path: Path, webhook: WebhookServer) -> None:
    """`turnout plan --check` lists the preflight verdict first and exits 3 on a live version."""
    project = _project(tmp_path, webhook)
    project.set_slots({"production": "1.1.0", "blue": "1.0.0"})
    args = ("plan", "--env", project.env, "--check", "--json")
    live = project.turnout(*args, "--version", "1.1.0", env=_environ(webhook))
    assert live.returncode == 3, live.stderr
    first = json.loads(live.stdout)["gates"][0]
    assert first["gate"] == "preflight" and first["blocking"]
    assert "1.1.0 is already live" in first["summary"]
    fresh = project.turnout(*args, "--version", "1.0.0", env=_environ(webhook))
    assert fresh.returncode == 0, fresh.stderr
    assert json.loads(fresh.stdout)["gates"][0]["verdict"] == "pass"
    assert webhook.received == []
