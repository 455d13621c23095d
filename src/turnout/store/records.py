"""What the store hands back: frozen records with aware UTC timestamps and enum statuses."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from turnout.model import DeploymentStatus, DeploymentType, StepStatus
from turnout.store.deployment_data import DeploymentData


@dataclass(frozen=True)
class LaterRollback:
    """A rollback of a deployment after it had succeeded (by hand or by `turnout watch`)."""

    at: datetime
    to: str | None
    """The version production went back to."""
    by: str | None
    reason: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"to": self.to, "by": self.by, "at": self.at.isoformat(), "reason": self.reason}


@dataclass(frozen=True)
class NewDeployment:
    """A deployment to record: what goes where, by whom and why. History brought in from
    elsewhere also gives when it was created and how it ended."""

    environment: str
    version: str
    type: DeploymentType
    status: DeploymentStatus
    deployer: str
    previous_version: str | None = None
    """The version production ran before (the last verified one)."""
    emergency: bool = False
    reason: str | None = None
    changes: str = ""
    package: str | None = None
    """The release package (a path)."""
    plan: tuple[str, ...] = ()
    """The plan's step names, in order (`start_deployment` journals each)."""
    data: Mapping[str, Any] = field(default_factory=dict)
    """The deployment's data as stored: the JSON document `DeploymentData` reads (e.g. the
    `outside_window` flag)."""
    created_at: datetime | None = None
    """When it was created (default: now)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    message: str | None = None


@dataclass(frozen=True)
class DeploymentRecord:
    """One deployment: what, where, by whom, and how it ended."""

    id: int
    environment: str
    version: str
    previous_version: str | None
    type: DeploymentType
    status: DeploymentStatus
    deployer: str
    emergency: bool
    reason: str | None
    changes: str
    package: str | None
    plan: tuple[str, ...]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    message: str | None
    rolled_back_later: LaterRollback | None = None
    """Set when the deployment, once live, was rolled back later."""
    data: DeploymentData = field(default_factory=DeploymentData)
    """What steps and later commands recorded about the deployment (failure, verification,
    acceptance, watch …)."""


@dataclass(frozen=True)
class StepRecord:
    """One journal entry: a planned step and its latest transition."""

    deployment_id: int
    position: int
    name: str
    status: StepStatus
    started_at: datetime | None
    finished_at: datetime | None
    outputs: dict[str, Any]
    error: str | None


@dataclass(frozen=True)
class LockRecord:
    """An environment's lock: who holds it, since when, and when it last showed life."""

    environment: str
    deployment_id: int | None
    holder: str
    host: str
    pid: int
    acquired_at: datetime
    heartbeat_at: datetime


@dataclass(frozen=True)
class ApprovalRecord:
    """An approval of a deployment by a person acting in a role."""

    id: int
    deployment_id: int
    approver: str
    role: str | None
    comment: str | None
    created_at: datetime
    statement: str | None = None
    """The canonical statement the approver signed (None: an unsigned approval)."""
    signature: str | None = None
    """The armored SSH signature over `statement`."""


