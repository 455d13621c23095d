"""`status`: what is live, what is running, what happened last and what to do next."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from turnout.api.context import ConfigSource, load, open_store
from turnout.api.outcome import what_happened
from turnout.errors import TurnoutError
from turnout.history import DeploymentDocument, deployment_summary
from turnout.model import DeploymentStatus

if TYPE_CHECKING:
    from turnout.config import LoadedConfig
    from turnout.runbook.outputs import CanaryOutputs
    from turnout.store import Store
    from turnout.store.records import DeploymentRecord
    from turnout.targets.protocol import SharesTraffic, TrafficShare

NEXT_STEPS = {
    DeploymentStatus.RUNNING.value: "a deployment is running (or was interrupted): "
    "`turnout resume --env {env}` continues or compensates it",
    DeploymentStatus.COMPENSATING.value: "compensation was interrupted: "
    "`turnout resume --env {env}`",
    DeploymentStatus.WAITING_APPROVAL.value: "waiting for approval: "
    "`turnout approve {id} --as NAME`, then `turnout resume --env {env}`",
    DeploymentStatus.NEEDS_PERSON.value: "a person must act: read the failure below, fix the"
    " environment by hand (e.g. `turnout rollback --env {env}`), then record what you did",
}
HELD_NEXT = (
    "decide: keep it with `turnout accept --env {env} --reason TEXT`, keep judging it with"
    " `turnout watch --env {env}`, or go back with `turnout rollback --env {env}`"
)


@dataclass(frozen=True)
class SlotView:
    """One slot of the target as the target reports it."""

    name: str
    version: str | None
    state: str
    url: str | None
    detail: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (without the name: slots are keyed by it)."""
        return {
            "version": self.version,
            "state": self.state,
            "url": self.url,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class LockView:
    """Who holds the environment's deployment lock, since when, last heartbeat."""

    holder: str
    deployment: int | None
    since: str
    heartbeat: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "holder": self.holder,
            "deployment": self.deployment,
            "since": self.since,
            "heartbeat": self.heartbeat,
        }


@dataclass(frozen=True)
class OpenPostmortem:
    """A post-mortem an emergency deployment opened and nobody closed yet."""

    id: int
    deployment: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"id": self.id, "deployment": self.deployment, "reason": self.reason}


@dataclass(frozen=True)
class ApprovalView:
    """An approval recorded for the latest deployment and what its signature proves now."""

    approver: str
    role: str | None
    at: str
    signature: str
    """"signed" (verified against the configured keys and this release), "unsigned",
    "bad-signature" or "unknown-approver"."""
    problem: str | None

    @property
    def line(self) -> str:
        """One line for people."""
        why = f" ({self.problem})" if self.problem else ""
        return f"approval by {self.approver} ({self.role or 'no role'}): {self.signature}{why}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "approver": self.approver,
            "role": self.role,
            "at": self.at,
            "signature": self.signature,
            "problem": self.problem,
        }


@dataclass(frozen=True)
class PendingOperation:
    """A deploy or swap a cut-off deployment began and its journal kept, perhaps still
    running on the target (`resume` follows it; `rollback` follows it, then swaps back)."""

    step: str
    kind: str
    slot: str
    target_slot: str | None
    started_at: str
    polling_url: str

    @property
    def line(self) -> str:
        """One line for people."""
        what = (
            f"swap of {self.slot} into {self.target_slot}"
            if self.target_slot
            else f"{self.kind} to slot {self.slot}"
        )
        where = f" ({self.polling_url})" if self.polling_url else ""
        return f"left running by the {self.step} step: the {what}, begun {self.started_at}{where}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "step": self.step,
            "kind": self.kind,
            "slot": self.slot,
            "target_slot": self.target_slot,
            "started_at": self.started_at,
            "polling_url": self.polling_url,
        }


