"""No leftovers: a killed backup's password file and partial dump, SQLite's side files."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
from pathlib import Path

import psycopg

from tests.support.postgres_server import PostgresServer, query_running
from tests.support.project import Project, fake_project
from tests.support.waiting import wait_until

V001 = "CREATE TABLE rewards (id INTEGER PRIMARY KEY, points INTEGER NOT NULL);\n"


def _migration(project: Project) -> None:
    folder = project.root / "packages" / "1.1.0" / "migrations"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "V001__add_rewards_table.sql").write_text(V001)


def _backup_dir(project: Project) -> Path:
    return project.root / ".turnout" / "backups" / project.env


def test_kill_during_a_postgresql_backup_then_resume_leaves_nothing(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """SIGKILL while pg_dump runs: `resume` removes the password folder and the partial
    dump the killed run left, takes its own backup and finishes; nothing is left behind."""
    dbname = postgres.create_database("leftovers_kill")
    extra = (
        f'\n[database]\nurl = "{postgres.url_without_password(dbname)}"\n'
        'password = "env:TURNOUT_TEST_DB_PASSWORD"\n'
    )
    project = fake_project(tmp_path / "project", extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    _migration(project)
    temp = tmp_path / "tmp"  # the runs' own temporary directory, to see what stays in it
    temp.mkdir()
    environ = {"TMPDIR": str(temp), "TURNOUT_TEST_DB_PASSWORD": postgres.password}
    with psycopg.connect(postgres.dsn(dbname), autocommit=True) as pg:
        pg.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        pg.execute("INSERT INTO users VALUES (1, 'ann')")
    # An app's transaction holds the table: pg_dump waits for it, mid-backup.
    holder = psycopg.connect(postgres.dsn(dbname))
    holder.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
    proc = subprocess.Popen(
        project.command("deploy", "--env", project.env, "--version", "1.1.0", "--yes"),
        env={**os.environ, "TURNOUT_USER": "tester", **environ},
        cwd=project.root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with psycopg.connect(postgres.dsn(dbname), autocommit=True) as watch:
            wait_until(lambda: query_running(watch, "LOCK TABLE public.users"), timeout=60)
        assert [p.name.startswith(f"turnout-pg-{proc.pid}-") for p in temp.iterdir()] == [True]
        partial = [p.name for p in _backup_dir(project).iterdir()]
        assert len(partial) == 1 and partial[0].endswith(f".{proc.pid}.partial"), partial
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        holder.rollback()
        holder.close()
    assert any(temp.iterdir()), "the killed run left its password folder"
    resumed = project.turnout("resume", "--env", project.env, env=environ)
    assert resumed.returncode == 0, resumed.stderr
    assert project.slots()["production"] == "1.1.0"
    assert list(temp.iterdir()) == []
    left = sorted(p.name for p in _backup_dir(project).iterdir())
    assert len(left) == 1 and left[0].endswith(".dump"), left
    assert postgres.password not in resumed.stdout + resumed.stderr


def test_sqlite_backup_of_a_wal_database_leaves_no_side_files(tmp_path: Path) -> None:
    """Backing up an app database in WAL mode leaves only the backup file in the folder."""
    project = fake_project(tmp_path, extra='\n[database]\nurl = "sqlite:///app.db"\n')
    project.set_slots({"production": "1.0.0", "blue": None})
    conn = sqlite3.connect(tmp_path / "app.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE users (id INTEGER PRIMARY KEY)")
    conn.commit()
    _migration(project)
    done = project.turnout("deploy", "--env", project.env, "--version", "1.1.0", "--yes")
    conn.close()
    assert done.returncode == 0, done.stderr
    left = sorted(p.name for p in _backup_dir(project).iterdir())
    assert len(left) == 1 and left[0].endswith(".sqlite3"), left
    restored = project.turnout("db", "restore", "--env", project.env, "--yes")
    assert restored.returncode == 0, restored.stderr
    assert sorted(p.name for p in _backup_dir(project).iterdir()) == left
