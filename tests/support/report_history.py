"""A month of untidy production history, written through the store's API on a frozen clock,
with the app's real git history behind it: the input of the report's hand-computed tests.

All times are UTC and the environment's timezone is UTC, so the weeks are plain ISO weeks.
The expected figures are worked out by hand in tests/reporting/test_compute.py.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.support.project import Project, fake_project
from turnout.clock import FrozenClock
from turnout.model import DeploymentStatus, DeploymentType
from turnout.store import Store
from turnout.store.deployment_data import (
    AcceptanceRecord,
    FailureRecord,
    TrafficPoint,
    VerificationRecord,
)
from turnout.store.records import NewDeployment

UNTIL = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
"""The report is asked for the 28 days before this (from Friday 2026-11-06 12:00)."""
DAYS = 28.0
PLAN = ("window", "snapshot", "stage", "swap", "verify", "tag")

# Commits of the app: (name, committer time). Each is the child of the one before.
COMMITS = (
    ("c1", datetime(2026, 11, 9, 8, 0, tzinfo=UTC)),
    ("c2", datetime(2026, 11, 10, 8, 0, tzinfo=UTC)),
    ("c3", datetime(2026, 11, 12, 6, 0, tzinfo=UTC)),
    ("c4", datetime(2026, 11, 16, 9, 0, tzinfo=UTC)),
    ("c5", datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
    ("c6", datetime(2026, 11, 24, 14, 0, tzinfo=UTC)),
    ("c7", datetime(2026, 11, 25, 8, 0, tzinfo=UTC)),
)

UTC_POLICY = '\n[environments.web.policy]\ntimezone = "UTC"\nenforce_window = false\n'


@dataclass(frozen=True)
class Judged:
    """What verification measured on production."""

    requests: int
    errors: int
    p95_ms: float | None

    def evidence(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "p95_ms": self.p95_ms}


def _git(root: Path, *args: str, when: datetime | None = None) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "dev",
        "GIT_AUTHOR_EMAIL": "dev@example.invalid",
        "GIT_COMMITTER_NAME": "dev",
        "GIT_COMMITTER_EMAIL": "dev@example.invalid",
    }
    if when is not None:
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"] = when.isoformat()
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


def make_repository(root: Path) -> dict[str, str]:
    """The app's history: one commit per entry of COMMITS; returns name → sha."""
    _git(root, "init", "-q")
    shas = {}
    for name, when in COMMITS:
        (root / "CHANGES").write_text(f"{name}\n")
        _git(root, "add", "CHANGES")
        _git(root, "commit", "-q", "-m", name, when=when)
        shas[name] = _git(root, "rev-parse", "HEAD")
    return shas


