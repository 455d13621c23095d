"""The integration steps (announce, track, close, tag, log, infra) against local services."""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fakes.github_server import GitHubServer
from tests.fakes.webhook_server import WebhookServer
from tests.support import github_rest
from tests.support.fake_target import seed_fake_target
from turnout.clock import FrozenClock
from turnout.config import LoadedConfig, load_config
from turnout.errors import NotSupported, StepError
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, StepStatus
from turnout.runbook.step import Outcome, StepContext
from turnout.runbook.steps.announce import AnnounceStartStep, AnnounceSuccessStep
from turnout.runbook.steps.infra import InfraStep
from turnout.runbook.steps.release_record import LogStep, TagStep
from turnout.runbook.steps.track import CloseStep, TrackStep
from turnout.store import Store
from turnout.store.deployment_data import FailureRecord
from turnout.store.records import NewDeployment

GH_TOKEN = "ghp_STEPSTOKEN42"
HOOK_PATH = "/hooks/HOOKSECRET"
START = datetime(2026, 11, 17, 18, 0, tzinfo=UTC)


@dataclass
class World:
    """A project wired to local GitHub and webhook servers."""

    root: Path
    config: LoadedConfig
    store: Store
    clock: FrozenClock
    github: GitHubServer
    webhook: WebhookServer
    dead_port: int

    def context(self, version: str = "1.4.0", env: str = "production") -> StepContext:
        """A step context for a new deployment."""
        row = self.store.create_deployment(
            NewDeployment(
                environment=env,
                version=version,
                previous_version="1.3.0",
                type=DeploymentType.APP,
                status=DeploymentStatus.RUNNING,
                deployer="alice",
                changes="rewards table",
                created_at=self.clock.now(),
            )
        )
        info = DeploymentInfo(
            id=row.id,
            environment=env,
            version=version,
            type=DeploymentType.APP,
            deployer="alice",
            created_at=self.clock.now(),
            previous_version="1.3.0",
            changes="rewards table",
        )
        return StepContext(
            config=self.config,
            env=self.config.env(env),
            deployment=info,
            store=self.store,
            clock=self.clock,
            statuses={"checklist": StepStatus.SUCCEEDED, "announce": StepStatus.RUNNING},
        )

    def secrets(self) -> list[str]:
        """Every secret value the world holds."""
        return [GH_TOKEN, "HOOKSECRET"]


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    """Configuration, store, clock, a GitHub server and a webhook, and a git app repository."""
    clock = FrozenClock(START)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead_port = int(sock.getsockname()[1])
    app = tmp_path / "app"
    app.mkdir()
    _git("init", "-q", "-b", "main", cwd=app)
    (app / "README").write_text("shop\n")
    _git("add", "README", cwd=app)
    _git("-c", "user.name=D", "-c", "user.email=d@example.com", "commit", "-qm", "one", cwd=app)
    seed_fake_target(tmp_path / "fake-target.json", {"production": "1.3.0", "blue": None})
    github = GitHubServer(GH_TOKEN, now=clock.now)
    github.add_repo("acme/shop")
    github.add_workflow("acme/shop", "deploy-infrastructure.yml")
    with github, WebhookServer() as webhook:
        monkeypatch.setenv("GH_TOKEN_STEPS", GH_TOKEN)
        monkeypatch.setenv("HOOK_OK", f"json://127.0.0.1:{webhook.port}{HOOK_PATH}")
        monkeypatch.setenv("HOOK_DEAD", f"json://127.0.0.1:{dead_port}{HOOK_PATH}")
        (tmp_path / "turnout.toml").write_text(
            f"""
[app]
name = "shop"
repository = "app"
eta_minutes = 20

[[people]]
name = "alice"
email = "alice@example.com"
slack = "alice.s"

[integrations.notify]
urls = ["env:HOOK_OK", "env:HOOK_DEAD"]
retries = 1
timeout = 5

[integrations.github]
token = "env:GH_TOKEN_STEPS"
base_url = "{github.url}"
repository = "acme/shop"

[integrations.tracker]
kind = "github"

[integrations.oncall]
roster = ["alice", "bob"]

[environments.production]
target = {{ kind = "fake", state_file = "fake-target.json" }}

[environments.production.integrations.infra]
inputs = {{ environment = "{{environment}}", version = "{{version}}" }}
poll_interval = 5

[environments.staging]
target = {{ kind = "fake" }}

[environments.staging.integrations.tracker]
kind = "local"
"""
        )
        config = load_config(tmp_path / "turnout.toml")
        store = Store.open(tmp_path / ".turnout", clock=clock)
        try:
            yield World(tmp_path, config, store, clock, github, webhook, dead_port)
        finally:
            store.close()


def _issue(world: World, number: int = 1) -> dict[str, Any]:
    return github_rest.issues(world.github, "acme/shop")[number]


