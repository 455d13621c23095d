"""The canary phase on real tesoro processes behind a real slot host: the real `turnout`
command, live traffic from many new clients over real HTTP, the 1.2.0 regression caught at a
small share with the swap never run, a good release through, and a kill during the canary."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.runbook.steps.test_verify_traffic import ENV, Tesoro
from tests.support.dashboard_process import SHOTS, chromium, dashboard, viewer
from tests.support.project import fake_project
from tests.support.tesoro_overrides import OVERRIDE
from tests.support.waiting import wait_until
from turnout.config import load_config
from turnout.demo.story import TRAFFIC_PATH, prepare_workdir
from turnout.demo.traffic import TrafficDriver
from turnout.model import DeploymentStatus, DeploymentType, Release, StepStatus
from turnout.runbook.canary_record import stored_record
from turnout.runbook.engine import Engine
from turnout.runbook.outputs import CanaryOutputs
from turnout.store import Store
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION

CANARY = """
[environments.staging.canary]
steps = [10, 30]
seconds = 3
requests = [60, 150]
max_seconds = 60
"""
RATE = 150.0
"""Requests per second of live traffic, each from a new client."""
NO_PROBES = {OVERRIDE + "PROBE__MODE": '"off"'}
"""Live traffic decides every verification here: no verification traffic to wait on."""


class CanaryTesoro(Tesoro):
    """tesoro's staging as the verification tests run it, judged on live traffic alone."""

    def environ(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        return super().environ({**NO_PROBES, **(overrides or {})})


@pytest.fixture(scope="module")
def tesoro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tesoro]:
    """tesoro's staging with a canary configured, 1.0.0 live and live traffic flowing."""
    root = tmp_path_factory.mktemp("canary") / "tesoro"
    app = CanaryTesoro(root, prepare_workdir(root))
    with app.config.open("a", encoding="utf-8") as config:
        config.write(CANARY)
    up = app.turnout("host", "up", "--env", ENV)
    assert up.returncode == 0, up.stderr
    driver = TrafficDriver(
        app.target().production_url() + TRAFFIC_PATH, rate=RATE, new_clients=True
    )
    driver.start()
    try:
        first = app.turnout("deploy", "--env", ENV, "--version", "1.0.0", "--yes")
        assert first.returncode == 0, first.stderr[-3000:]
        # Nothing was live to compare with: the first release gets no canary.
        assert "canary skipped: production runs no version yet" in first.stderr
        yield app
    finally:
        driver.stop()
        for process in app.started:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
            process.communicate(timeout=30)
        app.turnout("host", "down", "--env", ENV)


def _record(app: Tesoro, deployment: int) -> CanaryOutputs | None:
    store = app.store()
    try:
        return stored_record(store, ENV, deployment)
    finally:
        store.close()


def _latest_id(app: Tesoro) -> int:
    store = app.store()
    try:
        return store.deployments(ENV, limit=1)[0].id
    finally:
        store.close()


def _statuses(app: Tesoro, deployment: int) -> dict[str, str]:
    store = app.store()
    try:
        return {s.name: str(s.status) for s in store.steps(deployment)}
    finally:
        store.close()


def test_the_regression_is_caught_at_a_small_share_and_never_swapped(tesoro: Tesoro) -> None:
    """1.2.0 (5 % of transactions fail) regresses side by side with production during its
    canary: the share goes back to zero, the swap never runs, production stays on what it
    ran, and the evidence, status and announcement count the users it reached."""
    before = tesoro.live()
    done = tesoro.turnout("deploy", "--env", ENV, "--version", "1.2.0", "--yes")
    assert done.returncode == 4, done.stderr[-3000:]
    number = _latest_id(tesoro)
    assert tesoro.live() == before
    statuses = _statuses(tesoro, number)
    assert statuses["swap"] == "pending" and statuses["canary"] == "undone"
    record = _record(tesoro, number)
    assert record is not None and record.outcome == "regressed" and record.share == 0
    assert record.steps is not None and record.steps[-1].share <= 30
    assert record.served is not None and record.failed is not None
    assert 0 < record.failed < record.served
    side = (record.verdict or {})["evidence"]["side_by_side"]["errors"]
    assert side["decision"] == "regressed" and side["production_events"] == 0
    assert not tesoro.target().current_share().active
    # Its migrations ran before the canary; users wrote through it, so no automatic restore.
    migrate = tesoro.outputs(number, "migrate")
    if migrate.get("applied"):
        assert migrate["undo"]["restored"] is False
    shown = tesoro.status()
    assert "canary regressed: share in force 0 %" in shown
    assert f"served {record.served} user requests" in shown
    assert "before any traffic moved" not in done.stderr
    assert "Canary Rolled Back" in done.stderr
    assert f"{record.served} user requests served by the new version" in done.stderr
    _dashboard_shows_the_canary(tesoro, number, record)


