"""The database phase inside real `turnout deploy` / `turnout resume` runs (fake target)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from tests.support.database_dump import sqlite_dump
from tests.support.postgres_server import PostgresServer, query_running
from tests.support.project import Project, fake_project
from tests.support.waiting import wait_until
from turnout.store import Store

V001 = "CREATE TABLE rewards (id INTEGER PRIMARY KEY, points INTEGER NOT NULL);\n"
V001 += "INSERT INTO rewards VALUES (1, 10);\n"
V002 = "ALTER TABLE users ADD COLUMN tier VARCHAR(20);\nUPDATE users SET tier = 'gold';\n"
VERIFY = "SELECT count(*) = 1 FROM rewards;\n"


def _sqlite_project(root: Path) -> Project:
    project = fake_project(root, extra='\n[database]\nurl = "sqlite:///app.db"\n')
    conn = sqlite3.connect(root / "app.db")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO users VALUES (1, 'ann'), (2, 'bo;b')")
    conn.commit()
    conn.close()
    project.set_slots({"production": "1.0.0", "blue": None})
    return project


def _migrations(project: Project, files: dict[str, str]) -> None:
    folder = project.root / "packages" / "1.1.0" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def _dump(project: Project) -> list[str]:
    return sqlite_dump(project.root / "app.db")


def _journal(project: Project) -> dict[str, str]:
    store = Store.open(project.root / ".turnout")
    try:
        latest = store.deployments(project.env)[0]
        return {row.name: row.status for row in store.steps(latest.id)}
    finally:
        store.close()


def _deploy(project: Project, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    return project.turnout(
        "deploy", "--env", project.env, "--version", "1.1.0", "--yes", kill_at=kill_at
    )


def test_failed_migration_stops_before_the_swap(tmp_path: Path) -> None:
    """A broken second file: exit 4, production untouched, database identical, message precise."""
    project = _sqlite_project(tmp_path)
    _migrations(
        project, {"V001__add_rewards_table.sql": V001, "V002__tiers.sql": V002 + "SELEC 1;\n"}
    )
    before = _dump(project)
    result = _deploy(project)
    assert result.returncode == 4, result.stderr
    assert "V002__tiers.sql: statement 3 (line 3) `SELEC 1`" in result.stderr
    assert "restored from backup" in result.stderr
    assert project.slots()["production"] == "1.0.0"
    assert _dump(project) == before
    journal = _journal(project)
    # The failed migration restored the backup itself; compensation then found nothing left.
    assert journal["migrate"] == "undone" and journal["swap"] == "pending"


@pytest.mark.parametrize("point", ["after:backup", "after:migrate"])
def test_killed_deploy_resumes_to_migrated_and_verified(tmp_path: Path, point: str) -> None:
    """Killed around the migration, `turnout resume` ends migrated, verified and swapped."""
    project = _sqlite_project(tmp_path)
    _migrations(
        project,
        {"V001__add_rewards_table.sql": V001, "V002__tiers.sql": V002, "verify.sql": VERIFY},
    )
    killed = _deploy(project, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots()["production"] == "1.1.0"
    journal = _journal(project)
    assert journal["migrate"] == journal["verify-db"] == "succeeded"
    conn = sqlite3.connect(project.root / "app.db")
    versions = conn.execute('SELECT version FROM "__MigrationHistory" ORDER BY 1').fetchall()
    conn.close()
    assert versions == [("1",), ("2",)]
    store = Store.open(project.root / ".turnout")
    try:
        assert len(store.backups(project.env)) == 1  # the resumed run reused the verified backup
    finally:
        store.close()


def test_killed_compensation_restores_the_database(tmp_path: Path) -> None:
    """verify-db fails, turnout dies while undoing migrate; resume restores the exact old data."""
    project = _sqlite_project(tmp_path)
    failing = "SELECT count(*) = 2 FROM rewards;\n"
    _migrations(project, {"V001__add_rewards_table.sql": V001, "verify.sql": failing})
    before = _dump(project)
    killed = _deploy(project, "undo:migrate")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = project.turnout("resume", "--env", project.env)
    assert resumed.returncode == 4, resumed.stderr
    assert _dump(project) == before
    assert project.slots()["production"] == "1.0.0"
    assert _journal(project)["migrate"] == "undone"


def test_kill_inside_a_migration_then_resume(postgres: PostgresServer, tmp_path: Path) -> None:
    """SIGKILL while the 2nd file runs on PostgreSQL: nothing of it stays; resume completes it."""
    dbname = postgres.create_database("deploy_kill")
    extra = (
        f'\n[database]\nurl = "{postgres.url_without_password(dbname)}"\n'
        'password = "env:TURNOUT_TEST_DB_PASSWORD"\n'
    )
    project = fake_project(tmp_path, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    with psycopg.connect(postgres.dsn(dbname), autocommit=True) as pg:
        pg.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        pg.execute("INSERT INTO users VALUES (1, 'ann')")
        pg.execute("CREATE TABLE slow_marker (x int)")
    # Slow only while the marker table exists, so the resumed run is quick.
    slow = (
        "SELECT pg_sleep(CASE WHEN to_regclass('public.slow_marker') IS NULL THEN 0 ELSE 60 END);\n"
    )
    _migrations(
        project,
        {"V001__add_rewards_table.sql": V001, "V002__tiers.sql": V002 + slow, "verify.sql": VERIFY},
    )
    environ = {
        **os.environ,
        "TURNOUT_USER": "tester",
        "TURNOUT_TEST_DB_PASSWORD": postgres.password,
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "turnout",
            "deploy",
            "--env",
            project.env,
            "--version",
            "1.1.0",
            "--yes",
            "--config",
            str(project.config),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=environ,
        cwd=project.root,
    )
    with psycopg.connect(postgres.dsn(dbname), autocommit=True) as pg:
        wait_until(lambda: query_running(pg, "pg_sleep"))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        # The killed client's backend would sleep on; the server ends it (its transaction aborts).
        pg.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE query LIKE '%pg_sleep(CASE%' AND pid <> pg_backend_pid()"
        )
        wait_until(lambda: not query_running(pg, "pg_sleep(CASE"))
        columns = pg.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'users'"
        ).fetchall()
        assert ("tier",) not in columns
        versions = pg.execute('SELECT version FROM "__MigrationHistory" ORDER BY 1').fetchall()
        assert versions == [("1",)]
        pg.execute("DROP TABLE slow_marker")
    resumed = project.turnout(
        "resume", "--env", project.env, env={"TURNOUT_TEST_DB_PASSWORD": postgres.password}
    )
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots()["production"] == "1.1.0"
    assert postgres.password not in resumed.stderr + resumed.stdout
