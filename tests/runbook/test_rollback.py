"""`turnout rollback` after a deployment was killed mid-swap: it follows the swap the
journal kept to its end before swapping back, never racing it."""

from __future__ import annotations

import signal
from pathlib import Path

from tests.support.project import FAKE_STATE_FILE, Project, fake_project
from tests.support.waiting import wait_until
from turnout.model import DeploymentStatus
from turnout.store import Store
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION

SLOW = "TURNOUT__ENVIRONMENTS__WEB__TARGET__SWAP_SECONDS"


def _swap_journaled(project: Project) -> bool:
    store = Store.open(project.root / ".turnout")
    try:
        rows = store.deployments(project.env, limit=1)
        steps = {s.name: s.outputs or {} for s in store.steps(rows[0].id)} if rows else {}
    finally:
        store.close()
    return "operation" in steps.get("swap", {})


def test_rollback_follows_a_swap_a_killed_deploy_left_running(tmp_path: Path) -> None:
    """A deploy killed while its slow swap runs: status names the swap left running;
    rollback waits for that swap to end, says so, then swaps back to the version it
    replaced (no "another swap is in progress")."""
    project = fake_project(tmp_path)
    project.set_slots({PRODUCTION: "1.0.0", "blue": None})
    running = project.start(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env={SLOW: "4"}
    )
    try:
        wait_until(lambda: _swap_journaled(project), timeout=120, what="the swap's handle")
    finally:
        running.send_signal(signal.SIGKILL)
        running.communicate()
    fake = FakeTarget(state_file=project.root / FAKE_STATE_FILE)
    assert fake.swap_running()
    seen = project.read("status", "--env", project.env)
    assert seen.returncode == 0, seen.stderr
    assert "left running by the swap step: the swap of blue into production, begun" in (
        " ".join((seen.stdout + seen.stderr).split())
    )
    done = project.turnout("rollback", "--env", project.env, "--reason", "killed mid-swap")
    assert done.returncode == 0, done.stderr
    said = " ".join((done.stdout + done.stderr).split())
    assert "followed the swap of blue into production deployment 1 left running: it succeeded" in (
        said
    )
    assert "another swap is in progress" not in said
    assert "production back on 1.0.0 (from 1.1.0), verified" in said
    assert project.slots() == {PRODUCTION: "1.0.0", "blue": "1.1.0"}
    assert fake.swap_count() == 2  # the deploy's swap, followed, then the swap back
    store = Store.open(project.root / ".turnout")
    try:
        (row,) = store.deployments(project.env, limit=1)
    finally:
        store.close()
    assert row.status == DeploymentStatus.ROLLED_BACK.value
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots() == {PRODUCTION: "1.0.0", "blue": "1.1.0"}