def _dashboard_shows_the_canary(app: Tesoro, number: int, record: CanaryOutputs) -> None:
    """The deployment's page of `turnout dashboard` shows the share, the blast radius and
    each step (looked at in Chromium, other hosts blocked; the screenshot is kept)."""
    shot = SHOTS / "canary-deployment.png"
    SHOTS.mkdir(parents=True, exist_ok=True)
    with dashboard(app.config) as board, chromium() as browser, viewer(browser, board.url) as seen:
        page = seen.context.new_page()
        page.goto(f"{board.url}/deployments/{number}")
        expect(page.locator(".canary-state")).to_contain_text("regressed: share in force 0 %")
        expect(page.locator(".canary-served")).to_have_text(str(record.served))
        expect(page.locator(".canary-failed")).to_have_text(str(record.failed))
        expect(page.locator("table.canary-steps tr.o-regressed")).to_have_count(1)
        page.screenshot(path=str(shot), full_page=True)
        assert seen.blocked == []


def _share_in_force(app: Tesoro, deployment: int) -> bool:
    record = _record(app, deployment)
    return record is not None and record.outcome == "running" and bool(record.share)


def test_a_kill_during_the_canary_is_resumed_and_the_good_release_goes_through(
    tesoro: Tesoro,
) -> None:
    """Killed while a share is in force, the canary is resumed: the share goes to zero
    first, the canary carries on with its evidence, and the healthy 1.1.0 is swapped in."""
    deploying = tesoro.start("deploy", "--env", ENV, "--version", "1.1.0", "--yes")
    number = _latest_id(tesoro) + 1
    wait_until(partial(_share_in_force, tesoro, number), timeout=60, what="a canary share")
    deploying.send_signal(signal.SIGKILL)
    deploying.communicate(timeout=30)
    assert tesoro.target().current_share().active  # the kill left it routed
    shown = tesoro.read("status", "--env", ENV, "--json")
    canary = json.loads(shown.stdout)["canary"]
    assert canary["outcome"] == "running" and canary["share"] > 0

    resumed = tesoro.turnout("resume", "--env", ENV)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "is back to zero first" in resumed.stderr
    assert tesoro.live() == "1.1.0"
    record = _record(tesoro, number)
    assert record is not None and record.outcome == "passed" and record.resumed == 1
    assert record.steps is not None
    assert [s.outcome for s in record.steps][-2:] == ["passed", "passed"]
    assert "cut-off" in [s.outcome for s in record.steps]
    assert record.served is not None and record.served >= 210 and record.failed == 0
    outputs = tesoro.outputs(number, "canary")
    assert outputs["outcome"] == "passed" and "canary passed at 10 %, 30 %" in outputs["summary"]
    assert "Canary: canary passed" in resumed.stderr  # the success announcement says it


def _release_with_marked_migration(app: Tesoro, version: str) -> None:
    package = app.root / "dist" / version
    shutil.copytree(app.root / "dist" / "1.1.0", package)
    (package / "migrations" / "V002__drop_legacy_column.sql").write_text(
        "-- turnout: not-backward-compatible\nCREATE TABLE legacy_gone (id INTEGER);\n",
        encoding="utf-8",
    )


def test_plan_shows_the_shares_and_a_marked_migration_skips_the_canary(tesoro: Tesoro) -> None:
    """plan lists the shares and that migrations run first; a release with a migration
    marked not backward compatible is planned and deployed without a canary, with a warning."""
    _release_with_marked_migration(tesoro, "1.3.0")
    planned = tesoro.read("plan", "--env", ENV, "--version", "1.3.0")
    assert planned.returncode == 0, planned.stderr
    text = planned.stdout + planned.stderr
    assert "10 % → 30 % of new clients on the new version" in text
    assert "migrations run before the canary (expand first)" in text
    assert "WARNING: skipped: the release's migrations V002__drop_legacy_column.sql" in text
    document = json.loads(tesoro.read("plan", "--env", ENV, "--version", "1.3.0", "--json").stdout)
    steps = [s["step"] for s in document["steps"]]
    assert steps.index("migrate") < steps.index("canary") < steps.index("swap")
    assert document["canary"]["steps"][0]["share"] == 10

    done = tesoro.turnout("deploy", "--env", ENV, "--version", "1.3.0", "--yes")
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = tesoro.outputs(_latest_id(tesoro), "canary")
    assert "not backward compatible" in outputs["skipped"]
    assert "warning: canary skipped: the release's migrations V002" in done.stderr
    assert tesoro.live() == "1.3.0"


def test_a_target_that_cannot_share_traffic_skips_the_canary(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """On the fake target (it routes no share) plan says the canary would be skipped, and a
    deployment's canary step says why it was, then the swap moves the traffic."""
    project = fake_project(tmp_path / "p", extra="[environments.web.canary]\nsteps = [5]\n")
    project.set_slots({"production": "1.0.0", "blue": None})
    planned = project.read("plan", "--env", "web", "--version", "1.1.0")
    assert "skipped: the fake target cannot route a share" in planned.stderr
    config = load_config(project.config)
    target = FakeTarget("web")
    target.ensure_slot("blue")
    target.deploy(PRODUCTION, Release("1.0.0"))
    engine = Engine(config, config.env("web"), sqlite_store, target_factory=lambda: target)
    package = project.root / "packages" / "1.1.0"
    result = engine.deploy(Release("1.1.0", package), DeploymentType.APP, "alice")
    assert result.status is DeploymentStatus.SUCCEEDED, result.message
    assert target.slots()[PRODUCTION].version == "1.1.0"
    canary = next(s for s in sqlite_store.steps(result.deployment_id) if s.name == "canary")
    assert canary.status is StepStatus.SUCCEEDED
    assert "cannot route a share of production's traffic" in (canary.outputs or {})["skipped"]
