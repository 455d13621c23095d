"""The snapshot and verify steps on a fake target with simulated traffic, on a frozen clock."""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from turnout.analysis.simulate import CountingFakeTarget, VersionProfile
from turnout.analysis.watch import state_key
from turnout.clock import FrozenClock
from turnout.config import load_config
from turnout.errors import NeedsPerson, StepError
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, Release
from turnout.runbook.step import StepContext
from turnout.runbook.steps.snapshot import SnapshotStep
from turnout.runbook.steps.verify import VerifyStep
from turnout.store import Store
from turnout.store.records import NewDeployment
from turnout.targets.fake import FakeTarget
from turnout.targets.protocol import PRODUCTION, Target

CONFIG = """
[app]
name = "shop"

[analysis]
min_observation = 5
max_observation = {max_observation}
baseline_lookback = 300
{extra}

[environments.web]
target = {{ kind = "fake" }}
"""

PROFILES = {
    "1.0": VersionProfile(0.001, 200),
    "1.1": VersionProfile(0.0, 150),
    "bad": VersionProfile(0.05, 200),
}


def context(
    tmp_path: Path,
    store: Store,
    clock: FrozenClock,
    target: Target,
    *,
    version: str = "1.1",
    max_observation: int = 300,
    extra: str = "",
) -> StepContext:
    """A step context for deployment of `version` to environment web."""
    path = tmp_path / "turnout.toml"
    path.write_text(CONFIG.format(max_observation=max_observation, extra=extra))
    loaded = load_config(path)
    row = store.create_deployment(
        NewDeployment(
            environment="web",
            version=version,
            previous_version="1.0",
            type=DeploymentType.APP,
            status=DeploymentStatus.RUNNING,
            deployer="tester",
        )
    )
    info = DeploymentInfo(
        id=row.id,
        environment="web",
        version=version,
        type=DeploymentType.APP,
        deployer="tester",
        created_at=clock.now(),
        previous_version="1.0",
    )
    return StepContext(
        config=loaded,
        env=loaded.env("web"),
        deployment=info,
        store=store,
        clock=clock,
        target_factory=lambda: target,
    )


def counting_target(clock: FrozenClock, rps: float = 100) -> CountingFakeTarget:
    """Production on 1.0 with five minutes of traffic history."""
    target = CountingFakeTarget(
        "web", lambda: clock.now().timestamp(), rps=rps, profiles=PROFILES, seed=11
    )
    target.ensure_slot("blue")
    target.deploy(PRODUCTION, Release("1.0"))
    clock.advance(300)
    return target


def swap(ctx: StepContext, target: FakeTarget, version: str) -> None:
    """What the stage and swap steps leave behind: the version live, the swap time recorded."""
    target.deploy("blue", Release(version))
    ctx.outputs["swap"] = {"swapped_at": ctx.clock.now().timestamp()}
    target.swap("blue", PRODUCTION)


def test_snapshot_records_versions_and_baseline(tmp_path: Path, sqlite_store: Store) -> None:
    """The snapshot keeps live versions and the baseline, in outputs and deployment data."""
    clock = FrozenClock()
    target = counting_target(clock)
    ctx = context(tmp_path, sqlite_store, clock, target)
    outputs = SnapshotStep().run(ctx).journal()
    assert outputs["production_version"] == "1.0"
    assert outputs["slots"]["blue"]["version"] is None
    base = outputs["baseline"]
    assert base["requests"] == pytest.approx(30_000, rel=0.01)
    assert base["throughput_rps"] == pytest.approx(100, rel=0.01)
    assert base["trusted"] is True
    assert 150 < base["p95_ms"] < 260
    row = sqlite_store.deployment(ctx.deployment.id)
    assert row is not None and row.data.snapshot is not None
    kept = row.data.snapshot.baseline
    assert kept is not None and kept["requests"] == base["requests"]
    assert "latency" not in kept


