"""`turnout report`: configured limits as targets, and figures that count failed deployments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout.cli.main import main
from turnout.report import TARGETS, compute_report
from turnout.store import Store


def _deployment(store: Store, status: str, step_status: str, outputs: dict[str, object]) -> None:
    now = store.now()
    row = store.create_deployment(
        environment="web",
        version="1.0.0",
        type="app",
        deployer="tester",
        status=status,
        started_at=now,
        finished_at=now,
    )
    store.write_plan(row.id, ["verify"])
    store.record_step(row.id, "verify", step_status, outputs=outputs)


def test_rolled_back_deployments_count_in_error_rate_and_availability(tmp_path: Path) -> None:
    """Requests judged while a rolled-back version was live count, its errors included."""
    store = Store.open(tmp_path / ".turnout")
    try:
        passed = {"status": "pass", "evidence": {"requests": 1000, "errors": 0, "p95_ms": 90.0}}
        _deployment(store, "succeeded", "succeeded", {"analysis": passed})
        # A failed verification keeps its analysis inside the failure's evidence.
        failed = {"status": "fail", "evidence": {"requests": 200, "errors": 10, "p95_ms": 140.0}}
        _deployment(
            store,
            "rolled-back",
            "failed",
            {"evidence": {"reasons": ["error rate 5%"], "error_rate": 0.05, "analysis": failed}},
        )
        report = compute_report(store, "web", now=store.now())
    finally:
        store.close()
    runbook = report["runbook"]
    assert runbook["measured_requests"] == 1200
    assert runbook["error_rate"] == pytest.approx(10 / 1200)
    assert runbook["availability"] == pytest.approx(1 - 10 / 1200)
    assert runbook["p95_ms"] == 140.0
    assert runbook["targets"] == TARGETS


def test_report_shows_the_configured_limits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Limits set in [analysis] are the report's targets, the runbook's named beside them."""
    limits = "\n[environments.web.analysis]\nmax_error_rate = 0.01\nmax_p95_ms = 800\n"
    config = fake_project(tmp_path / "p", extra=limits).config
    assert main(["report", "--env", "web", "--json", "--config", str(config)]) == 0
    targets = json.loads(capsys.readouterr().out)["runbook"]["targets"]
    assert (targets["error_rate"], targets["p95_ms"]) == (0.01, 800)
    assert main(["report", "--env", "web", "--config", str(config)]) == 0
    shown = capsys.readouterr().err
    assert "target < 1 % (configured; runbook: 0.1 %)" in shown
    assert "target < 800 ms (configured; runbook: 500 ms)" in shown
