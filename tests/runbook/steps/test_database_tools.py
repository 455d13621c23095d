"""The database phase with the app's own tool (real Django and Alembic) inside real deploys."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from tests.support.database_dump import full_dump
from tests.support.in_process import turnout_in_process
from tests.support.migration_apps import (
    ALEMBIC_TIERS_BROKEN,
    ALEMBIC_TIERS_WAITS,
    DJANGO_0002_BROKEN,
    DJANGO_0002_WAITS,
    alembic_app,
    django_app,
)
from tests.support.postgres_server import PostgresServer
from tests.support.project import Project, fake_project
from tests.support.waiting import wait_until
from turnout.store import Store

PASSWORD_VARIABLE = "TURNOUT_TEST_TOOL_DB_PASSWORD"
USERS = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL)",
    "INSERT INTO users VALUES (1, 'ann'), (2, 'bo;b'), (3, 'zoë')",
]


@dataclass
class ToolApp:
    """A fake-target project whose release migrates with a real tool, on one engine."""

    project: Project
    engine: str
    postgres: PostgresServer | None
    dbname: str

    @property
    def package(self) -> Path:
        """The 1.1.0 release package (a directory)."""
        return self.project.root / "packages" / "1.1.0"

    def environ(self) -> dict[str, str]:
        """Variables for turnout: the database password's secret, for PostgreSQL."""
        return {PASSWORD_VARIABLE: self.postgres.password} if self.postgres else {}

    def turnout(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`turnout ARGS` in this process (a deploy's tool commands are real processes)."""
        argv = [*args, "--config", str(self.project.config)]
        return turnout_in_process(
            argv, cwd=self.project.root, env={"TURNOUT_USER": "tester", **self.environ()}
        )

    def deploy(self) -> subprocess.CompletedProcess[str]:
        """`turnout deploy` of 1.1.0."""
        return self.turnout("deploy", "--env", self.project.env, "--version", "1.1.0", "--yes")

    def query(self, sql: str) -> list[tuple[object, ...]]:
        """Rows of a query on the app database."""
        if self.postgres is None:
            conn = sqlite3.connect(self.project.root / "app.db")
            try:
                return list(conn.execute(sql).fetchall())
            finally:
                conn.close()
        with psycopg.connect(self.postgres.dsn(self.dbname)) as pg:
            return list(pg.execute(sql).fetchall())

    def dump(self) -> list[str]:
        """An independent full dump: sqlite3's iterdump, or pg_dump's plain SQL."""
        return full_dump(self.project.root / "app.db", self.postgres, self.dbname)

    def journal(self) -> dict[str, tuple[str, dict[str, object]]]:
        """The latest deployment's steps: status and outputs."""
        store = Store.open(self.project.root / ".turnout")
        try:
            latest = store.deployments(self.project.env)[0]
            return {row.name: (row.status, row.outputs or {}) for row in store.steps(latest.id)}
        finally:
            store.close()


def make_tool_app(
    root: Path,
    engine: str,
    postgres: PostgresServer | None,
    tool: str,
    write_app: Callable[[Path], None],
) -> ToolApp:
    """A project on `engine` whose 1.1.0 release carries a `tool` project."""
    dbname = ""
    if engine == "sqlite":
        database = 'url = "sqlite:///app.db"\n'
    else:
        assert postgres is not None
        dbname = postgres.create_database("tool_" + uuid.uuid4().hex[:10])
        database = (
            f'url = "{postgres.url_without_password(dbname)}"\n'
            f'password = "env:{PASSWORD_VARIABLE}"\n'
        )
    extra = (
        f"\n[database]\n{database}"
        f"[database.migrations]\n"
        f'tool = "{tool}"\n'
        f"program = {json.dumps(sys.executable)}\n"
        f"env = {{ ARGV_LOG = {json.dumps(str(root / 'argv.log'))},"
        f" STARTED_FILE = {json.dumps(str(root / 'started'))},"
        f" HOLD_FILE = {json.dumps(str(root / 'hold'))} }}\n"
    )
    project = fake_project(root, extra=extra)
    project.set_slots({"production": "1.0.0", "blue": None})
    app = ToolApp(project, engine, postgres if engine != "sqlite" else None, dbname)
    if engine == "sqlite":
        conn = sqlite3.connect(root / "app.db")
        for statement in USERS:
            conn.execute(statement)
        conn.commit()
        conn.close()
    else:
        assert postgres is not None
        with psycopg.connect(postgres.dsn(dbname), autocommit=True) as pg:
            for statement in USERS:
                pg.execute(statement)
    write_app(app.package)
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> tuple[str, PostgresServer | None]:
    """Each engine (PostgreSQL: the session's real server)."""
    if request.param == "postgresql":
        return "postgresql", request.getfixturevalue("postgres")
    return "sqlite", None


def test_django_app_is_migrated_behind_a_verified_backup(
    tmp_path: Path, engine: tuple[str, PostgresServer | None]
) -> None:
    """A Django release deploys: backup, `manage.py migrate`, verify; the command's output
    is journaled, and no password was on any command line."""
    app = make_tool_app(tmp_path, *engine, "django", django_app)
    result = app.deploy()
    assert result.returncode == 0, result.stderr
    applied = app.query("SELECT name FROM django_migrations WHERE app = 'shop' ORDER BY id")
    assert applied == [("0001_rewards",), ("0002_tiers",)]
    assert app.query("SELECT count(*) FROM shop_reward") == [(3,)]
    journal = app.journal()
    status, backup = journal["backup"]
    assert status == "succeeded"
    assert backup["pending"] == ["shop.0001_rewards", "shop.0002_tiers"]
    status, migrate = journal["migrate"]
    assert status == "succeeded" and migrate["tool"] == "django"
    assert migrate["applied"] == ["shop.0001_rewards", "shop.0002_tiers"]
    command = migrate["command"]
    assert isinstance(command, dict)
    assert command["argv"][1:3] == ["manage.py", "migrate"] and command["exit_code"] == 0
    assert "  Applying shop.0002_tiers... OK" in command["output"]
    assert journal["verify-db"][1]["versions"] == ["shop.0001_rewards", "shop.0002_tiers"]
    logged = (tmp_path / "argv.log").read_text()
    assert "manage.py migrate" in logged
    if app.postgres is not None:
        assert app.postgres.password not in logged
        assert app.postgres.password not in json.dumps(journal)


def test_alembic_app_is_migrated_behind_a_verified_backup(
    tmp_path: Path, engine: tuple[str, PostgresServer | None]
) -> None:
    """An Alembic release deploys: `alembic upgrade heads` after a verified backup, its
    revisions named as Alembic names them, and a second deploy finds nothing pending."""
    app = make_tool_app(tmp_path, *engine, "alembic", alembic_app)
    result = app.deploy()
    assert result.returncode == 0, result.stderr
    assert app.query("SELECT version_num FROM alembic_version") == [("2b3c4d5e6f7a",)]
    assert app.query("SELECT count(*) FROM rewards WHERE tier = 'basic'") == [(3,)]
    journal = app.journal()
    assert journal["backup"][1]["pending"] == ["1a2b3c4d5e6f", "2b3c4d5e6f7a"]
    assert journal["backup"][1]["pending_files"] == [
        "1a2b3c4d5e6f (add rewards)",
        "2b3c4d5e6f7a (add tiers)",
    ]
    assert journal["migrate"][1]["applied"] == ["1a2b3c4d5e6f", "2b3c4d5e6f7a"]
    if app.postgres is not None:
        assert app.postgres.password not in (tmp_path / "argv.log").read_text()
    status = app.turnout("db", "status", "--env", app.project.env, "--version", "1.1.0", "--json")
    assert status.returncode == 0, status.stderr
    doc = json.loads(status.stdout)
    assert doc["tool"] == "alembic" and doc["pending"] == []
    assert doc["applied"] == ["1a2b3c4d5e6f", "2b3c4d5e6f7a"]


@pytest.mark.parametrize(
    ("tool", "write_app", "failing"),
    [
        ("django", lambda p: django_app(p, DJANGO_0002_BROKEN), "Applying shop.0002_tiers..."),
        ("alembic", lambda p: alembic_app(p, ALEMBIC_TIERS_BROKEN), "WHER id = 1"),
    ],
    ids=["django", "alembic"],
)
def test_migration_failing_half_way_is_restored_and_proven_equal(
    tmp_path: Path,
    engine: tuple[str, PostgresServer | None],
    tool: str,
    write_app: Callable[[Path], None],
    failing: str,
) -> None:
    """The second migration fails after the first was applied: exit 4, the message names
    the command and its last lines, the database equals its state before the deploy."""
    app = make_tool_app(tmp_path, *engine, tool, write_app)
    before = app.dump()
    result = app.deploy()
    assert result.returncode == 4, result.stderr
    assert "the migration command `" in result.stderr and "exited with 1" in result.stderr
    assert failing in result.stderr
    assert "restored from backup" in result.stderr and "checked equal" in result.stderr
    assert app.dump() == before
    assert app.project.slots()["production"] == "1.0.0"
    assert app.journal()["migrate"][0] == "undone"
    store = Store.open(app.project.root / ".turnout")
    try:
        # The deployment's failure record keeps the command as it ran, with its last lines.
        deployment = store.deployments(app.project.env)[0]
        failure = deployment.data.failure
        assert failure is not None and failure.step == "migrate" and failure.details
        command = failure.details["evidence"]["command"]
        assert command["exit_code"] == 1 and any(failing in line for line in command["output"])
        restored = [b for b in store.backups(app.project.env) if b.status == "restored"]
        assert restored and restored[0].details["restores"][0]["equal_to_pre_migration"] is True
    finally:
        store.close()


def test_kill_during_the_command_is_resumed_by_asking_the_tool(tmp_path: Path) -> None:
    """turnout killed while `manage.py migrate` runs the second migration: the tool dies
    with it, resume asks Django what is applied, runs it again and journals both."""
    app = make_tool_app(
        tmp_path, "sqlite", None, "django", lambda p: django_app(p, DJANGO_0002_WAITS)
    )
    hold = tmp_path / "hold"
    hold.write_text("hold")
    proc = app.project.start("deploy", "--env", app.project.env, "--version", "1.1.0", "--yes")
    try:
        wait_until(lambda: (tmp_path / "started").exists(), timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # The tool was killed with turnout: only the first migration is applied.
    wait_until(
        lambda: (
            app.query("SELECT name FROM django_migrations WHERE app = 'shop'")
            == [("0001_rewards",)]
        ),
        timeout=30,
    )
    hold.unlink()
    resumed = app.turnout("resume", "--env", app.project.env)
    assert resumed.returncode == 0, resumed.stderr
    assert "django reports shop.0001_rewards applied, shop.0002_tiers pending" in resumed.stderr
    status, migrate = app.journal()["migrate"]
    assert status == "succeeded"
    assert migrate["resumed"] == {
        "applied": ["shop.0001_rewards"],
        "pending": ["shop.0002_tiers"],
        "action": "continued",
    }
    assert migrate["applied"] == ["shop.0001_rewards", "shop.0002_tiers"]
    assert app.project.slots()["production"] == "1.1.0"


def kill_during_the_command(app: ToolApp) -> None:
    """Start `turnout deploy`, SIGKILL it once the tool's waiting migration has started."""
    proc = app.project.start("deploy", "--env", app.project.env, "--version", "1.1.0", "--yes")
    try:
        wait_until(lambda: (app.project.root / "started").exists(), timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_kill_leaving_a_half_applied_revision_is_restored_on_resume(tmp_path: Path) -> None:
    """turnout killed while Alembic's second revision is half-applied (its column added on
    SQLite, the revision not recorded): resume asks Alembic, runs it again, the revision
    fails on its own column, and the backup is restored and proven equal; exit 4, and the
    journal keeps what Alembic said and that the resumed run restored."""
    app = make_tool_app(
        tmp_path, "sqlite", None, "alembic", lambda p: alembic_app(p, ALEMBIC_TIERS_WAITS)
    )
    before = app.dump()
    hold = tmp_path / "hold"
    hold.write_text("hold")
    kill_during_the_command(app)
    # The tool died with turnout, half-way through the second revision.
    wait_until(
        lambda: app.query("SELECT version_num FROM alembic_version") == [("1a2b3c4d5e6f",)],
        timeout=30,
    )
    assert ("tier",) in app.query("SELECT name FROM pragma_table_info('rewards')")
    hold.unlink()
    resumed = app.turnout("resume", "--env", app.project.env)
    assert resumed.returncode == 4, resumed.stderr
    assert "alembic reports 1a2b3c4d5e6f applied, 2b3c4d5e6f7a pending" in resumed.stderr
    assert "restored from backup" in resumed.stderr and "checked equal" in resumed.stderr
    assert app.dump() == before
    assert app.project.slots()["production"] == "1.0.0"
    status, migrate = app.journal()["migrate"]
    assert status == "undone"
    said = {"applied": ["1a2b3c4d5e6f"], "pending": ["2b3c4d5e6f7a"], "action": "restored"}
    undo = migrate["undo"]
    assert isinstance(undo, dict) and undo["resumed"] == said
    assert "when the migration failed" in str(undo["summary"])
    store = Store.open(app.project.root / ".turnout")
    try:
        failure = store.deployments(app.project.env)[0].data.failure
        assert failure is not None and failure.details is not None
        evidence = failure.details["evidence"]
        assert evidence["resumed"] == said and evidence["restored"] is True
        assert any("duplicate column" in line for line in evidence["command"]["output"])
    finally:
        store.close()


def test_plan_and_db_status_list_what_the_tool_says_is_pending(tmp_path: Path) -> None:
    """`turnout plan` and `turnout db status` name the pending migrations as Django does."""
    app = make_tool_app(tmp_path, "sqlite", None, "django", django_app)
    planned = app.turnout("plan", "--env", app.project.env, "--version", "1.1.0", "--json")
    assert planned.returncode == 0, planned.stderr
    database = json.loads(planned.stdout)["database"]
    assert database["tool"] == "django"
    assert database["pending"] == ["shop.0001_rewards", "shop.0002_tiers"]
    shown = app.turnout("plan", "--env", app.project.env, "--version", "1.1.0")
    assert "shop.0002_tiers" in shown.stderr + shown.stdout
    status = app.turnout("db", "status", "--env", app.project.env, "--version", "1.1.0", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["pending"] == ["shop.0001_rewards", "shop.0002_tiers"]
    assert not (tmp_path / "app.db").exists() or app.query(
        "SELECT count(*) FROM sqlite_master WHERE name = 'shop_reward'"
    ) == [(0,)]


def test_checklist_compares_pending_with_what_staging_reported(tmp_path: Path) -> None:
    """Production's "migrations tested" item passes once the tool reported the same names
    applied on staging (the record verify-db keeps), and fails before."""
    from turnout.runbook.tool_migrations import APPLIED_KEY

    app = make_tool_app(tmp_path, "sqlite", None, "django", django_app)
    config = app.project.config
    config.write_text(
        config.read_text().replace(
            'target = { kind = "fake"', 'staging_environment = "staging"\ntarget = { kind = "fake"'
        )
        + '\n[environments.staging]\ntarget = { kind = "fake", state_file = "staging.json" }\n'
    )

    def verdict() -> dict[str, object]:
        planned = app.turnout("plan", "--env", app.project.env, "--version", "1.1.0", "--json")
        gates = json.loads(planned.stdout)["gates"]
        return next(g for g in gates if g.get("item") == "migrations_tested")

    assert verdict()["verdict"] == "fail"
    store = Store.open(app.project.root / ".turnout")
    try:
        store.put(
            APPLIED_KEY.format(environment="staging"),
            {"tool": "django", "applied": ["shop.0001_rewards", "shop.0002_tiers"]},
        )
    finally:
        store.close()
    assert verdict()["verdict"] == "pass"
