"""The live page against a real deployment: tesoro's staging environment on the local target
(a real slot host, real app processes), `turnout deploy` running in another process, and a
real dashboard process watched by Chromium with every other host blocked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.dashboard_process import Dashboard, dashboard, keep_shot, viewer
from tests.support.tesoro_overrides import QUICK as QUICK_ANALYSIS
from turnout.demo.story import prepare_workdir
from turnout.model import DeploymentStatus, StepStatus
from turnout.store import Store

ENV = "staging"
QUICK = {
    **QUICK_ANALYSIS,
    # Warm up without pauses: the runbook's 2 s of it are not what these tests are about.
    "TURNOUT__CHECKS__WARMUP__INTERVAL": "0",
    "TURNOUT_USER": "tester",
}


@dataclass
class Tesoro:
    """The sample app in a work directory, its staging slot host up."""

    root: Path
    config: Path

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "turnout", *args, "--config", str(self.config)]

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*args),
            env={**os.environ, **QUICK},
            cwd=self.root,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            env={**os.environ, **QUICK},
            cwd=self.root,
            text=True,
            capture_output=True,
            timeout=180,
            check=False,
        )

    def store(self) -> Store:
        return Store.open(self.root / ".turnout")


@pytest.fixture(scope="module")
def tesoro(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tesoro]:
    """tesoro with staging's slot host running."""
    root = tmp_path_factory.mktemp("live") / "tesoro"
    app = Tesoro(root, prepare_workdir(root))
    up = app.run("host", "up", "--env", ENV)
    assert up.returncode == 0, up.stderr
    try:
        yield app
    finally:
        app.run("host", "down", "--env", ENV)


@pytest.fixture(scope="module")
def board(tesoro: Tesoro) -> Iterator[Dashboard]:
    """The dashboard over tesoro, read-only, judging with the same limits as the deploys."""
    with dashboard(tesoro.config, env=QUICK) as running:
        yield running


def _step_status(store: Store, deployment: int, step: str) -> StepStatus | None:
    found = [s.status for s in store.steps(deployment) if s.name == step]
    return found[0] if found else None


def _seen_running(page: Page) -> list[str]:
    return list(page.evaluate("window.__running || []"))


# Collects, in the page, every step the page showed running (a step runs for a moment only).
COLLECT = """
window.__running = [];
new MutationObserver(() => {
  document.querySelectorAll('tr.st-running').forEach(row => {
    const step = row.dataset.step;
    if (!window.__running.includes(step)) window.__running.push(step);
  });
}).observe(document.body, {subtree: true, childList: true});
"""


