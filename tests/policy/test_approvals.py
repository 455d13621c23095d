"""Approval requirements and matching, without a store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from turnout.config import EnvironmentConfig, LoadedConfig, TurnoutConfig
from turnout.config.people import find_person
from turnout.config.targets import FakeTargetConfig
from turnout.policy.approvals import approval_status, requirements
from turnout.policy.flags import DeploymentFlags
from turnout.store.records import ApprovalRecord

UNSIGNED = {"signed": False}
"""Role matching without signatures (signed approvals: test_signed_approvals.py)."""

PEOPLE = [
    {"name": "dana", "roles": ["engineer"], "email": "dana@example.com"},
    {"name": "sam", "roles": ["senior-engineer"], "github": "sam-gh"},
    {"name": "eve", "roles": ["senior-engineer", "director"]},
    {"name": "vic", "roles": ["vp-engineering"]},
]


def _config(env: EnvironmentConfig, people: list[dict[str, Any]] | None = None) -> LoadedConfig:
    root = TurnoutConfig.model_validate(
        {
            "app": {"name": "shop"},
            "people": PEOPLE if people is None else people,
            "environments": {env.name: {"target": {"kind": "fake"}}},
        }
    )
    return LoadedConfig(path=Path("/x/turnout.toml"), root=root, environments={env.name: env})


def _env(name: str = "production", **policy: Any) -> EnvironmentConfig:
    return EnvironmentConfig.model_validate(
        {"name": name, "target": FakeTargetConfig(), "policy": policy}
    )


def _approval(who: str) -> ApprovalRecord:
    return ApprovalRecord(
        id=1,
        deployment_id=1,
        approver=who,
        role=None,
        comment=None,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
    )


def test_requirements_follow_the_runbook_defaults() -> None:
    """Production needs a senior engineer, staging nothing, an emergency a VP or director."""
    assert [r.roles for r in requirements(_env(), emergency=False, outside_window=False)] == [
        ("senior-engineer",)
    ]
    assert requirements(_env("staging"), emergency=False, outside_window=False) == []
    staging_outside = requirements(_env("staging"), emergency=False, outside_window=True)
    assert [(r.why, r.roles) for r in staging_outside] == [("outside-window", ("senior-engineer",))]
    emergency = requirements(_env(), emergency=True, outside_window=True)
    assert [(r.why, r.roles) for r in emergency] == [("emergency", ("vp-engineering", "director"))]
    combined = requirements(_env(), emergency=False, outside_window=True)
    assert [r.why for r in combined] == ["environment+outside-window"]
    separate = requirements(
        _env(approvals={"outside_window_roles": ["director"]}),
        emergency=False,
        outside_window=True,
    )
    assert [r.why for r in separate] == ["environment", "outside-window"]
    none = requirements(
        _env(approvals={"required_roles": []}), emergency=False, outside_window=False
    )
    assert none == []


def test_people_answer_to_their_identities() -> None:
    """A person is found by name, e-mail, its user part or a GitHub handle."""
    people = _config(_env()).root.people
    for who, name in (("dana@example.com", "dana"), ("DANA", "dana"), ("@sam-gh", "sam")):
        person = find_person(people, who)
        assert person is not None and person.name == name


def test_self_approval_never_counts() -> None:
    """An approval by the deployer (under any identity) is ignored with its reason."""
    env = _env(approvals=UNSIGNED)
    config = _config(env)
    flags = DeploymentFlags(deployer="sam-gh")
    status = approval_status(
        config, env, [_approval("sam")], flags, deployment_id=1, outside_window=False
    )
    assert not status.ok
    assert status.ignored[0]["why"] == "nobody approves their own deployment"
    assert status.may_approve["environment"] == ["eve"]
    ok = approval_status(
        config,
        env,
        [_approval("sam"), _approval("eve")],
        flags,
        deployment_id=1,
        outside_window=False,
    )
    assert ok.ok and ok.met["environment"]["approver"] == "eve"


def test_emergency_needs_an_emergency_role() -> None:
    """A senior engineer's approval does not carry an emergency; a director's does."""
    env = _env(approvals=UNSIGNED)
    config = _config(env)
    flags = DeploymentFlags(deployer="dana", emergency=True, reason="outage")
    senior = approval_status(
        config, env, [_approval("sam")], flags, deployment_id=3, outside_window=False
    )
    assert not senior.ok
    message = senior.waiting_message("production")
    assert "vp-engineering or director" in message and "may approve: eve, vic" in message
    director = approval_status(
        config, env, [_approval("eve")], flags, deployment_id=3, outside_window=False
    )
    assert director.ok and director.met["emergency"]["role"] == "director"


def test_message_when_only_the_deployer_holds_the_role() -> None:
    """When only the deployer has the needed role the message says so."""
    env = _env()
    config = _config(env, people=[{"name": "sam", "roles": ["senior-engineer"]}])
    status = approval_status(
        config, env, [], DeploymentFlags(deployer="sam"), deployment_id=2, outside_window=False
    )
    assert "only the deployer has role senior-engineer" in status.waiting_message("production")
    nobody = approval_status(
        _config(env, people=[]),
        env,
        [],
        DeploymentFlags(deployer="x"),
        deployment_id=2,
        outside_window=False,
    )
    assert "nobody in `people` has role senior-engineer" in nobody.waiting_message("production")


def test_removed_approver_no_longer_counts() -> None:
    """An approval by someone no longer in `people` is ignored."""
    env = _env()
    status = approval_status(
        _config(env),
        env,
        [_approval("ghost")],
        DeploymentFlags("dana"),
        deployment_id=4,
        outside_window=False,
    )
    assert not status.ok and status.ignored[0]["why"] == "approver is no longer in `people`"
