"""The policy gates inside real deployments: checklist refusal, approval wait, emergencies."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.support.policy_project import PolicyProject, clean_sarif, make_project
from turnout.errors import BadInput, Refused
from turnout.policy.approvals import record_approval
from turnout.policy.checklist import record_attestation


@pytest.fixture
def project(tmp_path: Path) -> Iterator[PolicyProject]:
    """A project with staging and production on the fake target, clock on a best window."""
    made = make_project(tmp_path / "shop")
    try:
        yield made
    finally:
        made.store.close()


def _ready_for_production(project: PolicyProject, version: str) -> None:
    project.record_verified("staging", version)
    project.write_sarif(version, clean_sarif())
    for item in ("code_reviewed", "change_notification"):
        record_attestation(project.store, "production", version, item, "sam", "PR #12")


def test_missing_checklist_item_refuses_with_exit_3(project: PolicyProject) -> None:
    """A release never verified on staging is refused (exit 3), naming the item; nothing moves."""
    project.write_sarif("1.1.0", clean_sarif())
    result = project.deploy("production", "1.1.0")
    assert result.exit_code == 3
    assert "staging_tested" in result.message and "not been verified on staging" in result.message
    assert "code_reviewed" in result.message
    row = project.store.deployment(result.deployment_id)
    assert row is not None and row.status == "refused"
    assert "checklist.refused" in project.actions(result.deployment_id)
    refused = next(r for r in project.store.audit_log() if r.action == "checklist.refused")
    assert refused.actor == "dana" and "staging_tested" in refused.details["failed"]


def test_production_waits_for_senior_approval_then_resumes(project: PolicyProject) -> None:
    """Production waits for a senior engineer; self and wrong-role approvals are refused."""
    _ready_for_production(project, "1.1.0")
    waiting = project.deploy("production", "1.1.0", deployer="dana.ops")
    assert waiting.exit_code == 3
    assert "senior-engineer" in waiting.message and "may approve: sam" in waiting.message
    dep = waiting.deployment_id
    row = project.store.deployment(dep)
    assert row is not None and row.status == "waiting-approval"

    with pytest.raises(Refused, match="own deployment"):
        record_approval(project.config, project.store, dep, "dana")
    with pytest.raises(Refused, match="cannot approve"):
        record_approval(project.config, project.store, dep, "vic")
    with pytest.raises(BadInput, match="not in `people`"):
        record_approval(project.config, project.store, dep, "mallory")
    approval = record_approval(project.config, project.store, dep, "sam", "looks good")
    assert approval.role == "senior-engineer"

    project.resume("production")
    assert project.passed_gates(dep)
    actions = project.actions(dep)
    for expected in (
        "checklist.verdict",
        "window.verdict",
        "approval.waiting",
        "approval.refused",
        "approval.recorded",
        "approval.granted",
    ):
        assert expected in actions, expected
    refusals = [
        r for r in project.store.audit_log(deployment_id=dep) if r.action == "approval.refused"
    ]
    assert {r.actor for r in refusals} == {"dana", "vic", "mallory"}
    assert all(r.details["why"] for r in refusals)
    assert project.store.verify_audit() is None


def test_avoid_window_needs_override_and_approval(project: PolicyProject) -> None:
    """On a Friday afternoon a deploy is refused; --outside-window with a reason needs approval."""
    _ready_for_production(project, "1.1.0")
    project.clock.set(datetime(2026, 12, 4, 23, 0, tzinfo=UTC))  # Fri 15:00 PST
    refused = project.deploy("production", "1.1.0")
    assert refused.exit_code == 3
    assert "window scheduled" in refused.message.lower() or "avoid" in refused.message
    override = project.deploy(
        "production",
        "1.1.0",
        data={"outside_window": True, "outside_window_reason": "customer fix promised today"},
    )
    assert override.exit_code == 3 and "outside-window" in override.message
    record_approval(project.config, project.store, override.deployment_id, "sam")
    project.resume("production")
    assert project.passed_gates(override.deployment_id)
    overrides = [
        r
        for r in project.store.audit_log(deployment_id=override.deployment_id)
        if r.action == "window.override"
    ]
    assert overrides and overrides[0].details["why"] == "customer fix promised today"


def test_emergency_in_freeze_needs_vp_and_opens_postmortem(project: PolicyProject) -> None:
    """During the quarter-end freeze only an emergency approved by a VP proceeds."""
    _ready_for_production(project, "1.2.0")
    project.clock.set(datetime(2026, 12, 29, 18, 0, tzinfo=UTC))  # Tue 10:00 PST, Q4 freeze
    frozen = project.deploy("production", "1.2.0")
    assert frozen.exit_code == 3 and "end of quarter" in frozen.message
    emergency = project.deploy("production", "1.2.0", emergency=True, reason="payments failing")
    assert emergency.exit_code == 3
    assert "vp-engineering or director" in emergency.message and "vic" in emergency.message
    with pytest.raises(Refused, match="cannot approve"):
        record_approval(project.config, project.store, emergency.deployment_id, "sam")
    record_approval(project.config, project.store, emergency.deployment_id, "vic")
    project.resume("production")
    assert project.passed_gates(emergency.deployment_id)
    postmortems = project.store.postmortems("production", open_only=True)
    assert [p.deployment_id for p in postmortems] == [emergency.deployment_id]
    assert postmortems[0].reason == "payments failing"
    actions = project.actions(emergency.deployment_id)
    assert "window.override" in actions and "postmortem.opened" in actions


def test_emergency_does_not_pass_an_active_incident_silently(project: PolicyProject) -> None:
    """An active incident stops an emergency unless the deployment names it as what it fixes."""
    _ready_for_production(project, "1.1.0")
    incident = project.store.open_incident("checkout down", "sam", "production")
    blocked = project.deploy("production", "1.1.0", emergency=True, reason="hotfix")
    assert blocked.exit_code == 3 and f"--fixes-incident {incident.id}" in blocked.message
    named = project.deploy(
        "production",
        "1.1.0",
        emergency=True,
        reason="hotfix",
        data={"fixes_incidents": [str(incident.id)]},
    )
    assert named.exit_code == 3 and "waits for approval" in named.message
    record_approval(project.config, project.store, named.deployment_id, "vic")
    project.resume("production")
    assert project.passed_gates(named.deployment_id)
    override = next(
        r
        for r in project.store.audit_log(deployment_id=named.deployment_id)
        if r.action == "window.override"
    )
    assert override.details["override"] == "emergency+incident"


def test_unreachable_incident_source_refuses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the incident source cannot answer, the gate refuses (exit 3) instead of guessing."""
    monkeypatch.setenv("SHOP_PD_TOKEN", "not-a-real-token")
    extra = (
        "\n[environments.production.integrations.incidents.pagerduty]\n"
        'token = "env:SHOP_PD_TOKEN"\nbase_url = "https://127.0.0.1:9"\ntimeout = 2\n'
    )
    made = make_project(tmp_path / "shop", extra=extra)
    try:
        _ready_for_production(made, "1.1.0")
        result = made.deploy("production", "1.1.0")
        assert result.exit_code == 3
        assert "cannot tell whether an incident is active" in result.message
        row = made.store.deployment(result.deployment_id)
        assert row is not None and row.status == "refused"
    finally:
        made.store.close()
