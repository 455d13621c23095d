"""PagerDuty incidents and on-call through the `pagerduty` client, over TLS to a local server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.fakes.pagerduty_server import PagerDutyServer
from tests.fakes.webhook_server import write_ca_bundle
from turnout.config import LoadedConfig, load_config
from turnout.errors import ConfigError, IntegrationError
from turnout.integrations import pagerduty
from turnout.integrations.incidents import active_incidents
from turnout.integrations.oncall import on_call
from turnout.store import Store

KEY = "u+PDKEYVALUE123456"


@pytest.fixture
def ca() -> trustme.CA:
    """A test certificate authority."""
    return trustme.CA()


@pytest.fixture
def server(ca: trustme.CA) -> Iterator[PagerDutyServer]:
    """PagerDuty's REST API v2 on loopback over TLS."""
    with PagerDutyServer(ca, KEY) as running:
        yield running


def _config(tmp_path: Path, ca: trustme.CA, base_url: str, extra: str = "") -> LoadedConfig:
    bundle = write_ca_bundle(ca, tmp_path)
    (tmp_path / "turnout.toml").write_text(
        f"""
[app]
name = "shop"

[integrations.incidents.pagerduty]
token = "env:PD_TOKEN_TEST"
base_url = "{base_url}"
service_ids = ["PWEB"]
ca_bundle = "{bundle.name}"
{extra}

[environments.production]
target = {{ kind = "fake" }}
"""
    )
    return load_config(tmp_path / "turnout.toml")


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PD_TOKEN_TEST", KEY)


def test_triggered_and_acknowledged_incidents_on_configured_services_count(
    tmp_path: Path, ca: trustme.CA, server: PagerDutyServer, sqlite_store: Store
) -> None:
    """Active incidents come from local records and PagerDuty's configured services, all pages."""
    for n in range(120):
        server.trigger(f"disk full {n}", "PWEB")
    server.trigger("other team", "POTHER")
    sqlite_store.open_incident("database failover", "carol", "production")
    config = _config(tmp_path, ca, server.url)
    found = active_incidents(config, config.env("production"), sqlite_store)
    assert [i.source for i in found].count("local") == 1
    assert [i.source for i in found].count("pagerduty") == 120
    assert all("other team" not in i.title for i in found)
    pages = [r for r in server.requests if r.path == "/incidents"]
    assert len(pages) == 2
    assert pages[0].query["statuses[]"] == ["triggered", "acknowledged"]
    assert pages[0].query["service_ids[]"] == ["PWEB"]


def test_resolved_incident_no_longer_freezes(
    tmp_path: Path, ca: trustme.CA, server: PagerDutyServer, sqlite_store: Store
) -> None:
    """Acknowledged incidents still count; once resolved through the API they do not."""
    first = server.trigger("latency", "PWEB")
    config = _config(tmp_path, ca, server.url)
    settings = config.env("production").integrations.incidents.pagerduty
    assert settings is not None
    client = pagerduty.pagerduty_client(config, settings, key="incidents.pagerduty")
    client.rput(
        f"/incidents/{first['id']}",
        json={"incident": {"type": "incident_reference", "status": "acknowledged"}},
    )
    env = config.env("production")
    assert [i.title for i in active_incidents(config, env, sqlite_store)] == [
        "[acknowledged] latency (service PWEB)"
    ]
    client.rput(
        f"/incidents/{first['id']}",
        json={"incident": {"type": "incident_reference", "status": "resolved"}},
    )
    client.close()
    assert active_incidents(config, env, sqlite_store) == []


def test_on_call_comes_from_escalation_policies(
    tmp_path: Path, ca: trustme.CA, server: PagerDutyServer
) -> None:
    """Who is on call: PagerDuty's on-calls for the policies, lowest level first."""
    server.put_on_call("PEP1", "Dana", "dana@example.com", level=2)
    server.put_on_call("PEP1", "Bob", "bob@example.com", level=1)
    extra = '\n[integrations.oncall]\nescalation_policy_ids = ["PEP1"]\n'
    config = _config(tmp_path, ca, server.url, extra)
    found = on_call(config, config.env("production"))
    assert found.source == "pagerduty"
    assert found.people == ["Bob", "Dana"]
    assert found.backup_for("bob") == "Dana"
    oncalls = [r for r in server.requests if r.path == "/oncalls"]
    assert oncalls[0].query["escalation_policy_ids[]"] == ["PEP1"]


def test_refused_token_is_an_integration_error_without_the_key(
    tmp_path: Path,
    ca: trustme.CA,
    server: PagerDutyServer,
    sqlite_store: Store,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A wrong key is reported with the HTTP status and never the key itself."""
    monkeypatch.setenv("PD_TOKEN_TEST", "u+WRONGKEY9876")
    config = _config(tmp_path, ca, server.url)
    with pytest.raises(IntegrationError) as caught:
        active_incidents(config, config.env("production"), sqlite_store)
    assert "HTTP 401" in caught.value.message
    assert "9876" not in caught.value.message and "WRONGKEY" not in caught.value.message


def test_unreachable_or_plain_http_pagerduty_is_an_error(
    tmp_path: Path, ca: trustme.CA, sqlite_store: Store
) -> None:
    """Nobody listening, or an http:// base URL, is an IntegrationError: the gate cannot guess."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = _config(tmp_path, ca, f"https://127.0.0.1:{port}")
    with pytest.raises(IntegrationError, match="list incidents"):
        active_incidents(config, config.env("production"), sqlite_store)
    plain = _config(tmp_path, ca, f"http://127.0.0.1:{port}")
    with pytest.raises(IntegrationError, match="https"):
        active_incidents(plain, plain.env("production"), sqlite_store)


def test_requests_carry_the_documented_headers(
    tmp_path: Path, ca: trustme.CA, server: PagerDutyServer
) -> None:
    """Requests send the token header and the v2 Accept header (the server refuses others)."""
    config = _config(tmp_path, ca, server.url)
    settings = config.env("production").integrations.incidents.pagerduty
    assert settings is not None
    client = pagerduty.pagerduty_client(config, settings, key="incidents.pagerduty")
    pagerduty.check_token(client)
    client.close()
    [request] = server.requests
    assert request.headers["authorization"] == f"Token token={KEY}"
    assert request.headers["accept"] == "application/vnd.pagerduty+json;version=2"


def test_missing_ca_bundle_is_a_configuration_error(
    tmp_path: Path, ca: trustme.CA, sqlite_store: Store
) -> None:
    """A ca_bundle that cannot be read is bad input naming the key, not a crash."""
    config = _config(tmp_path, ca, "https://127.0.0.1:1")
    (tmp_path / "test-ca.pem").unlink()
    with pytest.raises(ConfigError, match=r"incidents\.pagerduty\.ca_bundle"):
        active_incidents(config, config.env("production"), sqlite_store)
