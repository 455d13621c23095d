"""The engine's checkpoints: called at every step boundary, with the journal committed."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import fake_project
from turnout.config import load_config
from turnout.model import DeploymentStatus, DeploymentType, Release
from turnout.runbook.checkpoint import Point
from turnout.runbook.engine import Engine
from turnout.store import Store
from turnout.targets.fake import FakeTarget


def test_checkpoints_come_before_and_after_each_step_with_the_journal_committed(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Each step gives before: then after:, in plan order; at after:X the journal says X done."""
    project = fake_project(tmp_path / "project")
    config = load_config(project.config)
    target = FakeTarget("web")
    target.ensure_slot("blue")
    target.deploy("blue", Release("1.0.0"))
    target.swap("blue")
    seen: list[str] = []
    journaled_at_after: dict[str, str] = {}

    def checkpoint(point: Point) -> None:
        seen.append(str(point))
        if point.moment == "after":
            deployment = sqlite_store.deployments(project.env)[0]
            statuses = {row.name: row.status for row in sqlite_store.steps(deployment.id)}
            journaled_at_after[point.step] = statuses[point.step]

    engine = Engine(
        config,
        config.env(project.env),
        sqlite_store,
        target_factory=lambda: target,
        checkpoint=checkpoint,
    )
    package = project.root / "packages" / "1.1.0"
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.SUCCEEDED
    steps = [row.name for row in sqlite_store.steps(result.deployment_id)]
    assert seen == [f"{moment}:{step}" for step in steps for moment in ("before", "after")]
    assert journaled_at_after == dict.fromkeys(steps, "succeeded")
