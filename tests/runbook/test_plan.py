"""`plan --check` for CI, and window verdicts that are shown but not enforced (the starter)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.support.project import fake_project
from turnout.config import load_config

# A freeze over every date the tests can run on: the window verdict is "frozen".
FROZEN = {
    "TURNOUT__POLICY__FREEZES__PERIODS": '[{name = "test freeze", start = 2000-01-01,'
    " end = 2999-12-31}]"
}
ENFORCED = {**FROZEN, "TURNOUT__POLICY__ENFORCE_WINDOW": "true"}


def test_plan_check_exits_3_when_the_deployment_would_be_refused(tmp_path: Path) -> None:
    """With --check, plan exits 3 under an enforced freeze and 0 when it is only shown."""
    project = fake_project(tmp_path / "p")
    refused = project.read("plan", "--env", "web", "--version", "1.0.0", "--check", env=ENFORCED)
    assert refused.returncode == 3, refused.stderr
    assert "deploy would be refused now" in refused.stderr

    without_check = project.read("plan", "--env", "web", "--version", "1.0.0", env=ENFORCED)
    assert without_check.returncode == 0, without_check.stderr

    shown = project.read(
        "plan", "--env", "web", "--version", "1.0.0", "--check", "--json", env=FROZEN
    )
    assert shown.returncode == 0, shown.stderr
    document = json.loads(shown.stdout)
    assert document["would_proceed"] is True and document["window_enforced"] is False
    human = project.read("plan", "--env", "web", "--version", "1.0.0", env=FROZEN)
    assert "the window verdict is shown, not enforced, on web" in human.stderr


def _turnout(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "turnout", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_starter_staging_shows_the_window_without_enforcing_it(tmp_path: Path) -> None:
    """`turnout init`'s staging shows a frozen verdict as not enforced; production enforces."""
    target = tmp_path / "starter"
    done = _turnout("init", str(target))
    assert done.returncode == 0, done.stderr
    config = load_config(target / "turnout.toml", environ={})
    assert config.env("staging").policy.enforce_window is False
    assert config.env("production").policy.enforce_window is True

    starter = ["--config", str(target / "turnout.toml")]
    staging = _turnout("window", "--env", "staging", *starter, env=FROZEN)
    assert staging.returncode == 0, staging.stderr
    assert "frozen" in staging.stderr
    assert "shown, not enforced" in staging.stderr
    production = _turnout("window", "--env", "production", *starter, env=FROZEN)
    assert "not enforced" not in production.stderr