class AuditAction(StrEnum):
    """What an audit entry records (its `action`)."""

    ACCEPT_REFUSED = "accept.refused"
    APPROVAL_GRANTED = "approval.granted"
    APPROVAL_RECORDED = "approval.recorded"
    APPROVAL_REFUSED = "approval.refused"
    APPROVAL_WAITING = "approval.waiting"
    CHECKLIST_ATTESTED = "checklist.attested"
    CHECKLIST_REFUSED = "checklist.refused"
    CHECKLIST_VERDICT = "checklist.verdict"
    DB_BACKUP = "db.backup"
    DB_MIGRATE = "db.migrate"
    DB_RESTORE = "db.restore"
    DEPLOY_ACCEPTED = "deploy.accepted"
    DEPLOY_COMPENSATING = "deploy.compensating"
    DEPLOY_NEEDS_PERSON = "deploy.needs-person"
    DEPLOY_PENDING = "deploy.pending"
    DEPLOY_REFUSED = "deploy.refused"
    DEPLOY_RESUME = "deploy.resume"
    DEPLOY_ROLLED_BACK = "deploy.rolled-back"
    DEPLOY_RUNNING = "deploy.running"
    DEPLOY_START = "deploy.start"
    DEPLOY_SUCCEEDED = "deploy.succeeded"
    DEPLOY_SUPERSEDED = "deploy.superseded"
    DEPLOY_WAITING_APPROVAL = "deploy.waiting-approval"
    HOOK_FAILED = "hook.failed"
    INCIDENT_CLOSE = "incident.close"
    INCIDENT_OPEN = "incident.open"
    LOCK_FORCE_UNLOCK = "lock.force-unlock"
    LOCK_TAKE_OVER = "lock.take-over"
    NOTIFY_FAILED = "notify.failed"
    POSTMORTEM_CLOSED = "postmortem.closed"
    POSTMORTEM_OPENED = "postmortem.opened"
    PRECONDITIONS_INCIDENT_OVERRIDE = "preconditions.incident-override"
    ROLLBACK = "rollback"
    WATCH_ENDED = "watch.ended"
    WATCH_PROVEN = "watch.proven"
    WATCH_REGRESSED = "watch.regressed"
    WINDOW_OVERRIDE = "window.override"
    WINDOW_REFUSED = "window.refused"
    WINDOW_VERDICT = "window.verdict"

    @staticmethod
    def deployment_ended(status: DeploymentStatus) -> AuditAction:
        """The entry written when a deployment settles in a status."""
        return AuditAction(f"deploy.{status.value}")


@dataclass(frozen=True)
class AuditEntry:
    """One decision in the append-only audit log, chained to the one before by hash."""

    id: int
    at: datetime
    actor: str
    action: str
    """An AuditAction's value (entries written by older versions may have others)."""
    environment: str | None
    deployment_id: int | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class ChainBreak:
    """Where the audit log's hash chain does not hold, and how."""

    row: int
    problem: str

    def describe(self) -> str:
        """One line for people."""
        return f"row {self.row} {self.problem}"


@dataclass(frozen=True)
class ChainCheck:
    """The result of checking the audit log end to end."""

    rows: int
    last_hash: str
    broken: ChainBreak | None

    @property
    def intact(self) -> bool:
        """Whether every row follows the one before and matches its own content."""
        return self.broken is None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "intact": self.intact,
            "rows": self.rows,
            "last_hash": self.last_hash,
            "broken_at": None if self.broken is None else self.broken.row,
            "problem": None if self.broken is None else self.broken.problem,
        }


@dataclass(frozen=True)
class IncidentRecord:
    """A local incident record; an open one freezes deployments."""

    id: int
    environment: str | None
    """None: the incident concerns every environment."""
    title: str
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    details: dict[str, Any]


@dataclass(frozen=True)
class PostmortemRecord:
    """A post-mortem opened by an emergency deployment, open until closed with a link."""

    id: int
    deployment_id: int
    environment: str
    reason: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    link: str | None


class BackupStatus(StrEnum):
    """Where a backup stands."""

    VERIFIED = "verified"
    RESTORED = "restored"
    DELETED = "deleted"


@dataclass(frozen=True)
class BackupRecord:
    """A verified database backup and where it is."""

    id: int
    environment: str
    deployment_id: int | None
    engine: str
    location: str
    size: int
    checksum: str
    status: BackupStatus
    created_at: datetime
    verified_at: datetime | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (no secrets: the location is a file path)."""
        return {
            "id": self.id,
            "environment": self.environment,
            "deployment_id": self.deployment_id,
            "engine": self.engine,
            "location": self.location,
            "size": self.size,
            "sha256": self.checksum,
            "status": self.status.value,
            "created_at": self.created_at.isoformat(timespec="seconds"),
            "row_counts": self.details.get("row_counts", {}),
        }