def test_start_announcement_reaches_working_urls_despite_a_dead_one(world: World) -> None:
    """The start message goes out; the dead URL is recorded and audited, the step succeeds."""
    ctx = world.context()
    lines: list[str] = []
    ctx.progress = lines.append
    step = AnnounceStartStep()
    assert step.observe(ctx) is None
    outputs = step.run(ctx)
    [message] = world.webhook.received
    assert message["title"] == "🚀 Production Deployment Starting"
    for expected in (
        "@alice.s",
        "**On-call backup:** @bob",
        "**ETA:** 20 minutes",
        "1.3.0 stays warm",
        "**Changes:** rewards table",
    ):
        assert expected in message["message"]
    assert [d["ok"] for d in outputs.deliveries or []] == [True, True, False]
    assert any("Production Deployment Starting" in line for line in lines)
    audit = [row for row in world.store.audit_log() if row.action == "notify.failed"]
    assert audit and "env:HOOK_DEAD" in json.dumps(audit[0].details)
    assert step.observe(ctx) is not None  # sent once: a resumed step does not send again
    text = json.dumps(outputs.journal())
    text += json.dumps([row.details for row in world.store.audit_log()])
    assert all(secret not in text for secret in world.secrets())


def test_rollback_announcement_carries_the_evidence_once(world: World) -> None:
    """After a rollback, the announce step's hook tells what regressed, with evidence, once."""
    ctx = world.context()
    step = AnnounceStartStep()
    step.run(ctx)
    ctx.failure_record = FailureRecord(
        "verify",
        "error rate 4.1% above 0.1%",
        details={"evidence": {"reasons": ["error rate 4.1% > 0.1%"], "error_rate": 0.041}},
    )
    step.after(ctx, Outcome.ROLLED_BACK)
    step.after(ctx, Outcome.ROLLED_BACK)
    step.after(ctx, Outcome.SUCCEEDED)
    titles = [m["title"] for m in world.webhook.received]
    assert titles == ["🚀 Production Deployment Starting", "🔙 Production Deployment Rolled Back"]
    body = world.webhook.received[1]["message"]
    assert "**Failed step:** verify" in body
    assert "• error rate 4.1% > 0.1%" in body and "• error_rate: 0.041" in body
    assert "**Production is on:** 1.3.0" in body


def test_success_announcement_reports_duration_and_figures(world: World) -> None:
    """The success message gives the duration by the clock and the verified figures."""
    ctx = world.context()
    ctx.statuses.update(
        {
            "warmup": StepStatus.SUCCEEDED,
            "smoke": StepStatus.SUCCEEDED,
            "verify": StepStatus.SUCCEEDED,
        }
    )
    ctx.outputs["verify"] = {
        "checks": [],
        "analysis": {
            "status": "pass",
            "evidence": {
                "error_rate": 0.0003,
                "p95_ms": 210.0,
                "baseline": {"error_rate": 0.5, "p95_ms": 999.0},
            },
        },
    }
    world.clock.advance(14 * 60)
    AnnounceSuccessStep().run(ctx)
    body = world.webhook.received[-1]["message"]
    assert "**Duration:** 14 minutes" in body
    assert "**Errors:** ✅ < 0.1% (measured 0.03%)" in body
    assert "p95 210 ms" in body and "(3/3)" in body
    head = _git("rev-parse", "HEAD", cwd=world.root / "app")
    assert f"commit {head[:12]}" in body


def test_tracking_issue_is_opened_once_and_closed_on_success(world: World) -> None:
    """track opens the runbook's issue with the checklist; close closes it as completed."""
    ctx = world.context()
    ctx.outputs["checklist"] = {
        "items": [
            {
                "item": "reviewed",
                "title": "Code reviewed",
                "result": "pass",
                "summary": "2 approvals",
            },
            {"item": "ci", "title": "CI passing", "result": "fail", "summary": "1 failing check"},
        ]
    }
    track = TrackStep()
    assert track.observe(ctx) is None
    outputs = track.run(ctx).journal()
    ctx.outputs["track"] = outputs
    assert track.observe(ctx) is not None
    issue = _issue(world)
    assert issue["title"] == "Production Deployment - 2026-11-17"
    assert [label["name"] for label in issue["labels"]] == ["deployment", "production"]
    assert "- [x] Code reviewed — pass: 2 approvals" in issue["body"]
    assert "- [ ] CI passing — fail: 1 failing check" in issue["body"]
    close = CloseStep()
    assert close.observe(ctx) is None
    closed = close.run(ctx)
    assert closed.closed is True
    issue = _issue(world)
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    assert close.observe(ctx) is not None
    track.after(ctx, Outcome.SUCCEEDED)  # already closed by `close`: nothing more
    assert len(github_rest.comments(world.github, "acme/shop", 1)) == 1
    assert all(secret not in world.github.bodies_text() for secret in world.secrets())


