"""The demo's story as a test: real slot host, real traffic, real database, real git."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from turnout import api
from turnout.config import load_config
from turnout.store import Store
from turnout.targets.local import host_status

# The demo judges production's window with the real clock; each test fixes the answer.
PRODUCTION_POLICY = "TURNOUT__ENVIRONMENTS__PRODUCTION__POLICY__"
FROZEN = {
    PRODUCTION_POLICY + "FREEZES__PERIODS": '[{name = "test freeze", start = 2000-01-01,'
    " end = 2999-12-31}]"
}
OPEN = {PRODUCTION_POLICY + "ENFORCE_WINDOW": "false"}


def _demo(workdir: Path, overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", "demo", "--dir", str(workdir)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **overrides},
    )


def test_demo_tells_the_whole_story(tmp_path: Path) -> None:
    """`turnout demo` deploys 1.0.0 and 1.1.0, rolls 1.2.0 back on live traffic, exits 0."""
    workdir = tmp_path / "demo"
    done = _demo(workdir, FROZEN)
    output = done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "production policy" in output.lower()
    assert "turnout refuses to deploy to production now (exit 3)" in output
    assert "test freeze" in output
    assert "✓ production back on 1.1.0" in output
    assert "✓ migration V001 applied and verified" in output

    config = load_config(workdir / "turnout.toml")
    store = Store.open(config.state_dir)
    try:
        staging = [(d.version, d.status) for d in reversed(store.deployments("staging"))]
        assert staging == [("1.0.0", "succeeded"), ("1.1.0", "succeeded"), ("1.2.0", "rolled-back")]
        rollback = store.deployments("staging")[0]
        failure = rollback.data.failure
        assert failure is not None
        evidence = (failure.details or {}).get("evidence", {})
        assert failure.step == "verify"
        # Usually the metric analysis catches the 5 % of failing requests first; now and then
        # the E2E walk hits one of them before the evidence is in. Either is a real catch.
        caught_by_metrics = evidence.get("errors", 0) >= 2 and evidence.get("error_rate", 0) > 0.01
        caught_by_e2e = evidence.get("e2e", {}).get("exit_code") not in (None, 0)
        assert caught_by_metrics or caught_by_e2e, evidence
        assert store.verify_audit() is None
        assert store.lock("staging") is None
        assert store.deployments("production") == []
    finally:
        store.close()
    # Every process the demo started is gone.
    for name in config.environments:
        assert host_status(config, config.env(name)) is None
    # The migration really ran on the staging database, and the release was tagged and logged.
    with sqlite3.connect(workdir / "data" / "staging.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "rewards" in tables
    tags = subprocess.run(["git", "tag"], cwd=workdir, capture_output=True, text=True, check=True)
    assert {"tesoro-v1.0.0", "tesoro-v1.1.0"} <= set(tags.stdout.split())
    assert "tesoro-v1.2.0" not in tags.stdout.split()
    log = (workdir / "deployments.log").read_text()
    assert "tesoro-v1.1.0 deployed to staging" in log and "1.2.0" not in log
    _report_matches_the_journal(workdir)


def _report_matches_the_journal(workdir: Path) -> None:
    """The report of the demo's real history: three deployments on staging's production
    slot, 1.2.0 rolled back on live traffic; figures worked out from the journal and git."""
    config = load_config(workdir / "turnout.toml")
    result = api.report("staging", days=1, config=config)
    staging = result.environment("staging").totals
    dora, success = staging.dora, staging.success
    store = Store.open(config.state_dir)
    try:
        first, _second, third = sorted(store.deployments("staging"), key=lambda d: d.id)
        verified = next(s for s in store.steps(first.id) if s.name == "verify").finished_at
        swap = next(s for s in store.steps(third.id) if s.name == "swap")
        swapped_at = float(swap.outputs["swapped_at"])
        assert verified is not None and third.finished_at is not None
    finally:
        store.close()
    # Three swaps reached production; one of them (1.2.0) was rolled back: 1/3 failed,
    # 1/3 rolled back, nothing unplanned came after it.
    assert dora.deployment_frequency.deployments == 3
    assert (dora.change_fail_rate.count, dora.change_fail_rate.sample) == (1, 3)
    assert success.rollback_rate.value == pytest.approx(1 / 3)
    assert (dora.rework_rate.count, dora.rework_rate.sample) == (0, 3)
    # Recovery: from 1.2.0's swap to the end of its swap back (the deployment's end).
    assert dora.recovery_time.sample == 1
    assert dora.recovery_time.median_s == pytest.approx(
        third.finished_at.timestamp() - swapped_at, abs=0.01
    )
    # The sample app is one commit: 1.0.0 brought it (commit time to its verification),
    # 1.1.0 brought nothing new.
    committed = subprocess.run(
        ["git", "log", "-1", "--format=%ct"], cwd=workdir, capture_output=True, text=True
    ).stdout.strip()
    lead = dora.change_lead_time
    assert (lead.sample, lead.no_new_commits, lead.unmeasured) == (1, 1, 0)
    assert lead.median_s == pytest.approx(verified.timestamp() - int(committed))
    # Every verification judged real traffic, 1.2.0's failing requests included.
    assert success.error_rate.sample > 0 and success.error_rate.value is not None
    assert success.error_rate.value > 0
    assert staging.counts.rolled_back == 1


def test_demo_promotes_to_production_when_its_window_is_open(tmp_path: Path) -> None:
    """With production's window open, the demo then promotes 1.1.0 there through attestations,
    a senior engineer's approval and `resume`."""
    workdir = tmp_path / "demo"
    done = _demo(workdir, OPEN)
    output = done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "production: promoting 1.1.0" in output
    config = load_config(workdir / "turnout.toml")
    store = Store.open(config.state_dir)
    try:
        (deployment,) = store.deployments("production")
        assert (deployment.version, deployment.status) == ("1.1.0", "succeeded")
        approvers = [a.approver for a in store.approvals(deployment.id)]
        assert approvers == ["devops-lead"]
        assert store.lock("production") is None
    finally:
        store.close()
    with sqlite3.connect(workdir / "data" / "production.db") as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "rewards" in tables
    for name in config.environments:
        assert host_status(config, config.env(name)) is None
