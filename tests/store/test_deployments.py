"""Recording deployments from a `NewDeployment`."""

from __future__ import annotations

from datetime import UTC, datetime

from turnout.model import DeploymentStatus, DeploymentType, StepStatus
from turnout.store import Store
from turnout.store.records import NewDeployment

ENDED = NewDeployment(
    environment="production",
    version="1.2.0",
    type=DeploymentType.APP,
    status=DeploymentStatus.ROLLED_BACK,
    deployer="sam",
    previous_version="1.1.0",
    emergency=True,
    reason="checkout is down",
    changes="faster basket",
    package="/srv/packages/1.2.0",
    plan=("stage", "swap"),
    data={"outside_window": True},
    created_at=datetime(2026, 11, 3, 9, tzinfo=UTC),
    started_at=datetime(2026, 11, 3, 9, 1, tzinfo=UTC),
    finished_at=datetime(2026, 11, 3, 9, 20, tzinfo=UTC),
    exit_code=4,
    message="verify failed",
)


def test_an_ended_deployment_reads_back_field_for_field(any_store: Store) -> None:
    """History brought in from elsewhere keeps every field it was given, its plan unjournaled."""
    row = any_store.create_deployment(ENDED)
    found = any_store.deployment(row.id)
    assert found is not None
    assert (found.environment, found.version, found.previous_version, found.type) == (
        "production",
        "1.2.0",
        "1.1.0",
        DeploymentType.APP,
    )
    assert (found.status, found.deployer, found.emergency, found.reason) == (
        DeploymentStatus.ROLLED_BACK,
        "sam",
        True,
        "checkout is down",
    )
    assert (found.changes, found.package, found.plan) == (
        "faster basket",
        "/srv/packages/1.2.0",
        ("stage", "swap"),
    )
    assert (found.created_at, found.started_at, found.finished_at) == (
        ENDED.created_at,
        ENDED.started_at,
        ENDED.finished_at,
    )
    assert (found.exit_code, found.message) == (4, "verify failed")
    assert found.data.outside_window is True
    assert any_store.steps(row.id) == []


def test_starting_journals_the_plan_and_claims_the_lock(any_store: Store) -> None:
    """A started deployment has every planned step pending and the lock names it."""
    any_store.acquire_lock("staging", None, "ana@host pid 1")
    new = NewDeployment(
        environment="staging",
        version="1.1.0",
        type=DeploymentType.APP,
        status=DeploymentStatus.RUNNING,
        deployer="ana",
        plan=("preflight", "stage", "swap"),
    )
    row = any_store.start_deployment("ana@host pid 1", new)
    steps = any_store.steps(row.id)
    assert [(s.name, s.status) for s in steps] == [
        ("preflight", StepStatus.PENDING),
        ("stage", StepStatus.PENDING),
        ("swap", StepStatus.PENDING),
    ]
    lock = any_store.lock("staging")
    assert lock is not None and lock.deployment_id == row.id
    assert row.status is DeploymentStatus.RUNNING and row.finished_at is None
