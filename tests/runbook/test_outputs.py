"""Steps' outputs read back from the journal as typed records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from turnout.integrations.messages import MessageKind
from turnout.runbook.outputs import (
    AnnounceOutputs,
    AnnounceSuccessOutputs,
    ApprovalOutputs,
    BackupOutputs,
    ChecklistOutputs,
    CloseOutputs,
    LogOutputs,
    PreflightOutputs,
    SmokeOutputs,
    StageOutputs,
    StepOutputs,
    SwapOutputs,
    TagOutputs,
    VerifyOutputs,
    WarmupOutputs,
)


def test_journaled_outputs_read_as_typed_fields() -> None:
    """A swap's journaled object gives its time as a float and ignores keys it does not name."""
    swap = SwapOutputs.from_journal({"swapped_at": 1700000000, "slot": "blue", "extra": [1]})
    assert swap is not None
    assert swap.swapped_at == 1700000000.0 and swap.slot == "blue"


def test_a_misfit_value_reads_as_absent_and_the_rest_still_counts() -> None:
    """A hand-edited journal with a bad figure keeps the verdict: `proven` survives the misfit."""
    verify = VerifyOutputs.from_journal({"proven": False, "error_rate": "n/a", "summary": "kept"})
    assert verify is not None
    assert verify.proven is False and verify.error_rate is None and verify.summary == "kept"


def test_measured_figures_come_from_the_analysis_evidence_first() -> None:
    """error_rate is read from analysis.evidence before the outputs' own key."""
    verify = VerifyOutputs.from_journal(
        {"analysis": {"evidence": {"error_rate": 0.02}}, "error_rate": 0.5, "p95_ms": 120}
    )
    assert verify is not None
    assert verify.measured("error_rate") == 0.02 and verify.measured("p95_ms") == 120.0


def test_backup_outputs_without_a_backup() -> None:
    """A release without migrations journals no backup id and nothing pending."""
    backup = BackupOutputs.from_journal({"pending": [], "backup_id": None})
    assert backup is not None and backup.backup_id is None and backup.pending == []


# Outputs objects exactly as the steps journaled them when they still returned dicts.
OLD_JOURNALS: list[tuple[type[StepOutputs], dict[str, Any]]] = [
    (
        PreflightOutputs,
        {
            "package": "/srv/shop/packages/1.1.0",
            "live_version": None,
            "pending_migrations": ["V2__rewards.sql"],
            "summary": "package safe to unpack, target answers (nothing live yet), 1 migration(s)"
            " pending",
        },
    ),
    (PreflightOutputs, {"summary": "no application release in this plan; nothing to check"}),
    (
        ChecklistOutputs,
        {
            "ok": False,
            "items": [
                {
                    "item": "ci_passing",
                    "title": "CI passing",
                    "result": "fail",
                    "required": True,
                    "source": "github",
                    "summary": "1 failing check",
                    "evidence": {"failing": ["lint"]},
                }
            ],
        },
    ),
    (
        StageOutputs,
        {
            "slot": "blue",
            "url": "http://127.0.0.1:8001",
            "build": None,
            "package": "/srv/shop/packages/1.1.0",
            "operation": {"kind": "deploy", "slot": "blue", "id": "op-1"},
            "summary": "1.1.0 running in slot blue",
        },
    ),
    (StageOutputs, {"slot": "blue", "url": None, "summary": "blue already runs it"}),
    (
        WarmupOutputs,
        {"url": "http://127.0.0.1:8001/health", "requests": 4, "ok": 3, "summary": "3/4 warm-up"},
    ),
    (
        TagOutputs,
        {
            "summary": "tag v1.1.0 created on 0123456789ab, pushed to origin",
            "tag": "v1.1.0",
            "commit": "0123456789abcdef",
            "created": True,
            "pushed_to": "origin",
        },
    ),
    (
        TagOutputs,
        {"summary": "tag v1.1.0 NOT created: no repository", "tag": "v1.1.0", "error": "x"},
    ),
    (
        TagOutputs,
        {
            "summary": "tag v1.1.0 already in place",
            "tag": "v1.1.0",
            "commit": "0a",
            "pushed_to": None,
        },
    ),
    (
        LogOutputs,
        {
            "summary": "line appended to deployments.log: l",
            "file": "/a/deployments.log",
            "line": "l",
        },
    ),
    (LogOutputs, {"summary": "deployments.log NOT written: denied", "file": "/a/d", "error": "e"}),
    (CloseOutputs, {"summary": "no tracking issue to close"}),
    (
        CloseOutputs,
        {
            "summary": "tracking issue NOT closed: tracker down",
            "issue": {"kind": "github", "ref": "7", "title": "Production Deployment"},
            "closed": False,
            "error": "tracker down",
        },
    ),
    (
        AnnounceOutputs,
        {
            "summary": "start announcement delivered to 1 of 2 channels",
            "kind": "start",
            "deliveries": [
                {"channel": "slack", "ok": True, "attempts": 1, "error": None, "seconds": 0.012},
                {"channel": "env:HOOK", "ok": False, "attempts": 1, "error": "503", "seconds": 0.2},
            ],
        },
    ),
    (
        AnnounceOutputs,
        {
            "summary": "start announcement already sent",
            "kind": "start",
            "at": "2026-12-02T09:00:00+00:00",
            "delivered": ["slack"],
        },
    ),
    (
        AnnounceSuccessOutputs,
        {
            "summary": "success announcement delivered to 1 of 1 channels",
            "kind": "success",
            "deliveries": [
                {"channel": "slack", "ok": True, "attempts": 1, "error": None, "seconds": 0.01}
            ],
            "oncall": {
                "person": "bob.s",
                "source": "roster",
                "oncall_now": "bob.s",
                "oncall_reached": "json, people[1].notify",
                "oncall_unreached": None,
            },
        },
    ),
    (
        AnnounceSuccessOutputs,
        {
            "summary": "success announcement already sent",
            "kind": "success",
            "at": "2026-12-02T09:14:00.250000+00:00",
            "delivered": [],
        },
    ),
    (
        SmokeOutputs,
        {
            "checks": [
                {
                    "url": "http://127.0.0.1:8001/health",
                    "ok": True,
                    "status": 200,
                    "problem": None,
                    "elapsed_ms": 3.2,
                }
            ],
            "summary": "1 smoke checks passed",
        },
    ),
    (
        ApprovalOutputs,
        {
            "ok": True,
            "requirements": [{"why": "environment", "roles": ["senior"]}],
            "met": {
                "environment": {
                    "approver": "bob",
                    "role": "senior",
                    "at": "2026-12-02T08:50:00+00:00",
                    "comment": None,
                    "signature": "unsigned",
                }
            },
            "missing": [],
            "ignored": [{"approver": "alice", "why": "the deployer cannot approve"}],
            "may_approve": {},
            "deployer_only": [],
            "signed_required": False,
            "postmortem": 3,
        },
    ),
    (ApprovalOutputs, {"ok": True, "requirements": [], "met": {}, "missing": []}),
]


