"""The engine's guarantees when a target misbehaves or a process dies at a bad moment."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.project import fake_project
from turnout.config import load_config
from turnout.errors import IntegrationError, LockHeld, LockLost
from turnout.model import DeploymentStatus, DeploymentType, Release, StepStatus
from turnout.runbook.checkpoint import Point
from turnout.runbook.engine import Engine, Result
from turnout.store import Store
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import (
    PRODUCTION,
    Deadline,
    Operation,
    OperationKind,
    OperationResult,
)


class SwapThenFail(FakeTarget):
    """A target whose swap happens and then reports an error (a lost response)."""

    lost = False

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        result = super().follow(operation, deadline=deadline)
        moved = self.slots()[PRODUCTION].version == "1.1.0"
        if operation.kind is OperationKind.SWAP and moved and not self.lost:
            self.lost = True  # the one answer that was lost
            raise IntegrationError("connection reset after the swap was applied")
        return result


class Interrupted(BaseException):
    """Stands for Ctrl-C or a signal: escapes every `except Exception`."""


class InterruptedStage(FakeTarget):
    """A target whose deploy is interrupted half-way."""

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        if release.version == "1.1.0":
            raise Interrupted
        return super().begin_deploy(slot, release, deadline=deadline)


def _engine(tmp_path: Path, store: Store, target: FakeTarget) -> tuple[Engine, Path]:
    project = fake_project(tmp_path / "project")
    config = load_config(project.config)
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0"))
    target.swap("blue")
    engine = Engine(config, config.env(project.env), store, target_factory=lambda: target)
    return engine, project.root / "packages" / "1.1.0"


def _deploy_unhealthy(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> tuple[Engine, FakeTarget, Result]:
    """Deploy 1.1.0 while it is unhealthy: it is staged in blue, fails there, never swapped."""
    monkeypatch.setenv("TURNOUT__CHECKS__WARMUP__TIMEOUT", "0.2")
    target = FakeTarget("web")
    engine, package = _engine(tmp_path, store, target)
    target.set_unhealthy("1.1.0")
    return engine, target, engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")


def test_a_swap_that_failed_after_happening_is_undone(tmp_path: Path, sqlite_store: Store) -> None:
    """A swap that raised but took effect is swapped back: rolled back means the old version."""
    target = SwapThenFail("web")
    engine, package = _engine(tmp_path, sqlite_store, target)
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.ROLLED_BACK
    assert target.slots()[PRODUCTION].version == "1.0.0"


def test_an_interrupted_deployment_keeps_the_lock(tmp_path: Path, sqlite_store: Store) -> None:
    """An interrupt mid-deployment leaves it running and locked; a new deploy is refused."""
    target = InterruptedStage("web")
    engine, package = _engine(tmp_path, sqlite_store, target)
    with pytest.raises(Interrupted):
        engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    lock = sqlite_store.lock(engine.env.name)
    assert lock is not None and lock.deployment_id is not None
    running = sqlite_store.deployment(lock.deployment_id)
    assert running is not None and running.status == "running"
    with pytest.raises(LockHeld, match="locked by alice@"):
        engine.deploy(Release("1.1.0", package), DeploymentType.APP, "bob")


def test_a_dead_lock_outside_a_deployment_is_taken_over(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """A lock left by a process that died before starting a deployment does not block forever."""
    target = FakeTarget("web")
    engine, package = _engine(tmp_path, sqlite_store, target)
    dead = subprocess.Popen(["true"])
    dead.wait()
    sqlite_store.acquire_lock(engine.env.name, None, "ghost@host pid x")
    with sqlite_store.db.transaction() as tx:
        changed = tx.run(
            "UPDATE locks SET pid = :pid WHERE environment = :env",
            {"pid": dead.pid, "env": engine.env.name},
        )
        assert changed == 1
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.SUCCEEDED
    actions = [r.action for r in sqlite_store.audit_log(engine.env.name)]
    assert "lock.take-over" in actions
    assert sqlite_store.lock(engine.env.name) is None


def test_rollback_refuses_a_version_production_never_ran(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`turnout rollback` does not swap in a staged version that failed before the swap."""
    from turnout.errors import Refused
    from turnout.runbook.rollback import rollback

    engine, target, result = _deploy_unhealthy(tmp_path, sqlite_store, monkeypatch)
    assert result.status is DeploymentStatus.ROLLED_BACK
    assert target.slots()["blue"].version == "1.1.0"
    with pytest.raises(Refused, match=r"1\.1\.0, which was never verified"):
        rollback(engine.config, engine.env, sqlite_store, "alice", target=target)
    assert target.slots()[PRODUCTION].version == "1.0.0"


