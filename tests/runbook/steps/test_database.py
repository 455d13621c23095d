"""The database phase on real SQLite files and a real PostgreSQL server, through the steps."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from tests.support.database_dump import full_dump
from tests.support.postgres_server import PostgresServer
from turnout.cli.main import main
from turnout.clock import SystemClock
from turnout.config import load_config
from turnout.config.loader import LoadedConfig
from turnout.database import DatabaseService
from turnout.errors import StepError
from turnout.model import DeploymentInfo, DeploymentType, StepStatus
from turnout.runbook.outputs import StepOutputs
from turnout.runbook.step import StepContext
from turnout.runbook.steps.database import BackupStep, MigrateStep, VerifyDatabaseStep
from turnout.store import Store

PASSWORD_VARIABLE = "TURNOUT_TEST_APP_DB_PASSWORD"

V001 = """-- Runbook example: the rewards table.
CREATE TABLE rewards (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, points INTEGER NOT NULL DEFAULT 0
);
INSERT INTO rewards (id, user_id, points) SELECT id, id, 10 FROM users;
"""
V002_BROKEN = """ALTER TABLE users ADD COLUMN tier VARCHAR(20) DEFAULT 'basic';
UPDATE users SET tier = 'gold' WHERE id = 1;
UPDATE orders SET amount = amount * 0.9 WHER user_id = 1;
"""
V002_GOOD = V002_BROKEN.replace(" WHER ", " WHERE ")
VERIFY = """-- every user has a rewards row
SELECT count(*) = (SELECT count(*) FROM users) FROM rewards;
SELECT id FROM rewards WHERE points < 0;
"""

SEED = [
    "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, bio TEXT)",
    "CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, amount NUMERIC(10,2))",
    "CREATE INDEX orders_user ON orders (user_id)",
    "INSERT INTO users VALUES (1, 'Zoë', 'likes; semicolons'), (2, 'Bob', NULL),"
    " (3, 'multi', 'line one\nline two\ttab')",
    "INSERT INTO orders VALUES (1, 1, 12.50), (2, 1, 3.10), (3, 3, 0)",
]
PG_EXTRA = [
    "CREATE SCHEMA audit",
    "CREATE TABLE audit.events (kind TEXT, at TIMESTAMPTZ, payload JSONB)",
    "INSERT INTO audit.events VALUES ('x', '2024-01-01T00:00:00Z', '{\"a\": 1}'),"
    " ('x', '2024-01-01T00:00:00Z', '{\"a\": 1}')",
    "CREATE SEQUENCE invoice_numbers START 100",
    "SELECT nextval('invoice_numbers')",
    "CREATE VIEW big_orders AS SELECT * FROM orders WHERE amount > 10",
]


@dataclass
class AppDb:
    """A project with an application database on one engine."""

    engine: str
    root: Path
    url: str
    postgres: PostgresServer | None = None
    dbname: str = ""

    @property
    def config_path(self) -> Path:
        """turnout.toml."""
        return self.root / "turnout.toml"

    @property
    def package(self) -> Path:
        """The 1.1.0 release package directory."""
        return self.root / "packages" / "1.1.0"

    def write_migrations(self, files: dict[str, str]) -> None:
        """Replace the release's migrations folder."""
        folder = self.package / "migrations"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for name, text in files.items():
            (folder / name).write_text(text)

    def loaded(self) -> LoadedConfig:
        """The configuration."""
        return load_config(self.config_path)

    @contextlib.contextmanager
    def service(self) -> Iterator[DatabaseService]:
        """The database service of the `prod` environment; its state store closed after."""
        loaded = self.loaded()
        with Store.open(loaded.state_dir) as store:
            yield DatabaseService(loaded, loaded.env("prod"), store)

    def environ(self) -> dict[str, str]:
        """Environment for subprocesses (the password secret for PostgreSQL)."""
        extra = {PASSWORD_VARIABLE: self.postgres.password} if self.postgres else {}
        return {**os.environ, "TURNOUT_USER": "tester", **extra}

    def execute(self, *statements: str) -> None:
        """Run statements directly (test set-up)."""
        if self.postgres is None:
            conn = sqlite3.connect(self.root / "app.db")
            for statement in statements:
                conn.execute(statement)
            conn.commit()
            conn.close()
            return
        with psycopg.connect(self.postgres.dsn(self.dbname), autocommit=True) as pg:
            for statement in statements:
                pg.execute(statement)

    def full_dump(self) -> list[str]:
        """An independent full logical dump: sqlite3 iterdump, or pg_dump's plain SQL."""
        return full_dump(self.root / "app.db", self.postgres, self.dbname)

    def turnout(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The command line's entry point, in this process (a subprocess costs a second each)."""
        saved = dict(os.environ)
        out, err = io.StringIO(), io.StringIO()
        os.environ.update(self.environ())
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*args, "--config", str(self.config_path)])
        finally:
            os.environ.clear()
            os.environ.update(saved)
        return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def make_app_db(
    root: Path, engine: str, postgres: PostgresServer | None, retention: int = 10
) -> AppDb:
    """Write turnout.toml, seed the app database, and a 1.1.0 package with migrations."""
    root.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        url, dbname = "sqlite:///app.db", ""
        password = ""
    else:
        assert postgres is not None
        dbname = postgres.create_database("app_" + uuid.uuid4().hex[:10])
        url = postgres.url_without_password(dbname)
        password = f', password = "env:{PASSWORD_VARIABLE}"'
    (root / "turnout.toml").write_text(
        f'[app]\nname = "shop"\npackage = "packages/{{version}}"\n'
        f"[environments.prod]\n"
        f'target = {{ kind = "fake" }}\n'
        f'database = {{ url = "{url}"{password}, retention = {retention} }}\n'
    )
    app = AppDb(engine, root, url, postgres if engine != "sqlite" else None, dbname)
    app.execute(*SEED, *(PG_EXTRA if engine == "postgresql" else []))
    app.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "V002__add_tiers.sql": V002_BROKEN,
            "verify.sql": VERIFY,
        }
    )
    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def app_db(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AppDb:
    """A project on each engine (PostgreSQL: the session's real server)."""
    server = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    if server is not None:
        monkeypatch.setenv(PASSWORD_VARIABLE, server.password)
    return make_app_db(tmp_path / "project", request.param, server)


@pytest.fixture
def sqlite_db(tmp_path: Path) -> AppDb:
    """A project on SQLite only."""
    return make_app_db(tmp_path / "project", "sqlite", None)


@pytest.fixture
def ctx_for(app_db: AppDb) -> Iterator[StepContext]:
    """A step context of deployment 7 releasing 1.1.0."""
    yield from _context(app_db)


def _context(app: AppDb, deployment_id: int = 7) -> Iterator[StepContext]:
    loaded = app.loaded()
    store = Store.open(loaded.state_dir)
    info = DeploymentInfo(
        id=deployment_id,
        environment="prod",
        version="1.1.0",
        type=DeploymentType.APP,
        deployer="tester",
        created_at=datetime.now(UTC),
        package=app.package,
    )
    ctx = StepContext(
        config=loaded, env=loaded.env("prod"), deployment=info, store=store, clock=SystemClock()
    )
    try:
        yield ctx
    finally:
        store.close()


def _run(
    ctx: StepContext, step: BackupStep | MigrateStep | VerifyDatabaseStep
) -> dict[str, object]:
    """Drive a step the way the engine does: observe, else run; record its outputs."""
    found = step.observe(ctx)
    if found is None:
        found = step.run(ctx)
    outputs = found.journal() if isinstance(found, StepOutputs) else found
    ctx.outputs[step.name] = outputs
    ctx.statuses[step.name] = StepStatus.SUCCEEDED
    return outputs


def test_failed_migration_leaves_data_identical(app_db: AppDb, ctx_for: StepContext) -> None:
    """A syntax error in the 3rd statement of the 2nd file restores the exact pre-migration data."""
    before = app_db.full_dump()
    backup = _run(ctx_for, BackupStep())
    assert backup["pending"] == ["1", "2"]
    with pytest.raises(StepError) as caught:
        _run(ctx_for, MigrateStep())
    message = caught.value.message
    assert "V002__add_tiers.sql" in message and "statement 3 (line 3)" in message
    assert "WHER user_id" in message and "syntax error" in message
    assert "restored from backup" in message
    assert caught.value.details["restored"] is True
    assert app_db.full_dump() == before
    record = ctx_for.store.backup(int(str(backup["backup_id"])))
    assert record is not None and record.status == "restored"
    assert record.details["restores"][0]["equal_to_pre_migration"] is True
    actions = [r.action for r in ctx_for.store.audit_log("prod")]
    assert "db.restore" in actions


def test_phase_applies_verifies_and_undo_restores(app_db: AppDb, ctx_for: StepContext) -> None:
    """Backup, migrate and verify-db succeed; undo before any swap restores the old data."""
    app_db.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "V002__add_tiers.sql": V002_GOOD,
            "verify.sql": VERIFY,
        }
    )
    before = app_db.full_dump()
    _run(ctx_for, BackupStep())
    migrated = _run(ctx_for, MigrateStep())
    assert migrated["applied"] == ["1", "2"]
    verified = _run(ctx_for, VerifyDatabaseStep())
    assert verified["versions"] == ["1", "2"] and verified["queries"] == 2
    history = DatabaseService(ctx_for.config, ctx_for.env, ctx_for.store).applied()
    assert [(h.version, h.applied_by, h.success) for h in history] == [
        ("1", "tester", True),
        ("2", "tester", True),
    ]
    assert app_db.full_dump() != before
    ctx_for.statuses["swap"] = StepStatus.PENDING
    undone = MigrateStep().undo(ctx_for)
    assert undone.restored is True and undone.equal_to_pre_migration is True
    assert app_db.full_dump() == before