@pytest.mark.parametrize(
    ("kind", "old"), OLD_JOURNALS, ids=[f"{k.step}-{i}" for i, (k, _) in enumerate(OLD_JOURNALS)]
)
def test_an_old_journal_reads_back_and_is_journaled_unchanged(
    kind: type[StepOutputs], old: dict[str, Any]
) -> None:
    """Outputs journaled before the step returned a record read as it and journal the same JSON."""
    record = kind.from_journal(old)
    assert record is not None
    assert record.summary == old.get("summary")
    assert record.journal() == old


def test_old_journals_read_as_typed_fields() -> None:
    """Fields of the records read from old journals have the types their readers expect."""
    checklist = ChecklistOutputs.from_journal(OLD_JOURNALS[2][1])
    warmup = WarmupOutputs.from_journal(OLD_JOURNALS[5][1])
    tag = TagOutputs.from_journal(OLD_JOURNALS[6][1])
    close = CloseOutputs.from_journal(OLD_JOURNALS[12][1])
    assert checklist is not None and checklist.ok is False and checklist.items
    assert checklist.items[0]["title"] == "CI passing"
    assert warmup is not None and (warmup.ok, warmup.requests) == (3, 4)
    assert tag is not None and tag.commit == "0123456789abcdef" and tag.created is True
    assert close is not None and close.closed is False and close.error == "tracker down"


def test_old_announcement_journals_read_as_typed_fields() -> None:
    """An announcement's kind reads as its MessageKind, when it was sent as an aware time and
    the on-call engineer as a record."""
    sent = AnnounceOutputs.from_journal(OLD_JOURNALS[14][1])
    success = AnnounceSuccessOutputs.from_journal(OLD_JOURNALS[15][1])
    assert sent is not None and sent.kind is MessageKind.START and sent.delivered == ["slack"]
    assert sent.at == datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
    assert success is not None and success.kind is MessageKind.SUCCESS
    assert success.oncall is not None and success.oncall.person == "bob.s"
    assert success.oncall.oncall_reached == "json, people[1].notify"


def test_old_smoke_and_approval_journals_read_as_typed_fields() -> None:
    """Smoke checks read as their results; an approval as its verdict, approver and post-mortem."""
    smoke = SmokeOutputs.from_journal(OLD_JOURNALS[17][1])
    approval = ApprovalOutputs.from_journal(OLD_JOURNALS[18][1])
    assert smoke is not None and smoke.checks and smoke.checks[0]["status"] == 200
    assert approval is not None and approval.ok is True and approval.postmortem == 3
    assert approval.met is not None and approval.met["environment"]["approver"] == "bob"
    assert approval.signed_required is False and approval.deployer_only == []
