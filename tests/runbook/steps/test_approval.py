"""`deploy --wait-approval` waits for the approval instead of ending with exit 3."""

from __future__ import annotations

import time
from pathlib import Path

from tests.support.project import fake_project
from turnout.store import Store

PEOPLE = """
[[people]]
name = "sam"
roles = ["senior-engineer"]

[environments.web.policy.approvals]
required_roles = ["senior-engineer"]
"""


def test_deploy_waits_for_approval_then_proceeds(tmp_path: Path) -> None:
    """A deploy waiting for approval goes on by itself once a senior engineer approves."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    waiting = project.start(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", "--wait-approval", "120"
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            store = Store.open(project.root / ".turnout")
            try:
                rows = store.deployments(project.env)
                if rows and rows[0].status == "waiting-approval":
                    break
            finally:
                store.close()
            time.sleep(0.3)
        else:
            raise AssertionError("the deployment never waited for approval")
        assert waiting.poll() is None  # still waiting, not refused
        approved = project.turnout("approve", str(rows[0].id), "--as", "sam")
        assert approved.returncode == 0, approved.stderr
        _, err = waiting.communicate(timeout=120)
    finally:
        if waiting.poll() is None:
            waiting.kill()
    assert waiting.returncode == 0, err
    assert project.slots()["production"] == "1.1.0"