def test_undo_after_traffic_moved_keeps_the_migrated_database(sqlite_db: AppDb) -> None:
    """Once the swap happened, undo leaves the database migrated and names the manual path."""
    sqlite_db.write_migrations({"V001__add_rewards_table.sql": V001})
    for ctx in _context(sqlite_db):
        _run(ctx, BackupStep())
        _run(ctx, MigrateStep())
        ctx.statuses["swap"] = StepStatus.UNDONE
        undone = MigrateStep().undo(ctx)
        assert undone.restored is False
        assert "turnout db restore" in str(undone.summary)
    assert any("rewards" in line for line in sqlite_db.full_dump())


def test_undo_after_a_swap_that_moved_nothing_restores_the_database(sqlite_db: AppDb) -> None:
    """A swap that failed after it started and never had to swap back moved no traffic: the
    database's undo restores the pre-migration backup."""
    sqlite_db.write_migrations({"V001__add_rewards_table.sql": V001})
    before = sqlite_db.full_dump()
    for ctx in _context(sqlite_db):
        _run(ctx, BackupStep())
        _run(ctx, MigrateStep())
        ctx.statuses["swap"] = StepStatus.UNDONE
        ctx.outputs["swap"] = {"undo": {"production": "1.0.0", "swapped_back": False}}
        undone = MigrateStep().undo(ctx)
        assert undone.restored is True
    assert sqlite_db.full_dump() == before


