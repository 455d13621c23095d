"""`turnout plan`'s evidence budget: requests the limits need, time at live plus probe rate."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from turnout.analysis.budget import evidence_budget
from turnout.cli.main import main
from turnout.config import LoadedConfig, load_config

CONFIG = """
[app]
name = "shop"
package = "packages/{{version}}"

[analysis]
max_error_rate = {limit}
max_observation = {max_observation}
{extra}

[policy]
enforce_window = false

[environments.web]
target = {{ kind = "fake" }}
"""


def _config(
    tmp_path: Path, *, limit: float = 0.001, max_observation: float = 600, extra: str = ""
) -> LoadedConfig:
    path = tmp_path / "turnout.toml"
    path.write_text(CONFIG.format(limit=limit, max_observation=max_observation, extra=extra))
    return load_config(path)


def test_budget_names_the_requests_each_limit_needs(tmp_path: Path) -> None:
    """0.1 % needs about 10,600 requests and 1 % about 1,050; at the probe cap that is the time."""
    strict = evidence_budget(_config(tmp_path), _config(tmp_path).env("web"))
    assert strict is not None
    assert 10_000 < strict.requests_needed < 11_000
    assert strict.seconds == pytest.approx(strict.requests_needed / strict.probe_rps)
    assert strict.warning is None
    loose = _config(tmp_path, limit=0.01)
    budget = evidence_budget(loose, loose.env("web"))
    assert budget is not None and 1_000 < budget.requests_needed < 1_100


def test_budget_warns_when_max_observation_cannot_be_enough(tmp_path: Path) -> None:
    """Too short an observation, or no traffic at all, is a warning naming what would happen."""
    short = _config(tmp_path, max_observation=60)
    budget = evidence_budget(short, short.env("web"))
    assert budget is not None and budget.warning is not None
    assert "more than max_observation (60 s)" in budget.warning
    assert "held for a person" in budget.warning
    silent = _config(tmp_path, extra='undecided = "accept"\n[analysis.probe]\nmode = "off"')
    budget = evidence_budget(silent, silent.env("web"))
    assert budget is not None and budget.seconds is None
    assert budget.warning is not None and "accepted unproven" in budget.warning


def test_plan_prints_the_budget(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`turnout plan --json` carries the budget; the text output prints it."""
    _config(tmp_path, max_observation=60)
    (tmp_path / "packages" / "1.0.0").mkdir(parents=True)
    config = str(tmp_path / "turnout.toml")
    assert main(["plan", "--env", "web", "--version", "1.0.0", "--config", config, "--json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["evidence_budget"]["requests_needed"] > 10_000
    assert main(["plan", "--env", "web", "--version", "1.0.0", "--config", config]) == 0
    err = capsys.readouterr().err
    assert "evidence budget:" in err and "warning: at 150.0 rps" in err
