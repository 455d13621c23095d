"""The state store on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.postgres_server import PostgresServer
from turnout.errors import LockHeld
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.records import AuditAction, NewDeployment


def test_lock_is_exclusive_and_names_holder(any_store: Store) -> None:
    """A second lock on the same environment is refused and names who holds it."""
    any_store.acquire_lock("production", 1, "alice@host pid 1")
    with pytest.raises(LockHeld, match="alice@host pid 1"):
        any_store.acquire_lock("production", 2, "bob@host pid 2")
    any_store.release_lock("production", "alice@host pid 1")
    any_store.acquire_lock("production", 2, "bob@host pid 2")
    lock = any_store.lock("production")
    assert lock is not None and lock.holder == "bob@host pid 2"


def test_audit_chain_detects_tampering(any_store: Store) -> None:
    """The audit log's hash chain holds, and an edited row breaks it at that row."""
    any_store.audit("alice", AuditAction.DEPLOY_START, environment="production", version="1.0.0")
    second = any_store.audit(
        "bob", AuditAction.APPROVAL_RECORDED, environment="production", deployment_id=3
    )
    any_store.audit("alice", AuditAction.DEPLOY_SUCCEEDED, environment="production")
    assert any_store.verify_audit() is None
    with any_store.db.transaction() as tx:
        changed = tx.run("UPDATE audit SET actor = 'mallory' WHERE id = :id", {"id": second.id})
        assert changed == 1
    assert any_store.verify_audit() == second.id


def test_journal_records_transitions(any_store: Store) -> None:
    """Step transitions are stored in plan order with outputs and errors."""
    dep = any_store.create_deployment(
        NewDeployment(
            environment="production",
            version="1.0.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="alice",
        )
    )
    any_store.write_plan(dep.id, ["stage", "swap"])
    any_store.record_step(dep.id, "stage", "succeeded", outputs={"slot": "blue"})
    any_store.record_step(dep.id, "swap", "failed", error="boom")
    steps = any_store.steps(dep.id)
    assert [(s.name, s.status) for s in steps] == [("stage", "succeeded"), ("swap", "failed")]
    assert steps[0].outputs == {"slot": "blue"} and steps[1].error == "boom"


def test_audit_chain_holds_in_any_session_time_zone(
    postgres: PostgresServer, pg_database: str
) -> None:
    """PostgreSQL returns timestamps in the session's zone; the chain still verifies."""
    url = postgres.url(pg_database) + "?options=-c%20TimeZone%3DEurope/Berlin"
    store = Store.open(Path("/nonexistent"), url=url)
    try:
        store.audit("alice", AuditAction.DEPLOY_START, environment="production")
        store.audit("bob", AuditAction.APPROVAL_RECORDED, environment="production")
        assert store.verify_audit() is None
    finally:
        store.close()


def test_audit_chain_names_a_deleted_row(any_store: Store) -> None:
    """Deleting an entry breaks the chain at the entry after it, which names the gap."""
    first = any_store.audit("alice", AuditAction.DEPLOY_START, environment="production")
    second = any_store.audit("bob", AuditAction.APPROVAL_RECORDED, environment="production")
    third = any_store.audit("alice", AuditAction.DEPLOY_SUCCEEDED, environment="production")
    assert any_store.check_audit_chain().rows == 3
    with any_store.db.transaction() as tx:
        tx.run("DELETE FROM audit WHERE id = :id", {"id": second.id})
    check = any_store.check_audit_chain()
    assert check.broken is not None and check.broken.row == third.id
    assert check.rows == 1 and check.last_hash == first.hash
    assert f"row {second.id} was deleted" in check.broken.problem
