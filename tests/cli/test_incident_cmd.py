"""`turnout incident`, `turnout doctor` and whole deployments with integrations."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme

from tests.fakes.github_server import GitHubServer
from tests.fakes.pagerduty_server import PagerDutyServer
from tests.fakes.webhook_server import WebhookServer, write_ca_bundle
from tests.support import github_rest
from tests.support.project import Project, fake_project
from turnout.cli.main import main

GH_TOKEN = "ghp_CLITOKEN777"
PD_KEY = "u+CLIPDKEY555"
HOOK_SECRET = "HOOKPATHSECRET"
# The fake target answers /health without a JSON body check; smoke and health checks off
# keep these tests about integrations.
NO_CHECKS = {"TURNOUT__CHECKS__SMOKE": "[]", "TURNOUT__CHECKS__HEALTH": "[]"}


def _dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def github() -> Iterator[GitHubServer]:
    """A GitHub server with the app repository."""
    server = GitHubServer(GH_TOKEN)
    server.add_repo("acme/shop")
    with server:
        yield server


@pytest.fixture
def webhook() -> Iterator[WebhookServer]:
    """A JSON webhook that accepts every message."""
    with WebhookServer() as server:
        yield server


def _project(tmp_path: Path, github: GitHubServer) -> Project:
    extra = f"""
[integrations.notify]
urls = ["env:HOOK_OK", "env:HOOK_DEAD", "env:HOOK_HANG"]
retries = 2
timeout = 2

[integrations.github]
token = "env:GH_TOKEN_CLI"
base_url = "{github.url}"
repository = "acme/shop"

