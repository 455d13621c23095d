"""What each deployment of an environment was, read once from the store: when it reached
production, whether it was verified there, whether it failed and when production was on a
verified version again. Every measure of the report is computed from these facts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from turnout.model import DeploymentStatus, StepStatus
from turnout.runbook.outputs import (
    SnapshotOutputs,
    StageOutputs,
    SwapOutputs,
    TagOutputs,
    VerifyOutputs,
)
from turnout.runbook.traffic import SWAP_STEP, swap_moved_traffic
from turnout.store import Store
from turnout.store.deployment_data import TrafficPoint
from turnout.store.records import DeploymentRecord, StepRecord

EMERGENCY_FIX_WINDOW = timedelta(hours=24)
"""An emergency deployment reaching production this soon after a kept one marks that one
as failed (it needed immediate intervention)."""

HISTORY_LIMIT = 100_000
"""Deployments read per environment (far more than any team's years of history)."""


class Outcome(StrEnum):
    """How a deployment ended, as the report groups them."""

    SUCCEEDED = "succeeded"
    """Reached production, verified (or accepted) and kept."""
    ROLLED_BACK = "rolled back"
    """Reached production and was swapped back by the deployment itself."""
    ROLLED_BACK_LATER = "rolled back later"
    """Reached production, was kept, and was rolled back later (by hand or by a watch)."""
    HELD = "held"
    """Reached production and waits for a person (undecided verification)."""
    NEEDS_PERSON = "needs a person"
    """Reached production, failed, and could not be swapped back (the undo failed)."""
    BLOCKED = "blocked"
    """Stopped before any traffic moved: refused at a gate or failed before the swap."""
    UNFINISHED = "unfinished"
    """Still running (or cut off and not yet resumed)."""


class Failure(StrEnum):
    """Why a deployment counts as a failed change."""

    ROLLED_BACK = "rolled back"
    ROLLED_BACK_LATER = "rolled back later"
    EMERGENCY_FIX = "followed by an emergency fix"
    NEEDS_PERSON = "left production on an unverified version"


class Rework(StrEnum):
    """Why a deployment counts as unplanned."""

    EMERGENCY = "emergency"
    FIXES_INCIDENT = "fixes an incident"
    FIXES_FAILED_CHANGE = "fixes a failed change"


@dataclass(frozen=True)
class DeploymentFacts:
    """One deployment as the report sees it."""

    id: int
    environment: str
    version: str
    emergency: bool
    created_at: datetime
    outcome: Outcome
    swapped_at: datetime | None
    """When traffic moved to this version (None: it never reached production)."""
    verified_at: datetime | None
    """When production was on this version verified (or accepted by a person)."""
    commit: str | None
    """The release's commit as its tag step recorded it."""
    requests: int
    errors: int
    p95_ms: float | None
    """What verification judged on production (every request, failed deployments too)."""
    series: tuple[TrafficPoint, ...]
    """Production's traffic around the swap, as verification recorded it."""
    rolled_back_at: datetime | None
    """When production went back to the previous version (by this deployment or later)."""
    failure: Failure | None = None
    recovered_at: datetime | None = None
    """When production was on a verified version again after this failed change."""
    rework: Rework | None = None

    @property
    def reached_production(self) -> bool:
        """Whether traffic moved to it (what DORA counts as a deployment)."""
        return self.swapped_at is not None

    @property
    def recovery_seconds(self) -> float | None:
        """From the failing swap to production being on a verified version again."""
        if self.failure is None or self.swapped_at is None or self.recovered_at is None:
            return None
        return max((self.recovered_at - self.swapped_at).total_seconds(), 0.0)


def _epoch(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _step(steps: Sequence[StepRecord], name: str) -> StepRecord | None:
    return next((s for s in steps if s.name == name), None)


def _swapped_at(row: DeploymentRecord, steps: Sequence[StepRecord]) -> datetime | None:
    swap = _step(steps, SWAP_STEP)
    if swap is None:
        # A plan without a swap (infra) changes production when it succeeds.
        return row.finished_at if row.status is DeploymentStatus.SUCCEEDED else None
    recorded = SwapOutputs.from_journal(swap.outputs or {})
    moved = swap_moved_traffic(swap.status, recorded)
    if swap.status is StepStatus.RUNNING and row.rolled_back_later is None:
        # Cut off mid-swap and ended without a later rollback on it: nothing says it moved.
        moved = row.status is not DeploymentStatus.ROLLED_BACK and moved
    if not moved:
        return None
    at = _epoch(recorded.swapped_at if recorded is not None else None)
    return at or swap.finished_at or swap.started_at or row.started_at


def _verified_at(row: DeploymentRecord, steps: Sequence[StepRecord]) -> datetime | None:
    if row.status is not DeploymentStatus.SUCCEEDED:
        return None
    if row.data.accepted is not None:
        return row.data.accepted.at
    verify = _step(steps, "verify")
    if verify is not None and verify.status is StepStatus.SUCCEEDED and verify.finished_at:
        return verify.finished_at
    return row.finished_at


def _commit(steps: Sequence[StepRecord]) -> str | None:
    kinds: tuple[type[TagOutputs] | type[StageOutputs] | type[SnapshotOutputs], ...] = (
        TagOutputs,
        StageOutputs,
        SnapshotOutputs,
    )
    for kind in kinds:
        step = _step(steps, kind.step)
        recorded = kind.from_journal(step.outputs or {}) if step is not None else None
        if recorded is not None and recorded.commit:
            return recorded.commit
    return None


def _measured(row: DeploymentRecord, steps: Sequence[StepRecord]) -> tuple[int, int, float | None]:
    """Requests, errors and p95 the verification judged: in its outputs when it passed,
    inside the failure's evidence when it failed or held."""
    verify = _step(steps, "verify")
    if verify is None:
        return 0, 0, None
    outputs = dict(verify.outputs or {})
    failure = row.data.failure
    if failure is not None and failure.step == "verify" and failure.details:
        outputs = {**outputs, **failure.details}
    evidence = outputs.get("evidence")
    if isinstance(evidence, dict) and "analysis" in evidence and "analysis" not in outputs:
        outputs["analysis"] = evidence["analysis"]
    recorded = VerifyOutputs.from_journal(outputs)
    if recorded is None:
        return 0, 0, None
    requests = recorded.measured("requests")
    errors = recorded.measured("errors")
    return int(requests or 0), int(errors or 0), recorded.measured("p95_ms")


def _outcome(row: DeploymentRecord, steps: Sequence[StepRecord], swapped: bool) -> Outcome:
    if not row.status.finished:
        return Outcome.UNFINISHED
    if not swapped:
        return Outcome.BLOCKED
    if row.status is DeploymentStatus.ROLLED_BACK:
        return Outcome.ROLLED_BACK if row.rolled_back_later is None else Outcome.ROLLED_BACK_LATER
    if row.rolled_back_later is not None:
        return Outcome.ROLLED_BACK_LATER
    if row.status is DeploymentStatus.NEEDS_PERSON:
        swap = _step(steps, SWAP_STEP)
        undo_failed = swap is not None and swap.status is StepStatus.UNDO_FAILED
        return Outcome.NEEDS_PERSON if undo_failed else Outcome.HELD
    return Outcome.SUCCEEDED


def read_facts(store: Store, environment: str) -> list[DeploymentFacts]:
    """Every deployment of the environment, oldest first, with failures, recoveries and
    rework worked out over the whole history (a failure's recovery may come later)."""
    rows = sorted(store.deployments(environment, limit=HISTORY_LIMIT), key=lambda r: r.id)
    return _judge_changes([_facts(store, row) for row in rows])


def _facts(store: Store, row: DeploymentRecord) -> tuple[DeploymentFacts, tuple[str, ...]]:
    """The deployment's facts (failure and rework not yet judged) and the incidents it
    says it fixes."""
    steps = store.steps(row.id)
    swapped_at = _swapped_at(row, steps)
    requests, errors, p95 = _measured(row, steps)
    later = row.rolled_back_later
    rolled_back_at = later.at if later is not None else None
    if rolled_back_at is None and row.status is DeploymentStatus.ROLLED_BACK and swapped_at:
        rolled_back_at = row.finished_at
    verification = row.data.verification
    return DeploymentFacts(
        id=row.id,
        environment=row.environment,
        version=row.version,
        emergency=row.emergency,
        created_at=row.created_at,
        outcome=_outcome(row, steps, swapped_at is not None),
        swapped_at=swapped_at,
        verified_at=_verified_at(row, steps),
        commit=_commit(steps),
        requests=requests,
        errors=errors,
        p95_ms=p95,
        series=verification.series if verification is not None else (),
        rolled_back_at=rolled_back_at,
    ), row.data.fixes_incidents


def _judge_changes(
    found: Sequence[tuple[DeploymentFacts, tuple[str, ...]]],
) -> list[DeploymentFacts]:
    """Failures (and when each recovered) and rework, in the order deployments reached
    production."""
    facts = [f for f, _ in found]
    fixes = {f.id: bool(incidents) for f, incidents in found}
    live = sorted((f for f in facts if f.reached_production), key=_swap_key)
    judged: dict[int, DeploymentFacts] = {}
    failed_before: DeploymentFacts | None = None
    for index, fact in enumerate(live):
        following = live[index + 1] if index + 1 < len(live) else None
        failure, recovered = _failure(fact, following, live[index + 1 :])
        rework = None
        if fact.emergency:
            rework = Rework.EMERGENCY
        elif fixes[fact.id]:
            rework = Rework.FIXES_INCIDENT
        elif failed_before is not None:
            rework = Rework.FIXES_FAILED_CHANGE
        judged[fact.id] = replace(fact, failure=failure, recovered_at=recovered, rework=rework)
        failed_before = judged[fact.id] if failure is not None else None
    return [judged.get(f.id, f) for f in facts]


def _swap_key(fact: DeploymentFacts) -> tuple[datetime, int]:
    assert fact.swapped_at is not None
    return fact.swapped_at, fact.id


def _failure(
    fact: DeploymentFacts,
    following: DeploymentFacts | None,
    later: Sequence[DeploymentFacts],
) -> tuple[Failure | None, datetime | None]:
    """Whether a deployment that reached production failed, and when production was on a
    verified version again."""
    if fact.outcome is Outcome.ROLLED_BACK:
        # The deployment swapped back itself: the previous, verified version is live again.
        return Failure.ROLLED_BACK, fact.rolled_back_at
    if fact.outcome is Outcome.ROLLED_BACK_LATER:
        return Failure.ROLLED_BACK_LATER, fact.rolled_back_at
    if (
        following is not None
        and following.emergency
        and fact.swapped_at is not None
        and following.swapped_at is not None
        and following.swapped_at - fact.swapped_at <= EMERGENCY_FIX_WINDOW
    ):
        return Failure.EMERGENCY_FIX, _next_verified(later)
    if fact.outcome is Outcome.NEEDS_PERSON:
        # Failed and not swapped back: production runs an unverified version until the
        # next verified deployment (or a rollback to a verified version).
        return Failure.NEEDS_PERSON, _next_verified(later)
    return None, None


def _next_verified(later: Sequence[DeploymentFacts]) -> datetime | None:
    """When the first of the later deployments was verified in production (or rolled back
    to a verified version)."""
    for fact in later:
        if fact.verified_at is not None:
            return fact.verified_at
        if fact.rolled_back_at is not None:
            return fact.rolled_back_at
    return None
