"""turnout.api.history: past deployments newest first, the same as `turnout history --json`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import TurnoutError


def test_history_lists_deployments_newest_first(tmp_path: Path) -> None:
    """Two deployments: the newest first, each without its journal; to_dict as the CLI's."""
    project = fake_project(tmp_path)
    project.set_slots({"production": None, "blue": None})
    for version in ("1.0.0", "1.1.0"):
        done = project.turnout("deploy", "--env", "web", "--version", version, "--yes")
        assert done.returncode == 0, done.stderr
    result = api.history("web", config=project.config)
    assert [row["version"] for row in result.deployments] == ["1.1.0", "1.0.0"]
    assert all("steps" not in row for row in result.deployments)
    printed = project.turnout("history", "--json")
    assert json.loads(json.dumps(result.to_dict())) == json.loads(printed.stdout)
    assert len(api.history(None, limit=1, config=project.config).deployments) == 1


def test_history_of_an_unknown_environment_is_bad_input(tmp_path: Path) -> None:
    """An environment the configuration does not name is refused as bad input (exit 2)."""
    project = fake_project(tmp_path)
    with pytest.raises(TurnoutError) as caught:
        api.history("nowhere", config=project.config)
    assert caught.value.exit_code == 2
