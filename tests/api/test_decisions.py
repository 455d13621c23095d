"""turnout.api.approve, attest and accept: decisions recorded from Python, typed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput, Refused

PEOPLE = """
[[people]]
name = "sam"
roles = ["senior-engineer"]

[[people]]
name = "tester"
roles = ["developer"]

[environments.web.policy.approvals]
required_roles = ["senior-engineer"]
"""


def test_approve_records_the_role_and_refuses_the_deployer(tmp_path: Path) -> None:
    """sam approves in the senior-engineer role; the deployer cannot approve their own."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    waiting = api.deploy("web", "1.1.0", config=project.config, actor="tester")
    with pytest.raises(Refused):
        api.approve(waiting.deployment_id, actor="tester", config=project.config)
    approval = api.approve(waiting.deployment_id, actor="sam", comment="ok", config=project.config)
    assert (approval.approver, approval.role, approval.comment) == ("sam", "senior-engineer", "ok")
    assert approval.to_dict()["deployment"] == waiting.deployment_id


def test_attest_records_a_normalised_item_for_known_people_only(tmp_path: Path) -> None:
    """`code-reviewed` is recorded as code_reviewed; a name not in `people` is bad input."""
    project = fake_project(tmp_path, extra=PEOPLE)
    record = api.attest("code-reviewed", "web", "1.1.0", actor="sam", config=project.config)
    assert (record.item, record.by, record.version) == ("code_reviewed", "sam", "1.1.0")
    with pytest.raises(BadInput, match="nobody is not in `people`"):
        api.attest("code-reviewed", "web", "1.1.0", actor="nobody", config=project.config)


def test_accept_without_a_held_release_is_refused(tmp_path: Path) -> None:
    """Nothing is held after a verified deployment: accepting is refused, nothing changes."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    assert api.deploy("web", "1.1.0", config=project.config, actor="tester").exit_code == 0
    with pytest.raises((BadInput, Refused)):
        api.accept("web", reason="because", actor="tester", config=project.config)
