"""Plain data shared across turnout: deployments, steps, releases, verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any


class DeploymentType(StrEnum):
    """The runbook's three deployment types."""

    APP = "app"
    INFRA = "infra"
    FULL = "full"


class DeploymentStatus(StrEnum):
    """Where a deployment stands."""

    PENDING = "pending"
    WAITING_APPROVAL = "waiting-approval"
    RUNNING = "running"
    COMPENSATING = "compensating"
    SUCCEEDED = "succeeded"
    REFUSED = "refused"
    ROLLED_BACK = "rolled-back"
    NEEDS_PERSON = "needs-person"

    @property
    def finished(self) -> bool:
        """Whether nothing more will happen to this deployment."""
        return self in {
            DeploymentStatus.SUCCEEDED,
            DeploymentStatus.REFUSED,
            DeploymentStatus.ROLLED_BACK,
            DeploymentStatus.NEEDS_PERSON,
        }


class StepStatus(StrEnum):
    """A journal entry's state."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    SKIPPED = "skipped"
    FAILED = "failed"
    UNDOING = "undoing"
    UNDONE = "undone"
    UNDO_FAILED = "undo-failed"


class VerdictKind(StrEnum):
    """Outcome of a gate or of an analysis."""

    PASS = "pass"
    FAIL = "fail"
    ATTESTED = "attested"
    NOT_APPLICABLE = "not-applicable"
    INCONCLUSIVE = "inconclusive"


@dataclass(frozen=True)
class Release:
    """A version of the app and the package it comes from."""

    version: str
    package: Path | None = None


@dataclass(frozen=True)
class Verdict:
    """A decision with its reasons and evidence, kept in the journal and the audit log."""

    kind: VerdictKind
    summary: str
    reasons: list[str] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "kind": self.kind.value,
            "summary": self.summary,
            "reasons": list(self.reasons),
            "evidence": dict(self.evidence),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verdict:
        """Inverse of to_dict (a verdict kept in the journal or the state store)."""
        return cls(
            VerdictKind(data["kind"]),
            str(data.get("summary", "")),
            list(data.get("reasons", [])),
            dict(data.get("evidence", {})),
        )


@dataclass(frozen=True)
class PlannedDeployment:
    """A deployment as asked for, before it is recorded: what `turnout plan` judges."""

    environment: str
    version: str
    type: DeploymentType
    deployer: str
    created_at: datetime
    package: Path | None = None
    previous_version: str | None = None
    emergency: bool = False
    reason: str | None = None
    changes: str = ""


@dataclass(frozen=True)
class DeploymentInfo(PlannedDeployment):
    """What a step knows about the recorded deployment it belongs to."""

    id: int = field(kw_only=True)
