"""Notifications through Apprise to local servers: retries, dead endpoints, Slack, secrets."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.fakes.webhook_server import SlackServer, WebhookServer, write_ca_bundle
from turnout.clock import FrozenClock
from turnout.config.secrets import SecretRef
from turnout.integrations.messages import MessageKind
from turnout.integrations.notify import AppriseChannel, ConsoleChannel, Notifier, check_url

CONTEXT = {
    "environment": "production",
    "version": "1.4.0",
    "type": "app",
    "eta_minutes": 20,
    "changes": "rewards",
    "deployer": "alice",
    "oncall": "bob",
}


def _channel(monkeypatch: pytest.MonkeyPatch, name: str, url: str) -> AppriseChannel:
    monkeypatch.setenv(name, url)
    return AppriseChannel(SecretRef(f"env:{name}"), key=f"notify.urls[{name}]", file="t.toml")


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """A JSON webhook that accepts everything."""
    with WebhookServer() as server:
        yield server


def test_message_reaches_console_and_webhook(
    monkeypatch: pytest.MonkeyPatch, webhook: WebhookServer
) -> None:
    """The console always gets the message, and so does every configured URL."""
    seen: list[str] = []
    channel = _channel(monkeypatch, "HOOK_A", f"json://127.0.0.1:{webhook.port}/hook")
    notifier = Notifier([ConsoleChannel(seen.append), channel], clock=FrozenClock())
    deliveries = notifier.send(MessageKind.START, CONTEXT)
    assert [d.ok for d in deliveries] == [True, True]
    assert "Production Deployment Starting" in seen[0]
    assert webhook.received[0]["title"] == "🚀 Production Deployment Starting"
    assert "**Deployer:** @alice" in webhook.received[0]["message"]


def test_failures_are_retried_with_backoff(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A service failing twice gets the message on the third attempt after 1 s and 2 s pauses."""
    clock = FrozenClock()
    with WebhookServer(fail_first=2) as server:
        channel = _channel(monkeypatch, "HOOK_B", f"json://127.0.0.1:{server.port}/hook")
        notifier = Notifier([channel], retries=2, backoff=1.0, clock=clock)
        [delivery] = notifier.send(MessageKind.SUCCESS, CONTEXT)
    assert delivery.ok and delivery.attempts == 3
    assert clock.monotonic() == pytest.approx(3.0)
    assert len(server.requests) == 3


def test_dead_endpoint_fails_quietly_and_is_logged(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listening: every attempt fails, the failure is logged, nothing is raised."""
    secret_url = f"json://127.0.0.1:{_dead_port()}/hooks/TOPSECRET"
    channel = _channel(monkeypatch, "HOOK_DEAD", secret_url)
    notifier = Notifier([ConsoleChannel(lambda _t: None), channel], retries=2, clock=FrozenClock())
    with caplog.at_level(logging.DEBUG):
        deliveries = notifier.send(MessageKind.ROLLBACK, {**CONTEXT, "error": "boom"})
    assert deliveries[0].ok
    assert not deliveries[1].ok and deliveries[1].attempts == 3
    assert "env:HOOK_DEAD" in caplog.text
    assert "TOPSECRET" not in caplog.text
    assert "TOPSECRET" not in str([d.to_dict() for d in deliveries])


def test_hanging_endpoint_is_bounded_in_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service that never answers holds the send no longer than the configured timeout."""
    with WebhookServer(mode="hang") as server:
        slow = _channel(monkeypatch, "HOOK_SLOW", f"json://127.0.0.1:{server.port}/hook")
        notifier = Notifier([slow], retries=5, timeout=1.5, clock=FrozenClock())
        started = time.monotonic()
        [delivery] = notifier.send(MessageKind.START, CONTEXT)
        elapsed = time.monotonic() - started
    assert not delivery.ok
    assert elapsed < 3.0


def test_unset_or_invalid_url_is_not_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unset secret or an URL Apprise cannot parse fails at once, without retries."""
    monkeypatch.delenv("HOOK_UNSET", raising=False)
    unset = AppriseChannel(SecretRef("env:HOOK_UNSET"), key="notify.urls[0]", file="t.toml")
    bogus = _channel(monkeypatch, "HOOK_BOGUS", "nosuchscheme://whatever")
    deliveries = Notifier([unset, bogus], retries=3, clock=FrozenClock()).send("start", CONTEXT)
    assert [(d.ok, d.attempts) for d in deliveries] == [(False, 1), (False, 1)]
    assert check_url(unset) is not None and "not set" in str(check_url(unset))
    assert "nosuchscheme" in str(check_url(bogus))


def test_slack_webhook_gets_slack_formatting(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Apprise's Slack plugin posts mrkdwn to hooks.slack.com; a wrong webhook is a failure."""
    ca = trustme.CA()
    with SlackServer(ca, {"/services/T0001/B0001/SLACKSECRET"}) as slack:
        monkeypatch.setenv("HTTPS_PROXY", slack.proxy_url)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(write_ca_bundle(ca, tmp_path)))
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        good = _channel(monkeypatch, "SLACK_OK", "slack://T0001/B0001/SLACKSECRET/?footer=no")
        wrong = _channel(monkeypatch, "SLACK_WRONG", "slack://T0001/B0001/WRONGSECRET")
        notifier = Notifier([good, wrong], retries=1, clock=FrozenClock())
        with caplog.at_level(logging.DEBUG):
            deliveries = notifier.send(MessageKind.START, CONTEXT)
        texts = slack.message_texts()
    assert [d.ok for d in deliveries] == [True, False]
    assert "🚀 Production Deployment Starting" in texts
    assert any("*Deployer:* @alice" in text for text in texts)
    assert all("**" not in text for text in texts)
    for secret in ("SLACKSECRET", "WRONGSECRET"):
        assert secret not in caplog.text
        assert secret not in slack.bodies_text()
