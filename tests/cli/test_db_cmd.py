"""`turnout db ...` as a user runs it: exit codes, refusals, secrets, a killed migrate."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from functools import partial
from pathlib import Path

import psycopg
import pytest

from tests.runbook.steps.test_database import (
    PASSWORD_VARIABLE,
    V001,
    V002_GOOD,
    VERIFY,
    AppDb,
    make_app_db,
)
from tests.runbook.steps.test_database_tools import make_tool_app
from tests.support.migration_apps import DJANGO_0002_BROKEN, django_app
from tests.support.postgres_server import PostgresServer, query_running
from tests.support.waiting import wait_until
from turnout.config import load_config
from turnout.database import DatabaseService
from turnout.database.postgresql import PostgresDriver
from turnout.store import Store


@pytest.fixture(params=["sqlite", "postgresql"])
def app_db(request: pytest.FixtureRequest, tmp_path: Path) -> AppDb:
    """A project on each engine."""
    server = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    return make_app_db(tmp_path / "project", request.param, server)


def test_migrate_failure_restores_and_exits_4(app_db: AppDb) -> None:
    """`db migrate` with a broken second file exits 4, names it, and leaves data as before."""
    before = app_db.full_dump()
    result = app_db.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0")
    assert result.returncode == 4, result.stderr
    assert "V002__add_tiers.sql" in result.stderr and "statement 3" in result.stderr
    assert "Traceback" not in result.stderr
    assert app_db.full_dump() == before


def test_changed_applied_file_is_refused_with_exit_2(app_db: AppDb) -> None:
    """After V001 is applied, editing it makes status and migrate exit 2 naming the file."""
    app_db.write_migrations({"V001__add_rewards_table.sql": V001, "verify.sql": VERIFY})
    applied = app_db.turnout("db", "migrate", "--env", "prod", "--package", str(app_db.package))
    assert applied.returncode == 0, applied.stderr
    app_db.write_migrations(
        {"V001__add_rewards_table.sql": V001 + "\n-- edited later\n", "verify.sql": VERIFY}
    )
    before = app_db.full_dump()
    for command in ("status", "migrate"):
        result = app_db.turnout("db", command, "--env", "prod", "--package", str(app_db.package))
        assert result.returncode == 2, result.stderr
        assert "V001__add_rewards_table.sql: changed after it was applied" in result.stderr
    assert app_db.full_dump() == before


def test_bad_migration_names_exit_2_before_anything_runs(tmp_path: Path) -> None:
    """A badly named file in the release stops `db migrate` with exit 2 and no backup."""
    app = make_app_db(tmp_path / "p", "sqlite", None)
    app.write_migrations(
        {"V001__add_rewards_table.sql": V001, "V2_missing_underscore.sql": "SELECT 1;"}
    )
    result = app.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0")
    assert result.returncode == 2
    assert "V2_missing_underscore.sql: bad migration file name" in result.stderr
    assert not (app.root / ".turnout" / "backups").exists()


def test_restore_refuses_a_changed_backup_and_audits_a_good_one(app_db: AppDb) -> None:
    """Restore needs --yes off a terminal, refuses a checksum mismatch, audits who restored."""
    app = app_db
    made = app.turnout("db", "backup", "--env", "prod", "--json")
    assert made.returncode == 0, made.stderr
    backup = json.loads(made.stdout)
    app.execute("INSERT INTO users VALUES (9, 'late', NULL)")
    after_write = app.full_dump()

    unconfirmed = app.turnout("db", "restore", str(backup["id"]), "--env", "prod")
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr

    location = Path(backup["location"])
    original = location.read_bytes()
    middle = len(original) // 2
    location.write_bytes(original[:middle] + bytes([original[middle] ^ 1]) + original[middle + 1 :])
    refused = app.turnout("db", "restore", str(backup["id"]), "--env", "prod", "--yes")
    assert refused.returncode == 3 and "checksum mismatch" in refused.stderr
    assert app.full_dump() == after_write

    location.write_bytes(original)
    done = app.turnout("db", "restore", "--env", "prod", "--yes", "--as", "carol", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["backup_id"] == backup["id"]
    assert not any("'late'" in line for line in app.full_dump())
    store = Store.open(app.root / ".turnout")
    try:
        rows = [r for r in store.audit_log("prod") if r.action == "db.restore"]
        assert [r.actor for r in rows] == ["carol"]
        assert rows[0].details["backup_id"] == backup["id"]
    finally:
        store.close()


def test_status_and_history_report_the_database(tmp_path: Path) -> None:
    """status lists pending files; history lists applied versions with who applied them."""
    app = make_app_db(tmp_path / "p", "sqlite", None)
    app.write_migrations({"V001__add_rewards_table.sql": V001, "V002__add_tiers.sql": V002_GOOD})
    status = app.turnout("db", "status", "--env", "prod", "--version", "1.1.0", "--json")
    assert json.loads(status.stdout)["pending"] == [
        "V001__add_rewards_table.sql",
        "V002__add_tiers.sql",
    ]
    migrated = app.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0", "--as", "dana")
    assert migrated.returncode == 0, migrated.stderr
    history = json.loads(app.turnout("db", "history", "--env", "prod", "--json").stdout)
    assert [(m["version"], m["applied_by"]) for m in history["migrations"]] == [
        ("1", "dana"),
        ("2", "dana"),
    ]
    missing = app.turnout("db", "migrate", "--env", "prod")
    assert missing.returncode == 2 and "--package" in missing.stderr


def test_password_never_in_arguments_outputs_or_records(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    """pg_dump gets the password from a private passfile; no output or record contains it."""
    app = make_app_db(tmp_path / "p", "postgresql", postgres)
    app.write_migrations({"V001__add_rewards_table.sql": V001, "verify.sql": VERIFY})
    secret = postgres.password
    loaded = load_config(app.config_path)
    os.environ[PASSWORD_VARIABLE] = secret
    try:
        store = Store.open(loaded.state_dir)
        svc = DatabaseService(loaded, loaded.env("prod"), store)
        assert isinstance(svc.driver, PostgresDriver)
        assert not any(secret in part for part in svc.driver.dump_command("snap"))
        seen = _watch_pg_dump(app, svc)
        store.close()
    finally:
        del os.environ[PASSWORD_VARIABLE]
    assert secret not in seen["cmdline"] and "pg_dump" in seen["cmdline"]
    assert "\nPGPASSWORD=" not in "\n" + seen["environ"] and secret not in seen["environ"]
    assert "PGPASSFILE=" in seen["environ"] and seen["passfile_mode"] == "0o600"
    assert not Path(seen["passfile"]).exists()

    outputs = [
        app.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0", "--json"),
        app.turnout("db", "status", "--env", "prod", "--version", "1.1.0", "--json"),
        app.turnout("db", "history", "--env", "prod", "--json"),
        app.turnout("db", "backup", "--env", "prod", "--json"),
    ]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert secret not in result.stdout and secret not in result.stderr
    state = (app.root / ".turnout" / "state.db").read_bytes()
    assert secret.encode() not in state


def _watch_pg_dump(app: AppDb, svc: DatabaseService) -> dict[str, str]:
    """Hold a table lock so pg_dump waits, and read its /proc entries meanwhile."""
    assert app.postgres is not None
    seen: dict[str, str] = {}
    with psycopg.connect(app.postgres.dsn(app.dbname)) as blocker:
        blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        worker = threading.Thread(target=svc.backup, kwargs={"deployment_id": None})
        worker.start()
        pid = _wait_for_child("pg_dump")
        seen["cmdline"] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        seen["environ"] = Path(f"/proc/{pid}/environ").read_bytes().replace(b"\0", b"\n").decode()
        passfile = next(
            line.split("=", 1)[1]
            for line in seen["environ"].splitlines()
            if line.startswith("PGPASSFILE=")
        )
        seen["passfile"] = passfile
        seen["passfile_mode"] = oct(Path(passfile).stat().st_mode & 0o777)
        blocker.rollback()
    worker.join(timeout=60)
    return seen


def _wait_for_child(name: str) -> int:
    """The pid of our child process running `name` (polls /proc until it appears)."""
    me = os.getpid()
    for _ in range(2000):
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                cmd = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == me and name.encode() in cmd:
                return int(entry.name)
        threading.Event().wait(0.01)
    raise AssertionError(f"{name} never started")


def test_killed_migrate_never_leaves_a_half_applied_migration(app_db: AppDb) -> None:
    """SIGKILL during the 2nd file: V001 stays recorded, V002 left no trace; a rerun finishes it."""
    slow = (
        "SELECT pg_sleep(60)"
        if app_db.engine == "postgresql"
        else (
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 500000000)"
            " SELECT count(*) FROM c"
        )
    )
    app_db.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "V002__add_tiers.sql": f"ALTER TABLE users ADD COLUMN tier VARCHAR(20);\n{slow};\n",
            "verify.sql": VERIFY,
        }
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "turnout",
            "db",
            "migrate",
            "--env",
            "prod",
            "--version",
            "1.1.0",
            "--config",
            str(app_db.config_path),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=app_db.environ(),
        cwd=app_db.root,
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        if "applying V002" in line:
            break
    if app_db.postgres is not None:
        with psycopg.connect(app_db.postgres.dsn(app_db.dbname), autocommit=True) as pg:
            wait_until(partial(query_running, pg, "pg_sleep"), what="pg_sleep running")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if app_db.postgres is not None:
        # A killed client's backend lives until its statement ends; the server ends it here.
        with psycopg.connect(app_db.postgres.dsn(app_db.dbname), autocommit=True) as pg:
            pg.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query LIKE '%pg_sleep(60)%' AND pid <> pg_backend_pid()"
            )
    history = json.loads(app_db.turnout("db", "history", "--env", "prod", "--json").stdout)
    assert [m["version"] for m in history["migrations"]] == ["1"]
    assert not any("tier" in line for line in app_db.full_dump())

    app_db.write_migrations(
        {
            "V001__add_rewards_table.sql": V001,
            "V002__add_tiers.sql": "ALTER TABLE users ADD COLUMN tier VARCHAR(20);\n",
            "verify.sql": VERIFY,
        }
    )
    rerun = app_db.turnout("db", "migrate", "--env", "prod", "--version", "1.1.0", "--json")
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["applied"] == ["2"]


def test_db_migrate_runs_the_apps_own_tool(tmp_path: Path) -> None:
    """`db migrate` with `migrations = { tool = "django" }` backs up, runs `manage.py
    migrate`, verifies, and says what Django applied; run again, nothing is pending."""
    app = make_tool_app(tmp_path, "sqlite", None, "django", django_app)
    done = app.turnout("db", "migrate", "--env", app.project.env, "--version", "1.1.0", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["tool"] == "django"
    assert doc["applied"] == ["shop.0001_rewards", "shop.0002_tiers"]
    assert doc["command"]["argv"][1:3] == ["manage.py", "migrate"]
    assert doc["command"]["exit_code"] == 0 and doc["verify"]["ok"] is True
    assert app.query("SELECT count(*) FROM shop_reward") == [(3,)]
    with Store.open(app.project.root / ".turnout") as store:
        backups = store.backups(app.project.env)
        assert [b.id for b in backups] == [doc["backup_id"]]
    again = app.turnout("db", "migrate", "--env", app.project.env, "--version", "1.1.0")
    assert again.returncode == 0, again.stderr
    assert "nothing to migrate" in again.stderr
    with Store.open(app.project.root / ".turnout") as store:
        assert len(store.backups(app.project.env)) == 1  # nothing pending: no backup


def test_db_migrate_with_a_failing_tool_restores_and_exits_4(tmp_path: Path) -> None:
    """The tool's second migration fails: exit 4 naming the command and its last lines,
    and the database equals its state before."""
    app = make_tool_app(
        tmp_path, "sqlite", None, "django", lambda p: django_app(p, DJANGO_0002_BROKEN)
    )
    before = app.dump()
    failed = app.turnout("db", "migrate", "--env", app.project.env, "--version", "1.1.0")
    assert failed.returncode == 4, failed.stderr
    assert "manage.py migrate --noinput --no-color` exited with 1" in failed.stderr
    assert "Applying shop.0002_tiers..." in failed.stderr
    assert "restored from backup" in failed.stderr and "checked equal" in failed.stderr
    # The tool's own traceback is streamed as its output (`  | ...`); turnout prints none.
    assert not any(line.startswith("Traceback") for line in failed.stderr.splitlines())
    assert app.dump() == before
