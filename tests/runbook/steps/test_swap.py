"""The swap step over operations that take time and can fail after they started: its
handle is journaled, `resume` follows it, and the swap time is when traffic moved."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

from tests.support.project import FAKE_STATE_FILE, Project, fake_project
from tests.support.waiting import wait_until
from turnout.config import load_config
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION

SLOW = "TURNOUT__ENVIRONMENTS__WEB__TARGET__SWAP_SECONDS"
FAILS = "TURNOUT__ENVIRONMENTS__WEB__TARGET__SWAP_FAILS"


def _fake(project: Project) -> FakeTarget:
    return FakeTarget(state_file=project.root / FAKE_STATE_FILE)


def _journal(project: Project) -> tuple[str, dict[str, dict[str, Any]], dict[str, str | None]]:
    """The newest deployment's status, each step's outputs, and each step's error."""
    store = Store.open(project.root / ".turnout")
    try:
        (row,) = store.deployments(project.env, limit=1)
        steps = store.steps(row.id)
        return (
            row.status,
            {s.name: dict(s.outputs or {}) for s in steps},
            {s.name: s.error for s in steps},
        )
    finally:
        store.close()


def test_resume_follows_a_slow_swap_to_its_end(tmp_path: Path) -> None:
    """turnout killed while a swap runs: resume follows that same swap (no second one) and
    the release is verified; the swap time is when traffic moved, not when it was asked."""
    project = fake_project(tmp_path)
    project.set_slots({PRODUCTION: "1.0.0", "blue": None})
    running = project.start(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env={SLOW: "6"}
    )
    try:

        def journaled() -> bool:
            store = Store.open(project.root / ".turnout")
            try:
                rows = store.deployments(project.env, limit=1)
                steps = {s.name: s.outputs or {} for s in store.steps(rows[0].id)} if rows else {}
            finally:
                store.close()
            return "operation" in steps.get("swap", {})

        wait_until(journaled, timeout=120, what="the swap's handle in the journal")
    finally:
        running.send_signal(signal.SIGKILL)
        running.communicate()
    assert _fake(project).swap_running()
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots() == {PRODUCTION: "1.1.0", "blue": "1.0.0"}
    assert _fake(project).swap_count() == 1
    status, outputs, _errors = _journal(project)
    assert status == DeploymentStatus.SUCCEEDED.value
    swap = outputs["swap"]
    assert swap["observed"] is True  # followed, not run again
    assert swap["swapped_at"] - swap["operation"]["started_at"] >= 5.9


def test_a_swap_failing_after_it_started_is_compensated_and_reported(tmp_path: Path) -> None:
    """A swap that fails once started moves nothing: the deployment is rolled back (exit 4)
    naming the failure, production stays on the old version, verified, with no swap back."""
    project = fake_project(tmp_path)
    project.set_slots({PRODUCTION: "1.0.0", "blue": None})
    done = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env={FAILS: "true"}
    )
    assert done.returncode == 4, done.stderr
    assert project.slots() == {PRODUCTION: "1.0.0", "blue": "1.1.0"}
    assert _fake(project).swap_count() == 0
    status, outputs, errors = _journal(project)
    assert status == DeploymentStatus.ROLLED_BACK.value
    assert "failed after it started" in str(errors["swap"])
    assert "nothing moved" in str(errors["swap"])
    undo = outputs["swap"]["undo"]
    assert (undo["production"], undo["swapped_back"]) == ("1.0.0", False)
    assert "failed after it started" in " ".join(done.stderr.split())


def test_a_swap_failing_after_it_started_says_production_never_changed(tmp_path: Path) -> None:
    """A swap that failed once started, with nothing moved, ends with the swap failed and
    production never changed (never "rolled back"), on the terminal and in the message."""
    project = fake_project(tmp_path)
    project.set_slots({PRODUCTION: "1.0.0", "blue": None})
    done = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env={FAILS: "true"}
    )
    assert done.returncode == 4, done.stderr
    lines = [" ".join(line.split()) for line in done.stderr.splitlines()]
    error = (
        "the swap of blue into production failed after it started: the swap failed after"
        " it started (the fake target's swap_fails); nothing moved"
    )
    assert f"✗ deployment 1 swap failed, production never changed: swap failed: {error}" in lines
    assert "⚠️ Web Deployment Failed: The Swap Failed, Production Never Changed" in lines
    assert "Production: never changed, still on 1.0.0" in lines
    assert not any("Rolled Back" in line or line.endswith("rolled back") for line in lines)


def test_swap_time_is_when_the_target_moved_traffic(tmp_path: Path) -> None:
    """The swap step records the target's moment of moving traffic (the end of a slow
    swap), which verification then judges from."""
    project = fake_project(tmp_path / "project")
    config = load_config(project.config)
    target = FakeTarget("web", swap_seconds=1.0)
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0"))
    target.swap("blue")
    store = Store.open(tmp_path / "state")
    try:
        engine = Engine(config, config.env(project.env), store, target_factory=lambda: target)
        result = engine.deploy(
            Release("1.1.0", project.root / "packages" / "1.1.0"), DeploymentType.APP, "alice"
        )
        assert result.status is DeploymentStatus.SUCCEEDED, result.message
        swap = {s.name: s.outputs or {} for s in store.steps(result.deployment_id)}["swap"]
    finally:
        store.close()
    assert swap["swapped_at"] - swap["operation"]["started_at"] >= 1.0
    assert target.slots()[PRODUCTION].version == "1.1.0"
