"""turnout.api.status: the environment's state as a typed result, the same document as
`turnout status --json`."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.project import fake_project
from turnout import api

PEOPLE = """
[[people]]
name = "sam"
roles = ["senior-engineer"]

[environments.web.policy.approvals]
required_roles = ["senior-engineer"]
"""


def test_status_after_a_deployment_names_slots_latest_and_no_next_step(tmp_path: Path) -> None:
    """After a verified deployment: both slots, a free lock, what happened, nothing to do."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    done = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes")
    assert done.returncode == 0, done.stderr
    result = api.status("web", config=project.config)
    assert isinstance(result, api.StatusResult)
    assert result.slots is not None
    assert {s.name: s.version for s in result.slots} == {"production": "1.1.0", "blue": "1.0.0"}
    assert result.lock is None and result.next is None
    assert result.latest is not None and result.latest["version"] == "1.1.0"
    assert result.happened is not None and "1.1.0 is live but not proven healthy" in result.happened


def test_status_to_dict_is_what_the_cli_prints(tmp_path: Path) -> None:
    """`to_dict()` is JSON-safe and equal to `turnout status --json`."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    assert project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes").returncode == 0
    printed = project.turnout("status", "--env", "web", "--json")
    assert printed.returncode == 0, printed.stderr
    document = api.status("web", config=project.config).to_dict()
    assert json.loads(json.dumps(document)) == json.loads(printed.stdout)


def test_status_waiting_for_approval_says_what_to_do_next(tmp_path: Path) -> None:
    """A deployment held at the approval gate: `next` names approve and resume."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    waiting = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes")
    result = api.status("web", config=project.config)
    assert result.latest is not None, waiting.stderr
    assert result.latest["status"] == "waiting-approval", waiting.stderr
    assert result.next is not None
    assert f"turnout approve {result.latest['id']}" in result.next
