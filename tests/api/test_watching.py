"""turnout.api.watch: how a watch of production ends, as a typed result."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput


def test_a_watch_after_production_moved_on_is_superseded(tmp_path: Path) -> None:
    """Production runs another version than the deployment kept: nothing to watch."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    deployed = api.deploy("web", "1.1.0", config=project.config, actor="tester")
    assert deployed.exit_code == 0
    project.set_slots({"production": "1.0.0", "blue": "1.1.0"})
    result = api.watch("web", duration=5, config=project.config, actor="tester")
    assert (result.status, result.version, result.deployment) == (
        "superseded",
        "1.1.0",
        deployed.deployment_id,
    )
    document = result.to_dict()
    assert document["status"] == "superseded" and "verdict" not in document
    assert document["until"] == result.until and result.swapped_at is not None


def test_a_watch_without_any_deployment_is_bad_input(tmp_path: Path) -> None:
    """Nothing was deployed: bad input naming the environment, nothing changed."""
    project = fake_project(tmp_path)
    with pytest.raises(BadInput, match="web: no kept or held deployment to watch"):
        api.watch("web", config=project.config)
