"""An emergency deployment's post-mortem shows in status and history until it is closed."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.project import fake_project

PEOPLE = """
[[people]]
name = "vera"
roles = ["vp-engineering"]
"""


def test_postmortem_shows_until_closed(tmp_path: Path) -> None:
    """Approved emergency: deployed, post-mortem open in status and history, gone once closed."""
    project = fake_project(tmp_path, extra=PEOPLE)
    project.set_slots({"production": "1.0.0", "blue": None})
    waiting = project.turnout(
        "deploy",
        "--env",
        project.env,
        "--version",
        "1.1.0",
        "--yes",
        "--emergency",
        "--reason",
        "payments down",
    )
    assert waiting.returncode == 3, waiting.stderr
    assert "vp-engineering" in waiting.stderr
    approved = project.turnout("approve", "1", "--as", "vera")
    assert approved.returncode == 0, approved.stderr
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr

    history = json.loads(project.read("history", "--json").stdout)["deployments"]
    assert history[0]["failure"] is None  # the wait for approval is not a failure
    postmortem = history[0]["postmortem_open"]
    assert isinstance(postmortem, int)
    status = json.loads(project.read("status", "--env", project.env, "--json").stdout)
    assert [p["id"] for p in status["postmortems_open"]] == [postmortem]
    assert "post-mortem" in project.read("history").stderr

    closed = project.turnout(
        "postmortem",
        "close",
        str(postmortem),
        "--link",
        "https://wiki.example/pm/1",
        "--as",
        "vera",
    )
    assert closed.returncode == 0, closed.stderr
    history = json.loads(project.read("history", "--json").stdout)["deployments"]
    assert history[0]["postmortem_open"] is None
    status = json.loads(project.read("status", "--env", project.env, "--json").stdout)
    assert status["postmortems_open"] == []
