"""`turnout status` after a failure says in words what happened and where, with readable
evidence lines (the real command, on the file-backed fake target)."""

from __future__ import annotations

from pathlib import Path

from tests.support.project import fake_project

# 1.1.0 passes its smoke tests in the slot but fails production's health checks.
HEALTH = {"TURNOUT__CHECKS__HEALTH": '[{path = "/health", expect_json = {version = "1.0.0"}}]'}


def test_status_after_a_rollback_says_production_was_rolled_back(tmp_path: Path) -> None:
    """After a failed verification: the rollback sentence, the failing step, evidence lines."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    failed = project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes", env=HEALTH)
    assert failed.returncode == 4, failed.stderr
    status = project.read("status", "--env", "web")
    assert status.returncode == 0, status.stderr
    text = status.stdout + status.stderr
    assert "web was rolled back to 1.0.0 at" in text and "1.1.0 failed at verify" in text
    assert "failed at step verify: health checks on production failed" in text
    evidence = text.split("evidence:")[1]
    assert "check http" in evidence and "FAILED" in evidence
    assert "{'" not in text  # no Python dict on screen


def test_status_after_a_manual_rollback_names_who_and_to_what(tmp_path: Path) -> None:
    """`turnout rollback --as sam` is told as "web was rolled back to 1.0.0 by sam at …"."""
    project = fake_project(tmp_path)
    project.set_slots({"production": "1.0.0", "blue": None})
    assert project.turnout("deploy", "--env", "web", "--version", "1.1.0", "--yes").returncode == 0
    back = project.turnout("rollback", "--env", "web", "--as", "sam", "--reason", "slow pages")
    assert back.returncode == 0, back.stderr
    status = project.read("status", "--env", "web")
    text = status.stdout + status.stderr
    assert "web was rolled back to 1.0.0 by sam at" in text and "(slow pages)" in text
    history = project.read("history", "--env", "web")
    assert "rolled back later" in history.stdout + history.stderr
