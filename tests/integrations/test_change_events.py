"""PagerDuty change events through the `pagerduty` Events API v2 client, over TLS to a
local server: every deployment's start and ending, retried, never blocking."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from tests.fakes.github_server import GitHubServer
from tests.fakes.pagerduty_server import PagerDutyServer
from tests.fakes.webhook_server import write_ca_bundle
from tests.support.project import Project, fake_project
from turnout import api
from turnout.clock import FrozenClock
from turnout.config import load_config
from turnout.integrations.change_events import PagerDutyChangeChannel
from turnout.integrations.messages import MessageKind, render
from turnout.integrations.notify import ConsoleChannel, Notifier

ROUTING_KEY = "R0UTINGKEYCHANGES0123456789abcde"
PD_TOKEN = "u+PDRESTTOKEN9876"
GH_TOKEN = "ghp_CHANGEEVENTS42"
# Passes its smoke tests in the slot but fails production's health checks (rolled back).
FAILING_HEALTH = '[checks]\nhealth = [{path = "/health", expect_json = {version = "1.0.0"}}]\n'


@pytest.fixture
def ca() -> trustme.CA:
    """A test certificate authority."""
    return trustme.CA()


@pytest.fixture
def pd(ca: trustme.CA) -> Iterator[PagerDutyServer]:
    """PagerDuty (REST and Events API v2) on loopback over TLS."""
    with PagerDutyServer(ca, PD_TOKEN, routing_key=ROUTING_KEY) as running:
        yield running


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    """GitHub for the tracking issue the change events link to."""
    server = GitHubServer(GH_TOKEN)
    server.add_repo("acme/shop")
    with server:
        yield server


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("GH_TOKEN_CHANGES", GH_TOKEN)


def _project(
    tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer, github: GitHubServer, checks: str = ""
) -> Project:
    bundle = write_ca_bundle(ca, tmp_path)
    extra = f"""
[integrations.change_events.pagerduty]
routing_key = "env:PD_ROUTING_KEY"
base_url = "{pd.url}"
ca_bundle = "{bundle.name}"

[integrations.notify]
retries = 2
backoff = 0.0

[integrations.github]
token = "env:GH_TOKEN_CHANGES"
base_url = "{github.url}"
repository = "acme/shop"

[integrations.tracker]
kind = "github"
"""
    project = fake_project(tmp_path, extra=extra)
    if checks:
        text = project.config.read_text()
        project.config.write_text(text.replace("[checks.warmup]", checks + "[checks.warmup]"))
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return dict(event["payload"]["custom_details"])


def _without_routing_key(event: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in event.items() if k != "routing_key"})


def test_a_successful_deployment_sends_start_and_success_change_events(
    tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer, github: GitHubServer
) -> None:
    """Start and success arrive with version, environment, deployer and evidence, success
    with the tracking issue's link (the start precedes the issue, as in the runbook); the
    routing key is only the API's own field and no other secret is sent."""
    project = _project(tmp_path, ca, pd, github)
    result = api.deploy("web", "1.1.0", config=project.config, actor="alice")
    assert result.status is api.DeploymentStatus.SUCCEEDED
    start, success = pd.change_events
    issue_url = f"{github.url.replace('/api/v3', '')}"
    for event in (start, success):
        assert event["routing_key"] == ROUTING_KEY
        details = _details(event)
        assert details["version"] == "1.1.0" and details["environment"] == "web"
        assert details["deployer"] == "alice" and details["deployment_id"] == result.deployment_id
        assert event["payload"]["source"] == "turnout shop web"
        assert event["payload"]["timestamp"].endswith("+00:00")
        sent = _without_routing_key(event)
        for secret in (ROUTING_KEY, PD_TOKEN, GH_TOKEN):
            assert secret not in sent
    assert "links" not in start and "tracking_url" not in _details(start)
    [link] = success["links"]
    assert link["text"] == "Tracking issue" and link["href"].startswith(issue_url)
    assert _details(success)["tracking_url"] == link["href"]
    assert _details(start)["event"] == "start"
    assert start["payload"]["summary"] == "Deployment of shop 1.1.0 to web started by alice"
    assert _details(success)["event"] == "success"
    # No metrics provider: kept, and the event says it was not proven.
    assert success["payload"]["summary"] == (
        "shop 1.1.0 deployed on web by alice, not proven healthy"
    )
    assert _details(success)["evidence"], "the success event says what it rests on"


