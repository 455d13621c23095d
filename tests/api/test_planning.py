"""turnout.api.plan: the steps and gate verdicts of a deployment, without recording one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import PackageError
from turnout.store import Store

PEOPLE = """
[[people]]
name = "sam"
roles = ["senior-engineer"]

[environments.web.policy.approvals]
required_roles = ["senior-engineer"]
"""


def _timeless(document: dict[str, Any]) -> dict[str, Any]:
    """The document without the instant the window was judged at: each call has its own now,
    inside a best or acceptable window the next such moment is that instant too, and the
    summary names the minute (which may turn between the two calls)."""
    for gate in document["gates"]:
        for key in ("at", "at_utc", "next_best", "next_acceptable"):
            gate["evidence"].pop(key, None)
        if gate["gate"] == "window":
            gate.pop("summary")
            gate["evidence"].pop("message")
    return document


def test_plan_lists_steps_and_passing_gates_and_records_nothing(tmp_path: Path) -> None:
    """A plan on the fake target: preflight first, swap in the steps, no deployment row."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    result = api.plan("web", "1.1.0", config=project.config, actor="tester")
    names = [s.step for s in result.steps]
    assert names[0] == "preflight" and "swap" in names
    assert result.gates[0].gate == "preflight" and result.gates[0].ok
    assert result.would_proceed and result.refused_exit_code == 0
    printed = project.turnout("plan", "--env", "web", "--version", "1.1.0", "--json")
    assert _timeless(json.loads(json.dumps(result.to_dict()))) == _timeless(
        json.loads(printed.stdout)
    )
    with Store.open(project.root / ".turnout") as store:
        assert store.deployments("web") == []


def test_plan_names_the_missing_approval_as_blocking(tmp_path: Path) -> None:
    """Without an approval the approval gate blocks, and the refusal's exit code is 3."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    result = api.plan("web", "1.1.0", config=project.config, actor="tester")
    assert [g.item for g in result.blocking] == ["approval"]
    assert not result.would_proceed and result.refused_exit_code == 3


def test_plan_of_a_missing_package_is_bad_input(tmp_path: Path) -> None:
    """A version without a release package is refused as bad input before any gate."""
    project = fake_project(tmp_path)
    with pytest.raises(PackageError, match=r"release package for 9\.9\.9 not found"):
        api.plan("web", "9.9.9", config=project.config)
