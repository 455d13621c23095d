"""The success announcement names the on-call engineer of the moment, who is told directly."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from tests.fakes.pagerduty_server import PagerDutyServer
from tests.fakes.webhook_server import WebhookServer, write_ca_bundle
from tests.support.fake_target import seed_fake_target
from turnout.clock import FrozenClock
from turnout.config import LoadedConfig, load_config
from turnout.model import DeploymentInfo, DeploymentStatus, DeploymentType, StepStatus
from turnout.runbook.step import StepContext
from turnout.runbook.steps.announce import AnnounceSuccessStep
from turnout.store import Store
from turnout.store.records import NewDeployment

START = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
PD_TOKEN = "u+PDONCALLTOKEN55"
PEOPLE = """
[[people]]
name = "alice"
slack = "alice.s"

[[people]]
name = "bob"
email = "bob@example.com"
slack = "bob.s"
notify = "env:BOB_DIRECT"

[[people]]
name = "carol"
"""


@dataclass
class Project:
    """A configuration, a store and a clock for announce steps."""

    config: LoadedConfig
    store: Store
    clock: FrozenClock

    def context(self, env: str = "production") -> tuple[StepContext, list[str]]:
        """A step context of a finished deployment of 1.4.0, and its progress lines."""
        row = self.store.create_deployment(
            NewDeployment(
                environment=env,
                version="1.4.0",
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
            version="1.4.0",
            type=DeploymentType.APP,
            deployer="alice",
            created_at=self.clock.now(),
            previous_version="1.3.0",
            changes="rewards table",
        )
        lines: list[str] = []
        ctx = StepContext(
            config=self.config,
            env=self.config.env(env),
            deployment=info,
            store=self.store,
            clock=self.clock,
            statuses={"swap": StepStatus.SUCCEEDED, "announce-success": StepStatus.RUNNING},
        )
        ctx.progress = lines.append
        return ctx, lines


@pytest.fixture
def direct() -> Iterator[WebhookServer]:
    """Where bob's `people[].notify` URL reaches him."""
    with WebhookServer() as server:
        yield server


def _project(tmp_path: Path, oncall: str, extra: str = "") -> Iterator[Project]:
    seed_fake_target(tmp_path / "fake-target.json", {"production": "1.4.0", "blue": "1.3.0"})
    (tmp_path / "turnout.toml").write_text(
        f"""
[app]
name = "shop"
{PEOPLE}
[integrations.notify]
retries = 0

[integrations.oncall]
{oncall}
{extra}
[environments.production]
target = {{ kind = "fake", state_file = "fake-target.json" }}

[environments.staging]
target = {{ kind = "fake", state_file = "fake-target.json" }}
"""
    )
    clock = FrozenClock(START)
    store = Store.open(tmp_path / ".turnout", clock=clock)
    try:
        yield Project(load_config(tmp_path / "turnout.toml"), store, clock)
    finally:
        store.close()


@pytest.fixture
def roster(
    tmp_path: Path, direct: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Project]:
    """bob on shift now, carol afterwards, alice always."""
    monkeypatch.setenv("BOB_DIRECT", f"json://127.0.0.1:{direct.port}/dm/bob")
    yield from _project(
        tmp_path,
        'roster = [{ person = "bob", start = 2026-12-02T08:00:00Z, end = 2026-12-02T10:00:00Z },'
        ' { person = "carol", start = 2026-12-02T10:00:00Z }, "alice"]',
    )


def test_production_success_names_the_oncall_engineer_who_is_told_directly(
    roster: Project, direct: WebhookServer
) -> None:
    """bob, on shift, gets a message of his own; the announcement names him and says how."""
    ctx, lines = roster.context()
    outputs = AnnounceSuccessStep().run(ctx)
    [message] = direct.received
    assert message["title"] == "📟 On call: 1.4.0 is live on Production"
    for expected in ("1.3.0 → 1.4.0", "@alice.s", "`turnout rollback --env production`"):
        assert expected in message["message"]
    announced = "\n".join(lines)
    assert "Deployment Complete" in announced
    assert "On-call: @bob.s, told directly (json, people[1].notify)" in announced
    assert outputs.oncall is not None
    assert outputs.oncall.person == "bob.s" and outputs.oncall.source == "roster"
    assert f"{direct.port}" not in json.dumps(outputs.journal()), "the URL is a secret"


def test_an_oncall_engineer_without_a_direct_channel_is_named_as_not_told(
    roster: Project, direct: WebhookServer
) -> None:
    """Later, carol is on shift: named, and the announcement says she was not told directly."""
    roster.clock.advance(3600 * 2)
    ctx, lines = roster.context()
    outputs = AnnounceSuccessStep().run(ctx)
    assert direct.received == []
    assert "On-call: @carol, not told directly: no people[].notify for carol" in "\n".join(lines)
    assert outputs.oncall is not None and outputs.oncall.oncall_reached is None


def test_a_staging_success_neither_names_nor_tells_oncall(
    roster: Project, direct: WebhookServer
) -> None:
    """Outside production the success announcement has no on-call line and nobody is told."""
    ctx, lines = roster.context("staging")
    outputs = AnnounceSuccessStep().run(ctx)
    assert direct.received == [] and "oncall" not in outputs.journal()
    assert "On-call" not in "\n".join(lines)


def test_the_oncall_engineer_from_pagerduty_is_found_by_email_and_told(
    tmp_path: Path, direct: WebhookServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PagerDuty's on-call (a display name and an e-mail) is matched to people[] by e-mail."""
    ca = trustme.CA()
    bundle = write_ca_bundle(ca, tmp_path)
    monkeypatch.setenv("BOB_DIRECT", f"json://127.0.0.1:{direct.port}/dm/bob")
    monkeypatch.setenv("PD_TOKEN_ONCALL", PD_TOKEN)
    with PagerDutyServer(ca, PD_TOKEN) as pd:
        pd.put_on_call("PESC", "Bob Builder", "bob@example.com")
        extra = f"""
[integrations.incidents.pagerduty]
token = "env:PD_TOKEN_ONCALL"
base_url = "{pd.url}"
ca_bundle = "{bundle.name}"
"""
        for project in _project(tmp_path, 'escalation_policy_ids = ["PESC"]', extra):
            ctx, lines = project.context()
            outputs = AnnounceSuccessStep().run(ctx)
    assert outputs.oncall is not None and outputs.oncall.source == "pagerduty"
    assert "On-call: @bob.s, told directly (json, people[1].notify)" in "\n".join(lines)
    assert len(direct.received) == 1
