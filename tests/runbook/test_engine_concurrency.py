"""Concurrent `turnout deploy` processes on one environment: exactly one proceeds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.postgres_server import PostgresServer
from tests.support.project import fake_project
from tests.support.waiting import wait_until


def _race(
    count: int, tmp_path: Path, state_url: str | None
) -> list[subprocess.CompletedProcess[str]]:
    # The winner's E2E command (run while it holds the lock) waits until every other process
    # has ended: the race is decided by the lock alone, however slow the machine.
    go = tmp_path / "every-other-deploy-ended"
    project = fake_project(
        tmp_path,
        extra=f"\n[checks]\ne2e_command = \"until [ -e '{go}' ]; do sleep 0.05; done\"\n",
    )
    project.set_slots({"production": "1.0.0", "blue": None})
    extra = {"TURNOUT_USER": "racer", **({"TURNOUT_STATE_URL": state_url} if state_url else {})}
    # Create the schema once so the race is about the lock, not about first use.
    assert project.turnout("history", env=extra).returncode == 0
    args = ("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    procs = [project.start(*args, env=extra) for _ in range(count)]
    try:
        wait_until(lambda: sum(p.poll() is not None for p in procs) >= count - 1, 150)
    finally:
        go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def _assert_one_proceeds(results: list[subprocess.CompletedProcess[str]]) -> None:
    codes = sorted(r.returncode for r in results)
    assert codes == [0] + [3] * (len(results) - 1), [
        (r.returncode, r.stderr[-300:]) for r in results
    ]
    for refused in (r for r in results if r.returncode == 3):
        text = refused.stderr.replace("\n", " ")
        assert "is locked by racer@" in text and "since" in text


@pytest.mark.parametrize("count", [2, 10])
def test_concurrent_deploys_on_sqlite(count: int, tmp_path: Path) -> None:
    """Of N simultaneous deploys on SQLite, one succeeds and the rest exit 3 naming the holder."""
    _assert_one_proceeds(_race(count, tmp_path, None))


@pytest.mark.parametrize("count", [2, 10])
def test_concurrent_deploys_on_postgresql(
    count: int, tmp_path: Path, postgres: PostgresServer, pg_database: str
) -> None:
    """Of N simultaneous deploys on PostgreSQL, one succeeds and the rest exit 3."""
    _assert_one_proceeds(_race(count, tmp_path, postgres.url(pg_database)))
