"""Decisions a person records: accept a held release, approve a deployment, attest a
checklist item. Each is audited."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from turnout.api.context import ConfigSource, acting_user, load, open_store


@dataclass(frozen=True)
class AcceptResult:
    """A held release kept live, accepted unproven: by whom, why and when."""

    environment: str
    deployment: int
    version: str
    accepted_by: str
    reason: str
    at: str
    summary: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout accept --json` prints)."""
        return {
            "environment": self.environment,
            "deployment": self.deployment,
            "version": self.version,
            "accepted_by": self.accepted_by,
            "reason": self.reason,
            "at": self.at,
            "summary": self.summary,
        }


@dataclass(frozen=True)
class ApprovalResult:
    """An approval recorded for a deployment, in the approver's role."""

    deployment: int
    approver: str
    role: str | None
    comment: str | None
    at: str
    signed: bool = False
    """Whether the approval is a statement signed with the approver's key."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout approve --json` prints)."""
        return {
            "deployment": self.deployment,
            "approver": self.approver,
            "role": self.role,
            "comment": self.comment,
            "at": self.at,
            "signed": self.signed,
        }


@dataclass(frozen=True)
class AttestationResult:
    """Someone vouches for a checklist item of a release in an environment."""

    item: str
    environment: str
    version: str
    by: str
    at: str
    note: str | None
    signed: bool = False
    """Whether the attestation is a statement signed with the person's key."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout attest --json` prints)."""
        return {
            "item": self.item,
            "environment": self.environment,
            "version": self.version,
            "by": self.by,
            "at": self.at,
            "note": self.note,
            "signed": self.signed,
        }


def accept(
    env: str, *, reason: str, actor: str | None = None, config: ConfigSource = None
) -> AcceptResult:
    """Keep the release held because its verification could not decide (accepted unproven)."""
    from turnout.runbook.accept import accept as keep_held

    loaded = load(config)
    environment = loaded.env(env)
    with open_store(loaded) as store:
        done = keep_held(loaded, environment, store, acting_user(actor), reason=reason)
    return AcceptResult(
        environment=str(done["environment"]),
        deployment=int(done["deployment"]),
        version=str(done["version"]),
        accepted_by=str(done["accepted_by"]),
        reason=str(done["reason"]),
        at=str(done["at"]),
        summary=str(done["summary"]),
    )


def approve(
    deployment_id: int,
    *,
    comment: str | None = None,
    actor: str | None = None,
    signing_key: Path | None = None,
    config: ConfigSource = None,
) -> ApprovalResult:
    """Record the actor's approval of a deployment (nobody approves their own), signed
    with `signing_key` when given (required where only signed approvals count)."""
    from turnout.policy.approvals import record_approval

    loaded = load(config)
    with open_store(loaded) as store:
        row = record_approval(
            loaded, store, deployment_id, acting_user(actor), comment, signing_key=signing_key
        )
    return ApprovalResult(
        deployment=deployment_id,
        approver=row.approver,
        role=row.role,
        comment=row.comment,
        at=row.created_at.isoformat(),
        signed=row.signature is not None,
    )


def attest(
    item: str,
    env: str,
    version: str,
    *,
    note: str | None = None,
    actor: str | None = None,
    signing_key: Path | None = None,
    config: ConfigSource = None,
) -> AttestationResult:
    """Record that the actor vouches for a checklist item of a release (source
    "attestation"); the actor must be one of the configuration's people, when it has any.
    Signed with `signing_key` when given (required where only signed decisions count)."""
    from turnout.policy.attestations import attest as record_attestation

    loaded = load(config)
    environment = loaded.env(env)
    who = acting_user(actor)
    with open_store(loaded) as store:
        record = record_attestation(
            loaded, environment, store, version, item, who, note, signing_key
        )
    return AttestationResult(
        item=str(record["item"]),
        environment=str(record["environment"]),
        version=str(record["version"]),
        by=str(record["by"]),
        at=str(record["at"]),
        note=record["note"],
        signed=record.get("signature") is not None,
    )