def test_deploying_the_live_version_again_is_refused(tmp_path: Path, sqlite_store: Store) -> None:
    """Re-deploying what production runs is refused (exit 3) and keeps the warm previous one."""
    target = FakeTarget("web")
    engine, package = _engine(tmp_path, sqlite_store, target)
    assert engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice").exit_code == 0
    again = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert again.status is DeploymentStatus.REFUSED and again.exit_code == 3
    assert "already live" in again.message
    assert target.slots()["blue"].version == "1.0.0"


def test_resume_after_approval_judges_the_gates_again(tmp_path: Path, sqlite_store: Store) -> None:
    """An approval given after an incident opened does not let the deployment slip through."""
    from turnout.policy import record_approval

    project = fake_project(
        tmp_path / "project",
        extra='[[people]]\nname = "sam"\nroles = ["senior-engineer"]\n'
        '[environments.web.policy.approvals]\nrequired_roles = ["senior-engineer"]\n',
    )
    config = load_config(project.config)
    target = FakeTarget("web")
    target.ensure_slot("blue")
    engine = Engine(config, config.env("web"), sqlite_store, target_factory=lambda: target)
    package = project.root / "packages" / "1.1.0"
    waiting = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert waiting.status is DeploymentStatus.WAITING_APPROVAL
    sqlite_store.open_incident("checkout errors", "oncall", environment="web")
    record_approval(config, sqlite_store, waiting.deployment_id, "sam")
    resumed = engine.resume("alice")
    assert resumed is not None and resumed.status is DeploymentStatus.REFUSED
    assert "incident" in resumed.message
    assert target.slots()[PRODUCTION].version is None


class TakenOverDuringStage(FakeTarget):
    """A target during whose deploy someone else takes the lock (`resume --force-unlock`)."""

    store: Store
    environment: str

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        operation = super().begin_deploy(slot, release, deadline=deadline)
        if release.version == "1.1.0":
            lock = self.store.lock(self.environment)
            assert lock is not None
            self.store.take_over_lock(self.environment, lock.holder, "bob@elsewhere", None)
        return operation


