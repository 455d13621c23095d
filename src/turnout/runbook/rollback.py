"""Quick rollback (the runbook's "Swap slots back"), outside a deployment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from turnout.config import EnvironmentConfig, LoadedConfig
from turnout.errors import BadInput, LockHeld, NeedsPerson, Refused, StepError
from turnout.model import DeploymentStatus, StepStatus
from turnout.runbook.http_checks import check_client, failures, run_checks
from turnout.runbook.journal import CUT_OFF, pending_operations
from turnout.runbook.lease import Lease
from turnout.store import Store
from turnout.store.records import AuditAction, DeploymentRecord
from turnout.targets.protocol import (
    DEFAULT_WAIT,
    PRODUCTION,
    Deadline,
    Operation,
    OperationKind,
    OperationStatus,
    Target,
    wait_for,
)


def rollback(
    config: LoadedConfig,
    env: EnvironmentConfig,
    store: Store,
    actor: str,
    *,
    to: str | None = None,
    reason: str = "manual",
    target: Target | None = None,
) -> dict[str, Any]:
    """Swap the warm previous version back into production and verify it.

    Takes the environment lock, so it never races a deployment. `to` must name
    the version warm in the staging slot (otherwise deploy that version instead).
    """
    if target is None:
        from turnout.targets.registry import create_target

        target = create_target(config, env)
    lease = Lease(store, env.name, actor)
    _take_lease(lease, store, env.name)
    try:
        # The lease is ours, so nobody follows what a killed deployment left running; a
        # swap back over it would race it (or be refused): follow it to its end first.
        deadline = Deadline.after(DEFAULT_WAIT)
        pending = follow_pending(store, env.name, target, deadline)
        slot = env.target.staging_slot
        slots = target.slots()
        live = slots.get(PRODUCTION)
        warm = slots.get(slot)
        live_version = live.version if live else None
        warm_version = warm.version if warm else None
        if warm_version is None:
            raise BadInput(f"{env.name}: slot {slot} is empty; nothing to roll back to")
        # Only a version production has run before may go back in front of traffic: one
        # kept here (verified or accepted), or the one the live deployment replaced, even
        # if that one was only ever held.
        allowed = kept_versions(store, env.name)
        current = live_deployment(store, env.name, live_version)
        followed = pending.deployment
        if current is None and pending.swapped and followed and followed.version == live_version:
            # The interrupted deployment's own swap put the live version in front of traffic.
            current = followed
        replaced = replaced_version(store, current) if current is not None else None
        if replaced is not None:
            allowed.add(replaced)
        if warm_version not in allowed:
            raise Refused(
                f"{env.name}: slot {slot} holds {warm_version}, which was never verified on"
                f" {env.name}; refusing to put it in front of traffic (deploy a verified version"
                " with `turnout deploy`)"
            )
        if to is not None and to != warm_version:
            raise BadInput(
                f"{env.name}: {to} is not warm in slot {slot} (it holds {warm_version});"
                f" deploy it with `turnout deploy --env {env.name} --version {to}`"
            )
        # A command of its own, with no deployment journal: it waits for the swap's end.
        wait_for(target, target.begin_swap(slot, PRODUCTION, deadline=deadline), deadline)
        with check_client(target) as client:
            results = run_checks(
                client, target.production_url(), env.checks.health, version=warm_version
            )
        problem = failures(results)
        store.audit(
            actor,
            AuditAction.ROLLBACK,
            environment=env.name,
            from_version=live_version,
            to_version=warm_version,
            reason=reason,
            healthy=not problem,
        )
        if current is not None:
            # On the deployment that was live, never on an older one of the same version.
            store.record_later_rollback(current.id, to=warm_version, by=actor, reason=reason)
        if followed is not None:
            # The cut-off deployment ends here: `resume` must not carry it on over this.
            store.update_deployment(
                followed.id,
                status=DeploymentStatus.ROLLED_BACK,
                finished_at=datetime.now(UTC),
                message=f"cut off, then rolled back to {warm_version} by {actor}"
                " with turnout rollback",
            )
        if problem:
            raise NeedsPerson(f"rolled back to {warm_version}, but it is not healthy: {problem}")
        return {
            "environment": env.name,
            "from": live_version,
            "to": warm_version,
            "checks": [r.to_dict() for r in results],
            "followed": list(pending.lines),
            "summary": f"{env.name}: production back on {warm_version} (from {live_version}),"
            " verified",
        }
    finally:
        lease.release()


def _take_lease(lease: Lease, store: Store, environment: str) -> None:
    """The environment's lease; a dead holder's is taken even with its deployment in flight
    (the rollback follows what it left running, then ends it), a live holder's never."""
    try:
        lease.acquire()
    except LockHeld:
        lock = store.lock(environment)
        if lock is None or not lease.holder_is_dead(lock):
            raise
        lease.take_over()