def test_snapshot_on_a_target_without_traffic_says_not_measured(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """The plain fake target counts nothing: no baseline, and the outputs say so."""
    clock = FrozenClock()
    target = FakeTarget("web")
    target.deploy(PRODUCTION, Release("1.0"))
    outputs = SnapshotStep().run(context(tmp_path, sqlite_store, clock, target)).journal()
    assert outputs["baseline"] is None
    assert "not measured" in outputs["metrics"]


def test_verify_without_metrics_relies_on_health_checks(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Fake target: health checks pass, the analysis is reported as not measured."""
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    ctx = context(tmp_path, sqlite_store, clock, target)
    swap(ctx, target, "1.1")
    outputs = VerifyStep().run(ctx).journal()
    assert outputs["analysis"]["status"] == "not measured"
    assert outputs["checks"][0]["ok"] is True
    assert "not measured" in outputs["summary"]


def test_verify_fails_on_unhealthy_production(tmp_path: Path, sqlite_store: Store) -> None:
    """A health check that keeps failing after the swap fails the step (the engine swaps back)."""
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    target.set_unhealthy("1.1")
    ctx = context(tmp_path, sqlite_store, clock, target)
    swap(ctx, target, "1.1")
    with pytest.raises(StepError, match="health checks") as caught:
        VerifyStep().run(ctx)
    assert caught.value.details["checks"][0]["status"] == 503


def test_verify_passes_a_healthy_release(tmp_path: Path, sqlite_store: Store) -> None:
    """A clean release on live traffic passes with the analysis evidence in the outputs."""
    clock = FrozenClock()
    target = counting_target(clock)
    ctx = context(tmp_path, sqlite_store, clock, target)
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "1.1")
    outputs = VerifyStep().run(ctx).journal()
    assert outputs["analysis"]["status"] == "pass"
    assert outputs["analysis"]["evidence"]["requests"] > 1000
    assert outputs["analysis"]["evidence"]["baseline"]["requests"] > 0
    # Recorded so a resumed deployment does not verify twice.
    observed = VerifyStep().observe(ctx)
    assert observed is not None and observed.journal() == outputs


def test_verify_raises_step_error_with_evidence_on_regression(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """5 % errors after the swap: StepError whose details carry counts, limits and timing."""
    clock = FrozenClock()
    target = counting_target(clock)
    ctx = context(tmp_path, sqlite_store, clock, target, version="bad")
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "bad")
    with pytest.raises(StepError, match="metric analysis: regressed") as caught:
        VerifyStep().run(ctx)
    details = caught.value.details
    assert details["reasons"]
    assert details["errors"] >= 2
    assert details["crossed_after_swap_s"] <= 3
    assert details["analysis"]["evidence"]["tests"]["errors"]["decision"] == "regressed"
    state = sqlite_store.get(state_key("web", ctx.deployment.id))
    assert state is not None and state["status"] == "regressed"


def test_verify_holds_for_a_person_when_inconclusive(tmp_path: Path, sqlite_store: Store) -> None:
    """Too little traffic until max_observation: NeedsPerson, and nothing is rolled back."""
    clock = FrozenClock()
    target = counting_target(clock, rps=0.2)
    ctx = context(tmp_path, sqlite_store, clock, target, max_observation=60)
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "1.1")
    with pytest.raises(NeedsPerson, match="inconclusive") as caught:
        VerifyStep().run(ctx)
    assert caught.value.details["analysis"]["status"] == "inconclusive"
    assert target.slots()[PRODUCTION].version == "1.1"


def test_verify_keeps_e2e_output(tmp_path: Path, sqlite_store: Store) -> None:
    """The E2E command runs with TURNOUT_URL set and its output is kept in the outputs."""
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    script = tmp_path / "e2e.py"
    script.write_text("import os\nprint('e2e against', os.environ['TURNOUT_URL'])\n")
    extra = ""
    ctx = context(tmp_path, sqlite_store, clock, target, extra=extra)
    ctx.env = ctx.env.model_copy(
        update={
            "checks": ctx.env.checks.model_copy(
                update={"e2e_command": f"{sys.executable} {script}"}
            )
        }
    )
    swap(ctx, target, "1.1")
    outputs = VerifyStep().run(ctx).journal()
    assert outputs["e2e"]["exit_code"] == 0
    assert "e2e against http://web.fake.invalid" in outputs["e2e"]["output"]


def test_verify_fails_when_e2e_fails(tmp_path: Path, sqlite_store: Store) -> None:
    """A non-zero E2E exit fails verification with its output in the evidence."""
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    ctx = context(tmp_path, sqlite_store, clock, target)
    command = f"{sys.executable} -c \"print('checkout broken'); raise SystemExit(3)\""
    ctx.env = ctx.env.model_copy(
        update={"checks": ctx.env.checks.model_copy(update={"e2e_command": command})}
    )
    swap(ctx, target, "1.1")
    with pytest.raises(StepError, match="E2E command exited with 3") as caught:
        VerifyStep().run(ctx)
    assert "checkout broken" in caught.value.details["e2e"]["output"]


class _Business(BaseHTTPRequestHandler):
    processed = 0

    def do_GET(self) -> None:
        body = json.dumps({"rewards": {"processed": type(self).processed}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


@pytest.fixture
def business_server() -> Iterator[tuple[str, type[_Business]]]:
    """A real HTTP server on loopback answering {"rewards": {"processed": N}}."""
    handler = type("Handler", (_Business,), {"processed": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/stats", handler
    finally:
        server.shutdown()
        server.server_close()


def test_business_check_over_http(
    tmp_path: Path, sqlite_store: Store, business_server: tuple[str, type[_Business]]
) -> None:
    """rewards processed > 0 passes at 12 and fails verification at 0."""
    url, handler = business_server
    extra = (
        f'[[analysis.business]]\nname = "rewards processed"\nsource = "http"\n'
        f'url = "{url}"\nfield = "rewards.processed"\nop = ">"\nthreshold = 0\n'
    )
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    ctx = context(tmp_path, sqlite_store, clock, target, extra=extra)
    swap(ctx, target, "1.1")
    handler.processed = 12
    outputs = VerifyStep().run(ctx).journal()
    assert outputs["business"][0] == {
        "name": "rewards processed",
        "ok": True,
        "value": 12.0,
        "expectation": "> 0",
        "problem": "",
    }
    handler.processed = 0
    sqlite_store.put(f"verify:web:{ctx.deployment.id}", {})
    with pytest.raises(StepError, match="rewards processed: 0 is not > 0"):
        VerifyStep().run(ctx)


def test_unreadable_business_check_needs_a_person(tmp_path: Path, sqlite_store: Store) -> None:
    """A business number that cannot be read holds the deployment rather than rolling back."""
    extra = (
        '[[analysis.business]]\nname = "orders"\nsource = "http"\n'
        'url = "/stats"\nfield = "orders.count"\n'
    )
    clock = FrozenClock()
    target = FakeTarget("web")
    target.ensure_slot("blue")
    ctx = context(tmp_path, sqlite_store, clock, target, extra=extra)
    swap(ctx, target, "1.1")
    with pytest.raises(NeedsPerson, match="orders"):
        VerifyStep().run(ctx)


class _Killed(BaseException):
    """Stands for the process being killed in the middle of the step."""


def kill_at_first_report(message: str) -> None:
    """A progress callback that ends the run at the watch loop's first report line."""
    if "requests, errors" in message:
        raise _Killed


def test_resumed_verify_watches_again_instead_of_holding_at_once(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Killed during verify and resumed after max_observation: it watches again and passes."""
    clock = FrozenClock()
    # 20 req/s: a clean release needs about 6,600 requests (~330 s) to be proved healthy.
    target = counting_target(clock, rps=20)
    ctx = context(tmp_path, sqlite_store, clock, target, max_observation=200)
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "1.1")
    swapped_at = clock.now().timestamp()
    ctx.progress = kill_at_first_report
    with pytest.raises(_Killed):
        VerifyStep().run(ctx)
    saved = sqlite_store.get(state_key("web", ctx.deployment.id))
    assert saved is not None and saved["status"] == "watching"

    clock.advance(250)  # turnout was down past swap + max_observation
    resumed_at = clock.now().timestamp()
    ctx.progress = lambda _m: None
    outputs = VerifyStep().run(ctx).journal()
    assert outputs["analysis"]["status"] == "pass"
    evidence = outputs["analysis"]["evidence"]
    # The same test from the swap on: the traffic before and during the gap counts.
    assert evidence["swapped_at"] == swapped_at
    assert evidence["observed_seconds"] > 250
    direct = sum(b.count for b in target.traffic(PRODUCTION, swapped_at, evidence["at"]))
    assert evidence["requests"] == pytest.approx(direct, abs=40)
    assert clock.now().timestamp() - resumed_at < 200


def test_resumed_verify_holds_only_after_another_max_observation(
    tmp_path: Path, sqlite_store: Store
) -> None:
    """Resumed with too little traffic, verify holds after max_observation from the resume."""
    clock = FrozenClock()
    target = counting_target(clock, rps=0.2)
    ctx = context(tmp_path, sqlite_store, clock, target, max_observation=60)
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "1.1")
    ctx.progress = kill_at_first_report
    with pytest.raises(_Killed):
        VerifyStep().run(ctx)
    clock.advance(600)
    resumed_at = clock.now().timestamp()
    ctx.progress = lambda _m: None
    with pytest.raises(NeedsPerson, match="inconclusive"):
        VerifyStep().run(ctx)
    assert clock.now().timestamp() >= resumed_at + 60


def test_a_regression_declared_before_the_crash_stands(tmp_path: Path, sqlite_store: Store) -> None:
    """A verify resumed after its test had crossed fails again without re-judging."""
    clock = FrozenClock()
    target = counting_target(clock)
    ctx = context(tmp_path, sqlite_store, clock, target, version="bad")
    ctx.outputs["snapshot"] = SnapshotStep().run(ctx).journal()
    swap(ctx, target, "bad")
    with pytest.raises(StepError, match="metric analysis: regressed") as first:
        VerifyStep().run(ctx)
    # Had the process died before the engine recorded the failure, the step runs again.
    clock.advance(60)
    with pytest.raises(StepError, match="metric analysis: regressed") as again:
        VerifyStep().run(ctx)
    assert again.value.details["crossed_at_iso"] == first.value.details["crossed_at_iso"]