@dataclass(frozen=True)
class CanaryView:
    """The latest deployment's canary: the share in force and its evidence so far."""

    record: CanaryOutputs
    """What the canary step last recorded (journaled before every change of share)."""
    routed: TrafficShare | None
    """The share the target routes now, as it says (None when it could not be asked)."""

    @property
    def share(self) -> float:
        """Per cent of new clients on the new version now (the target's word first)."""
        if self.routed is not None:
            return self.routed.percent if self.routed.active else 0.0
        return self.record.share or 0.0

    def line(self) -> str:
        """One line for people."""
        record = self.record
        if record.skipped:
            return f"canary skipped: {record.skipped}"
        where = f" to slot {record.slot}" if record.slot else ""
        verdict = record.verdict or {}
        said = f"; {verdict.get('summary')}" if verdict.get("summary") else ""
        return (
            f"canary {record.outcome or 'running'}: share in force {self.share:g} %{where};"
            f" the new version served {record.served or 0} user requests,"
            f" {record.failed or 0} failed{said}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (`status --json`'s `canary`)."""
        return {
            "share": self.share,
            "routed": self.routed.to_dict() if self.routed is not None else None,
            **self.record.journal(),
        }


@dataclass(frozen=True)
class StatusResult:
    """An environment's state: slots (None when the target cannot say), lock, latest
    deployment with its journal, what happened in words, and what to do next."""

    environment: str
    slots: tuple[SlotView, ...] | None
    target_error: str | None
    lock: LockView | None
    latest: DeploymentDocument | None
    next: str | None
    happened: str | None
    postmortems_open: tuple[OpenPostmortem, ...]
    pending: tuple[PendingOperation, ...] = ()
    """What the latest deployment, cut off mid-way, left running on the target."""
    canary: CanaryView | None = None
    """The latest deployment's canary, when it has one."""
    approvals: tuple[ApprovalView, ...] = ()
    """The latest deployment's approvals, each signature checked as the gate checks it."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `turnout status --json` prints)."""
        document: dict[str, Any] = {"environment": self.environment}
        if self.slots is None:
            document["slots"] = None
            document["target_error"] = self.target_error
        else:
            document["slots"] = {slot.name: slot.to_dict() for slot in self.slots}
        document.update(
            {
                "lock": self.lock.to_dict() if self.lock else None,
                "latest": dict(self.latest) if self.latest is not None else None,
                "next": self.next,
                "happened": self.happened,
                "postmortems_open": [p.to_dict() for p in self.postmortems_open],
                "pending": [p.to_dict() for p in self.pending],
                "canary": self.canary.to_dict() if self.canary is not None else None,
                "approvals": [a.to_dict() for a in self.approvals],
            }
        )
        return document


def next_step(environment: str, status: str, deployment_id: int, failed_step: Any) -> str | None:
    """What a person does next about a deployment in this status (None: nothing)."""
    hint = NEXT_STEPS.get(status)
    if status == DeploymentStatus.NEEDS_PERSON.value and failed_step == "verify":
        # Held: verification could not decide; nothing failed that a person must repair.
        hint = HELD_NEXT
    return hint.format(env=environment, id=deployment_id) if hint else None


def status(env: str, *, config: ConfigSource = None) -> StatusResult:
    """Live slots, the lock, the latest deployment and what to do next; changes nothing."""
    loaded = load(config, remembered=True)
    environment = loaded.env(env)
    slots: tuple[SlotView, ...] | None
    target_error = None
    routed: TrafficShare | None = None
    try:
        from turnout.targets.protocol import SharesTraffic, can_share_traffic
        from turnout.targets.registry import create_target

        target = create_target(loaded, environment)
        try:
            slots = tuple(
                SlotView(str(name), s.version, str(s.state), s.url, s.detail)
                for name, s in target.slots().items()
            )
            if can_share_traffic(target) and environment.canary is not None:
                assert isinstance(target, SharesTraffic)
                routed = _routed(target)
        finally:
            target.close()
    except TurnoutError as exc:
        slots = None
        target_error = exc.message
    with open_store(loaded, read_only=True) as store:
        held = store.lock(environment.name)
        lock = (
            None
            if held is None
            else LockView(
                held.holder,
                held.deployment_id,
                held.acquired_at.isoformat(),
                held.heartbeat_at.isoformat(),
            )
        )
        rows = store.deployments(environment.name, limit=1)
        latest = deployment_summary(store, rows[0].id) if rows else None
        hint = None
        if rows:
            failure = rows[0].data.failure
            step = None if failure is None else failure.step
            hint = next_step(environment.name, rows[0].status, rows[0].id, step)
        pending = _pending(store, rows[0]) if rows else ()
        canary = _canary(store, rows[0], routed) if rows else None
        approvals = _approvals(loaded, store, rows[0]) if rows else ()
        postmortems = tuple(
            OpenPostmortem(p.id, p.deployment_id, p.reason)
            for p in store.postmortems(environment.name, open_only=True)
        )
    return StatusResult(
        environment=environment.name,
        slots=slots,
        target_error=target_error,
        lock=lock,
        latest=latest,
        next=hint,
        happened=what_happened(environment.name, latest),
        postmortems_open=postmortems,
        pending=pending,
        canary=canary,
        approvals=approvals,
    )


def _routed(target: SharesTraffic) -> TrafficShare | None:
    """The share the target routes now; None when it cannot say (the slots still show)."""
    try:
        return target.current_share()
    except TurnoutError:
        return None


def _approvals(
    config: LoadedConfig, store: Store, row: DeploymentRecord
) -> tuple[ApprovalView, ...]:
    """The deployment's approvals with what each signature proves (only computed when it
    has any: checking runs ssh-keygen and reads the release package)."""
    recorded = store.approvals(row.id)
    if not recorded:
        return ()
    from turnout.config.people import find_person
    from turnout.policy.signed_approvals import prove_approval, release_subject

    subject = release_subject(config, row)
    views = []
    for approval in recorded:
        person = find_person(config.root.people, approval.approver)
        at = approval.created_at.isoformat(timespec="seconds")
        if person is None:
            why = "no longer in `people`"
            views.append(
                ApprovalView(approval.approver, approval.role, at, "unknown-approver", why)
            )
            continue
        proof = prove_approval(approval, person, config.root.people, subject)
        views.append(ApprovalView(person.name, approval.role, at, proof.kind, proof.problem))
    return tuple(views)


def _canary(store: Store, row: DeploymentRecord, routed: TrafficShare | None) -> CanaryView | None:
    from turnout.runbook.canary_record import stored_record

    record = stored_record(store, row.environment, row.id)
    return None if record is None else CanaryView(record, routed)


def _pending(store: Store, row: DeploymentRecord) -> tuple[PendingOperation, ...]:
    """The handles a cut-off deployment's journal kept (read only: the target is not asked)."""
    from datetime import UTC, datetime

    from turnout.runbook.journal import CUT_OFF, pending_operations

    if DeploymentStatus(row.status) not in CUT_OFF:
        return ()
    return tuple(
        PendingOperation(
            step,
            str(op.kind),
            op.slot,
            op.target_slot,
            datetime.fromtimestamp(op.started_at, UTC).isoformat(timespec="seconds"),
            op.polling_url,
        )
        for step, op in pending_operations(store.steps(row.id)).items()
    )