def kept_versions(store: Store, environment: str) -> set[str]:
    """Versions a deployment of the environment kept (verified, or accepted by a person) and
    that were not rolled back later."""
    rows = store.deployments(environment, limit=200, status=DeploymentStatus.SUCCEEDED.value)
    return {row.version for row in rows if row.rolled_back_later is None}


def live_deployment(
    store: Store, environment: str, live_version: str | None
) -> DeploymentRecord | None:
    """The deployment that put the live version in front of traffic: the newest one of that
    version whose swap went through and was not undone (succeeded, or held for a person)."""
    if live_version is None:
        return None
    for row in store.deployments(environment, limit=200):
        if row.version != live_version or row.status not in LIVE_STATUSES:
            continue
        swap = next((s for s in store.steps(row.id) if s.name == "swap"), None)
        if swap is None or swap.status is StepStatus.SUCCEEDED:
            return row
    return None


LIVE_STATUSES = frozenset({DeploymentStatus.SUCCEEDED.value, DeploymentStatus.NEEDS_PERSON.value})


def replaced_version(store: Store, row: DeploymentRecord) -> str | None:
    """What production ran before this deployment swapped (its snapshot saw it live)."""
    for step in store.steps(row.id):
        if step.name == "snapshot":
            version = (step.outputs or {}).get("production_version")
            if isinstance(version, str):
                return version
    return row.previous_version


@dataclass(frozen=True)
class FollowedOperations:
    """What the interrupted deployment had left running, followed to its end."""

    deployment: DeploymentRecord | None
    """The deployment left unfinished (None when the newest one finished)."""
    lines: tuple[str, ...]
    """One line for people per operation followed: what it was and how it ended."""
    swapped: bool
    """Whether a swap into production among them succeeded (traffic moved)."""


NOTHING_PENDING = FollowedOperations(None, (), False)


def follow_pending(
    store: Store, environment: str, target: Target, deadline: Deadline
) -> FollowedOperations:
    """Follow every operation the newest unfinished deployment's journal kept to its end
    (bounded by the deadline); StepError (exit 5) when one still runs at the deadline."""
    rows = store.deployments(environment, limit=1)
    if not rows or DeploymentStatus(rows[0].status) not in CUT_OFF:
        return NOTHING_PENDING
    row = rows[0]
    lines: list[str] = []
    swapped = False
    for step, operation in pending_operations(store.steps(row.id)).items():
        what = _describe(operation)
        result = target.follow(operation, deadline=deadline)
        if result.running:
            where = operation.polling_url or "no polling URL"
            raise StepError(
                f"{environment}: the {what} deployment {row.id} began ({step}) is still running"
                f" ({where}); not swapping back over it: run `turnout rollback` again once it"
                " has ended"
            )
        ended = "succeeded" if result.status is OperationStatus.SUCCEEDED else "failed"
        lines.append(f"followed the {what} deployment {row.id} left running: it {ended}")
        if (
            operation.kind is OperationKind.SWAP
            and operation.target_slot == PRODUCTION
            and result.status is OperationStatus.SUCCEEDED
        ):
            swapped = True
    return FollowedOperations(row, tuple(lines), swapped)


def _describe(operation: Operation) -> str:
    if operation.kind is OperationKind.SWAP:
        return f"swap of {operation.slot} into {operation.target_slot or PRODUCTION}"
    return f"deploy to slot {operation.slot}"
