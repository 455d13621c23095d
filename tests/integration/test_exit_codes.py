"""Operational failures have operational exit codes: never 1 ("internal error") for a
condition the person can fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.local_fixtures import free_port
from tests.project import Project, fake_project

HUGE_ID = "12345678901234567890"


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A fake-target project with a second environment on a local slot host never started."""
    extra = (
        f'\n[environments.local]\ntarget = {{ kind = "local", address = "127.0.0.1:{free_port()}"'
        " }\n"
    )
    project = fake_project(tmp_path, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _no_internal_error(stderr: str) -> None:
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr


def test_unreachable_state_store_is_exit_3(project: Project) -> None:
    """A PostgreSQL state store nobody listens for: exit 3 saying it is unavailable."""
    url = f"postgresql+psycopg://turnout:secret@127.0.0.1:{free_port()}/turnout"
    done = project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes",
        env={"TURNOUT_STATE_URL": url},
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert "state database" in done.stderr and "unavailable" in done.stderr
    assert "secret" not in done.stderr
    _no_internal_error(done.stderr)


def test_slot_host_down_is_exit_3_saying_how_to_start_it(project: Project) -> None:
    """`turnout rollback` on a local target whose host is not running: exit 3 and the fix."""
    done = project.turnout("rollback", "--env", "local")
    assert done.returncode == 3, done.stderr
    assert "turnout host up --env local" in done.stderr
    _no_internal_error(done.stderr)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", HUGE_ID, "--as", "bob"], "out of range"),
        (["incident", "close", HUGE_ID], "out of range"),
        (["history", "--limit", HUGE_ID], "out of range"),
        (["window", "--env", "web", "--at", "9999-12-31T10:00"], "year 9999 is out of range"),
        (["report", "--env", "web", "--days", "99999999"], "--days"),
    ],
    ids=["approve-id", "incident-id", "history-limit", "window-year", "report-days"],
)
def test_out_of_range_arguments_are_bad_input(
    project: Project, args: list[str], message: str
) -> None:
    """A 20-digit id, a year 9999 or a century of days: exit 2 with a message, no traceback."""
    done = project.turnout(*args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr
    _no_internal_error(done.stderr)