def test_the_steps_appear_live_and_the_evidence_is_drawn_with_its_limits(
    tesoro: Tesoro, board: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    """While `turnout deploy` runs in another process, the environment's page shows each
    step as it runs, without a reload, and ends on "succeeded"; the deployment's page draws
    the evidence (limits, baseline, swap, decision) and the per-metric table."""
    with viewer(browser, board.url) as seen:
        page = seen.context.new_page()
        page.goto(f"{board.url}/env/{ENV}")
        expect(page.locator("#stream-state")).to_have_text("live")
        page.evaluate(COLLECT)
        deploy = tesoro.start("deploy", "--env", ENV, "--version", "1.0.0", "--yes")
        try:
            expect(page.locator(".latest .status")).to_have_text("succeeded", timeout=90_000)
        finally:
            _out, err = deploy.communicate(timeout=120)
        assert deploy.returncode == 0, err[-3000:]
        running = _seen_running(page)
        # The long steps were seen running, in order (short ones may pass between the store's
        # looks, so how many others were seen depends on the machine's speed).
        assert {"probe", "verify"} <= set(running), running
        assert running.index("probe") < running.index("verify")
        assert page.evaluate("window.__running !== undefined")  # the same page, never reloaded
        expect(page.locator("tr[data-slot=production] .slot-version")).to_have_text(
            "1.0.0", timeout=5_000
        )
        # Production's last minute as the router counted it (probes and E2E included).
        expect(page.locator("p.traffic")).to_contain_text(
            re.compile(r"[1-9][0-9]* requests \(.*, [1-9][0-9]* of them probes"), timeout=15_000
        )
        page.screenshot(path=str(tmp_path / "dashboard-environment.png"), full_page=True)

        page.goto(f"{board.url}/deployments/1")
        chart = page.locator("figure.chart svg.evidence")
        expect(chart).to_be_visible()
        limits = chart.locator("line.limit")
        assert limits.count() >= 2  # error rate and p95, each against its limit
        values = {float(v or 0) for v in limits.evaluate_all("ls => ls.map(l => l.dataset.value)")}
        assert {0.05, 500.0} <= values
        assert chart.locator("line.swap").count() >= 2
        assert chart.locator("line.decision").count() >= 2
        assert chart.locator("line.threshold").count() >= 1
        assert chart.locator("circle.look").count() >= 2
        rows = page.locator("table.metrics tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.first.locator(".verdict")).to_have_text("healthy")
        box = chart.bounding_box()
        assert box is not None and box["width"] > 600 and box["height"] > 400
        page.screenshot(path=str(tmp_path / "dashboard-deployment.png"), full_page=True)
        page.goto(f"{board.url}/")
        expect(page.locator(".card[data-env=staging] .live-version")).to_have_text("1.0.0")
        page.screenshot(path=str(tmp_path / "dashboard-overview.png"), full_page=True)
        page.goto(f"{board.url}/history?env={ENV}&status=succeeded")
        expect(page.locator("table.history tbody tr")).to_have_count(1)
        page.screenshot(path=str(tmp_path / "dashboard-history.png"), full_page=True)
    assert seen.blocked == []
    for name in (
        "dashboard-environment.png",
        "dashboard-deployment.png",
        "dashboard-overview.png",
        "dashboard-history.png",
    ):
        keep_shot(tmp_path / name)


def test_a_regression_rolled_back_shows_within_a_second(
    tesoro: Tesoro, board: Dashboard, browser: Browser, tmp_path: Path
) -> None:
    """A fault switched on as 1.1.0 takes traffic makes verification swap back; the page
    open on the environment shows "rolled-back" within a second of the store saying so."""
    fault = tesoro.root / "data" / "staging-fault-rate"
    with viewer(browser, board.url) as seen, tesoro.store() as store:
        page = seen.context.new_page()
        page.goto(f"{board.url}/env/{ENV}")
        expect(page.locator("#stream-state")).to_have_text("live")
        number = max((row.id for row in store.deployments(ENV, limit=1)), default=0) + 1
        deploy = tesoro.start("deploy", "--env", ENV, "--version", "1.1.0", "--yes")
        try:
            deadline = time.monotonic() + 90
            while _step_status(store, number, "swap") is not StepStatus.SUCCEEDED:
                assert time.monotonic() < deadline and deploy.poll() is None
                time.sleep(0.05)
            fault.write_text("0.5")
            while True:
                row = store.deployment(number)
                assert row is not None and time.monotonic() < deadline
                if row.status is DeploymentStatus.ROLLED_BACK:
                    break
                time.sleep(0.02)
            expect(page.locator(".latest .status")).to_have_text("rolled-back", timeout=1_000)
        finally:
            _out, err = deploy.communicate(timeout=120)
            fault.unlink(missing_ok=True)
        assert deploy.returncode == 4, err[-3000:]
        page.goto(f"{board.url}/deployments/{number}")
        # Why it was rolled back, in the page: the E2E walk met the fault first.
        expect(page.locator("p.message")).to_contain_text("rolled back")
        expect(page.locator("p.message")).to_contain_text("E2E")
        expect(page.locator("svg.evidence line.swap-back").first).to_be_attached()
        page.screenshot(path=str(tmp_path / "dashboard-rolled-back.png"), full_page=True)
    assert seen.blocked == []
    keep_shot(tmp_path / "dashboard-rolled-back.png")


def test_a_read_only_dashboard_refuses_every_action(board: Dashboard) -> None:
    """Started without --actions, the page refuses an action from its own origin (403,
    read-only) before anything else is looked at."""
    refused = httpx.post(f"{board.url}/env/{ENV}/rollback", headers={"Origin": board.url})
    assert refused.status_code == 403 and "read-only" in refused.text