def test_a_rolled_back_deployment_sends_a_rollback_change_event_with_the_evidence(
    tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer, github: GitHubServer
) -> None:
    """A release failing production's checks: start, then a rollback event naming the
    failed step, the version production is back on, and the evidence."""
    project = _project(tmp_path, ca, pd, github, checks=FAILING_HEALTH)
    result = api.deploy("web", "1.1.0", config=project.config, actor="alice")
    assert result.status is api.DeploymentStatus.ROLLED_BACK
    start, rollback = pd.change_events
    assert _details(start)["event"] == "start"
    details = _details(rollback)
    assert details["event"] == "rollback" and details["version"] == "1.1.0"
    summary = rollback["payload"]["summary"]
    assert summary.startswith("shop 1.1.0 rolled back on web, production is on 1.0.0 (")
    assert any("failed step" in line for line in details["evidence"])
    assert rollback["links"][0]["href"] == details["tracking_url"]
    for secret in (ROUTING_KEY, PD_TOKEN, GH_TOKEN):
        assert secret not in _without_routing_key(rollback)


def _channel(tmp_path: Path, ca: trustme.CA, url: str) -> PagerDutyChangeChannel:
    bundle = write_ca_bundle(ca, tmp_path)
    (tmp_path / "turnout.toml").write_text(
        f"""
[app]
name = "shop"

[integrations.change_events.pagerduty]
routing_key = "env:PD_ROUTING_KEY"
base_url = "{url}"
ca_bundle = "{bundle.name}"

[environments.production]
target = {{ kind = "fake" }}
"""
    )
    config = load_config(tmp_path / "turnout.toml")
    settings = config.env("production").integrations.change_events.pagerduty
    assert settings is not None
    return PagerDutyChangeChannel(config, settings, key="integrations.change_events.pagerduty")


START = {
    "environment": "production",
    "version": "2.0.0",
    "deployer": "dana",
    "emergency": True,
    "reason": "checkout down",
}


def test_an_emergency_start_is_retried_through_unavailability(
    tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer
) -> None:
    """Two 503s, then accepted on the third attempt; the event says it is an emergency."""
    pd.fail_change_events = 2
    channel = _channel(tmp_path, ca, pd.url)
    notifier = Notifier([channel], retries=2, backoff=0.0, clock=FrozenClock())
    [delivery] = notifier.deliver(render(MessageKind.START, START))
    assert delivery.ok and delivery.attempts == 3
    [event] = pd.change_events
    assert event["payload"]["summary"] == (
        "Emergency deployment of shop 2.0.0 to production started by dana: checkout down"
    )
    assert _details(event)["emergency"] is True and _details(event)["reason"] == "checkout down"


def test_a_refused_key_fails_once_without_blocking_or_leaking(
    tmp_path: Path,
    ca: trustme.CA,
    pd: PagerDutyServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A routing key the API refuses (400) is not retried; the console still gets the
    message, nothing raises, and the log names the setting, not the key."""
    monkeypatch.setenv("PD_ROUTING_KEY", "WRONGKEY0000")
    channel = _channel(tmp_path, ca, pd.url)
    seen: list[str] = []
    notifier = Notifier([ConsoleChannel(seen.append), channel], retries=3, clock=FrozenClock())
    with caplog.at_level(logging.WARNING):
        console, refused = notifier.deliver(render(MessageKind.START, START))
    assert console.ok and seen
    assert not refused.ok and refused.attempts == 1 and refused.error == "HTTP 400"
    assert "change_events.pagerduty" in refused.channel
    assert pd.change_events == []
    assert "WRONGKEY0000" not in caplog.text


def test_a_refusal_is_no_change_event(tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer) -> None:
    """A refused deployment changed nothing: the channel sends no event for it."""
    channel = _channel(tmp_path, ca, pd.url)
    channel.deliver(render(MessageKind.REFUSED, {**START, "error": "incident open"}), 5.0)
    assert pd.change_events == []
    assert not any(r.path == "/v2/change/enqueue" for r in pd.requests)


def test_doctor_checks_the_routing_key_without_sending(
    tmp_path: Path, ca: trustme.CA, pd: PagerDutyServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """doctor passes with the routing key set and fails naming the key when it is unset;
    no change event is sent either way."""
    _channel(tmp_path, ca, pd.url)
    config = tmp_path / "turnout.toml"
    [probe] = [p for p in api.doctor("production", config=config).probes if "routing" in p.name]
    assert probe.ok and "env:PD_ROUTING_KEY" in probe.detail
    monkeypatch.delenv("PD_ROUTING_KEY")
    [probe] = [p for p in api.doctor("production", config=config).probes if "routing" in p.name]
    assert not probe.ok and "change_events.pagerduty.routing_key" in probe.detail
    assert pd.requests == []
