"""The policy commands as a user runs them: window, approve, attest, postmortem; plan gates."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.policy_project import BEST_TIME, PolicyProject, clean_sarif, make_project
from turnout.cli.main import main
from turnout.model import DeploymentInfo, DeploymentType
from turnout.policy import evaluate_gates, record_attestation


@pytest.fixture
def project(tmp_path: Path) -> Iterator[PolicyProject]:
    """A project with staging and production on the fake target, clock on a best window."""
    made = make_project(tmp_path / "shop")
    try:
        yield made
    finally:
        made.store.close()


@dataclass
class Ran:
    """Exit code and output of one command run in this process."""

    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(
    project: PolicyProject, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., Ran]:
    """Run `turnout ARGS --config ...` in this process (quicker than a subprocess)."""
    monkeypatch.setenv("TURNOUT_USER", "dana")

    def run(*args: str) -> Ran:
        capsys.readouterr()
        code = main([*args, "--config", str(project.root / "turnout.toml")])
        out = capsys.readouterr()
        return Ran(code, out.out, out.err)

    return run


def turnout(project: PolicyProject, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the real command in a subprocess against the project."""
    environ = {**os.environ, "TURNOUT_USER": "dana"}
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args, "--config", str(project.root / "turnout.toml")],
        capture_output=True,
        text=True,
        env=environ,
        cwd=project.root,
        timeout=60,
        check=False,
    )


def _waiting_deployment(project: PolicyProject) -> int:
    project.record_verified("staging", "1.1.0")
    project.write_sarif("1.1.0", clean_sarif())
    for item in ("code_reviewed", "change_notification"):
        record_attestation(project.store, "production", "1.1.0", item, "sam")
    result = project.deploy("production", "1.1.0")
    assert result.exit_code == 3 and "waits for approval" in result.message
    return result.deployment_id