def test_release_without_pending_migrations_skips_the_phase(sqlite_db: AppDb) -> None:
    """With every migration applied, all three steps observe that nothing is to be done."""
    sqlite_db.write_migrations({"V001__add_rewards_table.sql": V001, "verify.sql": VERIFY})
    for ctx in _context(sqlite_db, 1):
        _run(ctx, BackupStep())
        _run(ctx, MigrateStep())
    for ctx in _context(sqlite_db, 2):
        observed = BackupStep().observe(ctx)
        assert observed is not None
        backup = observed.journal()
        assert backup["pending"] == [] and backup["backup_id"] is None
        ctx.outputs["backup"] = backup
        assert MigrateStep().observe(ctx) is not None
        assert VerifyDatabaseStep().observe(ctx) is not None
        assert len(ctx.store.backups("prod")) == 1


def test_migrate_continues_after_a_crash_between_migrations(sqlite_db: AppDb) -> None:
    """After a crash that committed V001 only, observe says not done and run applies the rest."""
    sqlite_db.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "V002__add_tiers.sql": V002_GOOD,
            "verify.sql": VERIFY,
        }
    )
    for ctx in _context(sqlite_db):
        _run(ctx, BackupStep())
        svc = DatabaseService(ctx.config, ctx.env, ctx.store, actor="tester")
        backup = svc.deployment_backup(7)
        assert backup is not None
        svc.remember_pre_migration_state(backup)
        migrations = svc.load_migrations(sqlite_db.package)
        svc.migrate(svc.pending(migrations)[:1])  # the process "died" after V001 committed
        assert MigrateStep().observe(ctx) is None
        resumed = MigrateStep().run(ctx)
        assert resumed.applied == ["2"]
        observed = MigrateStep().observe(ctx)
        assert observed is not None and observed.applied == ["1", "2"]
        assert _run(ctx, VerifyDatabaseStep())["versions"] == ["1", "2"]


def test_verify_sql_failure_names_the_query(sqlite_db: AppDb) -> None:
    """A verify.sql query returning rows fails verify-db with its line and the rows."""
    sqlite_db.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "verify.sql": "SELECT 1;\n\nSELECT name FROM users ORDER BY id;\n",
        }
    )
    for ctx in _context(sqlite_db):
        _run(ctx, BackupStep())
        _run(ctx, MigrateStep())
        with pytest.raises(StepError, match=r"verify.sql: query 2 \(line 3\).*returned 3 row"):
            _run(ctx, VerifyDatabaseStep())


def test_retention_deletes_the_oldest_backups(tmp_path: Path) -> None:
    """With retention 2, a third backup deletes the oldest file and marks it deleted."""
    app = make_app_db(tmp_path / "p", "sqlite", None, retention=2)
    with app.service() as svc:
        first, second, third = (svc.backup(None) for _ in range(3))
        assert not Path(first.location).exists()
        assert Path(second.location).exists() and Path(third.location).exists()
        statuses = {b.id: b.status for b in svc.backups()}
        assert statuses == {first.id: "deleted", second.id: "verified", third.id: "verified"}
        assert oct(Path(third.location).stat().st_mode & 0o777) == "0o600"
