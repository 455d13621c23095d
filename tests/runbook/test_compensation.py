"""Compensation after a failure: undo in reverse, and stop for a person at a failed undo."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import fake_project
from turnout.config import load_config
from turnout.errors import IntegrationError
from turnout.model import DeploymentStatus, DeploymentType, Release, StepStatus
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import (
    PRODUCTION,
    Deadline,
    Operation,
    OperationKind,
    OperationResult,
)


class SickAfterSwapNoWayBack(FakeTarget):
    """1.1.0 turns unhealthy once it is live, and the platform refuses to swap it back out."""

    def follow(self, operation: Operation, *, deadline: Deadline) -> OperationResult:
        result = super().follow(operation, deadline=deadline)
        if operation.kind is OperationKind.SWAP and self.slots()[PRODUCTION].version == "1.1.0":
            self.set_unhealthy("1.1.0")
        return result

    def begin_swap(
        self, slot: str, target_slot: str = PRODUCTION, *, deadline: Deadline
    ) -> Operation:
        if self.slots()[PRODUCTION].version == "1.1.0":
            raise IntegrationError("the platform refused the swap back")
        return super().begin_swap(slot, target_slot, deadline=deadline)


def test_a_failed_undo_stops_compensation_and_needs_a_person(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Verification fails, the swap back is refused: exit 5, journal says undo-failed, why."""
    project = fake_project(tmp_path / "project")
    config = load_config(project.config)
    target = SickAfterSwapNoWayBack("web")
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0"))
    target.swap("blue")
    engine = Engine(config, config.env(project.env), sqlite_store, target_factory=lambda: target)
    package = project.root / "packages" / "1.1.0"
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.NEEDS_PERSON
    assert result.exit_code == 5
    assert "compensation failed (swap: the platform refused the swap back)" in result.message
    journal = {row.name: row.status for row in sqlite_store.steps(result.deployment_id)}
    assert journal["swap"] is StepStatus.UNDO_FAILED
    assert target.slots()[PRODUCTION].version == "1.1.0"  # nothing pretended otherwise
