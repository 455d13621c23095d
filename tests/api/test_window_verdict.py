"""turnout.api.window: the window verdict for an instant, typed, with the CLI's document."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.support.project import fake_project
from turnout import api
from turnout.errors import BadInput


def test_window_on_a_saturday_is_avoid_and_names_the_next_best(tmp_path: Path) -> None:
    """A weekend instant is 'avoid', with the next best start on a weekday; not enforced here."""
    project = fake_project(tmp_path)
    result = api.window("web", at="2026-11-07T11:00", config=project.config)
    assert result.verdict.kind.value == "avoid"
    assert result.enforced is False
    assert result.verdict.next_best is not None and result.verdict.next_best.weekday() in {1, 2, 3}
    printed = project.turnout("window", "--env", "web", "--at", "2026-11-07T11:00", "--json")
    assert json.loads(json.dumps(result.to_dict())) == json.loads(printed.stdout)


def test_window_takes_a_datetime_and_refuses_a_year_out_of_range(tmp_path: Path) -> None:
    """A datetime is judged like its ISO text; year 1800 is bad input naming --at."""
    project = fake_project(tmp_path)
    as_text = api.window("web", at="2026-11-17T10:30", config=project.config)
    as_datetime = api.window("web", at=datetime(2026, 11, 17, 10, 30), config=project.config)
    assert as_text.to_dict() == as_datetime.to_dict()
    with pytest.raises(BadInput, match="--at: year 1800"):
        api.window("web", at=datetime(1800, 1, 1), config=project.config)