def test_window_command_prints_verdict_rules_and_next_starts(project: PolicyProject) -> None:
    """`turnout window --at` gives the verdict, the rules that fired and the next windows."""
    done = turnout(project, "window", "--env", "production", "--at", "2026-11-20T14:00", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["verdict"] == "avoid" and doc["timezone"] == "America/Los_Angeles"
    assert {r["rule"] for r in doc["rules"]} == {"avoid.time", "acceptable"}
    # The Monday after is in Thanksgiving week: the next windows open on 1 December.
    assert doc["next_acceptable"] == "2026-12-01T09:00:00-08:00"
    assert doc["next_best"] == "2026-12-01T10:00:00-08:00"
    human = turnout(project, "window", "--env", "production", "--at", "2026-11-26T18:00:00Z")
    assert human.returncode == 0
    assert "frozen" in human.stderr and "Black Friday / Cyber Monday week" in human.stderr
    assert "next best: Tue 2026-12-01 10:00 PST" in human.stderr


def test_window_command_bad_input_exits_2(project: PolicyProject, cli: Callable[..., Ran]) -> None:
    """An unreadable --at or an unknown environment is bad input (exit 2), one line."""
    bad_time = cli("window", "--env", "production", "--at", "next tuesday")
    assert bad_time.returncode == 2 and "--at" in bad_time.stderr
    assert "Traceback" not in bad_time.stderr
    bad_env = cli("window", "--env", "prod")
    assert bad_env.returncode == 2 and "no such environment" in bad_env.stderr


def test_approve_command_refusals_and_success(
    project: PolicyProject, cli: Callable[..., Ran]
) -> None:
    """approve refuses self (3), unknown people (2) and wrong roles (3); sam's approval counts."""
    dep = str(_waiting_deployment(project))
    own = cli("approve", dep, "--as", "dana")
    assert own.returncode == 3 and "own deployment" in own.stderr
    unknown = cli("approve", dep, "--as", "mallory")
    assert unknown.returncode == 2 and "not in `people`" in unknown.stderr
    vp = cli("approve", dep, "--as", "vic")
    assert vp.returncode == 3 and "senior-engineer" in vp.stderr and "may approve: sam" in vp.stderr
    missing = cli("approve", "999", "--as", "sam")
    assert missing.returncode == 2 and "no deployment 999" in missing.stderr
    ok = cli("approve", dep, "--as", "sam", "--comment", "ship it", "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["role"] == "senior-engineer"
    rows = [
        (r.actor, r.action)
        for r in project.store.audit_log(deployment_id=int(dep))
        if r.action.startswith("approval.")
    ]
    assert ("sam", "approval.recorded") in rows
    assert {("dana", "approval.refused"), ("vic", "approval.refused")} <= set(rows)
    assert project.store.verify_audit() is None


def test_attest_command(project: PolicyProject, cli: Callable[..., Ran]) -> None:
    """attest records an item for a release; unknown items and people are bad input."""
    done = cli(
        "attest",
        "code-reviewed",
        "--env",
        "production",
        "--version",
        "1.1.0",
        "--as",
        "sam",
        "--note",
        "PR #31",
        "--json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["by"] == "sam"
    assert project.store.get("attestation:production:1.1.0:code_reviewed") is not None
    bogus = cli("attest", "vibes", "--env", "production", "--version", "1.1.0")
    assert bogus.returncode == 2 and "no checklist item" in bogus.stderr
    stranger = cli(
        "attest",
        "code-reviewed",
        "--env",
        "production",
        "--version",
        "1.1.0",
        "--as",
        "mallory",
    )
    assert stranger.returncode == 2


def test_postmortem_list_and_close(project: PolicyProject, cli: Callable[..., Ran]) -> None:
    """Post-mortems are listed while open and closed with a link (audited)."""
    dep = project.record_verified("production", "1.1.0")
    opened = project.store.open_postmortem(dep, "production", "payments failing")
    listed = cli("postmortem", "list", "--open", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [p["id"] for p in json.loads(listed.stdout)] == [opened.id]
    bad_link = cli("postmortem", "close", str(opened.id), "--link", "wiki page")
    assert bad_link.returncode == 2
    link = "https://wiki.example/pm/1"
    closed = cli("postmortem", "close", str(opened.id), "--link", link, "--as", "vic")
    assert closed.returncode == 0, closed.stderr
    again = cli("postmortem", "close", str(opened.id), "--link", link)
    assert again.returncode == 2 and "already closed" in again.stderr
    assert project.store.postmortems(open_only=True) == []
    audit = [r for r in project.store.audit_log() if r.action == "postmortem.closed"]
    assert audit[0].actor == "vic" and audit[0].details["link"] == link


def test_evaluate_gates_for_plan(project: PolicyProject, cli: Callable[..., Ran]) -> None:
    """evaluate_gates lists nine checklist items, the window and the approval needs."""
    info = DeploymentInfo(
        id=1,
        environment="production",
        version="1.1.0",
        type=DeploymentType.APP,
        deployer="dana",
        created_at=BEST_TIME,
        package=project.root / "packages" / "1.1.0",
        previous_version="1.0.0",
    )
    env = project.config.env("production")
    gates = evaluate_gates(project.config, env, project.store, info, at=BEST_TIME)
    assert [g.gate for g in gates] == ["checklist"] * 9 + ["window", "approval"]
    by_item = {g.item: g for g in gates}
    assert by_item["staging_tested"].blocking
    assert by_item["window"].verdict == "best" and by_item["window"].ok
    approval = by_item["approval"]
    assert approval.verdict == "waiting" and "may approve: sam" in approval.summary
    assert json.loads(json.dumps([g.to_dict() for g in gates]))
    emergency = evaluate_gates(
        project.config,
        env,
        project.store,
        DeploymentInfo(**{**info.__dict__, "emergency": True, "reason": "outage"}),
        at=BEST_TIME,
    )
    assert "vp-engineering or director" in emergency[-1].summary
    assert project.store.audit_log() == []  # a dry run writes nothing