def test_a_process_whose_lock_was_taken_stops_before_the_next_step(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """After a forced take-over, the old process starts no further step and leaves the lock."""
    target = TakenOverDuringStage("web")
    target.store = sqlite_store
    engine, package = _engine(tmp_path, sqlite_store, target)
    env = target.environment = engine.env.name
    with pytest.raises(LockLost, match="taken over by bob@elsewhere"):
        engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert target.slots()[PRODUCTION].version == "1.0.0"
    lock = sqlite_store.lock(env)
    assert lock is not None and lock.holder == "bob@elsewhere"
    (row,) = sqlite_store.deployments(env, limit=1)
    statuses = {s.name: s.status for s in sqlite_store.steps(row.id)}
    assert statuses["stage"] == "succeeded"
    assert statuses["swap"] == "pending"
    assert row.status == "running"


class ForcedUnlockDuringStage(FakeTarget):
    """A target during whose deploy bob runs `resume --force-unlock` and finishes the job."""

    other: Engine
    resumed = False

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        result = super().follow(operation, deadline=deadline)
        if operation.detail.get("version") == "1.1.0" and not self.resumed:
            self.resumed = True  # bob's resume follows the same deploy: once is enough
            self.finished = self.other.resume("bob", force_unlock=True)
        return result


def test_a_process_whose_lock_was_forced_is_told_who_took_it(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """The lock is free again when the old process notices: it still names who forced it."""
    target = ForcedUnlockDuringStage("web")
    engine, package = _engine(tmp_path, sqlite_store, target)
    target.other = Engine(engine.config, engine.env, sqlite_store, target_factory=lambda: target)
    with pytest.raises(LockLost) as lost:
        engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert target.finished is not None and target.finished.status is DeploymentStatus.SUCCEEDED
    assert sqlite_store.lock(engine.env.name) is None
    assert "taken over with --force-unlock by bob (bob@" in lost.value.message


class CountingDeploys(FakeTarget):
    """A target that remembers every package it was asked to deploy."""

    deployed: list[Release]

    def begin_deploy(self, slot: str, release: Release, *, deadline: Deadline) -> Operation:
        self.deployed.append(release)
        return super().begin_deploy(slot, release, deadline=deadline)


def test_a_slot_running_the_same_version_from_before_is_deployed_again(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """A new deployment stages its own package even when the slot runs that version already
    (another build of it, e.g. left by a rolled-back deployment)."""
    target = CountingDeploys("web")
    target.deployed = []
    engine, package = _engine(tmp_path, sqlite_store, target)
    slot = engine.env.target.staging_slot
    target.ensure_slot(slot)
    target.deploy(slot, Release("1.1.0"))
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.SUCCEEDED
    assert [r.package for r in target.deployed if r.version == "1.1.0"] == [None, package]


def test_a_deployment_journaled_in_the_old_shape_resumes(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Gates journaled as the dicts steps once returned resume: the issue lists their items."""
    target = FakeTarget("web")
    engine, package = _engine(tmp_path, sqlite_store, target)

    def cut_off(point: Point) -> None:
        if str(point) == "after:checklist":
            raise Interrupted

    engine.checkpoint = cut_off
    with pytest.raises(Interrupted):
        engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    [cut] = sqlite_store.deployments(engine.env.name)
    old: dict[str, dict[str, Any]] = {
        "preflight": {
            "package": str(package),
            "live_version": "1.0.0",
            "pending_migrations": [],
            "summary": "package safe to unpack, target answers (1.0.0 live), no migration pending",
        },
        "checklist": {
            "ok": True,
            "items": [{"item": "ci_passing", "title": "CI kept green", "result": "attested"}],
        },
    }
    for name, outputs in old.items():
        sqlite_store.record_step(cut.id, name, StepStatus.SUCCEEDED, outputs=outputs)
    engine.checkpoint = lambda _point: None
    # The cut-off run was this process, whose lock therefore looks alive: taken by force.
    result = engine.resume("alice", force_unlock=True)
    assert result is not None and result.status is DeploymentStatus.SUCCEEDED
    assert target.slots()[PRODUCTION].version == "1.1.0"
    row = sqlite_store.deployment(cut.id)
    assert row is not None
    assert "- [x] CI kept green — attested" in row.data.other["tracking"]["body"]
    journal = {step.name: step.outputs for step in sqlite_store.steps(cut.id)}
    assert journal["preflight"] == old["preflight"]


def test_a_failure_reaches_the_result_and_the_hooks_as_recorded(
    tmp_path: Path, sqlite_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed step's record is the result's details and what the issue's closing names."""
    _, _, result = _deploy_unhealthy(tmp_path, sqlite_store, monkeypatch)
    assert result.status is DeploymentStatus.ROLLED_BACK
    row = sqlite_store.deployment(result.deployment_id)
    assert row is not None and row.data.failure is not None
    assert result.details == row.data.failure.to_dict()
    tracking = row.data.other["tracking"]
    closing = tracking["comments"][-1]["text"]
    assert f"**Failed step:** `{row.data.failure.step}`: {row.data.failure.error}" in closing
