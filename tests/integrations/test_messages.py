"""The runbook's announcement templates."""

from __future__ import annotations

from turnout.integrations.messages import MessageKind, evidence_lines, render

START = {
    "environment": "production",
    "version": "1.4.0",
    "previous_version": "1.3.0",
    "type": "full",
    "eta_minutes": 25,
    "changes": "rewards table",
    "deployer": "alice",
    "oncall": "bob",
    "rollback_plan": "Ready: 1.3.0 stays warm",
}


def test_start_message_has_every_runbook_field() -> None:
    """The start message names type, ETA, changes, deployer, on-call backup and rollback plan."""
    message = render(MessageKind.START, START)
    assert message.title == "🚀 Production Deployment Starting"
    for line in (
        "**Type:** Full",
        "**ETA:** 25 minutes",
        "**Changes:** rewards table",
        "**Deployer:** @alice",
        "**On-call backup:** @bob",
        "**Rollback plan:** Ready: 1.3.0 stays warm",
        "**Version:** 1.3.0 → 1.4.0",
    ):
        assert line in message.body
    assert message.body.endswith("#deployment #production")


def test_emergency_start_says_so_with_the_reason() -> None:
    """An emergency start is marked in the title and carries the reason."""
    message = render("start", {**START, "emergency": True, "reason": "payments down"})
    assert "EMERGENCY" in message.title
    assert "**Reason:** payments down" in message.body


def test_success_message_reports_duration_version_checks_and_error_rate() -> None:
    """The success message gives duration, version and commit, checks, performance and errors."""
    message = render(
        MessageKind.SUCCESS,
        {
            "environment": "production",
            "version": "1.4.0",
            "commit": "0123456789abcdef0123",
            "duration_seconds": 754,
            "checks": {"warmup": True, "smoke": True, "verify": True},
            "error_rate": 0.0002,
            "p95_ms": 123.4,
            "max_error_rate": 0.001,
            "max_p95_ms": 500,
            "deployer": "alice",
        },
    )
    assert message.title == "✅ Production Deployment Complete"
    assert "**Status:** Successful" in message.body
    assert "**Duration:** 12 min 34 s" in message.body
    assert "**Deployed:** 1.4.0 (commit 0123456789ab)" in message.body
    assert "**Health checks:** ✅ Passing (3/3)" in message.body
    assert "**Performance:** ✅ Normal (p95 123 ms, limit 500 ms)" in message.body
    assert "**Errors:** ✅ < 0.1% (measured 0.02%)" in message.body
    assert "**Deployed by:** @alice" in message.body


def test_rollback_message_says_what_regressed_with_the_evidence() -> None:
    """The rollback message names the failed step, the regression, reasons and evidence."""
    message = render(
        MessageKind.ROLLBACK,
        {
            "environment": "production",
            "version": "1.4.0",
            "live_version": "1.3.0",
            "failed_step": "verify",
            "error": "error rate 5.2% above 0.1%",
            "evidence": {
                "reasons": ["error rate 5.2% > 0.1%", "p95 900 ms > 2x baseline"],
                "error_rate": 0.052,
                "baseline": {"p95_ms": 120.0},
            },
        },
    )
    assert message.title == "🔙 Production Deployment Rolled Back"
    assert message.severity == "warning"
    assert "**Production is on:** 1.3.0" in message.body
    assert "**Failed step:** verify" in message.body
    assert "**What regressed:** error rate 5.2% above 0.1%" in message.body
    assert "• error rate 5.2% > 0.1%" in message.body
    assert "• error_rate: 0.052" in message.body
    assert "• baseline.p95_ms: 120" in message.body


def test_needs_person_message_says_what_to_do() -> None:
    """A deployment that needs a person tells the reader which command to run."""
    message = render(MessageKind.NEEDS_PERSON, {"environment": "staging", "error": "undo failed"})
    assert "turnout status --env staging" in message.body
    assert message.severity == "failure"


def test_console_text_drops_markdown_emphasis() -> None:
    """The console shows the message without Markdown asterisks."""
    text = render(MessageKind.START, START).text()
    assert "**" not in text
    assert "Type: Full" in text


def test_evidence_is_bounded() -> None:
    """Evidence is flattened into at most a dozen short lines."""
    lines = evidence_lines({f"k{i}": "x" * 500 for i in range(40)})
    assert len(lines) == 12
    assert all(len(line) < 200 for line in lines)


def test_rollback_finds_the_reasons_of_a_failed_verification() -> None:
    """A failed verification's evidence nests its verdict under analysis; its reasons are shown."""
    message = render(
        MessageKind.ROLLBACK,
        {
            "failed_step": "verify",
            "error": "metric analysis: error rate regressed",
            "evidence": {
                "requests": 400,
                "error_rate": 0.05,
                "analysis": {"status": "fail", "reasons": ["errors 5.00% > 0.20% (2x baseline)"]},
            },
        },
    )
    assert "• errors 5.00% > 0.20% (2x baseline)" in message.body
    assert "• requests: 400" in message.body