[integrations.tracker]
kind = "github"
"""
    project = fake_project(tmp_path / "proj", extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _environ(webhook: WebhookServer, hang_port: int) -> dict[str, str]:
    return {
        **NO_CHECKS,
        "GH_TOKEN_CLI": GH_TOKEN,
        "HOOK_OK": f"json://127.0.0.1:{webhook.port}/{HOOK_SECRET}",
        "HOOK_DEAD": f"json://127.0.0.1:{_dead_port()}/{HOOK_SECRET}",
        "HOOK_HANG": f"json://127.0.0.1:{hang_port}/{HOOK_SECRET}",
    }


def _no_secret(*texts: str) -> None:
    for text in texts:
        for secret in (GH_TOKEN, PD_KEY, HOOK_SECRET):
            assert secret not in text


def test_dead_notification_endpoints_do_not_change_the_outcome(
    tmp_path: Path, github: GitHubServer, webhook: WebhookServer
) -> None:
    """With one dead and one hanging URL the deployment succeeds, in bounded time, tracked."""
    project = _project(tmp_path, github)
    with WebhookServer(mode="hang") as hanging:
        started = time.monotonic()
        done = project.turnout(
            "deploy",
            "--env",
            project.env,
            "--version",
            "1.1.0",
            "--yes",
            env=_environ(webhook, hanging.port),
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert project.slots()["production"] == "1.1.0"
    assert elapsed < 30
    titles = [m["title"] for m in webhook.received]
    # The project measures nothing (provider "none"), so the release is kept, not proven.
    assert titles == [
        "🚀 Web Deployment Starting",
        "⚠️ Web Deployment Complete, not proven healthy",
    ]
    issue = github_rest.issues(github, "acme/shop")[1]
    assert issue["title"].startswith("Web Deployment - ")
    assert [label["name"] for label in issue["labels"]] == ["deployment", "web"]
    assert issue["state"] == "closed" and issue["state_reason"] == "completed"
    log = (project.root / "deployments.log").read_text().splitlines()
    # The runbook's line, then the audit chain's head it anchors.
    assert len(log) == 1 and " - v1.1.0 deployed to web [audit " in log[0]
    _no_secret(done.stdout, done.stderr, github.bodies_text(), webhook.bodies_text())


def test_active_incident_freezes_before_anything_is_announced(
    tmp_path: Path, github: GitHubServer, webhook: WebhookServer
) -> None:
    """An open local incident refuses the deployment at the gates: nothing announced or opened."""
    project = _project(tmp_path, github)
    environ = _environ(webhook, _dead_port())
    opened = project.turnout("incident", "open", "checkout errors", "--env", project.env, "--json")
    assert opened.returncode == 0, opened.stderr
    incident = json.loads(opened.stdout)
    refused = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env=environ
    )
    assert "checkout errors" in refused.stderr
    assert project.slots()["production"] == "1.0.0"
    assert webhook.received == []
    assert github_rest.issues(github, "acme/shop") == {}
    closed = project.turnout("incident", "close", str(incident["id"]))
    assert closed.returncode == 0, closed.stderr
    again = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", env=environ
    )
    assert again.returncode == 0, again.stderr
    assert project.slots()["production"] == "1.1.0"


def _cli(project: Project, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--config", str(project.config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_incident_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """incident open, list (JSON) and close; closing twice or an unknown environment is exit 2."""
    monkeypatch.setenv("TURNOUT_USER", "tester")
    project = fake_project(tmp_path / "proj")
    assert _cli(project, capsys, "incident", "open", "db down", "--env", "web")[0] == 0
    assert _cli(project, capsys, "incident", "open", "all regions", "--as", "carol")[0] == 0
    rows = json.loads(_cli(project, capsys, "incident", "list", "--json")[1])["incidents"]
    assert [(r["title"], r["environment"], r["active"]) for r in rows] == [
        ("all regions", None, True),
        ("db down", "web", True),
    ]
    assert rows[0]["opened_by"] == "carol" and rows[1]["opened_by"] == "tester"
    assert _cli(project, capsys, "incident", "close", rows[1]["id"])[0] == 0
    code, _, err = _cli(project, capsys, "incident", "close", rows[1]["id"])
    assert code == 2 and "no open incident" in err
    code, _, err = _cli(project, capsys, "incident", "open", "x", "--env", "nope")
    assert code == 2 and "nope" in err
    active = json.loads(_cli(project, capsys, "incident", "list", "--active", "--json")[1])
    assert [r["title"] for r in active["incidents"]] == ["all regions"]
    _, _, human = _cli(project, capsys, "incident", "list")
    assert "[all]" in human and "OPEN" in human


def test_doctor_probes_every_configured_integration(
    tmp_path: Path, github: GitHubServer, webhook: WebhookServer
) -> None:
    """doctor checks store, target, URLs, GitHub, PagerDuty and git; all pass here (exit 0)."""
    ca = trustme.CA()
    with PagerDutyServer(ca, PD_KEY) as pd:
        project = _project(tmp_path, github)
        bundle = write_ca_bundle(ca, project.root)
        with project.config.open("a") as handle:
            handle.write(
                f'\n[integrations.incidents.pagerduty]\ntoken = "env:PD_KEY_CLI"\n'
                f'base_url = "{pd.url}"\nca_bundle = "{bundle.name}"\n'
            )
        subprocess.run(["git", "init", "-q", str(project.root)], check=True)
        environ = {
            **_environ(webhook, _dead_port()),
            "PD_KEY_CLI": PD_KEY,
            "TURNOUT__INTEGRATIONS__VCS__TAG": "true",
        }
        done = project.turnout("doctor", "--env", project.env, "--json", env=environ)
        assert done.returncode == 0, done.stdout + done.stderr
        report = json.loads(done.stdout)
        names = [probe["name"] for probe in report["probes"]]
        assert names == [
            "state store",
            "target",
            "notify.urls[0]",
            "notify.urls[1]",
            "notify.urls[2]",
            "github token",
            "pagerduty token",
            "git repository",
        ]
        assert all(probe["ok"] for probe in report["probes"])
        assert webhook.received == []  # probing never sends
        _no_secret(done.stdout, done.stderr)


def test_doctor_reports_each_failure_on_its_line(
    tmp_path: Path, github: GitHubServer, webhook: WebhookServer
) -> None:
    """A missing secret and a refused token each fail their own probe; exit 3."""
    project = _project(tmp_path, github)
    environ = {**_environ(webhook, _dead_port()), "GH_TOKEN_CLI": "ghp_WRONGWRONG"}
    environ.pop("HOOK_DEAD")
    done = project.turnout("doctor", "--env", project.env, env=environ)
    assert done.returncode == 3
    lines = done.stderr.splitlines()
    assert any("FAIL notify.urls[1]" in line and "HOOK_DEAD" in line for line in lines)
    assert any("FAIL github token" in line and "401" in line for line in lines)
    assert any(line.startswith("ok   notify.urls[0]") for line in lines)
    assert "WRONGWRONG" not in done.stderr
