"""turnout.api.rollback: production back on the warm previous version, verified."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput


def test_rollback_swaps_back_and_says_from_what_to_what(tmp_path: Path) -> None:
    """After 1.0.0 then 1.1.0, a rollback puts 1.0.0 back in production."""
    project = fake_project(tmp_path)
    project.set_slots({"production": None, "blue": None})
    for version in ("1.0.0", "1.1.0"):
        assert api.deploy("web", version, config=project.config, actor="tester").exit_code == 0
    result = api.rollback("web", reason="test", config=project.config, actor="tester")
    assert (result.from_version, result.to) == ("1.1.0", "1.0.0")
    assert project.slots()["production"] == "1.0.0"
    assert result.to_dict()["from"] == "1.1.0" and "production back on 1.0.0" in result.summary


def test_rollback_to_a_version_not_warm_is_bad_input(tmp_path: Path) -> None:
    """`to` naming a version not in the staging slot is refused, nothing swapped."""
    project = fake_project(tmp_path)
    project.set_slots({"production": None, "blue": None})
    for version in ("1.0.0", "1.1.0"):
        assert api.deploy("web", version, config=project.config, actor="tester").exit_code == 0
    with pytest.raises(BadInput, match=r"0\.9\.0 is not warm"):
        api.rollback("web", to="0.9.0", config=project.config, actor="tester")
    assert project.slots()["production"] == "1.1.0"