def test_failed_deployment_closes_its_issue_with_the_evidence(world: World) -> None:
    """When the deployment fails, track's hook closes the issue as not planned, with evidence."""
    ctx = world.context()
    ctx.outputs["track"] = TrackStep().run(ctx).journal()
    ctx.failure_record = FailureRecord(
        "smoke", "GET /health returned 500", details={"evidence": {"status": 500}}
    )
    TrackStep().after(ctx, Outcome.ROLLED_BACK)
    issue = _issue(world)
    assert issue["state"] == "closed" and issue["state_reason"] == "not_planned"
    [comment] = github_rest.comments(world.github, "acme/shop", 1)
    assert "rolled back" in comment["body"] and "- status: 500" in comment["body"]


def test_local_tracker_keeps_the_issue_in_the_deployment_record(world: World) -> None:
    """With the local tracker the issue, its comments and its closing live in the record."""
    ctx = world.context(env="staging")
    ctx.outputs["track"] = TrackStep().run(ctx).journal()
    CloseStep().run(ctx)
    row = world.store.deployment(ctx.deployment.id)
    assert row is not None
    record = row.data.other["tracking"]
    assert record["title"] == "Staging Deployment - 2026-11-17"
    assert "### Pre-Deployment Checklist" in record["body"]
    assert record["state"] == "closed" and record["outcome"] == "completed"
    assert "completed successfully" in record["comments"][0]["text"]
    assert github_rest.issues(world.github, "acme/shop") == {}


def test_tag_and_log_are_written_once(world: World) -> None:
    """tag makes the annotated release tag, log appends the runbook's line; both idempotent."""
    ctx = world.context()
    tag, log = TagStep(), LogStep()
    assert tag.observe(ctx) is None and log.observe(ctx) is None
    tagged = tag.run(ctx)
    logged = log.run(ctx)
    assert tagged.tag == "v1.4.0" and tagged.created is True
    assert tag.observe(ctx) is not None and log.observe(ctx) is not None
    app = world.root / "app"
    message = _git("tag", "-l", "--format=%(contents:subject)|%(taggeremail)", "v1.4.0", cwd=app)
    assert message == "Production release 2026-11-17|<alice@example.com>"
    world.clock.advance(60)
    again = log.run(ctx)  # a resumed step writes the same line, not a second one
    lines = (app / "deployments.log").read_text().splitlines()
    assert lines == ["2026-11-17 18:00:00 - v1.4.0 deployed to production"]
    assert logged.line == again.line == lines[0]


def test_tag_problem_never_fails_a_verified_release(world: World) -> None:
    """A push that cannot happen is recorded in the outputs; the step still succeeds."""
    _git("remote", "add", "origin", "/nonexistent/remote.git", cwd=world.root / "app")
    world.config = load_config(
        world.root / "turnout.toml", environ={"TURNOUT__INTEGRATIONS__VCS__PUSH_REMOTE": "origin"}
    )
    outputs = TagStep().run(world.context())
    assert outputs.error is not None and "NOT created" in str(outputs.summary)


def test_infra_dispatches_the_workflow_and_follows_it(world: World) -> None:
    """infra dispatches deploy-infrastructure.yml with the inputs and succeeds with the run."""
    ctx = world.context()
    ctx.outputs["track"] = TrackStep().run(ctx).journal()
    step = InfraStep()
    assert step.observe(ctx) is None
    outputs = step.run(ctx)
    assert isinstance(outputs, dict) and outputs["conclusion"] == "success"
    assert world.github.run_inputs("acme/shop") == [
        {"environment": "production", "version": "1.4.0"}
    ]
    assert step.observe(ctx) is not None
    [comment] = github_rest.comments(world.github, "acme/shop", 1)
    assert "Phase 2 (infrastructure)" in comment["body"]


def test_infra_run_that_fails_fails_the_step_and_resume_follows_the_same_run(
    world: World,
) -> None:
    """A failed run fails the step; running again follows the recorded run, no new dispatch."""
    world.github.conclusion = "failure"
    ctx = world.context()
    with pytest.raises(StepError, match="concluded failure"):
        InfraStep().run(ctx)
    with pytest.raises(StepError, match="concluded failure"):
        InfraStep().run(ctx)
    assert len(world.github.repos["acme/shop"].runs) == 1


def test_infra_without_configuration_is_not_supported(world: World) -> None:
    """An environment without an infra workflow says so instead of doing nothing."""
    with pytest.raises(NotSupported, match="no infrastructure phase"):
        InfraStep().run(world.context(env="staging"))


def test_refusal_after_the_start_is_announced_as_refused(world: World) -> None:
    """A gate refusing after the start announcement tells that nothing was changed."""
    ctx = world.context()
    AnnounceStartStep().run(ctx)
    ctx.failure_record = FailureRecord(
        "preconditions", "active incident(s): pagerduty #Q1 'latency'"
    )
    AnnounceStartStep().after(ctx, Outcome.REFUSED)
    message = world.webhook.received[-1]
    assert message["title"] == "⛔ Production Deployment Refused"
    assert "untouched, still on 1.3.0" in message["message"]
    assert "pagerduty #Q1" in message["message"]
