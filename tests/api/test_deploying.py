"""turnout.api.deploy and resume: the runbook run from Python, with typed results."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput
from turnout.runbook.engine import StepEvent

PEOPLE = """
[[people]]
name = "sam"
roles = ["senior-engineer"]

[environments.web.policy.approvals]
required_roles = ["senior-engineer"]
"""
# 1.1.0 passes its smoke tests in the slot but fails production's health checks.
FAILING_HEALTH = '[checks]\nhealth = [{path = "/health", expect_json = {version = "1.0.0"}}]\n'


def test_deploy_returns_the_deployment_its_steps_and_their_times(tmp_path: Path) -> None:
    """A deployment on the fake target succeeds; events arrive; step times are recorded."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    events: list[StepEvent] = []
    result = api.deploy(
        "web", "1.1.0", config=project.config, actor="tester", on_event=events.append
    )
    assert result.status is api.DeploymentStatus.SUCCEEDED and result.exit_code == 0
    assert project.slots()["production"] == "1.1.0"
    assert result.traffic_moved and result.outcome == "succeeded"
    assert "swap" in result.step_seconds and result.step_seconds["swap"] >= 0
    assert {e.step for e in events} >= {"preflight", "swap", "verify"}
    document = json.loads(json.dumps(result.to_dict()))
    assert document["id"] == result.deployment_id and document["exit_code"] == 0


def test_a_failed_verification_is_a_result_not_an_exception(tmp_path: Path) -> None:
    """A release that fails production's checks comes back rolled back, exit 4."""
    project = fake_project(tmp_path)
    text = project.config.read_text()
    project.config.write_text(text.replace("[checks.warmup]", FAILING_HEALTH + "[checks.warmup]"))
    project.set_slots({"production": "1.0.0", "blue": None})
    result = api.deploy("web", "1.1.0", config=project.config, actor="tester")
    assert result.status is api.DeploymentStatus.ROLLED_BACK and result.exit_code == 4
    assert result.traffic_moved and project.slots()["production"] == "1.0.0"


def test_resume_after_an_approval_finishes_the_deployment(tmp_path: Path) -> None:
    """Waiting for approval, approved, resumed: it succeeds; a second resume finds nothing."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    waiting = api.deploy("web", "1.1.0", config=project.config, actor="tester")
    assert waiting.status is api.DeploymentStatus.WAITING_APPROVAL and waiting.exit_code == 3
    approved = project.turnout("approve", str(waiting.deployment_id), "--as", "sam")
    assert approved.returncode == 0, approved.stderr
    resumed = api.resume("web", config=project.config, actor="tester")
    assert resumed.resumed is not None
    assert resumed.resumed.status is api.DeploymentStatus.SUCCEEDED
    assert resumed.exit_code == 0
    again = api.resume("web", config=project.config, actor="tester")
    assert again.resumed is None and again.held is None and again.exit_code == 0
    assert again.to_dict() == {"environment": "web", "resumed": None, "needs_person": None}


def test_deploy_not_confirmed_changes_nothing(tmp_path: Path) -> None:
    """A confirmation answered no is bad input and no deployment is recorded."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    asked: list[str] = []

    def refuse(question: str) -> bool:
        asked.append(question)
        return False

    try:
        api.deploy("web", "1.1.0", config=project.config, confirm=refuse)
    except BadInput as exc:
        assert "not confirmed" in exc.message
    else:
        raise AssertionError("an unconfirmed deployment ran")
    assert asked == ["Deploy 1.1.0 to web?"]
    assert api.history("web", config=project.config).deployments == ()
