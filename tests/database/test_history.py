"""The migration history table's name and schema follow the configuration."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.support.postgres_server import PostgresServer
from tests.support.project import Project, fake_project

V001 = "CREATE TABLE rewards (id INTEGER PRIMARY KEY);\n"
V002 = "ALTER TABLE rewards ADD COLUMN points INTEGER;\n"


def _release(project: Project, version: str, files: dict[str, str]) -> None:
    folder = project.add_package(version) / "migrations"
    folder.mkdir(exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)


def test_postgresql_history_lives_in_the_configured_schema(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """history_schema/history_table put the history in `turnout.applied`, created with the
    first migration and read back by the next release, and nothing in `public`."""
    dbname = postgres.create_database("history_schema")
    extra = (
        f'\n[database]\nurl = "{postgres.url_without_password(dbname)}"\n'
        'password = "env:TURNOUT_TEST_DB_PASSWORD"\n'
        'history_table = "applied"\nhistory_schema = "turnout"\n'
    )
    project = fake_project(tmp_path, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    environ = {"TURNOUT_TEST_DB_PASSWORD": postgres.password}
    _release(project, "1.1.0", {"V001__rewards.sql": V001})
    _release(project, "1.2.0", {"V001__rewards.sql": V001, "V002__points.sql": V002})
    for version in ("1.1.0", "1.2.0"):
        done = project.turnout(
            "deploy", "--env", project.env, "--version", version, "--yes", env=environ
        )
        assert done.returncode == 0, done.stderr
    with psycopg.connect(postgres.dsn(dbname)) as pg:
        rows = pg.execute('SELECT version FROM turnout."applied" ORDER BY 1').fetchall()
        tables = pg.execute(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_schema IN ('public', 'turnout') ORDER BY 1, 2"
        ).fetchall()
    assert rows == [("1",), ("2",)]
    assert tables == [("public", "rewards"), ("turnout", "applied")]
    history = project.turnout("db", "history", "--env", project.env, "--json", env=environ)
    assert history.returncode == 0, history.stderr
    assert '"history_table": "turnout.applied"' in history.stdout


def test_sqlite_refuses_a_schema_outside_the_database_file(tmp_path: Path) -> None:
    """SQLite has one schema per file: another history_schema is exit 2 naming the key."""
    extra = '\n[database]\nurl = "sqlite:///app.db"\nhistory_schema = "audit"\n'
    project = fake_project(tmp_path, extra=extra)
    checked = project.turnout("check")
    assert checked.returncode == 2, checked.stderr
    assert "history_schema" in checked.stderr and "main" in checked.stderr
    assert "Traceback" not in checked.stderr
