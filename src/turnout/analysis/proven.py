"""A watch that decides "healthy" on a release kept or held without proof records it as proven.

A release held because its verification could not decide (exit 5), or accepted
unproven with `turnout accept`, is not proven healthy. When `turnout watch`
later carries the same sequential test (same totals since the swap, same false-rollback budget) to
a healthy verdict, the proof exists after all: the deployment is then recorded
as verified by the watch, with the evidence and when it was reached, and a held
one becomes kept ("succeeded"). What it was before (held, or accepted by whom)
stays on record. A watch that stays undecided changes nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from turnout.analysis.judge import headline
from turnout.model import DeploymentStatus, Verdict, VerdictKind
from turnout.store import Store
from turnout.store.deployment_data import ProofRecord, VerificationRecord
from turnout.store.records import AuditAction, DeploymentRecord


def needs_proof(row: DeploymentRecord) -> bool:
    """Whether the deployment is held by an undecided verification, or kept unproven."""
    data = row.data
    if row.status == DeploymentStatus.NEEDS_PERSON.value:
        return data.failure is not None and data.failure.step == "verify"
    return (
        row.status == DeploymentStatus.SUCCEEDED.value
        and data.verification is not None
        and data.verification.proven is False
    )


def _was(row: DeploymentRecord) -> str:
    """What the release was before the proof, in words."""
    accepted = row.data.accepted
    if accepted is not None:
        return f"accepted unproven by {accepted.by}"
    if row.status == DeploymentStatus.NEEDS_PERSON.value:
        return "held: its verification could not decide"
    return "kept without proof"


def record_proven(store: Store, row: DeploymentRecord, verdict: Verdict, actor: str) -> str | None:
    """Record a watch's healthy verdict on an unproven release; returns the new message, or
    None when there was nothing to record (not healthy, or already proven)."""
    # Read again: the watch ran for a while (someone may have accepted the release meanwhile).
    row = store.deployment(row.id) or row
    if verdict.kind is not VerdictKind.PASS or not needs_proof(row):
        return None
    evidence = verdict.evidence
    # When the judge first said healthy (the watch then went on looking for a regression).
    reached = evidence.get("healthy_at", evidence.get("at"))
    at = (
        datetime.fromtimestamp(float(reached), UTC)
        if isinstance(reached, int | float)
        else store.now()
    )
    was = _was(row)
    figures = headline(verdict)
    proof = ProofRecord(
        by="watch",
        at=at,
        summary=verdict.summary,
        evidence=figures,
        was=was,
        hold=row.data.failure,
    )
    verification = replace(
        row.data.verification or VerificationRecord(), proven=True, proven_by=proof
    )
    message = (
        f"{row.version} proven healthy by turnout watch at {at.isoformat()[:19]}"
        f" ({verdict.summary})"
    )
    store.update_deployment_data(row.id, verification=verification, failure=None)
    fields: dict[str, Any] = {"message": message}
    if row.status == DeploymentStatus.NEEDS_PERSON.value:
        fields.update(status=DeploymentStatus.SUCCEEDED.value, exit_code=0)
    store.update_deployment(row.id, **fields)
    store.audit(
        actor,
        AuditAction.WATCH_PROVEN,
        environment=row.environment,
        deployment_id=row.id,
        version=row.version,
        was=was,
        summary=verdict.summary,
        evidence=figures,
    )
    return message
