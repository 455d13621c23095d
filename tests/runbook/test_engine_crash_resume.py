"""SIGKILL `turnout deploy` at every step boundary; `turnout resume` must end it cleanly."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.support.postgres_server import PostgresServer
from tests.support.project import Project, fake_project
from turnout.config import EnvironmentConfig
from turnout.config.analysis import AnalysisConfig
from turnout.config.targets import FakeTargetConfig
from turnout.model import DeploymentType
from turnout.runbook.plan import plan_steps
from turnout.store import Store

# The app plan of an environment without a database and without metrics (as the fake
# project has: provider "none", so no verification traffic before the swap either).
PLAN = plan_steps(
    EnvironmentConfig(
        name="web", target=FakeTargetConfig(), analysis=AnalysisConfig(provider="none")
    ),
    DeploymentType.APP,
)
POINTS = [f"{when}:{step}" for step in PLAN for when in ("before", "after")]


def _check_story(project: Project, deployment_status: str, state_url: str | None = None) -> None:
    store = Store.open(project.root / ".turnout", url=state_url)
    try:
        deployments = store.deployments(project.env)
        assert deployments[0].status == deployment_status
        assert store.lock(project.env) is None
        journal = store.steps(deployments[0].id)
        if deployment_status == "succeeded":
            assert all(step.status == "succeeded" for step in journal)
        actions = [row.action for row in store.audit_log(project.env)]
        assert "deploy.start" in actions and "deploy.resume" in actions
        assert store.verify_audit() is None
    finally:
        store.close()


@pytest.mark.parametrize("point", POINTS)
def test_killed_deploy_is_finished_by_resume(point: str, tmp_path: Path) -> None:
    """A deploy killed at a step boundary ends verified on the new version after resume."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    killed = project.turnout(
        "deploy",
        "--env",
        project.env,
        "--version",
        "1.1.0",
        "--yes",
        kill_at=point,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots()["production"] == "1.1.0"
    assert project.slots()["blue"] == "1.0.0"
    _check_story(project, "succeeded")


@pytest.mark.parametrize("point", ["after:verify", "undo:swap", "after:swap"])
def test_killed_compensation_is_finished_by_resume(point: str, tmp_path: Path) -> None:
    """A failing release killed while being rolled back ends on the old version after resume."""
    project = fake_project(tmp_path)
    # 1.1.0 passes smoke tests in its slot but fails production health checks after the swap.
    project.set_slots({"production": "1.0.0", "blue": None})
    health = '[{path = "/health", expect_json = {version = "1.0.0"}}]'
    environ = {"TURNOUT__CHECKS__HEALTH": health}
    killed = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env=environ, kill_at=point
    )
    if point == "after:verify":
        # verify fails, so "after:verify" is never reached: the deploy rolls back by itself.
        assert killed.returncode == 4, killed.stderr
        assert project.slots()["production"] == "1.0.0"
        return
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = project.turnout(
        "resume", "--env", project.env, env={"TURNOUT__CHECKS__HEALTH": health}
    )
    assert resumed.returncode == 4, resumed.stderr
    assert project.slots()["production"] == "1.0.0"
    assert project.slots()["blue"] == "1.1.0"
    _check_story(project, "rolled-back")


@pytest.mark.parametrize("point", ["after:stage", "before:swap", "after:swap", "undo:swap"])
def test_killed_deploy_resumes_on_postgresql(
    point: str, tmp_path: Path, postgres: PostgresServer, pg_database: str
) -> None:
    """With the state store on PostgreSQL, a killed deploy (or rollback) is ended by resume."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    state = {"TURNOUT_STATE_URL": postgres.url(pg_database)}
    failing = point == "undo:swap"
    if failing:
        # Production health checks that only 1.0.0 passes: 1.1.0 fails verification.
        state["TURNOUT__CHECKS__HEALTH"] = '[{path = "/health", expect_json = {version = "1.0.0"}}]'
    killed = project.turnout(
        "deploy",
        "--env",
        project.env,
        "--version",
        "1.1.0",
        "--yes",
        env=state,
        kill_at=point,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = project.turnout("resume", "--env", project.env, env=state)
    assert resumed.returncode == (4 if failing else 0), resumed.stderr
    assert project.slots()["production"] == ("1.0.0" if failing else "1.1.0")
    _check_story(project, "rolled-back" if failing else "succeeded", state["TURNOUT_STATE_URL"])


def test_bad_migration_files_are_refused_before_anything(tmp_path: Path) -> None:
    """A badly named migration file: exit 2 naming it, no deployment recorded, nothing staged."""
    project = fake_project(tmp_path, extra='\n[database]\nurl = "sqlite:///app.db"\n')
    project.set_slots({"production": "1.0.0", "blue": None})
    migrations = project.root / "packages" / "1.1.0" / "migrations"
    migrations.mkdir()
    (migrations / "add_rewards.sql").write_text("CREATE TABLE rewards (id INTEGER);\n")
    result = project.turnout("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    assert result.returncode == 2, result.stderr
    assert "add_rewards.sql" in result.stderr
    assert project.slots() == {"production": "1.0.0", "blue": None}
    assert not (project.root / ".turnout" / "state.db").exists()
