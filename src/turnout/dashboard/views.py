"""What the pages show, read from a (read-only) store and the configuration: typed views
the templates render, so no template reaches into stored documents itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

from turnout.api.outcome import what_happened
from turnout.api.status_report import next_step
from turnout.config import LoadedConfig
from turnout.errors import TurnoutError
from turnout.history import deployment_summary
from turnout.model import DeploymentStatus, StepStatus
from turnout.policy.approvals import eligible, requirements
from turnout.policy.flags import is_production
from turnout.policy.signed_approvals import signatures_required
from turnout.runbook.canary_record import stored_record
from turnout.runbook.outputs import CanaryOutputs
from turnout.runbook.steps import load_step
from turnout.store import Store
from turnout.store.records import DeploymentRecord, StepRecord


@dataclass(frozen=True)
class SlotLine:
    """One slot as the target reported it at the last look."""

    name: str
    version: str | None
    state: str
    detail: str


@dataclass(frozen=True)
class LiveTraffic:
    """Production's traffic over the last minute, from the environment's metrics source."""

    seconds: float
    requests: int
    probes: int
    errors: int
    p95_ms: float | None

    @property
    def per_second(self) -> float:
        """Requests per second over the window."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def error_rate(self) -> float | None:
        """Errors over requests (None without requests)."""
        return self.errors / self.requests if self.requests else None