class History:
    """Writes deployments as the engine journals them, moving the frozen clock."""

    def __init__(self, store: Store, clock: FrozenClock, shas: dict[str, str]) -> None:
        self.store = store
        self.clock = clock
        self.shas = shas

    def _begin(self, version: str, at: datetime, *, emergency: bool = False) -> int:
        self.clock.set(at - timedelta(minutes=10))
        row = self.store.create_deployment(
            NewDeployment(
                environment="web",
                version=version,
                type=DeploymentType.APP,
                status=DeploymentStatus.RUNNING,
                deployer="dana",
                emergency=emergency,
                reason="checkout is down" if emergency else None,
                started_at=self.clock.now(),
            )
        )
        self.store.write_plan(row.id, PLAN)
        for step in ("window", "snapshot", "stage"):
            self.store.record_step(row.id, step, "running")
            self.store.record_step(row.id, step, "succeeded", outputs={})
        return row.id

    def _swap(self, deployment: int, at: datetime) -> None:
        self.clock.set(at - timedelta(seconds=5))
        self.store.record_step(deployment, "swap", "running")
        self.clock.set(at)
        self.store.record_step(
            deployment, "swap", "succeeded", outputs={"swapped_at": at.timestamp()}
        )

    def _series(self, at: datetime, judged: Judged) -> tuple[TrafficPoint, ...]:
        # A minute before the swap and the judged minutes after it, in 10-second intervals.
        points = []
        per = max(judged.requests // 30, 1)
        for index in range(-6, 30):
            start = at.timestamp() + index * 10
            errors = judged.errors // 30 if index >= 0 else 0
            p95 = 120.0 if index < 0 else judged.p95_ms
            points.append(TrafficPoint(start, 10.0, per, errors, p95))
        return tuple(points)

    def verified(
        self,
        version: str,
        commit: str,
        swap: datetime,
        judged: Judged,
        *,
        verify_s: float = 300,
        emergency: bool = False,
        crash_until: datetime | None = None,
    ) -> int:
        """A deployment whose verification passed `verify_s` after the swap (or after the
        resume at `crash_until`, the first run of verify having been cut off)."""
        deployment = self._begin(version, swap, emergency=emergency)
        self._swap(deployment, swap)
        self.clock.set(swap + timedelta(seconds=30))
        self.store.record_step(deployment, "verify", "running")
        if crash_until is not None:
            # The process died here; `turnout resume` ran verify again later.
            self.clock.set(crash_until)
            self.store.record_step(deployment, "verify", "running")
            verified_at = crash_until + timedelta(seconds=verify_s)
        else:
            verified_at = swap + timedelta(seconds=verify_s)
        self.clock.set(verified_at)
        analysis = {"status": "pass", "evidence": judged.evidence()}
        self.store.record_step(
            deployment, "verify", "succeeded", outputs={"analysis": analysis, "proven": True}
        )
        self.store.update_deployment_data(
            deployment,
            verification=VerificationRecord(
                proven=True,
                analysis={"status": "pass"},
                series=self._series(swap, judged),
            ),
        )
        self._tag(deployment, version, commit)
        self.store.update_deployment(
            deployment, status="succeeded", finished_at=self.clock.now(), exit_code=0
        )
        return deployment

    def _tag(self, deployment: int, version: str, commit: str) -> None:
        self.store.record_step(deployment, "tag", "running")
        self.store.record_step(
            deployment,
            "tag",
            "succeeded",
            outputs={"tag": f"v{version}", "commit": self.shas[commit]},
        )

    def rolled_back(self, version: str, swap: datetime, judged: Judged, *, back_s: float) -> int:
        """A deployment whose verification failed; the swap's undo put production back
        `back_s` after the swap."""
        deployment = self._begin(version, swap)
        self._swap(deployment, swap)
        self.clock.set(swap + timedelta(seconds=back_s - 60))
        self.store.record_step(deployment, "verify", "running")
        self.clock.set(swap + timedelta(seconds=back_s - 30))
        analysis = {"status": "fail", "evidence": judged.evidence()}
        self.store.record_step(
            deployment, "verify", "failed", outputs={"analysis": analysis}, error="regressed"
        )
        self.store.update_deployment_data(
            deployment,
            failure=FailureRecord("verify", "metric analysis: regressed", {"analysis": analysis}),
            verification=VerificationRecord(proven=False, series=self._series(swap, judged)),
        )
        self.store.record_step(deployment, "swap", "undoing")
        self.clock.set(swap + timedelta(seconds=back_s))
        self.store.record_step(deployment, "swap", "undone")
        self.store.update_deployment(
            deployment, status="rolled-back", finished_at=self.clock.now(), exit_code=4
        )
        return deployment

    def refused(self, version: str, at: datetime) -> int:
        """A deployment the window refused: nothing moved."""
        deployment = self._begin(version, at)
        self.store.update_deployment(
            deployment, status="refused", finished_at=self.clock.now(), exit_code=3
        )
        return deployment

    def held_then_accepted(
        self, version: str, commit: str, swap: datetime, judged: Judged, accepted: datetime
    ) -> int:
        """Verification could not decide (held for a person), then a person accepted it."""
        deployment = self._begin(version, swap)
        self._swap(deployment, swap)
        self.clock.set(swap + timedelta(seconds=30))
        self.store.record_step(deployment, "verify", "running")
        self.clock.set(swap + timedelta(minutes=10))
        analysis = {"status": "inconclusive", "evidence": judged.evidence()}
        self.store.record_step(
            deployment, "verify", "failed", outputs={"analysis": analysis}, error="undecided"
        )
        self.store.update_deployment_data(
            deployment,
            failure=FailureRecord("verify", "not proven healthy", {"analysis": analysis}),
        )
        self.store.update_deployment(
            deployment, status="needs-person", finished_at=self.clock.now(), exit_code=5
        )
        self._tag(deployment, version, commit)
        self.clock.set(accepted)
        self.store.update_deployment_data(
            deployment, accepted=AcceptanceRecord(by="sam", reason="checked by hand", at=accepted)
        )
        self.store.update_deployment(deployment, status="succeeded")
        return deployment

    def rolled_back_later(self, deployment: int, at: datetime, to: str) -> None:
        """`turnout rollback` by hand, long after the deployment ended."""
        self.clock.set(at)
        self.store.record_later_rollback(deployment, to=to, by="sam", reason="orders lost")


def day(date: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026, UTC."""
    return datetime(2026, 11, date, hour, minute, tzinfo=UTC)


def untidy_month(root: Path) -> Project:
    """The project and its history (see the module's docstring and the test's comments)."""
    project = fake_project(root, extra=UTC_POLICY)
    shas = make_repository(project.root)
    clock = FrozenClock(COMMITS[0][1])
    store = Store.open(project.root / ".turnout", clock)
    try:
        h = History(store, clock, shas)
        h.verified("1.0.0", "c1", day(9, 10), Judged(1000, 0, 200.0))  # D1
        h.rolled_back("1.1.0", day(10, 12), Judged(500, 25, 450.0), back_s=180)  # D2
        h.verified("1.1.1", "c3", day(12, 10), Judged(2000, 1, 300.0))  # D3
        h.verified("1.1.1", "c3", day(13, 10), Judged(1000, 0, 250.0))  # D4: the same again
        h.refused("1.2.0", day(16, 11))  # D5
        d6 = h.verified("1.2.0", "c4", day(17, 10), Judged(3000, 2, 350.0))  # D6
        h.rolled_back_later(d6, day(19, 10), to="1.1.1")
        h.verified(  # D7: cut off during verify, resumed half an hour later
            "1.3.0", "c5", day(24, 11), Judged(1500, 3, 420.0), crash_until=day(24, 11, 30)
        )
        h.verified(  # D8: the emergency fix
            "1.3.1", "c6", day(24, 15), Judged(1000, 0, 180.0), emergency=True
        )
        h.held_then_accepted(  # D9
            "1.4.0", "c7", day(25, 10), Judged(100, 0, 150.0), accepted=day(25, 12)
        )
    finally:
        store.close()
    return project