@dataclass(frozen=True)
class StepLine:
    """One journal entry: its phase, status, timing and message."""

    phase: str
    name: str
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    message: str

    def elapsed(self, now: datetime) -> float | None:
        """Seconds it ran (so far, while running)."""
        if self.started_at is None:
            return None
        return ((self.finished_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True)
class ApprovalNeed:
    """What a deployment waiting for approval still needs, and who may give it."""

    requirement: str
    may_approve: tuple[str, ...]


@dataclass(frozen=True)
class DeploymentView:
    """One deployment in full: its journal, the approvals it needs and has, its audit trail."""

    line: DeploymentRecord
    """The deployment as stored (its row)."""
    steps: tuple[StepLine, ...]
    running_step: StepLine | None
    needs: tuple[ApprovalNeed, ...]
    approvals: tuple[tuple[str, str | None, datetime], ...]
    audit: tuple[tuple[datetime, str, str, str], ...]
    """(at, actor, action, details in short), oldest first."""
    checklist: tuple[dict[str, Any], ...]
    gates: tuple[tuple[str, str, str], ...]
    """(gate, verdict, message) of the window, approval and checklist steps."""
    happened: str | None
    next: str | None
    resumable: bool = False
    """Approved and waiting, or cut off with nobody holding the lock: `resume` continues it."""
    signed_only: bool = False
    """Only approvals signed with the approver's SSH key count here: the page shows the
    command instead of a button (a signing key never reaches the page)."""
    canary: CanaryOutputs | None = None
    """The deployment's canary as last recorded: the share in force, each step, the blast
    radius and the side-by-side verdict (None: no canary ran)."""


@dataclass(frozen=True)
class EnvironmentView:
    """An environment: what is live, what is running, the step in progress, what is next."""

    name: str
    production: bool
    slots: tuple[SlotLine, ...] | None
    target_error: str | None
    traffic: LiveTraffic | None
    traffic_note: str
    lock_holder: str | None
    latest: DeploymentView | None
    recent: tuple[DeploymentRecord, ...] = field(default_factory=tuple)

    @property
    def live_version(self) -> str | None:
        """The version in the production slot, as last seen."""
        for slot in self.slots or ():
            if slot.name == "production":
                return slot.version
        return None


@cache
def _phase(step: str) -> str:
    """The runbook phase a step belongs to (as the terminal's progress shows it)."""
    try:
        return load_step(step).phase
    except TurnoutError:  # a step of an older version: shown without a phase
        return ""


def _message(step: StepRecord) -> str:
    summary = step.outputs.get("summary") or step.outputs.get("message")
    if step.error:
        return step.error
    return str(summary) if summary else ""


def step_line(step: StepRecord) -> StepLine:
    """A journal entry as the page shows it."""
    return StepLine(
        phase=_phase(step.name),
        name=step.name,
        status=str(step.status),
        started_at=step.started_at,
        finished_at=step.finished_at,
        message=_message(step),
    )


def _needs(config: LoadedConfig, row: DeploymentRecord, store: Store) -> tuple[ApprovalNeed, ...]:
    if row.status is not DeploymentStatus.WAITING_APPROVAL:
        return ()
    environment = config.env(row.environment)
    given = {a.approver for a in store.approvals(row.id)}
    needed = requirements(
        environment, emergency=row.emergency, outside_window=row.data.outside_window
    )
    found = []
    for need in needed:
        names = eligible(config, tuple(need.roles), row.deployer)
        if not set(names) & given:
            found.append(ApprovalNeed(need.describe(), tuple(names)))
    return tuple(found)


def _resumable(row: DeploymentRecord, needs: tuple[ApprovalNeed, ...], store: Store) -> bool:
    if row.status is DeploymentStatus.WAITING_APPROVAL:
        return not needs
    cut_off = row.status in {DeploymentStatus.RUNNING, DeploymentStatus.COMPENSATING}
    return cut_off and store.lock(row.environment) is None


def _gates(steps: list[StepRecord]) -> tuple[tuple[str, str, str], ...]:
    found = []
    for step in steps:
        if step.name not in {"window", "approval", "checklist"} or not step.outputs:
            continue
        outputs = step.outputs
        verdict = str(outputs.get("verdict") or ("ok" if outputs.get("ok") else "not met"))
        message = str(outputs.get("message") or outputs.get("summary") or step.error or "")
        found.append((step.name, verdict, message))
    return tuple(found)


def _audit_details(details: dict[str, Any]) -> str:
    shown = []
    for key in ("why", "reason", "comment", "role", "to", "summary"):
        value = details.get(key)
        if value:
            shown.append(f"{key}: {value}")
    return "; ".join(shown)


def deployment_view(config: LoadedConfig, store: Store, row: DeploymentRecord) -> DeploymentView:
    """Everything the deployment's page shows."""
    steps = store.steps(row.id)
    lines = tuple(step_line(step) for step in steps)
    running = next((s for s in lines if s.status in {StepStatus.RUNNING, StepStatus.UNDOING}), None)
    checklist = next((s.outputs.get("items") for s in steps if s.name == "checklist"), None) or ()
    summary = deployment_summary(store, row.id)
    failure = row.data.failure
    needs = _needs(config, row, store)
    hint = next_step(row.environment, row.status, row.id, None if failure is None else failure.step)
    if row.status is DeploymentStatus.WAITING_APPROVAL and not needs:
        hint = f"approved: `turnout resume --env {row.environment}` continues it"
    return DeploymentView(
        line=row,
        steps=lines,
        running_step=running,
        needs=needs,
        approvals=tuple((a.approver, a.role, a.created_at) for a in store.approvals(row.id)),
        audit=tuple(
            (entry.at, entry.actor, str(entry.action), _audit_details(dict(entry.details)))
            for entry in store.audit_log(deployment_id=row.id, limit=200)
        ),
        checklist=tuple(dict(item) for item in checklist if isinstance(item, dict)),
        gates=_gates(steps),
        happened=what_happened(row.environment, summary),
        next=hint,
        resumable=_resumable(row, needs, store),
        signed_only=signatures_required(config.env(row.environment)),
        canary=stored_record(store, row.environment, row.id),
    )


def environment_view(
    config: LoadedConfig,
    store: Store,
    name: str,
    slots: tuple[SlotLine, ...] | None,
    target_error: str | None,
    traffic: LiveTraffic | None = None,
    traffic_note: str = "",
) -> EnvironmentView:
    """An environment's page: slots (as the feed last saw them), lock, latest deployment."""
    environment = config.env(name)
    rows = store.deployments(name, limit=6)
    lock = store.lock(name)
    return EnvironmentView(
        name=name,
        production=is_production(environment),
        slots=slots,
        target_error=target_error,
        traffic=traffic,
        traffic_note=traffic_note,
        lock_holder=None if lock is None else lock.holder,
        latest=deployment_view(config, store, rows[0]) if rows else None,
        recent=tuple(rows[1:]),
    )


def history_lines(
    store: Store, environment: str | None, status: str | None, limit: int = 100
) -> tuple[DeploymentRecord, ...]:
    """The history table, newest first, filtered by environment and status."""
    rows = store.deployments(environment, limit=limit, status=status or None)
    return tuple(rows)


def now() -> datetime:
    """The page's clock (UTC)."""
    return datetime.now(UTC)
